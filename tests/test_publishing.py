"""Published banks: a second instance follows one over HTTP; the taxonomy's sharing rules."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from accounts.tokens import create_token
from banks import publish, store
from banks.exchanges.http import HttpClient
from banks.models import BankContent, Exchange
from banks.taxonomy import Taxonomy
from core.errors import ExchangeError, InvalidInput
from hashers import Signal, default_registry
from hma.assembly import build_egress
from hma.db import Database, ensure_schema
from hma.exchanges import Exchanges
from hma.secrets import SecretBox
from hma.web import create_app
from tests.conftest import TEST_PEERS, loopback_egress

PDQS = [hashlib.sha256(f"published-{i}".encode()).hexdigest() for i in range(20)]


@pytest.fixture
def publisher(settings, database):
    """Instance A, serving its API on 127.0.0.1, with a published bank of three images."""
    app = create_app(settings.replace(scheduler=False), database)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with database.session() as session:
        bank = store.create_bank(session, "shared")
        ids = [
            store.add_content(
                session,
                bank,
                [Signal("pdq", PDQS[i], quality=100)],
                tags=["CSAM", "platform:example"],
                metadata={"internal": "never shared"},
            ).id
            for i in range(3)
        ]
        store.update_bank(session, bank, published=True)
        other = store.create_bank(session, "for-someone-else")
        store.update_bank(session, other, published=True)
        tokens = {
            "exchange": create_token(session, "peer-exchange", "exchange", banks=["shared"]),
            "other-peer": create_token(
                session, "other-peer", "exchange", banks=["for-someone-else"]
            ),
            "reviewer": create_token(session, "peer-reviewer", "reviewer"),
        }
    yield f"http://127.0.0.1:{server.server_port}", tokens, ids
    server.shutdown()


@pytest.fixture
def follower(tmp_path):
    """Instance B: its own database and bank."""
    database = Database(f"sqlite:///{tmp_path / 'b.db'}")
    ensure_schema(database.engine)
    from hma.settings import load_settings

    settings = load_settings(environ={}, data_dir=tmp_path / "b", egress_allow=TEST_PEERS)
    exchanges = Exchanges.build(
        settings,
        database,
        default_registry(),
        Taxonomy.load(),
        SecretBox("b"),
        build_egress(settings),
    )
    exchanges.engine.client_options = {"backoff": 0.01}
    with database.session() as session:
        store.create_bank(session, "mirror")
    yield database, exchanges
    database.dispose()


def mirrored(database: Database) -> dict[str, tuple[str, list[str], dict]]:
    with database.session() as session:
        return {
            c.signals[0].value: (c.signals[0].signal_type, c.tags, c.details)
            for c in session.scalars(select(BankContent))
        }


def follow(follower, url: str, token: str, **config) -> None:
    """Instance B follows A's bank `shared` into its bank `mirror`, as exchange `peer`."""
    mirror_db, exchanges = follower
    with mirror_db.session() as session:
        exchanges.add(
            session,
            "test",
            "peer",
            "hma",
            "mirror",
            url=url,
            credentials=token,
            config={"bank": "shared"} | config,
        )


def test_a_second_instance_follows_a_published_bank(publisher, follower, database):
    url, tokens, ids = publisher
    mirror_db, exchanges = follower
    follow(follower, url, tokens["exchange"], page_size=2)
    report = exchanges.sync("peer")
    assert report.ok and report.upserts == 3
    state = mirrored(mirror_db)
    assert sorted(state) == sorted(PDQS[:3])
    assert state[PDQS[0]][1] == ["csam", "platform:example"]
    assert "internal" not in state[PDQS[0]][2]  # free-form metadata is not shared

    with database.session() as session:
        bank = store.get_bank(session, "shared")
        store.update_content(session, store.get_content(session, bank, ids[0]), tags=["a1"])
        store.update_content(session, store.get_content(session, bank, ids[1]), enabled=False)
        store.remove_content(session, store.get_content(session, bank, ids[2]))
        store.add_content(session, bank, [Signal("md5", "ab" * 16)], tags=["trafficking"])
    report = exchanges.sync("peer")
    assert report.ok and not report.full
    state = mirrored(mirror_db)
    assert sorted(state) == sorted([PDQS[0], "ab" * 16])
    assert state[PDQS[0]][1] == ["a1"]

    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "shared"), published=False)
    report = exchanges.sync("peer")
    assert not report.ok and "404" in report.error


def test_a_peer_carries_urls_accounts_and_keywords(publisher, follower, database):
    url, tokens, _ = publisher
    mirror_db, exchanges = follower
    taxonomy = Taxonomy.load()
    with database.session() as session:
        bank = store.get_bank(session, "shared")
        site = store.add_content(
            session, bank, [Signal("url", "hxxp://drop[.]example/f/")], tags=["csam"]
        )
        for kind, value in [("account", "email:seller@example.org"), ("keyword", "trade pack")]:
            store.add_content(session, bank, [Signal(kind, value)], tags=["csam"])
        # Sharing a URL follows the rule hashes do: a primary tag, or nothing leaves.
        with pytest.raises(InvalidInput) as refused:
            store.add_content(
                session, bank, [Signal("url", "b.example/")], tags=["self_harm"], taxonomy=taxonomy
            )
        assert refused.value.code == "missing_primary_tag"
        site_id = site.id
    follow(follower, url, tokens["exchange"])
    assert exchanges.sync("peer").ok
    carried = {value: kind for value, (kind, _, _) in mirrored(mirror_db).items()}
    assert {v: k for v, k in carried.items() if k != "pdq"} == {
        "drop.example/f/": "url",
        "email:seller@example.org": "account",
        "trade pack": "keyword",
    }

    with database.session() as session:
        bank = store.get_bank(session, "shared")
        store.remove_content(session, store.get_content(session, bank, site_id))
    report = exchanges.sync("peer")
    assert report.ok and report.deletes == 1
    assert "drop.example/f/" not in mirrored(mirror_db)


