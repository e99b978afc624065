"""Signals beyond media: URLs, domains, accounts and keywords, from their rules to a
scan of a post opening a case."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select, text

from accounts.users import create_user
from banks import publish, store
from banks.lookup import BankIndexes, MatchConfig
from core.errors import InvalidSignal, SettingsError
from database.audit import AuditEntry
from hashers import Signal, default_registry
from hashers.accounts import normalize_account
from hashers.domains import normalize_domain, parent_domains
from hashers.keywords import fold, normalize_keyword, spans
from hashers.text import defang, links_in
from hma.web import create_app
from hma.web.context import EXTENSION
from matchers.exact import value_keys
from tests.conftest import api_for
from tests.test_curator_console import Console
from tests.test_users import BOX, signed_in_client

# Accounts -----------------------------------------------------------------------------

ACCOUNTS = [
    ("email", " Jane.Doe+news@GoogleMail.com ", "email:janedoe@gmail.com"),
    ("email", "j.a.n.e@gmail.com", "email:jane@gmail.com"),
    ("email", "Jane.Doe+x@Outlook.com", "email:jane.doe@outlook.com"),
    # Dots and tags matter on a provider not known to ignore them.
    ("email", "Jane.Doe+x@example.org", "email:jane.doe+x@example.org"),
    ("email", "ana@Bücher.de", "email:ana@xn--bcher-kva.de"),
    ("username", "Instagram:@Alice_B", "username:instagram:alice_b"),
    ("username", "x:\uff21\uff2c\uff29\uff23\uff25", "username:x:alice"),
    ("phone", "+1 (650) 253-0000", "phone:+16502530000"),
    ("phone", "+44 20 7946 0958", "phone:+442079460958"),
    ("payment", "CashApp:$JaneDoe", "payment:cashapp:janedoe"),
    ("payment", "venmo:@Jane-Doe", "payment:venmo:jane-doe"),
]


@pytest.mark.parametrize(("kind", "value", "normalised"), ACCOUNTS)
def test_accounts_normalise_by_their_kinds_rules(kind, value, normalised):
    assert normalize_account(kind, value) == normalised
    # Normalising twice changes nothing: stored values round-trip.
    assert default_registry().parse("account", normalised).value == normalised


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        ("email", "no-domain@", "invalid_email"),
        ("email", "jane", "invalid_email"),
        ("email", "jane@localhost", "invalid_email"),
        ("email", "+tag@gmail.com", "invalid_email"),
        ("phone", "650 253 0000", "invalid_phone"),
        ("phone", "+1 555 0100", "invalid_phone"),
        ("username", "alice", "invalid_username"),
        ("username", "x:", "invalid_username"),
        ("payment", "paypal:two words", "invalid_payment"),
        ("fax", "+16502530000", "invalid_account_type"),
    ],
)
def test_bad_accounts_say_which_rule_refused_them(kind, value, code):
    with pytest.raises(InvalidSignal) as refused:
        normalize_account(kind, value)
    assert refused.value.code == code


# Domains and links ---------------------------------------------------------------------


def test_domains_are_hosts_under_a_public_suffix():
    assert normalize_domain("WWW.Example.co.uk.") == "www.example.co.uk"
    assert normalize_domain("https://Sub.Example.com/path") == "sub.example.com"
    assert normalize_domain("3279880203") == "195.127.0.11"
    for suffix in ("com", "co.uk", "blogspot.com"):
        with pytest.raises(InvalidSignal) as refused:
            normalize_domain(suffix)
        assert refused.value.code == "invalid_domain"
    assert parent_domains("a.b.example.co.uk") == [
        "a.b.example.co.uk",
        "b.example.co.uk",
        "example.co.uk",
    ]
    assert parent_domains("x.user.blogspot.com") == ["x.user.blogspot.com", "user.blogspot.com"]
    assert parent_domains("10.0.0.1") == ["10.0.0.1"]


def test_links_are_found_in_text_defanged_or_not():
    text = (
        "see hxxps://evil[.]example[.]com/a/b?x=1, or fxp://files(.)example(.)net/f. "
        "Also www.site.co.uk/path) and bad-site[dot]org; not e.g. file.txt or a@mail.com"
    )
    assert links_in(text) == [
        "https://evil.example.com/a/b?x=1",
        "ftp://files.example.net/f",
        "www.site.co.uk/path",
        "bad-site.org",
    ]
    assert defang("https://evil.example.com/a.html") == "hxxps://evil[.]example[.]com/a.html"


# Keywords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "folded"),
    [
        ("\uff26\uff55\uff4c\uff4c-width", " ful width "),
        ("Café CRÈME", " cafe creme "),
        ("s3xxx", " sex "),
        ("s.e.x   c h a t", " sex chat "),
        ("l00king", " loking "),
        ("ﬁne", " fine "),
    ],
)
def test_keyword_folds(written, folded):
    assert fold(written) == folded


def test_keywords_match_on_word_boundaries_and_are_marked_in_the_original():
    text = "Sussex news: S E X chat, s3xxx! Unisex clothing; sex"
    marked = [(text[start:end], keyword) for start, end, keyword in spans(text, ["sex"])]
    assert marked == [("S E X", "sex"), ("s3xxx", "sex"), ("sex", "sex")]
    assert normalize_keyword("  Bad \t Words ") == "bad words"
    for empty in ("", "   ", "!!!"):
        with pytest.raises(InvalidSignal) as refused:
            normalize_keyword(empty)
        assert refused.value.code == "empty_keyword"


# Matching through the banks ------------------------------------------------------------


def add(database, bank, kind, values):
    registry = default_registry()
    with database.session() as session:
        target = store.get_bank(session, bank)
        signals = [registry.parse(kind, value) for value in values]
        return store.add_content(session, target, signals).id


def find(database, indexes, signals):
    with database.session() as session:
        return indexes.find(session, signals)


def url(value: str) -> Signal:
    return default_registry().parse("url", value)


def test_url_domain_account_and_keyword_entries_match(database):
    indexes = BankIndexes(default_registry(), MatchConfig())
    with database.session() as session:
        store.create_bank(session, "links")
    site = add(database, "links", "url", ["http://evil.example/"])
    folder = add(database, "links", "url", ["https://host.example/bad/"])
    page = add(database, "links", "url", ["host.example/page.html?id=7"])
    domain = add(database, "links", "domain", ["ring.example.co.uk"])
    account = add(database, "links", "account", ["email:Jane.Doe@gmail.com"])
    keyword = add(database, "links", "keyword", ["Bad Phrase"])

    # A site entry covers every page of every subdomain.
    (match,) = find(database, indexes, [url("HTTP://a.b.EVIL.example/x/y.html#frag")])
    assert (match.content_id, match.expression) == (site, "evil.example/")
    assert match.query_signal == "a.b.evil.example/x/y.html"
    assert match.to_dict()["expression"] == "evil.example/"
    # A folder entry covers what is under it, and nothing beside it.
    assert [m.content_id for m in find(database, indexes, [url("host.example/bad/x/y")])] == [
        folder
    ]
    assert find(database, indexes, [url("host.example/badger")]) == []
    assert [
        m.content_id for m in find(database, indexes, [url("host.example/page.html?id=7")])
    ] == [page]
    assert find(database, indexes, [url("host.example/page.html?id=8")]) == []

    # A domain covers its subdomains, never a name that merely ends alike.
    found = find(database, indexes, [Signal("domain", "x.ring.example.co.uk")])
    assert [(m.content_id, m.expression) for m in found] == [(domain, "ring.example.co.uk")]
    assert find(database, indexes, [Signal("domain", "thering.example.co.uk")]) == []

    found = find(
        database, indexes, [default_registry().parse("account", "email:jane.doe+x@googlemail.com")]
    )
    assert [m.content_id for m in found] == [account]

    found = find(database, indexes, [Signal("keyword", "this is a BAD  phrase, really")])
    assert [(m.content_id, m.query_signal, m.to_dict()["found"]) for m in found] == [
        (keyword, "bad phrase", "bad phrase")
    ]
    assert find(database, indexes, [Signal("keyword", "a badphrase")]) == []

    with database.session() as session:
        bank = store.get_bank(session, "links")
        store.remove_content(session, store.get_content(session, bank, keyword))
    assert find(database, indexes, [Signal("keyword", "bad phrase")]) == []


# A post through the API ----------------------------------------------------------------


def error_code(response):
    return response.get_json()["error"]["code"]


def test_a_posts_text_with_a_defanged_link_opens_a_case(api):
    assert api.post("/banks", json={"name": "leads"}).status_code == 201
    added = api.post(
        "/banks/leads/content",
        json={
            "signals": [
                {"type": "url", "value": "https://evil.example/"},
                {"type": "keyword", "value": "secret code"},
                {"type": "account", "value": "username:chat:BadActor"},
            ],
            "tags": ["csam"],
        },
    )
    assert added.status_code == 201, added.get_json()
    post = {
        "text": "DM me the SECRET c0de, see hxxp://files[.]evil[.]example/a",
        "accounts": [{"type": "username", "value": "chat:@badactor"}],
        "content_ref": "post-1",
    }
    matched = api.post("/match", role="ingest", json=post).get_json()
    kinds = sorted((m["signal_type"], m["signal"]) for m in matched["matches"])
    assert kinds == [
        ("account", "username:chat:badactor"),
        ("keyword", "secret code"),
        ("url", "evil.example/"),
    ]
    scanned = api.post("/scan", role="ingest", json=post).get_json()
    assert scanned["case_id"] is not None
    case = api.get(f"/cases/{scanned['case_id']}", role="reviewer").get_json()
    assert sorted(m["signal_type"] for m in case["matches"]) == ["account", "keyword", "url"]


def test_a_reviewer_sees_a_posts_text_hidden_but_for_matched_words_and_links_defanged(
    api, settings, database
):
    assert api.post("/banks", json={"name": "leads"}).status_code == 201
    signals = [
        {"type": "url", "value": "https://evil.example/"},
        {"type": "keyword", "value": "secret code"},
        {"type": "account", "value": "email:seller@evil.example"},
    ]
    api.post("/banks/leads/content", json={"signals": signals, "tags": ["csam"]})
    post = {
        "text": "Private words first. DM me the SECRET c0de; files at http://files.evil.example/a",
        "accounts": [{"type": "email", "value": "Seller@Evil.example"}],
        "content_ref": "post-2",
    }
    case_id = api.post("/scan", role="ingest", json=post).get_json()["case_id"]
    app = create_app(settings.replace(secret_key="users-test"), database)
    with database.session() as session:
        account = create_user(session, "rosa", "reviewer", BOX)
    console = Console(signed_in_client(app, account, "rosa"))

    page = console.get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert '<mark title="matched keyword: secret code">SECRET c0de</mark>' in page
    assert "Private words" not in page and "[31 characters hidden]" in page
    # Links and addresses are defanged wherever shown, and never links.
    assert "files.evil.example" not in page and "seller@evil.example" not in page
    assert "<code>files[.]evil[.]example/a</code> under <code>evil[.]example/</code>" in page
    assert "email:seller[@]evil[.]example" in page
    assert "evil" not in "".join(re.findall(r'(?:href|src)="([^"]*)"', page))

    revealed = console.post(f"/console/cases/{case_id}/reveal").get_data(as_text=True)
    assert "Private words first. DM me the " in revealed
    assert "<mark" in revealed and "hxxp://files[.]evil[.]example/a" in revealed
    assert "files.evil.example" not in revealed
    # Through the API: the case says it kept text; reading it is a person's logged step.
    case = api.get(f"/cases/{case_id}", role="reviewer").get_json()
    assert case["has_text"] is True and case["has_media"] is False
    assert "Private" not in str(case)
    refused = api.post(f"/cases/{case_id}/reveal-text", role="service-reviewer")
    assert refused.status_code == 403
    shown = api.post(f"/cases/{case_id}/reveal-text", role="reviewer").get_json()
    assert shown["text"] == post["text"]
    [mark] = shown["marks"]
    assert post["text"][mark["start"] : mark["end"]] == "SECRET c0de"
    with database.session() as session:
        reveals = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.reveal"))
        actors = [(e.actor, e.subject) for e in reveals]
    assert actors[0] == ("user:rosa", f"case:{case_id}") and len(actors) == 2


def test_bad_post_input_gets_a_code_per_kind(api, settings):
    cases = [
        ({"urls": ["http://[::1]/x"]}, 400, "invalid_url"),
        ({"accounts": [{"type": "email", "value": "nobody@"}]}, 400, "invalid_email"),
        ({"accounts": [{"type": "phone", "value": "12345"}]}, 400, "invalid_phone"),
        ({"accounts": [{"type": "pager", "value": "1"}]}, 400, "invalid_account_type"),
        ({"text": 5}, 400, "invalid_text"),
        ({"text": "x" * (settings.max_text_bytes + 1)}, 413, "text_too_large"),
        ({"text": "   "}, 400, "missing_input"),
    ]
    for body, status, code in cases:
        response = api.post("/match", role="ingest", json=body)
        assert (response.status_code, error_code(response)) == (status, code), body
    refused = api.post("/banks", json={"name": "kw"})
    assert refused.status_code == 201
    empty = api.post("/banks/kw/content", json={"signals": [{"type": "keyword", "value": "?!"}]})
    assert (empty.status_code, error_code(empty)) == (400, "empty_keyword")


# Keyed accounts --------------------------------------------------------------------------

PROGRAM_SECRET = "a-program-secret-of-some-length"


@pytest.fixture
def keyed_api(settings, database):
    return api_for(settings.replace(account_keys=f"program={PROGRAM_SECRET}"), database)


def test_a_bank_keeps_accounts_as_keyed_hashes_that_still_match(keyed_api, database):
    api = keyed_api
    created = api.post("/banks", json={"name": "private", "account_key": "program"})
    assert created.status_code == 201 and created.get_json()["account_key"] == "program"
    added = api.post(
        "/banks/private/content",
        json={"signals": [{"type": "account", "value": "email:Seller@Example.org"}]},
    )
    assert added.status_code == 201, added.get_json()
    [stored] = added.get_json()["signals"]
    assert re.fullmatch(r"keyed:program:[0-9a-f]{64}", stored["value"])

    post = {"accounts": [{"type": "email", "value": "seller@example.org"}]}
    [match] = api.post("/match", role="ingest", json=post).get_json()["matches"]
    assert match["signal"] == stored["value"]
    assert match["query_signal"] == "email:seller@example.org"  # what the platform sent
    # Neither the address nor the key is anywhere in the database.
    with database.session() as session:
        dump = " ".join(str(row) for row in session.execute(text("SELECT * FROM bank_signals")))
        dump += " ".join(str(row) for row in session.execute(text("SELECT * FROM signal_changes")))
    assert "seller@" not in dump and PROGRAM_SECRET not in dump

    # A program's own keyed value is taken as it is; a malformed one is refused.
    shared = api.post(
        "/banks/private/content",
        json={"signals": [{"type": "account", "value": f"keyed:program:{'ab' * 32}"}]},
    )
    assert shared.get_json()["signals"][0]["value"] == f"keyed:program:{'ab' * 32}"
    bad = api.post(
        "/banks/private/content",
        json={"signals": [{"type": "account", "value": "keyed:program:xyz"}]},
    )
    assert (bad.status_code, error_code(bad)) == (400, "invalid_keyed_account")

    # Keyed accounts cannot be read back, so the bank keeps its key.
    for change in ({"account_key": "other"}, {"account_key": None}):
        refused = api.patch("/banks/private", json=change)
        assert (refused.status_code, error_code(refused)) == (409, "account_key_in_use")


def test_keying_a_bank_turns_its_clear_accounts_into_hashes(keyed_api):
    api = keyed_api
    api.post("/banks", json={"name": "later"})
    account = {"type": "account", "value": "username:chat:badactor"}
    api.post("/banks/later/content", json={"signals": [account]})
    unknown = api.patch("/banks/later", json={"account_key": "nobody"})
    assert (unknown.status_code, error_code(unknown)) == (400, "unknown_account_key")

    assert api.patch("/banks/later", json={"account_key": "program"}).status_code == 200
    [content] = api.get("/banks/later/content").get_json()["content"]
    assert content["signals"][0]["value"].startswith("keyed:program:")
    post = {"accounts": [{"type": "username", "value": "chat:@BadActor"}]}
    assert len(api.post("/match", role="ingest", json=post).get_json()["matches"]) == 1


def test_keying_a_bank_leaves_no_clear_account_in_its_history_feed_or_snapshots(
    keyed_api, database, settings
):
    """After the conversion, the change log, the published feed read from its start and
    the index snapshot on disk hold the accounts keyed only."""
    api = keyed_api
    clear = ["username:chat:badactor", "email:gone@example.org"]
    assert api.post("/banks", json={"name": "later"}).status_code == 201
    for value in clear:
        body = {"signals": [{"type": "account", "value": value}], "tags": ["csam"]}
        assert api.post("/banks/later/content", json=body).status_code == 201
    assert api.patch("/banks/later", json={"published": True}).status_code == 200
    services = api.client.application.extensions[EXTENSION]
    indexes = services.scanner.indexes
    snapshot = settings.data_dir / "indexes"

    def on_disk() -> bytes:
        with database.session() as session:
            indexes.refresh(session)
        indexes.save_snapshot()
        return b"".join(path.read_bytes() for path in snapshot.rglob("*.npy"))

    def stored() -> str:
        with database.session() as session:
            bank = store.get_bank(session, "later")
            page = publish.feed(session, bank, services.taxonomy, 0, 100)
            rows = session.execute(text("SELECT * FROM signal_changes")).all()
        return json.dumps(page.changes) + " ".join(str(row) for row in rows)

    keys = [value_keys([value]).tobytes() for value in clear]
    assert all(key in on_disk() for key in keys)  # what the checks below look for
    indexes.unload()  # started again from the snapshot: the accounts are in its segments
    [_, gone] = api.get("/banks/later/content").get_json()["content"]
    assert api.delete(f"/banks/later/content/{gone['id']}").status_code == 204
    assert all(value in stored() for value in clear)

    assert api.patch("/banks/later", json={"account_key": "program"}).status_code == 200
    disk = on_disk()
    assert not any(key in disk for key in keys)
    after = stored()
    assert not any(value in after for value in clear) and "keyed:program:" in after
    post = {"accounts": [{"type": "username", "value": "chat:badactor"}]}
    assert len(api.post("/match", role="ingest", json=post).get_json()["matches"]) == 1


def test_account_keys_setting_names_the_key_never_the_secret(settings):
    for value, said in [
        ("program", "item 1 is not name=secret"),
        ("Program=0123456789abcdef", "item 1 is not name=secret"),
        ("p=short-secret", "'p' is shorter than 16 bytes"),
        ("p=0123456789abcdef,p=0123456789abcdef", "'p' is given twice"),
    ]:
        with pytest.raises(SettingsError) as refused:
            settings.replace(account_keys=value)
        assert said in str(refused.value) and "short-secret" not in str(refused.value)
    assert "abcdef" not in repr(settings.replace(account_keys="p=0123456789abcdef"))


def test_a_curators_search_finds_urls_accounts_and_keywords_as_people_type_them(
    keyed_api, database
):
    api = keyed_api
    api.post("/banks", json={"name": "mixed"})
    api.post("/banks", json={"name": "private", "account_key": "program"})
    entries = [
        ("mixed", "url", "https://Host.example/Gallery/Item?id=1"),
        ("mixed", "keyword", "Meet  Me After School"),
        ("private", "account", "email:Seller@Example.org"),
    ]
    for bank, kind, value in entries:
        added = api.post(
            f"/banks/{bank}/content", json={"signals": [{"type": kind, "value": value}]}
        )
        assert added.status_code == 201, added.get_json()
    searches = [
        ("mixed", "http://HOST.example:80/Gallery/Item?id=1#top", 1),
        ("mixed", "host.example/gallery/item?id=1", 0),  # a path keeps its case
        ("mixed", "meet me after school", 1),
        ("private", "email:seller@EXAMPLE.org", 1),
    ]
    keys = api.client.application.extensions[EXTENSION].scanner.registry.account_keys
    with database.session() as session:
        for bank, typed, count in searches:
            held = store.get_bank(session, bank)
            found = store.list_content(session, held, value=typed, keys=keys)
            assert len(found) == count, typed


def test_every_built_in_type_brings_examples_in_their_canonical_spelling():
    """The examples (tests, demonstrations, the sample exchange) are values the type
    itself stores as they are."""
    for signal_type in default_registry(load_plugins=False).signal_types.values():
        assert signal_type.examples, signal_type.name
        for example in signal_type.examples:
            assert signal_type.normalize(example) == example, (signal_type.name, example)
