"""Videos hashed in child processes: the same signals, the same errors, a crash that
costs one upload, not the worker, and no process at all until the first video."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from core.errors import HasherCrashed, HashingError
from hma.assembly import build_registry, build_scanner
from hma.hashing_pool import (
    HASHING_NICENESS,
    HashingPool,
    HashingThreads,
    ServerHashing,
    _started,
)
from hma.settings import load_settings
from tests.conftest import fixture_bytes
from tests.media_factory import write_video


@pytest.fixture
def pool(tmp_path):
    settings = load_settings(environ={}, data_dir=tmp_path)
    hashing = HashingPool(settings, 1)
    yield settings, hashing
    hashing.shutdown()


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
    child = hashing._current().submit(_started).result()
    os.kill(child, signal.SIGKILL)
    with pytest.raises(HasherCrashed):
        hashing.hash(fixture_bytes("aaa-orig.jpg"))
    assert hashing.hash(fixture_bytes("aaa-orig.jpg"))[0].type == "pdq"


def test_images_stay_in_the_process_and_the_pool_starts_at_the_first_video(tmp_path):
    settings = load_settings(environ={}, data_dir=tmp_path)
    scanner = build_scanner(settings)
    hashing = ServerHashing(scanner.registry, settings, threads=1, processes=1)
    scanner.hash_with(hashing)
    pool = hashing.videos
    image = scanner.hash(fixture_bytes("aaa-orig.jpg"))
    assert image[0].type == "pdq" and pool._pool is None  # hashed here, nothing started
    video = write_video(tmp_path / "clip.mp4").read_bytes()
    try:
        signals = {s.type: s for s in scanner.hash(video)}
        assert pool._pool is not None and "vpdq" in signals
        here = build_registry(settings).hash_bytes(video, settings.hashing)
        assert [s.to_dict() for s in here] == [s.to_dict() for s in signals.values()]
    finally:
        pool.shutdown()


def test_image_hashing_threads_run_at_a_lower_priority(tmp_path):
    """Lookups get a core before an upload's hashing does, as with the old child processes."""
    settings = load_settings(environ={}, data_dir=tmp_path)
    threads = HashingThreads(build_registry(settings), settings.hashing, 1)
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = threads._threads.submit(
        lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    ).result()
    assert seen == min(19, ours + HASHING_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours
    assert threads.hash(fixture_bytes("aaa-orig.jpg"))[0].type == "pdq"
