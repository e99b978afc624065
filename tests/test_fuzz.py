"""Fuzzing the API from its OpenAPI description (schemathesis): no request, however
odd, gets a 500, and every answer conforms to the description (a documented status,
a listed media type, a body of the documented schema). The examples per route are
bounded, and derandomised so that a run is repeatable, to keep CI fast and its
outcome stable."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import api_for

#: Examples generated per route, method and mode (allowed input, forbidden input).
EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_request_gets_a_500_and_every_answer_is_as_described(settings, database):
    # No outbound requests to whatever addresses the fuzzer invents.
    api = api_for(settings.replace(egress_allow="", import_folder=""), database)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api.client.application)
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    failures: list[str] = []
    seen: list[int] = []
    operations = 0
    every = [(r.ok(), mode) for r in schema.get_all_operations() for mode in GenerationMode]
    for operation, mode in every:
        operations += 1

        # Positive: what the description allows; negative: what it forbids.
        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case):
            response = case.call(headers=headers)
            seen.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as failed:  # schemathesis' FailureGroup of every problem
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}:"
                    f" {str(failed)[:300]}"
                )

        try:
            fuzz()
        except Unsatisfiable:
            # A route with nothing to get wrong (no parameters, no body) has no
            # forbidden input to generate.
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations > 40
    assert failures == []
    # It got past the front door: some requests succeeded, some were refused as bad input.
    assert any(200 <= status < 300 for status in seen) and 400 in seen
