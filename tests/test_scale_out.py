"""Production shape with real processes: workers, API and jobs replicas, faults.

Every replica here is a real `hma serve` on 127.0.0.1 with a data directory of
its own, as it would have on a host of its own; they share only the database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from accounts.tokens import create_token
from database import utcnow
from hma.db import Database
from hma.jobs import Leader, hold, release
from hma.models import Lease
from tests.conftest import FIXTURES
from tests.exchange_servers import wait_until
from tests.test_exchange_resilience import (
    PDQS,
    bank_state,
    checkpoint,
    fake,  # noqa: F401 - a fixture
    follow_forty_updates,
    source_state,
)
from tests.test_exchange_resilience import hma_env as resilience_env

pytestmark = pytest.mark.slow

#: Short terms so that a takeover fits in a test; the default is 30 s.
LEASE_SECONDS = "3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(
    base: str, method: str, path: str, token: str, payload: Any = None, file: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request (JSON, or a multipart `file`) on a fresh connection, so that
    any worker may take it."""
    request = urllib.request.Request(f"{base}/api/v1{path}", method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if payload is not None:
        request.data = json.dumps(payload).encode()
        request.add_header("Content-Type", "application/json")
    elif file is not None:
        request.data = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.jpg"\r\n\r\n'
            + file
            + b"\r\n--b--\r\n"
        )
        request.add_header("Content-Type", "multipart/form-data; boundary=b")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


class Replica:
    """`hma serve` in a process of its own; its output goes to a log file."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "serve.log"
        command = [
            str(Path(sys.executable).with_name("hma")),
            "serve",
            *("--port", str(self.port), "--data-dir", str(folder)),
            *args,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/ready", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_until(ready, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    env = resilience_env(database_url)
    env |= {f"HMA_{name.upper()}": value for name, value in settings.items()}
    return env


def admin_token(database: Database) -> str:
    with database.session() as session:
        return create_token(session, "scale-out", "admin")


def pdq_query(value: str) -> dict[str, Any]:
    return {"signals": [{"type": "pdq", "value": value}]}


def matches_on(base: str, token: str, value: str) -> bool:
    status, _, body = call(base, "POST", "/match", token, pdq_query(value))
    assert status == 200, body
    return any(m["signal"] == value for m in body["matches"])


def add_and_time_until_matchable(
    writer: str, readers: list[str], token: str, value: str, checks: int = 10
) -> float:
    """Add `value` through `writer`; seconds until every reader matched it `checks`
    times in a row (each on a fresh connection, so on any of its workers)."""
    status, _, body = call(writer, "POST", "/banks/known/content", token, pdq_query(value))
    assert status == 201, body
    added = time.monotonic()
    for reader in readers:
        in_a_row = 0
        while in_a_row < checks:
            in_a_row = in_a_row + 1 if matches_on(reader, token, value) else 0
            assert time.monotonic() - added < 5, "not matchable within 5 s"
    return time.monotonic() - added - _checking_time(readers, token, value, checks)


def _checking_time(readers: list[str], token: str, value: str, checks: int) -> float:
    """What the confirming requests themselves take (subtracted from the delay)."""
    started = time.monotonic()
    for reader in readers:
        for _ in range(checks - 1):
            matches_on(reader, token, value)
    return time.monotonic() - started


def followed_state(database: Database) -> dict[str, list[tuple[str, str]]]:
    """The followed bank's content by upstream id (content added by hand has none)."""
    return {key: value for key, value in bank_state(database).items() if key != "None"}


# One host, several workers --------------------------------------------------------


