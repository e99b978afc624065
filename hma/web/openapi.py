"""The OpenAPI 3.1 description of /api/v1 (a test checks it covers every route)."""

from __future__ import annotations

from typing import Any

from actioners.queue import STATUS_FILTERS
from actioners.review import REJECT_REASONS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description} | (_json(schema) if schema else {})


_ERRORS = {
    "400": _answer("Bad input (see error.code)", _ref("Error")),
    "401": _answer("Missing or unknown token", _ref("Error")),
    "403": _answer("The token's role may not use this route", _ref("Error")),
    "503": _answer(
        "Overloaded or the database unavailable (see error.code); retry after Retry-After",
        _ref("Error"),
    ),
}
_NOT_FOUND = {"404": _answer("No such bank, content or case", _ref("Error"))}
_TOO_LARGE = {"413": _answer("Upload over the size or pixel limit", _ref("Error"))}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    return schema | ({"required": required} if required else {})


def _file_or_json(
    form: dict[str, Any], body: dict[str, Any], body_required: list[str] | None = None
) -> dict[str, Any]:
    """A request body that is either a multipart upload (`file` plus `form`) or JSON."""
    file_field = {"file": {"type": "string", "format": "binary"}}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _object(file_field | form, ["file"])},
            "application/json": {"schema": _object(body, body_required)},
        },
    }


_JSON_TEXT = {"type": "string", "description": "a JSON object"}
_TAG_LIST = {"type": "array", "items": {"type": "string"}}
_SIGNAL_LIST = {"type": "array", "items": _ref("SignalInput")}

_CONTENT_BODY = _file_or_json(
    {"content_ref": {"type": "string"}, "metadata": _JSON_TEXT},
    {
        "url": {"type": "string", "format": "uri"},
        "signals": _SIGNAL_LIST,
        "content_ref": {"type": "string"},
        "metadata": {"type": "object"},
    },
)

