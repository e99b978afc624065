"""Bank lookups follow the change log and respect enabled flags and thresholds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from banks import store
from banks.lookup import BankIndexes, MatchConfig
from core.errors import InvalidInput
from hashers import Signal, default_registry
from hashers.signals import MD5, PDQ, PHASH

BASE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def flipped(value: str, bits: int) -> str:
    number = int(value, 16)
    for bit in range(bits):
        number ^= 1 << (bit * 7)
    return f"{number:064x}"


def pdq(value: str, quality: int = 100, usable: bool = True) -> Signal:
    return Signal("pdq", value, quality=quality, usable=usable)


def add(database, bank_name, signals, **kwargs):
    with database.session() as session:
        bank = store.get_bank(session, bank_name)
        return store.add_content(session, bank, signals, **kwargs).id


def find(database, indexes, signals):
    with database.session() as session:
        return indexes.find(session, signals)


def test_lookup_follows_adds_disables_and_removals(database):
    indexes = BankIndexes(default_registry(), MatchConfig(thresholds={"pdq": 31}))
    with database.session() as session:
        store.create_bank(session, "a")
        store.create_bank(session, "b")
    assert find(database, indexes, [pdq(BASE)]) == []

    first = add(database, "a", [pdq(BASE)], tags=["csam"])
    found = find(database, indexes, [pdq(flipped(BASE, 5))])
    assert [(m.bank, m.content_id, m.distance, m.tags) for m in found] == [
        ("a", first, 5, ["csam"])
    ]

    second = add(database, "b", [pdq(flipped(BASE, 20)), Signal("md5", "0" * 32)])
    found = find(database, indexes, [pdq(BASE), Signal("md5", "0" * 32)])
    assert sorted((m.bank, m.signal_type, m.distance) for m in found) == [
        ("a", "pdq", 0),
        ("b", "md5", 0),
        ("b", "pdq", 20),
    ]

    with database.session() as session:
        bank_b = store.get_bank(session, "b")
        store.update_content(session, store.get_content(session, bank_b, second), enabled=False)
    assert [m.bank for m in find(database, indexes, [pdq(BASE)])] == ["a"]

    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "a"), enabled=False)
    assert find(database, indexes, [pdq(BASE)]) == []

    with database.session() as session:
        bank_b = store.get_bank(session, "b")
        store.update_content(session, store.get_content(session, bank_b, second), enabled=True)
        store.delete_bank(session, store.get_bank(session, "a"))
    assert [m.bank for m in find(database, indexes, [pdq(BASE)])] == ["b"]
    assert indexes.status()["indexes"]["pdq"]["size"] == 1


def test_threshold_and_unusable_signals(database):
    indexes = BankIndexes(default_registry(), MatchConfig(thresholds={"pdq": 10}))
    with database.session() as session:
        store.create_bank(session, "a")
    add(database, "a", [pdq(BASE)])
    assert len(find(database, indexes, [pdq(flipped(BASE, 10))])) == 1
    assert find(database, indexes, [pdq(flipped(BASE, 11))]) == []
    assert find(database, indexes, [pdq(BASE, quality=10, usable=False)]) == []


def test_a_new_process_builds_from_the_tables(database):
    with database.session() as session:
        store.create_bank(session, "a")
    ids = [add(database, "a", [Signal("md5", f"{i:032x}")]) for i in range(5)]
    with database.session() as session:
        bank = store.get_bank(session, "a")
        store.remove_content(session, store.get_content(session, bank, ids[0]))
        store.update_content(session, store.get_content(session, bank, ids[1]), enabled=False)
    fresh = BankIndexes(default_registry())
    assert find(database, fresh, [Signal("md5", f"{0:032x}")]) == []
    assert [m.content_id for m in find(database, fresh, [Signal("md5", f"{4:032x}")])] == [ids[4]]
    # Neither the removed item nor the disabled one is in the index built.
    assert fresh.status()["indexes"]["md5"]["size"] == 3


def test_lookups_stay_correct_while_a_bank_changes(database):
    """Queries from several threads while a writer adds content: no errors, no misses after."""
    indexes = BankIndexes(default_registry(), MatchConfig(thresholds={"pdq": 31}))
    with database.session() as session:
        store.create_bank(session, "live")
    rng = np.random.default_rng(7)
    values = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(40)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for match in find(database, indexes, [pdq(values[0])]):
                    assert match.bank == "live"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    ids = [add(database, "live", [pdq(v)]) for v in values]
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    for value, content_id in zip(values, ids, strict=True):
        assert content_id in [m.content_id for m in find(database, indexes, [pdq(value)])]


def test_dihedral_variants_find_rotated_copies(database):
    import io

    from PIL import Image

    from hashers import HashingConfig, default_registry
    from tests.conftest import fixture_bytes
    from tests.media_factory import jpeg

    registry = default_registry()
    indexes = BankIndexes(registry, MatchConfig(thresholds={"pdq": 31}))
    with database.session() as session:
        store.create_bank(session, "a")
    original = [
        s
        for s in registry.hash_bytes(fixture_bytes("aaa-orig.jpg"), HashingConfig())
        if s.type == "pdq"
    ]
    content_id = add(database, "a", original)
    turned = jpeg(
        Image.open(io.BytesIO(fixture_bytes("aaa-orig.jpg"))).transpose(Image.Transpose.ROTATE_90)
    )
    plain = registry.hash_bytes(turned, HashingConfig())
    assert find(database, indexes, plain) == []
    with_variants = registry.hash_bytes(turned, HashingConfig(dihedral=True))
    found = find(database, indexes, with_variants)
    assert [(m.content_id, m.variant) for m in found] == [(content_id, "rotate270")]
    assert found[0].to_dict()["variant"] == "rotate270"


def test_per_bank_thresholds(database):
    indexes = BankIndexes(default_registry(), MatchConfig(thresholds={"pdq": 31}))
    with database.session() as session:
        store.create_bank(session, "strict")
        store.create_bank(session, "loose")
    add(database, "strict", [pdq(BASE)])
    add(database, "loose", [pdq(BASE)])
    query = [pdq(flipped(BASE, 25))]
    assert sorted(m.bank for m in find(database, indexes, query)) == ["loose", "strict"]
    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "strict"), thresholds={PDQ: 10})
        store.update_bank(session, store.get_bank(session, "loose"), thresholds={PDQ: 40})
    assert [m.bank for m in find(database, indexes, query)] == ["loose"]
    assert [m.bank for m in find(database, indexes, [pdq(flipped(BASE, 36))])] == ["loose"]
    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "strict"), thresholds={PDQ: None})
    assert sorted(m.bank for m in find(database, indexes, query)) == ["loose", "strict"]


def test_any_hamming_type_takes_a_threshold_per_bank(database):
    """Not only PDQ: a 64-bit perceptual hash (as a plugin's type would be) gets a
    distance of its own in each bank; exact types take none."""
    registry = default_registry()
    indexes = BankIndexes(registry, MatchConfig(thresholds={"pdq": 31}))
    with database.session() as session:
        store.create_bank(session, "near")
        store.create_bank(session, "far")
    value = PHASH.examples[0]
    moved = f"{int(value, 16) ^ 0b111111:016x}"  # six bits away; the default is 10
    add(database, "near", [Signal("phash", value)])
    add(database, "far", [Signal("phash", value)])
    query = [Signal("phash", moved)]
    assert sorted(m.bank for m in find(database, indexes, query)) == ["far", "near"]
    with database.session() as session:
        store.update_bank(session, store.get_bank(session, "near"), thresholds={PHASH: 4})
        store.update_bank(session, store.get_bank(session, "far"), thresholds={PHASH: 16})
    assert [m.bank for m in find(database, indexes, query)] == ["far"]
    twelve_away = [Signal("phash", f"{int(value, 16) ^ 0xFFF:016x}")]
    assert [m.bank for m in find(database, indexes, twelve_away)] == ["far"]
    with database.session() as session:
        bank = store.get_bank(session, "near")
        assert bank.thresholds == {"phash": 4}
        for refused in ({MD5: 3}, {PHASH: 17}, {PHASH: -1}, {PHASH: True}):
            with pytest.raises(InvalidInput) as raised:
                store.update_bank(session, bank, thresholds=refused)
            assert raised.value.code == "invalid_threshold"


def test_disabling_content_is_applied_as_a_delta(database):
    indexes = BankIndexes(default_registry())
    with database.session() as session:
        store.create_bank(session, "a")
    content_id = add(database, "a", [pdq(BASE), Signal("md5", "1" * 32)])
    assert find(database, indexes, [pdq(BASE)])
    sizes = {name: s["size"] for name, s in indexes.status()["indexes"].items()}
    assert sizes == {"md5": 1, "pdq": 1}

    def set_enabled(value: bool) -> None:
        with database.session() as session:
            bank = store.get_bank(session, "a")
            store.update_content(
                session, store.get_content(session, bank, content_id), enabled=value
            )

    set_enabled(False)
    assert find(database, indexes, [pdq(BASE)]) == []
    assert {n: s["size"] for n, s in indexes.status()["indexes"].items()} == {"md5": 0, "pdq": 0}
    set_enabled(False)  # no change, nothing logged
    set_enabled(True)
    assert [m.content_id for m in find(database, indexes, [pdq(BASE)])] == [content_id]
    fresh = BankIndexes(default_registry())
    assert [m.content_id for m in find(database, fresh, [pdq(BASE)])] == [content_id]


def test_a_disable_and_enable_read_in_one_catch_up_keep_log_order(database):
    """Both changes reach a process in one read of the log: the enable must win."""
    indexes = BankIndexes(default_registry())
    with database.session() as session:
        store.create_bank(session, "a")
    content_id = add(database, "a", [pdq(BASE)])
    assert find(database, indexes, [pdq(BASE)])
    with database.session() as session:
        bank = store.get_bank(session, "a")
        content = store.get_content(session, bank, content_id)
        store.update_content(session, content, enabled=False)
        store.update_content(session, content, enabled=True)
    assert [m.content_id for m in find(database, indexes, [pdq(BASE)])] == [content_id]
    assert indexes.status()["indexes"]["pdq"]["size"] == 1


def test_snapshots_start_processes_without_reading_every_signal(database, tmp_path, monkeypatch):
    config = MatchConfig(snapshot_dir=tmp_path / "indexes", snapshot_interval=0)
    with database.session() as session:
        store.create_bank(session, "a")
    first_id = add(database, "a", [pdq(BASE), Signal("md5", "2" * 32)])
    first = BankIndexes(default_registry(), config)
    assert [m.content_id for m in find(database, first, [pdq(BASE)])] == [first_id]
    assert (tmp_path / "indexes" / "state.json").exists()

    later = add(database, "a", [pdq(flipped(BASE, 36))])
    with database.session() as session:
        bank = store.get_bank(session, "a")
        store.remove_content(session, store.get_content(session, bank, first_id))

    def no_full_build(self, session):
        raise AssertionError("a process with a snapshot must not rebuild from the tables")

    monkeypatch.setattr(BankIndexes, "_build", no_full_build)
    second = BankIndexes(default_registry(), config)
    assert find(database, second, [pdq(BASE)]) == []
    assert [m.content_id for m in find(database, second, [pdq(flipped(BASE, 36))])] == [later]
    assert second.applied_change_id == first.applied_change_id + 3  # 1 add, 2 removals
    second.save_snapshot()
    third = BankIndexes(default_registry(), config)
    assert [m.content_id for m in find(database, third, [pdq(flipped(BASE, 36))])] == [later]


def test_a_snapshot_of_another_database_is_ignored(database, tmp_path):
    import json

    folder = tmp_path / "indexes"
    folder.mkdir()
    (folder / "state.json").write_text(
        json.dumps({"format": 1, "applied_change_id": 10**9, "types": []})
    )
    with database.session() as session:
        store.create_bank(session, "a")
    content_id = add(database, "a", [pdq(BASE)])
    indexes = BankIndexes(default_registry(), MatchConfig(snapshot_dir=folder))
    assert [m.content_id for m in find(database, indexes, [pdq(BASE)])] == [content_id]
    assert json.loads((folder / "state.json").read_text())["applied_change_id"] < 10**9