def test_workers_share_the_bank_and_each_sees_a_change_within_a_second(
    tmp_path, database_url, database
):
    token = admin_token(database)
    env = server_env(database_url, secret_key="scale-out-test")
    with replicas() as started:
        server = Replica(tmp_path / "host", env, "--workers", "2")
        started.append(server)
        server.wait_ready()
        status, _, _ = call(server.base, "POST", "/banks", token, {"name": "known"})
        assert status == 201
        delay = add_and_time_until_matchable(server.base, [server.base], token, PDQS[0])
        assert delay < 1.0
        with urllib.request.urlopen(f"{server.base}/api/v1/live", timeout=5) as answer:
            assert json.loads(answer.read())["status"] == "ok"
        # Two workers, and the jobs process beside them.
        assert len(children(server.process.pid)) == 3


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def parent_and_state(pid: int) -> tuple[int, str] | None:
    """A process's parent and state letter, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return int(fields[1]), fields[0]


def jobs_holder_pid(database: Database) -> int | None:
    with database.session() as session:
        holder = session.scalar(select(Lease.holder).where(Lease.name == "jobs"))
    return int(holder.rsplit(":", 1)[1]) if holder else None


def test_role_all_runs_its_jobs_in_a_process_of_their_own(tmp_path, database_url, database):
    """Beside the workers, niced; started again when it dies; gone when the master is."""
    env = server_env(database_url, secret_key="scale-out-test", jobs_lease_seconds=LEASE_SECONDS)
    with replicas() as started:
        server = Replica(tmp_path / "host", env, "--workers", "1")
        started.append(server)
        server.wait_ready()
        master = server.process.pid
        wait_until(lambda: jobs_holder_pid(database) is not None, 30)
        first = jobs_holder_pid(database)
        assert first in children(master) and len(children(master)) == 2
        # jobs_niceness (10) on top of whatever niceness the suite itself runs at.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, first) == min(19, ours + 10)
        worker = next(pid for pid in children(master) if pid != first)
        assert os.getpriority(os.PRIO_PROCESS, worker) == ours

        os.kill(first, signal.SIGKILL)
        # Started again after 5 s; it takes the lease once the dead one's term ran out.
        wait_until(lambda: jobs_holder_pid(database) not in (None, first), 30)
        second = jobs_holder_pid(database)
        assert second in children(master)

        server.process.kill()
        server.process.wait()
        wait_until(lambda: (parent_and_state(second) or (0, "Z"))[1] in "ZX", 10)


def test_overload_is_answered_at_once_with_503_and_retry_after(tmp_path, database_url, database):
    token = admin_token(database)
    env = server_env(
        database_url,
        secret_key="scale-out-test",
        serve_threads="1",
        serve_hash_processes="1",
        serve_queue_limit_seconds="0.05",
    )
    image = (FIXTURES / "aaa-orig.jpg").read_bytes()
    with replicas() as started:
        server = Replica(tmp_path / "host", env, "--workers", "1", "--role", "api")
        started.append(server)
        server.wait_ready()
        with ThreadPoolExecutor(12) as pool:
            answers = list(
                pool.map(lambda _: call(server.base, "POST", "/hash", token, file=image), range(24))
            )
        statuses = sorted({status for status, _, _ in answers})
        assert statuses == [200, 503], statuses
        for status, headers, body in answers:
            if status == 503:
                assert headers["Retry-After"] == "1"
                assert body["error"]["code"] == "overloaded"
        # Health checks are never shed.
        with urllib.request.urlopen(f"{server.base}/api/v1/ready", timeout=5) as answer:
            assert answer.status == 200


# Leases -------------------------------------------------------------------------------


def expire(database: Database, name: str) -> None:
    """Let the lease's term run out now, as if its holder had stalled past it."""
    with database.session() as session:
        session.execute(
            update(Lease).where(Lease.name == name).values(expires_at=utcnow() - timedelta(1))
        )


def test_a_lease_has_one_holder_until_it_expires_or_is_released(database):
    assert hold(database, "jobs", "host-a:1", 30)
    assert not hold(database, "jobs", "host-b:2", 30)
    assert hold(database, "jobs", "host-a:1", 30)  # renewed by its holder
    expire(database, "jobs")
    assert hold(database, "jobs", "host-b:2", 30)  # expired: taken over
    assert not hold(database, "jobs", "host-a:1", 30)
    release(database, "jobs", "host-b:2")
    assert hold(database, "jobs", "host-a:1", 30)
    with database.session() as session:
        assert session.scalar(select(Lease.holder)) == "host-a:1"


def test_a_leader_runs_its_jobs_only_while_it_holds_the_lease(database):
    events: list[str] = []
    first = Leader(database, lambda: events.append("a+"), lambda: events.append("a-"), 30)
    second = Leader(database, lambda: events.append("b+"), lambda: events.append("b-"), 30)
    second.holder = "other-host:1"
    first.step()
    second.step()
    assert events == ["a+"] and first.leading and not second.leading
    expire(database, "jobs")  # the first stalls past its term...
    second.step()
    first.step()  # ...and finds it lost the lease when it wakes
    assert events == ["a+", "b+", "a-"]
    assert second.leading and not first.leading


def test_concurrent_contenders_get_one_lease(database):
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(n: int) -> None:
        barrier.wait()
        if hold(database, "race", f"host-{n}:1", 30):
            winners.append(f"host-{n}")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(contend, range(6)))
    assert len(winners) == 1, winners


# Many hosts on PostgreSQL -------------------------------------------------------------