_PAGE_ARGS = [
    {"name": "after", "in": "query", "schema": {"type": "integer"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
]


def _op(summary: str, role: str | None, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses} | extra
    if role is None:
        operation["security"] = []
    else:
        operation["description"] = f"Requires a token of role `{role}` (or `admin`)."
        operation["responses"] = _ERRORS | responses
    return operation


def _name_param(*names: str) -> list[dict[str, Any]]:
    kinds = {"name": "string", "content_id": "integer", "case_id": "integer"}
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": kinds[n]}} for n in names
    ]


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
    },
    "SignalInput": {
        "type": "object",
        "properties": {"type": {"type": "string"}, "value": {"type": "string"}},
        "required": ["type", "value"],
    },
    "Signal": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "examples": ["pdq", "vpdq", "md5", "sha256"]},
            "value": {
                "type": "string",
                "description": "lowercase hex; for vpdq the compact form exchanges carry, a"
                " JSON list of 'pdq_hex,quality,timestamp' strings",
            },
            "quality": {"type": "integer", "minimum": 0, "maximum": 100},
            "usable": {
                "type": "boolean",
                "description": "false when the quality is under the configured minimum",
            },
            "variants": {
                "type": "object",
                "description": "PDQ of the rotated and flipped image, by name (pdq_dihedral)",
                "additionalProperties": {"type": "string"},
            },
            "frames": {
                "type": "array",
                "description": "vpdq: the hashed frames",
                "items": {
                    "type": "object",
                    "properties": {
                        "frame_number": {"type": "integer"},
                        "quality": {"type": "integer"},
                        "pdq": {"type": "string"},
                        "timestamp": {"type": "number"},
                    },
                },
            },
        },
        "required": ["type", "value"],
    },
    "Match": {
        "type": "object",
        "properties": {
            "bank": {"type": "string"},
            "content_id": {"type": "integer"},
            "signal_type": {"type": "string"},
            "signal": {"type": "string"},
            "distance": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "variant": {
                "type": "string",
                "description": "present when a rotated or flipped variant of the upload matched",
            },
            "query_match_percent": {
                "type": "number",
                "description": "video: share of the upload's frames that matched this video",
            },
            "bank_match_percent": {
                "type": "number",
                "description": "video: share of this video's frames that the upload matched",
            },
        },
    },
    "MatchResult": {
        "type": "object",
        "properties": {
            "signals": {"type": "array", "items": _ref("Signal")},
            "matches": {"type": "array", "items": _ref("Match")},
        },
    },
    "ScanResult": {
        "allOf": [
            _ref("MatchResult"),
            {"type": "object", "properties": {"case_id": {"type": ["integer", "null"]}}},
        ]
    },
    "Bank": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
            "description": {"type": "string"},
            "enabled": {"type": "boolean"},
            "pdq_threshold": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": 64,
                "description": "PDQ distance for this bank's image matches;"
                " null uses the deployment default",
            },
            "published": {
                "type": "boolean",
                "description": "followed by the exchange tokens scoped to it",
            },
            "reshare": {
                "type": "boolean",
                "description": "the feed also carries content that came from exchanges",
            },
            "trust": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "description": "priority points its matches earn reviewers' attention",
            },
            "content_count": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "BankContent": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "bank": {"type": "string"},
            "enabled": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
            "source": {"type": "string"},
            "signals": {"type": "array", "items": _ref("Signal")},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "Exchange": {
        "type": "object",
        "description": "A bank's connection to an exchange and its sync state (never its"
        " credentials)",
        "properties": {
            "name": {"type": "string"},
            "type": {"enum": ["list", "hma", "threatexchange", "ncmec", "stopncii"]},
            "bank": {"type": "string"},
            "url": {"type": ["string", "null"]},
            "interval_seconds": {"type": "integer"},
            "settings": {"type": "object"},
            "has_credentials": {"type": "boolean"},
            "enabled": {"type": "boolean"},
            "feedback_enabled": {"type": "boolean"},
            "full_resync_in_progress": {"type": "boolean"},
            "last_started_at": {"type": ["string", "null"], "format": "date-time"},
            "last_success_at": {"type": ["string", "null"], "format": "date-time"},
            "last_error": {"type": ["string", "null"]},
            "last_error_at": {"type": ["string", "null"], "format": "date-time"},
            "consecutive_failures": {"type": "integer"},
            "seconds_since_success": {"type": ["number", "null"]},
            "checkpoint_age_seconds": {"type": ["number", "null"]},
            "totals": {"type": "object"},
            "last_run": {"type": "object"},
        },
    },
    "FeedChange": {
        "type": "object",
        "properties": {
            "cursor": {"type": "integer"},
            "op": {"enum": ["upsert", "delete"]},
            "signal_id": {"type": "integer"},
            "content_id": {"type": ["integer", "null"]},
            "signal_type": {"type": "string"},
            "value": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
    "CaseSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "content_ref": {"type": "string"},
            "status": {"enum": ["open", "escalated", "closed"]},
            "decision": {"enum": ["confirm", "reject", None]},
            "priority": {"type": "integer"},
            "match_count": {"type": "integer"},
            "banks": {"type": "array", "items": {"type": "string"}},
            "best_distance": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "closed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Case": {
        "allOf": [
            _ref("CaseSummary"),
            {
                "type": "object",
                "properties": {
                    "metadata": {"type": "object"},
                    "matches": {
                        "type": "array",
                        "items": {
                            "allOf": [
                                _ref("Match"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "query_signal": {"type": "string"},
                                        "matched_at": {"type": "string", "format": "date-time"},
                                    },
                                },
                            ]
                        },
                    },
                    "decisions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "decision": {"type": "string"},
                                "note": {"type": "string"},
                                "decided_by": {"type": "string"},
                                "decided_at": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                },
            },
        ]
    },
}