def test_only_exchange_tokens_read_the_feed(publisher):
    url, tokens, _ = publisher
    client = HttpClient(loopback_egress(), retries=0)
    listing = client.get_json(
        f"{url}/api/v1/exchange/banks", headers={"Authorization": f"Bearer {tokens['exchange']}"}
    )
    assert listing == {"banks": [{"name": "shared", "description": ""}]}

    with pytest.raises(ExchangeError, match="403"):
        client.get_json(
            f"{url}/api/v1/exchange/banks",
            headers={"Authorization": f"Bearer {tokens['reviewer']}"},
        )


def test_an_exchange_token_reads_only_the_banks_published_to_it(publisher, database):
    url, tokens, _ = publisher
    client = HttpClient(loopback_egress(), retries=0)
    other = {"Authorization": f"Bearer {tokens['other-peer']}"}
    listing = client.get_json(f"{url}/api/v1/exchange/banks", headers=other)
    assert listing == {"banks": [{"name": "for-someone-else", "description": ""}]}
    with pytest.raises(ExchangeError, match="404"):
        client.get_json(f"{url}/api/v1/exchange/banks/shared/changes", headers=other)
    mine = {"Authorization": f"Bearer {tokens['exchange']}"}
    assert client.get_json(f"{url}/api/v1/exchange/banks/shared/changes", headers=mine)["changes"]
    with pytest.raises(InvalidInput, match="only exchange tokens"), database.session() as session:
        create_token(session, "wrong", "ingest", banks=["shared"])


def test_what_came_from_an_exchange_is_reshared_only_when_the_bank_says_so(database):
    taxonomy = Taxonomy.load()
    with database.session() as session:
        bank = store.create_bank(session, "mixed")
        own = store.add_content(
            session, bank, [Signal("pdq", PDQS[10], quality=100)], tags=["CSAM"]
        )
        exchange = Exchange(name="program", type="list", bank_id=bank.id, base_url="l.txt")
        session.add(exchange)
        session.flush()
        theirs = store.add_content(
            session, bank, [Signal("pdq", PDQS[11], quality=100)], tags=["CSAM"]
        )
        theirs.exchange_id, theirs.upstream_id = exchange.id, "x-1"
        store.update_bank(session, bank, published=True)
        own_id, theirs_id = own.id, theirs.id

    def shared() -> set[int]:
        with database.session() as session:
            page = publish.feed(session, store.get_bank(session, "mixed"), taxonomy, 0, 100)
            return {c["content_id"] for c in page.changes if c["op"] == "upsert"}

    assert shared() == {own_id}
    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "mixed"), reshare=True)
    assert shared() == {own_id, theirs_id}


def test_sharing_needs_a_primary_tag(database):
    taxonomy = Taxonomy.load()
    with database.session() as session:
        bank = store.create_bank(session, "to-share")
        loose = store.add_content(
            session, bank, [Signal("md5", "cd" * 16)], tags=["self_harm"], taxonomy=taxonomy
        )
        with pytest.raises(InvalidInput, match="primary taxonomy tag") as caught:
            store.update_bank(session, bank, published=True, taxonomy=taxonomy)
        assert caught.value.code == "missing_primary_tag"
        store.update_content(
            session, loose, tags=["self_harm", "Contact-Offense"], taxonomy=taxonomy
        )
        assert loose.tags == ["self_harm", "contact_offense"]
        store.update_bank(session, bank, published=True, taxonomy=taxonomy)
        with pytest.raises(InvalidInput) as caught:
            store.add_content(
                session,
                bank,
                [Signal("md5", "ef" * 16)],
                tags=["infant_toddler"],
                taxonomy=taxonomy,
            )
        assert caught.value.code == "missing_primary_tag"
        with pytest.raises(InvalidInput):
            store.update_content(session, loose, tags=["bestiality"], taxonomy=taxonomy)


def test_taxonomy_normalisation():
    taxonomy = Taxonomy.load()
    assert taxonomy.normalize_all(
        [
            "CSAM_Egregious",
            "A1",
            "csam egregious",
            "Platform:ExampleApp",
            "report_id:Ab-12",
            "Nude",
            " infant-toddler ",
        ]
    ) == [
        "csam_egregious",
        "a1",
        "platform:ExampleApp",
        "report_id:Ab-12",
        "Nude",
        "infant_toddler",
    ]
    assert taxonomy.is_primary("a1") and not taxonomy.is_primary("infant_toddler")
    assert "infant_toddler" in taxonomy.highest_severity


def test_a_broken_taxonomy_file_is_a_clear_error(tmp_path: Path):
    from core.errors import TaxonomyError

    broken = tmp_path / "taxonomy.toml"
    broken.write_text("[primary]\nwrong = 1\n")
    with pytest.raises(TaxonomyError, match="cannot load the taxonomy"):
        Taxonomy.load(broken)