@pytest.mark.postgres
def test_two_api_and_two_jobs_replicas_on_postgresql(tmp_path, database_url, database, fake):  # noqa: F811
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas on many hosts share a PostgreSQL database")
    token = admin_token(database)
    follow_forty_updates(tmp_path / "setup", database_url, database, fake, token_on_stdin=False)
    fake.delay = 0.15  # slow pages, so that the sync is still running when its process dies
    env = server_env(
        database_url, jobs_lease_seconds=LEASE_SECONDS, secret_key="resilience-test-key"
    )
    with replicas() as started:
        api_a = Replica(tmp_path / "api-a", env, "--role", "api", "--workers", "1")
        api_b = Replica(tmp_path / "api-b", env, "--role", "api", "--workers", "2")
        started += [api_a, api_b]
        api_a.wait_ready()
        api_b.wait_ready()

        # A bank change through one API replica matches on the other within a second.
        status, _, _ = call(api_a.base, "POST", "/banks", token, {"name": "known"})
        assert status == 201
        delay = add_and_time_until_matchable(api_a.base, [api_b.base], token, PDQS[60])
        assert delay < 1.0

        # Two jobs processes: one takes the lease and syncs, the other waits.
        asked_before = len(fake.requests)
        jobs = {}
        for name in ("jobs-a", "jobs-b"):
            replica = Replica(tmp_path / name, env, "--role", "jobs")
            started.append(replica)
            jobs[replica.process.pid] = replica
        start = checkpoint(database)

        def some_pages_committed() -> bool:
            current = checkpoint(database)
            return current is not None and current != start and current["update_time"] >= 6000

        wait_until(some_pages_committed, timeout=60)
        with database.session() as session:
            holder = session.scalar(select(Lease.holder).where(Lease.name == "jobs"))
        leader_pid = int(holder.rsplit(":", 1)[1])
        assert leader_pid in jobs
        # Exactly one process syncs: no page was asked for twice.
        pages = [r.query.get("after", "0") for r in fake.requests[asked_before:]]
        assert len(pages) == len(set(pages)), pages
        partial = followed_state(database)
        assert 0 < len(partial) < 40

        os.kill(leader_pid, signal.SIGKILL)
        jobs[leader_pid].process.wait()
        successor = next(r for pid, r in jobs.items() if pid != leader_pid)

        with suppress(AssertionError):
            wait_until(lambda: followed_state(database) == source_state(fake), timeout=60)
        assert followed_state(database) == source_state(fake)
        assert successor.process.poll() is None
        assert "took the jobs lease" in successor.log()
        # The bank, matchable on both API replicas, equals the source: nothing lost
        # or duplicated by the kill.
        assert len(followed_state(database)) == len(fake.updates) == 40
        for base in (api_a.base, api_b.base):
            wait_until(lambda base=base: matches_on(base, token, PDQS[39]), timeout=2)


@pytest.mark.postgres
def test_a_replica_without_its_database_answers_503_and_recovers(tmp_path, database_url, database):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs a database reached over the network")
    token = admin_token(database)
    with TcpProxy(5432) as proxy:
        env = server_env(
            proxy.rewrite(database_url), secret_key="scale-out-test", scheduler="false"
        )
        with replicas() as started:
            server = Replica(tmp_path / "host", env, "--role", "api", "--workers", "1")
            started.append(server)
            server.wait_ready()
            assert call(server.base, "GET", "/banks", token)[0] == 200

            proxy.cut()
            status, headers, body = call(server.base, "GET", "/banks", token)
            assert status == 503, body
            assert body["error"]["code"] == "database_unavailable"
            assert "Retry-After" in headers
            with urllib.request.urlopen(f"{server.base}/api/v1/live", timeout=5) as answer:
                assert answer.status == 200
            wait_until(lambda: _status_of(server.base + "/api/v1/ready") == 503, timeout=10)

            proxy.restore()
            wait_until(lambda: call(server.base, "GET", "/banks", token)[0] == 200, timeout=30)
            wait_until(lambda: _status_of(server.base + "/api/v1/ready") == 200, timeout=10)