def _case_steps(case_params: list[dict[str, Any]]) -> dict[str, Any]:
    """The review workflow's routes on one case, and its media."""
    conflict = {"409": _answer("Held by someone else, or not in that state", _ref("Error"))}
    forbidden = {"403": _answer("The review rules forbid this step", _ref("Error"))}

    def step(summary: str, role: str = "reviewer", **extra: Any) -> dict[str, Any]:
        answers = {"200": _answer("The case after the step", _ref("Case"))}
        return {
            "parameters": case_params,
            "post": _op(summary, role, answers | conflict | forbidden | _NOT_FOUND, **extra),
        }

    image = {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "/api/v1/cases/next": {
            "post": _op(
                "Claim the most urgent case waiting for the caller",
                "reviewer",
                {
                    "200": _answer("The case, now claimed by the caller", _ref("Case")),
                    "204": {"description": "No case waits for the caller"},
                }
                | forbidden,
            )
        },
        "/api/v1/cases/{case_id}/claim": step("Claim the case, or renew the lease on it"),
        "/api/v1/cases/{case_id}/release": step("Give the case back to the queue"),
        "/api/v1/cases/{case_id}/reassign": step(
            "Hand the case to a named reviewer",
            "admin",
            requestBody={"required": True, **_json(_object({"to": {"type": "string"}}, ["to"]))},
        ),
        "/api/v1/cases/{case_id}/approve": step(
            "Agree, as the second reviewer, with a decision awaiting one"
        ),
        "/api/v1/cases/{case_id}/undo": step(
            "Take back a decision that has not taken effect (undo window)"
        ),
        "/api/v1/cases/{case_id}/preview": {
            "parameters": case_params,
            "get": _op(
                "The reviewer-safe image: downscaled, blurred and greyscale",
                "reviewer",
                {"200": {"description": "A JPEG", **image}} | _NOT_FOUND,
            ),
        },
        "/api/v1/cases/{case_id}/reveal": {
            "parameters": case_params,
            "post": _op(
                "The kept copy itself, unblurred; recorded in the audit log",
                "reviewer",
                {"200": {"description": "The image", **image}} | _NOT_FOUND,
            ),
        },
    }


