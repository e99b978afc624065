"""Fuzzing the API from its OpenAPI description (schemathesis): no request, however
odd, gets a 500, and every answer conforms to the description (a documented status,
a listed media type, a body of the documented schema). The examples per route are
bounded, and derandomised so that a run is repeatable, to keep CI fast and its
outcome stable."""

from __future__ import annotations

import json

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
    surrogates: list[tuple[str, str, int]] = []
    operations = 0
    every = [(r.ok(), mode) for r in schema.get_all_operations() for mode in GenerationMode]
    for operation, mode in every:
        operations += 1
        positive = mode is GenerationMode.POSITIVE

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
            check(case)
            # The same JSON body with half a UTF-16 surrogate pair in every string: JSON
            # can spell one, and it must be refused as bad input wherever it lands.
            # (`positive` is read within the iteration that defines `fuzz`.)
            if positive and case.media_type == "application/json" and holds_text(case.body):  # noqa: B023
                sent = api.client.open(
                    case.formatted_path,
                    method=case.method,
                    query_string=case.query,
                    data=json.dumps(with_lone_surrogates(case.body)),
                    content_type="application/json",
                    headers=headers,
                )
                surrogates.append((case.method, case.formatted_path, sent.status_code))

        def check(case):
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
    assert len({path for _, path, _ in surrogates}) > 10
    assert [sent for sent in surrogates if sent[2] != 400] == []


def holds_text(value: object) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(holds_text(k) or holds_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_text(item) for item in value)
    return False


def with_lone_surrogates(value: object) -> object:
    if isinstance(value, str):
        return value + "\ud800"
    if isinstance(value, dict):
        return {with_lone_surrogates(k): with_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_lone_surrogates(item) for item in value]
    return value