def _status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class TcpProxy:
    """A loopback TCP forwarder to a local port that can drop every connection at will."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *_: Any) -> None:
        self.cut()

    def rewrite(self, url: str) -> str:
        return url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._open:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize("role", ["api", "jobs"])
def test_a_replica_role_without_the_shared_secret_key_refuses_to_start(hma, monkeypatch, role):
    monkeypatch.delenv("HMA_SECRET_KEY", raising=False)
    result = hma("serve", "--role", role)
    assert result.exit_code == 1
    assert f"--role {role} needs the secret_key setting" in result.stderr


def test_a_second_server_on_a_taken_port_refuses_to_start(tmp_path, database_url):
    """Workers listen with SO_REUSEPORT; a second `hma serve` with a data dir of its own
    must not bind the same port and quietly answer a share of the requests."""
    env = server_env(database_url, scheduler="false")
    with replicas() as started:
        first = Replica(tmp_path / "first", env, "--workers", "1")
        started.append(first)
        first.wait_ready()
        command = [
            str(Path(sys.executable).with_name("hma")),
            "serve",
            *("--port", str(first.port), "--data-dir", str(tmp_path / "second")),
        ]
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        assert f"127.0.0.1:{first.port} is in use by another process" in second.stderr
        assert not (tmp_path / "second").exists()  # refused before it made any state
        with urllib.request.urlopen(f"{first.base}/api/v1/ready", timeout=5) as answer:
            assert answer.status == 200


def test_only_unchanged_read_only_file_pages_are_given_back():
    """The master drops pages it can read back from their file, never one that holds a
    change (relocations, data) or that is not a file's."""
    from hma.startup_memory import droppable_mappings

    smaps = "\n".join(
        [
            "7f0000000000-7f0000004000 r-xp 00000000 fe:00 1   /usr/lib/libcode.so",
            "Rss:                  16 kB",
            "Private_Dirty:         0 kB",
            "Shared_Dirty:          0 kB",
            "Anonymous:             0 kB",
            "VmFlags: rd ex mr mw me",
            "7f0000004000-7f0000005000 r--p 00004000 fe:00 1   /usr/lib/libcode.so",
            "Rss:                   4 kB",
            "Private_Dirty:         4 kB",
            "Shared_Dirty:          0 kB",
            "Anonymous:             4 kB",
            "7f0000005000-7f0000006000 rw-p 00005000 fe:00 1   /usr/lib/libcode.so",
            "Rss:                   4 kB",
            "Private_Dirty:         0 kB",
            "Shared_Dirty:          0 kB",
            "Anonymous:             0 kB",
            "7f0000006000-7f0000008000 r--p 00000000 00:00 0 ",
            "Rss:                   8 kB",
            "Private_Dirty:         0 kB",
            "Shared_Dirty:          0 kB",
            "Anonymous:             0 kB",
        ]
    )
    assert droppable_mappings(smaps) == [(0x7F0000000000, 0x7F0000004000, 16 * 1024)]


_FREE_AND_ALLOCATE_AGAIN = """
import resource, sys, threading
import numpy as np
from hma.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def uploads():
    for number in range(23):  # an upload's blocks: pixels, their copy, the bytes
        if number == 3:  # the first rounds fault their pages in, whatever the thresholds
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        blocks = [np.ones(2 << 20, np.uint8) for _ in range(3)]
        del blocks
    print((resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) // 20)
thread = threading.Thread(target=uploads)
thread.start()
thread.join()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_upload_memory_is_kept_for_the_next_upload():
    """A hashing thread's freed pixels stay in its heap: the next upload faults no page in."""

    def faults_per_upload(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
        ran = subprocess.run(
            [sys.executable, "-c", _FREE_AND_ALLOCATE_AGAIN, mode],
            capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).parents[1],
        )  # fmt: skip
        return int(ran.stdout)

    assert faults_per_upload("default") > 1000  # 6 MB faulted in again, each time
    assert faults_per_upload("keep") < 20


_COMPILE_IN_A_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from hma.startup_memory import compile_elsewhere
import kernel

assert compile_elsewhere(lambda: kernel.twice(1))
assert not kernel.twice.stats.cache_misses  # nothing compiled here yet
assert kernel.twice(21) == 42
print(len(kernel.twice.stats.cache_hits), len(kernel.twice.stats.cache_misses))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks a child")
def test_kernels_compiled_in_a_child_are_only_loaded_by_the_master(tmp_path):
    """With an empty cache the child compiles; the parent loads the machine code it left."""
    (tmp_path / "kernel.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    ran = subprocess.run(
        [sys.executable, "-c", _COMPILE_IN_A_CHILD, str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["1", "0"]  # loaded from the cache, never compiled here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks a child")
def test_a_failing_compile_child_is_reported_not_raised(caplog):
    from hma.startup_memory import compile_elsewhere

    def fail() -> None:
        raise SystemExit(3)

    assert compile_elsewhere(fail) is False
    assert "exit code 3" in caplog.text
