"""Console accounts and sessions: password + TOTP, lockout, replayed codes, CSRF."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from accounts import sessions as console_sessions
from accounts.models import ConsoleSession, User
from accounts.sessions import ADDRESS_LIMIT, PAIR_LIMIT
from accounts.users import authenticate, create_user, disable_user, reset_user
from core.errors import LoginFailed
from database import audit
from database.audit import AuditEntry
from hma.secrets import SecretBox
from hma.web import create_app

BOX = SecretBox("users-test")


def new_reviewer(database, name="alice"):
    with database.session() as session:
        return create_user(session, name, "reviewer", BOX)


def login(database, username, password, code, address="192.0.2.1"):
    """One attempt in its own committed transaction, as the console makes it."""
    with database.sessions() as session:
        try:
            return authenticate(session, username, password, code, BOX, address).username
        finally:
            session.commit()


def test_all_three_factors_are_needed(database):
    account = new_reviewer(database)
    totp = pyotp.TOTP(account.totp_secret)
    with pytest.raises(LoginFailed):
        login(database, "alice", "wrong", totp.now())
    with pytest.raises(LoginFailed):
        login(database, "alice", account.password, "000000" if totp.now() != "000000" else "1")
    with pytest.raises(LoginFailed):
        login(database, "nobody", account.password, totp.now())
    assert login(database, "alice", account.password, totp.now()) == "alice"
    with database.session() as session:
        stored = session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()))
        assert stored == audit.USER_LOGIN
        assert audit.verify(session).ok


def test_a_code_is_good_for_one_sign_in_only(database):
    account = new_reviewer(database)
    code = pyotp.TOTP(account.totp_secret).now()
    assert login(database, "alice", account.password, code) == "alice"
    with pytest.raises(LoginFailed):
        login(database, "alice", account.password, code)


def test_failures_pause_one_address_never_the_account(database):
    account = new_reviewer(database)
    totp = pyotp.TOTP(account.totp_secret)
    for _ in range(PAIR_LIMIT):
        with pytest.raises(LoginFailed):
            login(database, "alice", "guess", totp.now(), address="203.0.113.9")
    # That address is paused now: even the right password and code are refused...
    with pytest.raises(LoginFailed):
        login(database, "alice", account.password, totp.now(), address="203.0.113.9")
    # ...while the owner, elsewhere, signs in: a stranger cannot lock an account.
    assert login(database, "alice", account.password, totp.now(), address="198.51.100.7")
    # One address guessing across many usernames is paused too.
    for number in range(ADDRESS_LIMIT):
        with pytest.raises(LoginFailed):
            login(database, f"user{number}", "guess", "000000", address="203.0.113.50")
    new_reviewer(database, "bob")
    with pytest.raises(LoginFailed):
        login(database, "bob", "anything", "000000", address="203.0.113.50")
    with database.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert actions.count(audit.USER_LOCKED) == 2


def test_two_sign_ins_racing_with_one_code_cannot_both_succeed(database):
    account = new_reviewer(database)
    code = pyotp.TOTP(account.totp_secret).now()
    first, second = database.sessions(), database.sessions()
    try:
        # The second has read the account (the code looks unused to it) before
        # the first records the code as used.
        stale = second.scalars(select(User).where(User.username == "alice")).one()
        assert stale.totp_last_step == 0
        winner = authenticate(first, "alice", account.password, code, BOX, "192.0.2.1")
        first.commit()
        with pytest.raises(LoginFailed):
            authenticate(second, "alice", account.password, code, BOX, "192.0.2.2")
        second.commit()
    finally:
        first.close()
        second.close()
    assert winner.username == "alice"


def test_passwords_are_stored_as_argon2_and_totp_secrets_encrypted(database):
    account = new_reviewer(database)
    from accounts.models import User

    with database.session() as session:
        user = session.scalar(select(User))
        assert user.password_hash.startswith("$argon2id$")
        assert account.password not in user.password_hash
        assert account.totp_secret not in user.totp_secret
        assert BOX.decrypt(user.totp_secret) == account.totp_secret


def test_console_forms_need_the_session_csrf_token(settings, database):
    app = create_app(settings.replace(secret_key="users-test"), database)
    account = new_reviewer(database)
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {
        "username": "alice",
        "password": account.password,
        "code": pyotp.TOTP(account.totp_secret).now(),
    }
    assert client.post("/console/login", data=form).status_code == 400  # no token
    # Nor does a client with no session at all (a cross-site form) get through.
    assert app.test_client().post("/console/login", data=form).status_code == 400
    signed_in = client.post("/console/login", data=form | {"csrf": token})
    # Home: the queue for a reviewer, the overview for a curator.
    assert signed_in.status_code == 302 and signed_in.location.endswith("/console/")
    assert client.get("/console/").location.endswith("/console/queue")
    assert client.get("/console/queue").status_code == 200
    cookie = client.get_cookie("hma_session")
    assert cookie.http_only and cookie.same_site == "Strict"
    # The session's token changed at sign-in: the one from before no longer works.
    assert client.post("/console/logout", data={"csrf": token}).status_code == 400
    page = client.get("/console/queue").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    # After the break prompt, only the console's own pages are followed.
    away = client.post("/console/break/skip", data={"csrf": token, "back": "https://x.test/"})
    assert away.location.endswith("/console/queue")
    # Resetting the account ends the sessions it had.
    with database.session() as session:
        reset_user(session, "alice", BOX)
    assert "/console/login" in client.get("/console/queue").location


def test_pages_need_a_signed_in_reviewer(settings, database):
    app = create_app(settings, database)
    client = app.test_client()
    answer = client.get("/console/queue")
    assert answer.status_code == 302 and "/console/login" in answer.location
    assert client.get("/").location.endswith("/console/")


def test_a_paused_or_disabled_account_answers_like_any_failure(database):
    account = new_reviewer(database)
    totp = pyotp.TOTP(account.totp_secret)
    for _ in range(PAIR_LIMIT):
        with pytest.raises(LoginFailed) as failed:
            login(database, "alice", "guess", totp.now())
    with pytest.raises(LoginFailed) as paused:
        login(database, "alice", account.password, totp.now())
    assert str(paused.value) == str(failed.value)
    # A reset issues new secrets; disabling closes the account.
    with database.session() as session:
        fresh = reset_user(session, "alice", BOX)
    assert fresh.password != account.password
    code = pyotp.TOTP(fresh.totp_secret).now()
    assert login(database, "alice", fresh.password, code, address="192.0.2.77") == "alice"
    with database.session() as session:
        disable_user(session, "alice")
    with pytest.raises(LoginFailed):
        login(database, "alice", fresh.password, pyotp.TOTP(fresh.totp_secret).now())


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_an_account_whose_secrets_were_written_down_renews_them_first(settings, database):
    app = create_app(settings.replace(secret_key="users-test"), database)
    with database.session() as session:
        account = create_user(session, "root", "admin", BOX, must_renew=True)
    client = app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    old_code = pyotp.TOTP(account.totp_secret).now()
    form = {"username": "root", "password": account.password, "code": old_code, "csrf": token}
    assert client.post("/console/login", data=form).status_code == 302
    # Every page leads to the renewal until it is done.
    assert client.get("/console/queue").location.endswith("/console/renew")
    page = client.get("/console/renew").get_data(as_text=True)
    new_secret = re.search(r'id="totp-secret" value="([A-Z2-7]+)"', page).group(1)
    assert new_secret != account.totp_secret
    token = csrf_of(page)
    good = {
        "password": "a-new-long-password",
        "repeat": "a-new-long-password",
        "code": pyotp.TOTP(new_secret).now(),
        "csrf": token,
    }
    for change, why in [
        ({"password": "short", "repeat": "short"}, "at least 12 characters"),
        ({"repeat": "something-else-entirely"}, "differ"),
        ({"password": account.password, "repeat": account.password}, "other than"),
        ({"code": old_code}, "does not match the new authenticator"),
    ]:
        refused = client.post("/console/renew", data=good | change)
        assert refused.status_code == 400 and why in refused.get_data(as_text=True), why
    # The secret shown stays the same across attempts, so the authenticator keeps working.
    again = client.get("/console/renew").get_data(as_text=True)
    assert f'value="{new_secret}"' in again
    done = client.post("/console/renew", data=good)
    assert done.status_code == 302 and done.location.endswith("/console/")
    assert client.get("/console/queue").status_code == 200
    # The old password and authenticator no longer sign in; the new ones do.
    with pytest.raises(LoginFailed):
        login(database, "root", account.password, pyotp.TOTP(account.totp_secret).now())
    with database.session() as session:
        # The code used to confirm the new secret is spent: the next one signs in.
        next_code = pyotp.TOTP(new_secret).at(time.time() + 30)
        renewed = authenticate(session, "root", "a-new-long-password", next_code, BOX, "192.0.2.1")
        assert not renewed.must_renew
        actions = [
            (e.action, e.details)
            for e in session.scalars(select(AuditEntry).where(AuditEntry.subject == "user:root"))
        ]
    assert (audit.USER_CHANGE, {"change": "renewed"}) in actions


def signed_in_client(app, account, username="alice"):
    client = app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    form = {
        "username": username,
        "password": account.password,
        "code": pyotp.TOTP(account.totp_secret).now(),
        "csrf": token,
    }
    assert client.post("/console/login", data=form).status_code == 302
    return client


def test_only_a_post_with_the_sessions_token_is_a_sign_in_attempt(settings, database):
    app = create_app(settings.replace(secret_key="users-test"), database)
    new_reviewer(database, "admin")
    client = app.test_client()
    form = {"username": "admin", "password": "x", "code": "000000"}
    for method in ("HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for _ in range(PAIR_LIMIT + 1):
            client.open("/console/login", method=method, data=form)
    with database.session() as session:
        failures = session.scalars(select(AuditEntry.action)).all()
    assert audit.USER_LOGIN_FAILED not in failures


def test_sign_out_ends_the_session_for_every_copy_of_its_cookie(settings, database):
    app = create_app(settings.replace(secret_key="users-test"), database)
    account = new_reviewer(database)
    client = signed_in_client(app, account)
    copy = app.test_client()
    copy.set_cookie("hma_session", client.get_cookie("hma_session").value)
    assert copy.get("/console/queue").status_code == 200
    token = csrf_of(client.get("/console/queue").get_data(as_text=True))
    assert client.post("/console/logout", data={"csrf": token}).status_code == 302
    assert "/console/login" in copy.get("/console/queue").location


def test_a_session_ends_at_its_lifetime_however_busy(settings, database):
    app = create_app(settings.replace(secret_key="users-test"), database)
    account = new_reviewer(database)
    client = signed_in_client(app, account)
    assert client.get("/console/queue").status_code == 200
    with database.session() as session:
        row = session.scalars(select(ConsoleSession)).one()
        row.created_at = row.created_at - console_sessions.LIFETIME
    assert "/console/login" in client.get("/console/queue").location
