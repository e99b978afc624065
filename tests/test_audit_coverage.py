"""Bank and exchange changes, over HTTP and from the CLI, land in the audit log."""

from __future__ import annotations

import json

from sqlalchemy import select

from database import audit
from database.audit import AuditEntry
from hma.secrets import audit_chain_key

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
SECRET = "s3cret-credential-value"


def entries(database) -> list[AuditEntry]:
    """The log, but the console accounts the `api` fixture made before the test."""
    with database.session() as session:
        assert audit.verify(session).ok
        every = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [e for e in every if not e.subject.startswith("user:test-")]


def test_bank_and_exchange_changes_over_http_are_audited(api, database, tmp_path):
    assert api.post("/banks", json={"name": "known"}).status_code == 201
    patched = api.patch("/banks/known", json={"name": "kept", "description": "d", "enabled": True})
    assert patched.status_code == 200
    added = api.post("/banks/kept/content", json={"signals": [{"type": "pdq", "value": PDQ}]})
    assert added.status_code == 201
    content_id = added.get_json()["id"]
    path = f"/banks/kept/content/{content_id}"
    assert api.patch(path, json={"enabled": False}).status_code == 200
    assert api.delete(path).status_code == 204
    assert api.delete("/banks/kept").status_code == 204

    feed = tmp_path / "feed.txt"
    feed.write_text("")
    assert api.post("/banks", json={"name": "followed"}).status_code == 201
    body = {"name": "l", "type": "list", "bank": "followed", "url": str(feed)}
    assert api.post("/exchanges", json=body | {"interval_seconds": 60}).status_code == 201
    assert api.patch("/exchanges/l", json={"credentials": SECRET}).status_code == 200
    assert api.delete("/exchanges/l").status_code == 204

    log = entries(database)
    assert [(e.action, e.subject, e.details) for e in log] == [
        (audit.BANK_CREATE, "bank:known", {}),
        (
            audit.BANK_CHANGE,
            "bank:kept",
            {"changed": ["name", "description"], "renamed_from": "known"},
        ),
        (audit.BANK_CHANGE, "bank:kept", {"content_added": content_id}),
        (audit.BANK_CHANGE, "bank:kept", {"content_id": content_id, "change": "disabled"}),
        (audit.BANK_CHANGE, "bank:kept", {"content_id": content_id, "change": "removed"}),
        (audit.BANK_DELETE, "bank:kept", {}),
        (audit.BANK_CREATE, "bank:followed", {}),
        (audit.EXCHANGE_ADD, "exchange:l", {"type": "list", "bank": "followed", "interval": 60}),
        (audit.EXCHANGE_CHANGE, "exchange:l", {"changed": ["credentials"]}),
        (
            audit.EXCHANGE_REMOVE,
            "exchange:l",
            {"bank": "followed", "keep_content": False, "removed": 0},
        ),
    ]
    assert len({e.actor for e in log}) == 1 and log[0].actor.startswith("user:test-admin-")
    assert all(SECRET not in json.dumps(e.details) for e in log)


def test_a_failed_change_leaves_no_entry(api, database):
    assert api.post("/banks", json={"name": "known"}).status_code == 201
    assert api.patch("/banks/known", json={"pdq_threshold": 1000}).status_code == 400
    assert api.delete("/exchanges/missing").status_code == 404
    assert [e.action for e in entries(database)] == [audit.BANK_CREATE]


def test_cli_bank_and_exchange_changes_are_audited_as_cli(hma, database, settings, tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("")
    for command in (
        ["bank", "create", "followed"],
        ["exchange", "add", "l", "--type", "list", "--bank", "followed", "--url", str(feed)],
        ["exchange", "remove", "l"],
    ):
        done = hma(*command)
        assert done.exit_code == 0, done.stderr

    # The CLI chains entries with the data dir's key, as the settings name it.
    database.key_audit_log(audit_chain_key(settings))
    log = entries(database)
    assert [(e.actor, e.action, e.subject) for e in log] == [
        ("cli", audit.BANK_CREATE, "bank:followed"),
        ("cli", audit.EXCHANGE_ADD, "exchange:l"),
        ("cli", audit.EXCHANGE_REMOVE, "exchange:l"),
    ]
    assert log[1].details == {"type": "list", "bank": "followed", "interval": 3600}