def _paths() -> dict[str, Any]:
    bank_params = _name_param("name")
    content_params = _name_param("name", "content_id")
    case_params = _name_param("case_id")
    bank_body = {
        "required": True,
        **_json(
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "pdq_threshold": {"type": ["integer", "null"]},
                    "published": {"type": "boolean"},
                    "reshare": {"type": "boolean"},
                    "trust": {"type": "integer", "minimum": 0, "maximum": 10},
                },
            }
        ),
    }
    return {
        "/api/v1/hash": {
            "post": _op(
                "Signals of a file or URL",
                "ingest",
                {
                    "200": _answer(
                        "The signals",
                        {
                            "type": "object",
                            "properties": {"signals": {"type": "array", "items": _ref("Signal")}},
                        },
                    )
                }
                | _TOO_LARGE,
                requestBody=_CONTENT_BODY,
            )
        },
        "/api/v1/match": {
            "post": _op(
                "Hash (or take signals) and look up in every enabled bank; opens no case",
                "ingest",
                {"200": _answer("Signals and matches", _ref("MatchResult"))} | _TOO_LARGE,
                requestBody=_CONTENT_BODY,
            )
        },
        "/api/v1/scan": {
            "post": _op(
                "Hash, match and open or extend the review case for content_ref",
                "ingest",
                {"200": _answer("Signals, matches and the case id", _ref("ScanResult"))}
                | _TOO_LARGE,
                requestBody=_CONTENT_BODY,
            )
        },
        "/api/v1/banks": {
            "get": _op(
                "List banks",
                "curator",
                {
                    "200": _answer(
                        "Banks",
                        {
                            "type": "object",
                            "properties": {"banks": {"type": "array", "items": _ref("Bank")}},
                        },
                    )
                },
            ),
            "post": _op(
                "Create a bank",
                "curator",
                {
                    "201": _answer("The bank", _ref("Bank")),
                    "409": _answer("Name taken", _ref("Error")),
                },
                requestBody=bank_body,
            ),
        },
        "/api/v1/banks/{name}": {
            "parameters": bank_params,
            "get": _op(
                "One bank", "curator", {"200": _answer("The bank", _ref("Bank"))} | _NOT_FOUND
            ),
            "patch": _op(
                "Rename, describe, enable or disable a bank",
                "curator",
                {"200": _answer("The bank", _ref("Bank"))} | _NOT_FOUND,
                requestBody=bank_body,
            ),
            "delete": _op(
                "Delete a bank and its content", "curator", {"204": _answer("Deleted")} | _NOT_FOUND
            ),
        },
        "/api/v1/banks/{name}/content": {
            "parameters": bank_params,
            "get": _op(
                "A page of the bank's content, in id order",
                "curator",
                {
                    "200": _answer(
                        "Content and the cursor for the next page",
                        {
                            "type": "object",
                            "properties": {
                                "content": {"type": "array", "items": _ref("BankContent")},
                                "next_after": {"type": ["integer", "null"]},
                            },
                        },
                    )
                }
                | _NOT_FOUND,
                parameters=_PAGE_ARGS,
            ),
            "post": _op(
                "Add content from a file (multipart: file, tags, metadata) or from signals",
                "curator",
                {"201": _answer("The content", _ref("BankContent"))} | _NOT_FOUND | _TOO_LARGE,
                requestBody=_file_or_json(
                    {
                        "tags": {"type": "string", "description": "comma-separated"},
                        "metadata": _JSON_TEXT,
                    },
                    {"signals": _SIGNAL_LIST, "tags": _TAG_LIST, "metadata": {"type": "object"}},
                    ["signals"],
                ),
            ),
        },
        "/api/v1/banks/{name}/content/{content_id}": {
            "parameters": content_params,
            "get": _op(
                "One piece of content",
                "curator",
                {"200": _answer("The content", _ref("BankContent"))} | _NOT_FOUND,
            ),
            "patch": _op(
                "Enable, disable, retag or describe content",
                "curator",
                {"200": _answer("The content", _ref("BankContent"))} | _NOT_FOUND,
                requestBody=_json(
                    {
                        "type": "object",
                        "properties": {
                            "enabled": {"type": "boolean"},
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "metadata": {"type": "object"},
                        },
                    }
                ),
            ),
            "delete": _op(
                "Remove content and its signals",
                "curator",
                {"204": _answer("Removed")} | _NOT_FOUND,
            ),
        },
        "/api/v1/banks/{name}/content/{content_id}/remove-on-appeal": {
            "parameters": content_params,
            "post": _op(
                "Remove content an appeal found is not abuse, for good, and tell its exchange",
                "curator",
                {
                    "200": _answer(
                        "Removed",
                        {
                            "type": "object",
                            "properties": {
                                "removed": {"type": "integer"},
                                "exchange_told": {"type": "boolean"},
                            },
                        },
                    )
                }
                | _NOT_FOUND,
                requestBody=_json(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "properties": {"reason": {"type": "string", "minLength": 1}},
                    }
                ),
            ),
        },
        "/api/v1/cases": {
            "get": _op(
                "Cases, most urgent first",
                "reviewer",
                {
                    "200": _answer(
                        "A page of cases and the total",
                        {
                            "type": "object",
                            "properties": {
                                "cases": {"type": "array", "items": _ref("CaseSummary")},
                                "total": {"type": "integer"},
                            },
                        },
                    )
                },
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"enum": list(STATUS_FILTERS)},
                    },
                    {"name": "queue", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
            )
        },
        "/api/v1/cases/{case_id}": {
            "parameters": case_params,
            "get": _op(
                "One case with every match and decision",
                "reviewer",
                {"200": _answer("The case", _ref("Case"))} | _NOT_FOUND,
            ),
        },
        "/api/v1/cases/{case_id}/decision": {
            "parameters": case_params,
            "post": _op(
                "Decide a case: confirm or reject wait out the undo window (and a second"
                " reviewer where the two-person rule applies) before closing it; escalate"
                " moves it to another queue at once",
                "reviewer",
                {
                    "200": _answer("The case after the decision", _ref("Case")),
                    "409": _answer("Already decided, or held by another reviewer", _ref("Error")),
                }
                | _NOT_FOUND,
                requestBody={
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "decision": {"enum": ["confirm", "reject", "escalate"]},
                                "note": {"type": "string"},
                                "classification": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                    "description": "confirm: taxonomy tags (default: the"
                                    " matched signals' tags); one must be primary",
                                },
                                "reason": {
                                    "enum": list(REJECT_REASONS),
                                    "description": "reject: why (default false_positive)",
                                },
                                "escalate_to": {
                                    "type": "string",
                                    "description": "escalate: a reviewer or queue (default senior)",
                                },
                            },
                            "required": ["decision"],
                        }
                    ),
                },
            ),
        },
        **_case_steps(case_params),
        "/api/v1/exchanges": {
            "get": _op(
                "Exchanges and their sync state",
                "curator",
                {
                    "200": _answer(
                        "Exchanges",
                        _object({"exchanges": {"type": "array", "items": _ref("Exchange")}}),
                    )
                },
            ),
            "post": _op(
                "Follow an exchange with a bank",
                "curator",
                {
                    "201": _answer("The exchange", _ref("Exchange")),
                    "409": _answer("Name taken", _ref("Error")),
                }
                | _NOT_FOUND,
                requestBody={
                    "required": True,
                    **_json(
                        _object(
                            {
                                "name": {"type": "string"},
                                "type": {
                                    "enum": ["list", "hma", "threatexchange", "ncmec", "stopncii"]
                                },
                                "bank": {"type": "string"},
                                "url": {"type": "string"},
                                "interval_seconds": {"type": "integer", "minimum": 10},
                                "settings": {"type": "object"},
                                "credentials": {"type": "string", "writeOnly": True},
                                "enabled": {"type": "boolean"},
                                "feedback_enabled": {"type": "boolean"},
                            },
                            ["name", "type", "bank"],
                        )
                    ),
                },
            ),
        },
        "/api/v1/exchanges/{name}": {
            "parameters": bank_params,
            "get": _op(
                "One exchange's configuration and sync state",
                "curator",
                {"200": _answer("The exchange", _ref("Exchange"))} | _NOT_FOUND,
            ),
            "patch": _op(
                "Change an exchange's interval, settings, credentials or flags",
                "curator",
                {"200": _answer("The exchange", _ref("Exchange"))} | _NOT_FOUND,
                requestBody={
                    "required": True,
                    **_json(
                        _object(
                            {
                                "url": {"type": "string"},
                                "interval_seconds": {"type": "integer", "minimum": 10},
                                "settings": {"type": "object"},
                                "credentials": {"type": "string", "writeOnly": True},
                                "enabled": {"type": "boolean"},
                                "feedback_enabled": {"type": "boolean"},
                            }
                        )
                    ),
                },
            ),
            "delete": _op(
                "Stop following; its content leaves the bank unless keep_content=true",
                "curator",
                {"204": _answer("Removed"), "409": _answer("A sync is running", _ref("Error"))}
                | _NOT_FOUND,
                parameters=[{"name": "keep_content", "in": "query", "schema": {"type": "boolean"}}],
            ),
        },
        "/api/v1/exchanges/{name}/sync": {
            "parameters": bank_params,
            "post": _op(
                "Start a sync now, in the background (full: read everything again)",
                "curator",
                {"202": _answer("Started")} | _NOT_FOUND,
                requestBody=_json(_object({"full": {"type": "boolean"}})),
            ),
        },
        "/api/v1/exchange/banks": {
            "get": _op(
                "Published banks (for other instances)",
                "exchange",
                {
                    "200": _answer(
                        "Banks",
                        _object(
                            {
                                "banks": {
                                    "type": "array",
                                    "items": _object(
                                        {
                                            "name": {"type": "string"},
                                            "description": {"type": "string"},
                                        }
                                    ),
                                }
                            }
                        ),
                    )
                },
            ),
        },
        "/api/v1/exchange/banks/{name}/changes": {
            "parameters": bank_params,
            "get": _op(
                "A published bank's changes after a cursor, oldest first",
                "exchange",
                {
                    "200": _answer(
                        "Changes and the cursor to continue from",
                        _object(
                            {
                                "changes": {"type": "array", "items": _ref("FeedChange")},
                                "next_after": {"type": "integer"},
                                "has_more": {"type": "boolean"},
                            }
                        ),
                    )
                }
                | _NOT_FOUND,
                parameters=[
                    {"name": "after", "in": "query", "schema": {"type": "integer"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 10000},
                    },
                ],
            ),
        },
        # Review metrics and transparency figures (hma/web/api/metrics.py). The
        # Prometheus scrape route, GET /metrics (role admin), is outside /api/v1.
        "/api/v1/metrics": {
            "get": _op(
                "The review queue now, and the decisions made in a period"
                " (400 invalid_period for a malformed or empty period)",
                "admin",
                {
                    "200": _answer(
                        "Queue and decision figures",
                        _object(
                            {
                                "period": _object(
                                    {
                                        "start": {"type": "string", "format": "date-time"},
                                        "end": {"type": "string", "format": "date-time"},
                                    }
                                ),
                                "queue": _object(
                                    {
                                        "at": {"type": "string", "format": "date-time"},
                                        "by_status": _object(
                                            {
                                                "open": {"type": "integer"},
                                                "escalated": {"type": "integer"},
                                                "pending": {"type": "integer"},
                                            }
                                        ),
                                        "oldest_age_seconds": {"type": ["number", "null"]},
                                        "claimed": {"type": "integer"},
                                    }
                                ),
                                "decisions": _object(
                                    {
                                        "total": {"type": "integer"},
                                        "by_decision": _object(
                                            {
                                                "confirm": {"type": "integer"},
                                                "reject": {"type": "integer"},
                                                "escalate": {"type": "integer"},
                                            }
                                        ),
                                        "by_reviewer": {
                                            "type": "object",
                                            "description": "reviewer -> decision -> count",
                                            "additionalProperties": {
                                                "type": "object",
                                                "additionalProperties": {"type": "integer"},
                                            },
                                        },
                                        "time_to_decision": _object(
                                            {
                                                "count": {"type": "integer"},
                                                "p50_seconds": {"type": ["number", "null"]},
                                                "p90_seconds": {"type": ["number", "null"]},
                                                "mean_seconds": {"type": ["number", "null"]},
                                            }
                                        ),
                                        "undone": {"type": "integer"},
                                    }
                                ),
                            }
                        ),
                    )
                },
                parameters=(
                    review_period := [
                        {
                            "name": "start",
                            "in": "query",
                            "description": "ISO date or datetime (UTC unless it has an"
                            " offset); default 30 days before end",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "end",
                            "in": "query",
                            "description": "ISO date or datetime, exclusive (a date alone"
                            " includes that whole day); default now",
                            "schema": {"type": "string"},
                        },
                    ]
                ),
            ),
        },
        "/api/v1/transparency": {
            "get": _op(
                "Transparency figures for a period: content actioned, cases rejected,"
                " matches by signal type, feedback sent, webhooks delivered",
                "admin",
                {
                    "200": {
                        "description": "The report; as CSV (rows metric,key,value), an"
                        " attachment named after the period",
                        "content": {
                            "application/json": {
                                "schema": _object(
                                    {
                                        "period": {"type": "object"},
                                        "content_actioned": {"type": "integer"},
                                        "cases_rejected": {"type": "integer"},
                                        "matches_by_signal_type": {"type": "object"},
                                        "feedback_sent_by_verdict": {"type": "object"},
                                        "webhooks_delivered": {"type": "integer"},
                                    }
                                )
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    }
                },
                parameters=[
                    *review_period,
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
                ],
            ),
        },
        "/api/v1/status": {
            "get": _op(
                "Liveness, versions and index freshness",
                None,
                {"200": _answer("Healthy"), "503": _answer("Database unreachable")},
            ),
        },
        "/api/v1/live": {
            "get": _op("Liveness: the process answers", None, {"200": _answer("Alive")}),
        },
        "/api/v1/ready": {
            "get": _op(
                "Readiness: database reachable, indexes loaded and current",
                None,
                {"200": _answer("Ready"), "503": _answer("Not ready, with the reason")},
            ),
        },
        "/api/v1/openapi.json": {
            "get": _op("This document", None, {"200": _answer("OpenAPI 3.1")}),
        },
    }


def openapi_spec(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HMA API",
            "version": version,
            "description": "Hash uploads, match them against hash banks, review every match.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
