"""Adapters' checkpoints are typed: each knows what it holds, how it is stored, its
age, and when resuming from it could miss deletions."""

from __future__ import annotations

import logging
import time

from banks.exchanges.hma_feed import FeedCheckpoint
from banks.exchanges.lists import ListCheckpoint
from banks.exchanges.ncmec import NCMECCheckpoint
from banks.exchanges.stopncii import StopNCIICheckpoint
from banks.exchanges.threatexchange import ThreatExchangeCheckpoint

DAY = 86400.0


def test_each_knows_when_it_is_stale():
    now = time.time()
    assert not ThreatExchangeCheckpoint(update_time=1, last_fetch=now - 84 * DAY).is_stale(now)
    assert ThreatExchangeCheckpoint(update_time=1, last_fetch=now - 86 * DAY).is_stale(now)
    assert not StopNCIICheckpoint(start=1, last_fetch=now - 29 * DAY).is_stale(now)
    assert StopNCIICheckpoint(start=1, last_fetch=now - 31 * DAY).is_stale(now)
    # A published bank's log is never pruned, a list is read whole: never stale.
    assert not FeedCheckpoint(after=5, last_fetch=now - 3650 * DAY).is_stale(now)
    assert not ListCheckpoint(sha256="0" * 64, last_fetch=now - 3650 * DAY).is_stale(now)


def test_each_knows_its_age_where_the_exchange_tells():
    now = 2_000_000_000.0
    assert ThreatExchangeCheckpoint(update_time=int(now - 60)).age(now) == 60
    assert ThreatExchangeCheckpoint().age(now) is None
    assert StopNCIICheckpoint(start=int(now - 3600)).age(now) == 3600
    window = NCMECCheckpoint(window_end="2033-05-18T03:33:20Z")  # 2,000,000,000
    assert window.age(now) == 0 and window.age(now + 10) == 10
    assert FeedCheckpoint(after=3).age(now) is None


def test_stored_as_before_and_read_back():
    stored = NCMECCheckpoint(window_end="2024-01-01T00:00:00Z", last_fetch=5).stored()
    assert stored == {"from": "2024-01-01T00:00:00Z", "last_fetch": 5.0}
    assert NCMECCheckpoint.read(stored) == NCMECCheckpoint(
        window_end="2024-01-01T00:00:00Z", last_fetch=5
    )
    # Rows written before checkpoints were typed read the same.
    old = {"update_time": 5000, "last_fetch": 1700000000}
    assert ThreatExchangeCheckpoint.read(old).update_time == 5000
    assert ListCheckpoint.read({"sha256": "ab", "records": 3}).records == 3


def test_one_that_no_longer_parses_means_reading_everything(caplog):
    with caplog.at_level(logging.WARNING):
        assert ListCheckpoint.read({"records": "many"}) is None
    assert "no longer parses" in caplog.text
    assert ThreatExchangeCheckpoint.read(None) is None
