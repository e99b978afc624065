"""Uploads hashed in child processes: the same signals, the same errors, and a crash
that costs one upload, not the worker."""

from __future__ import annotations

import os
import signal

import pytest

from core.errors import HasherCrashed, HashingError
from hma.hashing_pool import HashingPool, _started
from hma.scan import build_registry
from hma.settings import load_settings
from tests.conftest import fixture_bytes


@pytest.fixture
def pool(tmp_path):
    settings = load_settings(environ={}, data_dir=tmp_path)
    hashing = HashingPool(settings, 1)
    hashing.warm_up()
    yield settings, hashing
    hashing._pool.shutdown(cancel_futures=True)


def test_a_child_hashes_as_the_worker_would(pool):
    settings, hashing = pool
    image = fixture_bytes("aaa-orig.jpg")
    here = build_registry(settings).hash_bytes(image, settings.hashing)
    assert [s.to_dict() for s in hashing.hash(image)] == [s.to_dict() for s in here]


def test_bad_media_gets_its_own_error_back(pool):
    _, hashing = pool
    with pytest.raises(HashingError) as raised:
        hashing.hash(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert not isinstance(raised.value, HasherCrashed)
    assert raised.value.code not in ("error", "hashing_failed", "hasher_crashed")


def test_a_dead_child_costs_one_upload_and_is_replaced(pool):
    _, hashing = pool
    child = hashing._pool.submit(_started).result()
    os.kill(child, signal.SIGKILL)
    with pytest.raises(HasherCrashed):
        hashing.hash(fixture_bytes("aaa-orig.jpg"))
    assert hashing.hash(fixture_bytes("aaa-orig.jpg"))[0].type == "pdq"
