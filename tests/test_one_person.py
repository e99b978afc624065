"""One person, one identity: deciding and revealing need a token of a console user,
which acts as that user (the two-person rule, the exposure limit) wherever they work."""

from __future__ import annotations

import pytest

from accounts.tokens import create_token
from accounts.users import create_user, disable_user, set_queues
from hma.secrets import SecretBox
from tests.conftest import Api, api_for, upload

SEVERE = {"decision": "confirm", "classification": ["csam_egregious"]}


def open_cases(api: Api, *refs: str) -> list[int]:
    assert api.post("/banks", json={"name": "known"}).status_code == 201
    added = api.post("/banks/known/content", **upload("aaa-orig.jpg", tags="csam"))
    assert added.status_code == 201
    found = []
    for ref in refs:
        scanned = api.post("/scan", role="ingest", **upload("aaa-orig.jpg", content_ref=ref))
        assert scanned.status_code == 200 and scanned.get_json()["case_id"]
        found.append(scanned.get_json()["case_id"])
    return found


def person(api: Api, database, username: str, *token_names: str) -> None:
    """A reviewer account and personal tokens of theirs, added to `api.tokens`."""
    with database.session() as session:
        create_user(session, username, "reviewer", SecretBox("one-person"))
        for name in token_names:
            api.tokens[name] = create_token(session, name, "reviewer", user=username)


@pytest.fixture
def strict(settings, database):
    return api_for(
        settings.replace(two_person_rule=True, undo_seconds=0, review_exposure_limit=1), database
    )


def test_a_service_token_can_read_cases_but_not_act_on_them(strict):
    [case_id] = open_cases(strict, "upload-1")
    assert strict.get(f"/cases/{case_id}", role="service-reviewer").status_code == 200
    assert strict.get("/cases", role="service-reviewer").status_code == 200
    for path, body in [
        ("decision", {"decision": "reject", "reason": "false_positive"}),
        ("claim", {}),
        ("release", {}),
        ("approve", {}),
        ("undo", {}),
        ("reveal", {}),
    ]:
        answer = strict.post(f"/cases/{case_id}/{path}", role="service-reviewer", json=body)
        assert answer.status_code == 403, (path, answer.get_json())
        assert answer.get_json()["error"]["code"] == "personal_token_required"


def test_two_tokens_of_one_person_are_one_reviewer(strict, database):
    [case_id] = open_cases(strict, "upload-1")
    person(strict, database, "alice", "alice-laptop", "alice-phone")
    person(strict, database, "bob", "bob-laptop")
    decided = strict.post(f"/cases/{case_id}/decision", role="alice-laptop", json=SEVERE)
    assert decided.status_code == 200, decided.get_json()
    [decision] = decided.get_json()["decisions"]
    assert decision["state"] == "awaiting_second" and decision["decided_by"] == "user:alice"
    # Alice's other token is still Alice: she cannot be her own second reviewer.
    again = strict.post(f"/cases/{case_id}/approve", role="alice-phone", json={})
    assert again.status_code == 403, again.get_json()
    approved = strict.post(f"/cases/{case_id}/approve", role="bob-laptop", json={})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["decisions"][0]["approved_by"] == "user:bob"


def test_reveals_through_the_api_count_against_the_persons_limit(strict, database):
    first, second = open_cases(strict, "upload-1", "upload-2")
    person(strict, database, "carol", "carol-token")
    shown = strict.post(f"/cases/{first}/reveal", role="carol-token")
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    # The limit is one case an hour here: the same case again is fine, another is not.
    assert strict.post(f"/cases/{first}/reveal", role="carol-token").status_code == 200
    refused = strict.post(f"/cases/{second}/reveal", role="carol-token")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "exposure_limit"
    assert strict.get(f"/cases/{second}/preview", role="carol-token").status_code == 429


def test_a_disabled_persons_tokens_stop_working(settings, database):
    api = api_for(settings.replace(token_cache_seconds=0), database)
    person(api, database, "dave", "dave-token")
    assert api.get("/cases", role="dave-token").status_code == 200
    with database.session() as session:
        disable_user(session, "dave")
    assert api.get("/cases", role="dave-token").status_code == 401


def test_a_personal_token_has_a_role_its_person_has(database):
    with database.session() as session:
        create_user(session, "erin", "reviewer", SecretBox("one-person"))
        with pytest.raises(Exception, match="tokens may have the roles reviewer"):
            create_token(session, "erin-admin", "admin", user="erin")
        with pytest.raises(Exception, match="no user named"):
            create_token(session, "ghost", "reviewer", user="nobody")


def test_an_escalated_case_opens_only_for_its_queue_and_admins(strict, database):
    [case_id] = open_cases(strict, "upload-1")
    person(strict, database, "alice", "alice-token")
    person(strict, database, "bob", "bob-token")
    person(strict, database, "carol", "carol-token")
    with database.session() as session:
        set_queues(session, "carol", ["senior"])
    body = {"decision": "escalate", "escalate_to": "senior"}
    escalated = strict.post(f"/cases/{case_id}/decision", role="alice-token", json=body)
    assert escalated.status_code == 200 and escalated.get_json()["queue"] == "senior"

    def visible(role: str) -> bool:
        listed = strict.get("/cases", role=role).get_json()["cases"]
        opened = strict.get(f"/cases/{case_id}", role=role).status_code
        assert opened in (200, 404)
        assert (case_id in [c["id"] for c in listed]) == (opened == 200)
        return opened == 200

    assert visible("carol-token") and visible("admin")
    assert not visible("bob-token") and not visible("alice-token")
    assert not visible("service-reviewer")
    for path in ("claim", "reveal"):
        assert strict.post(f"/cases/{case_id}/{path}", role="bob-token").status_code == 404
    assert strict.get(f"/cases/{case_id}/preview", role="bob-token").status_code == 404
    # Sent to a reviewer by name: that reviewer (and admins) only.
    to_bob = {"decision": "escalate", "escalate_to": "user:bob"}
    assert (
        strict.post(f"/cases/{case_id}/decision", role="carol-token", json=to_bob).status_code
        == 200
    )
    assert visible("bob-token") and not visible("carol-token")


def test_next_hands_each_person_their_own_case_then_nothing(strict, database):
    first, second = open_cases(strict, "upload-1", "upload-2")
    person(strict, database, "alice", "alice-token")
    person(strict, database, "bob", "bob-token")
    taken = strict.post("/cases/next", role="alice-token")
    assert taken.status_code == 200
    assert taken.get_json()["claimed_by"] == "user:alice"
    # Asking again hands alice the case she holds, not a second one.
    again = strict.post("/cases/next", role="alice-token").get_json()
    assert again["id"] == taken.get_json()["id"]
    for_bob = strict.post("/cases/next", role="bob-token").get_json()
    assert {taken.get_json()["id"], for_bob["id"]} == {first, second}
    assert for_bob["claimed_by"] == "user:bob"
    assert strict.post("/cases/next", role="service-reviewer").status_code == 403
    person(strict, database, "carol", "carol-token")
    nothing = strict.post("/cases/next", role="carol-token")
    assert nothing.status_code == 204 and nothing.data == b""
