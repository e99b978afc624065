"""`hma serve`: first-start set-up, then the request workers and the background jobs.

Roles: `api` pre-forks request workers (gunicorn, threaded); `jobs` runs the
background jobs in the foreground, while it holds the jobs lease; `all` does
both, the jobs in a child process of the master beside the workers.

The master process makes sure an index snapshot exists and is current before
forking, then lets go of the indexes: each worker memory-maps the snapshot
(one copy in the page cache for the whole host, however many workers), then
follows the change log by itself.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from accounts.tokens import create_token, has_tokens
from accounts.users import NewAccount, create_user, has_users
from banks.lookup import BankIndexes
from core.errors import Conflict, PortTaken, SettingsError
from core.names import Role
from database import audit
from hma.allocator import keep_freed_memory
from hma.db import Database, ensure_schema, open_database
from hma.hashing_pool import ServerHashing
from hma.jobs import jobs_leader
from hma.private_files import private_folder, write_private
from hma.secrets import SecretBox, secret_box
from hma.settings import Settings
from hma.startup_memory import compile_elsewhere, release_startup_memory
from hma.web import create_app
from hma.web.context import EXTENSION, Services

log = logging.getLogger(__name__)

BOOTSTRAP_TOKEN_NAME = "admin"
BOOTSTRAP_USER = "admin"
#: Where the first start leaves the admin's secrets, in the data dir.
FIRST_START_FILE = "first-start-secrets.txt"
ROLES = ("all", "api", "jobs")
#: How long a worker thread may hold the GIL while another waits for it.
#: Python's default (5 ms) let eight request threads starve the thread that
#: hands connections to them: one worker served fewer lookups at 8 connections
#: than at 1 (425 against 627 req/s); at 1 ms, 644 against 690.
GIL_SWITCH_SECONDS = 0.001
#: Seconds before a jobs process of `--role all` that died is started again.
JOBS_RESTART_SECONDS = 5.0


def bootstrap(database: Database, box: SecretBox) -> tuple[str, NewAccount] | None:
    """On an empty database: the schema, a first admin token and a first admin
    account, whose secrets are returned once to be shown to the operator."""
    ensure_schema(database.engine)
    with database.session() as session:
        if has_tokens(session) or has_users(session):
            return None
        account = create_user(
            session, BOOTSTRAP_USER, Role.ADMIN, box, actor="hma serve", must_renew=True
        )
        # The admin's own token: it acts as the admin account (a person's token).
        token = create_token(session, BOOTSTRAP_TOKEN_NAME, Role.ADMIN, user=BOOTSTRAP_USER)
        audit.record(session, "hma serve", audit.TOKEN_CREATE, BOOTSTRAP_TOKEN_NAME)
        return token, account


def worker_count(settings: Settings, workers: int | None) -> int:
    """Workers asked for on the command line, else in the settings, else one per core."""
    chosen = workers if workers is not None else settings.serve_workers
    return chosen if chosen > 0 else len(os.sched_getaffinity(0))


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def _services(app: Flask) -> Services:
    found: Services = app.extensions[EXTENSION]
    return found


def _warm_up_kernels(services: Services) -> None:
    """Every kernel a worker runs: hashing an image, and lookups of each type."""
    services.scanner.warm_up()
    services.scanner.indexes.warm_up()


def _follow_changes(services: Services) -> None:
    """Load the indexes (memory-mapping the snapshot), then keep them current."""
    indexes = services.scanner.indexes
    with services.database.session() as session:
        indexes.refresh(session)
    indexes.warm_up()
    indexes.follow(services.database.sessions, services.settings.index_poll_seconds)


def _start_worker(app: Flask, workers: int) -> None:
    """Gunicorn hook, in each worker before it accepts: threads do not survive fork.
    Unless told otherwise, the host's cores are shared out among the workers'
    image hashing threads."""
    services = _services(app)
    _follow_changes(services)
    settings = services.settings
    threads = settings.serve_hash_threads or max(1, len(os.sched_getaffinity(0)) // workers)
    hashing = ServerHashing(
        services.scanner.registry, settings, threads, max(1, settings.serve_hash_processes)
    )
    services.scanner.hash_with(hashing)
    _freeze_heap()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def _freeze_heap() -> None:
    """Exempt everything allocated so far from garbage collection.

    The modules, the app and the indexes live as long as the process, and a
    full collection walking their million objects stalled a request for
    hundreds of milliseconds now and then. Frozen before the fork, they also
    stay shared between the workers instead of being copied as the collector
    touches them.
    """
    gc.collect()
    gc.freeze()


def prepare_snapshot(database: Database, indexes: BankIndexes) -> None:
    """Bring the snapshot on disk up to the change log (building it if there is none),
    so that workers start by mapping it; the memory it took here is then released."""
    with database.session() as session:
        indexes.refresh(session)
    indexes.settle()
    indexes.save_snapshot()
    indexes.unload()


def serve(settings: Settings, host: str, port: int, workers: int | None, role: str) -> None:
    if role != "all" and not settings.secret_key:
        # A key file in each replica's data dir would differ from host to host:
        # one replica could not read the exchange credentials another stored,
        # nor the console sessions another signed.
        raise SettingsError(
            f"--role {role} needs the secret_key setting (HMA_SECRET_KEY), the same on"
            " every replica"
        )
    if role != "jobs":
        refuse_taken_ports(
            host, [port, *([settings.hma_api_port] if settings.hma_api_port else [])]
        )
    private_folder(settings.data_dir)
    database = open_database(settings)
    if role == "jobs":
        ensure_schema(database.engine)
        run_jobs(settings, database)
        return
    _announce_first_start(database, settings)
    count = worker_count(settings, workers)
    app = create_app(settings, database)
    compile_elsewhere(lambda: _warm_up_kernels(_services(app)))
    prepare_snapshot(database, _services(app).scanner.indexes)
    _services(app).scanner.warm_up()  # in the master: every worker inherits it
    # The workers are forked from this process: they must open their own connections.
    database.dispose()
    _freeze_heap()
    release_startup_memory()
    keep_freed_memory()  # inherited by the workers
    jobs = _JobsProcess(settings) if role == "all" and settings.scheduler else None
    also = f", HMA's API on port {settings.hma_api_port}" if settings.hma_api_port else ""
    print(
        f"hma serving on http://{host}:{port} (role {role}, {count} worker(s),"
        f" data dir {settings.data_dir}{also})",
        file=sys.stderr,
        flush=True,
    )
    _Gunicorn(
        app,
        {
            "bind": [f"{host}:{port}"]
            + ([f"{host}:{settings.hma_api_port}"] if settings.hma_api_port else []),
            "workers": count,
            "worker_class": "hma.worker.Worker",
            # Lets each worker listen on a socket of its own too (see hma.worker).
            "reuse_port": True,
            "threads": settings.serve_threads,
            "loglevel": settings.log_level.lower(),
            "accesslog": "-",
            "logger_class": "hma.access_log.AccessLogger",
            "timeout": 120,
            "control_socket_disable": True,
            "post_worker_init": lambda worker: _start_worker(app, count),
            "on_exit": lambda server: _stop(jobs),
        },
    ).run()


def refuse_taken_ports(host: str, ports: list[int]) -> None:
    """Refuse to start where another process listens already.

    The workers listen with SO_REUSEPORT (see `hma.worker`), which would also
    let a second `hma serve` with another data dir bind the same port without
    a word and take a share of the requests. A probe bound without it fails on
    any listener at all.
    """
    for port in ports:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _name, address in found:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    raise PortTaken(
                        f"{host}:{port} is in use by another process (another hma serve?):"
                        " stop it, or serve on another --port"
                    ) from None


def _stop(jobs: _JobsProcess | None) -> None:
    if jobs is not None:
        jobs.stop()


class _JobsProcess:
    """The jobs of a `--role all` server, in a child process of the master.

    Run in a worker, a large sync held that worker's GIL against its lookups
    (p99 in seconds while a million-line list synced); in a process of its
    own it runs at `jobs_niceness` and touches no request. It is the same
    process `--role jobs` runs, and takes the same lease. One that dies is
    started again after `JOBS_RESTART_SECONDS`; one whose master dies gets
    SIGTERM from the kernel and ends after its current job.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stopping = threading.Event()
        self._process = self._start()
        threading.Thread(target=self._supervise, daemon=True, name="jobs-supervisor").start()

    def _start(self) -> multiprocessing.process.BaseProcess:
        process = multiprocessing.get_context("fork").Process(
            target=_jobs_child, args=(self.settings,), name="hma-jobs"
        )
        process.start()
        return process

    def _supervise(self) -> None:
        while True:
            self._process.join()
            if self._stopping.wait(JOBS_RESTART_SECONDS):
                return
            log.warning(
                "the jobs process exited (code %s); starting another", self._process.exitcode
            )
            self._process = self._start()

    def stop(self) -> None:
        """SIGTERM (the leader hands the lease on once its jobs stop), then,
        if a sync still runs after a lease term, SIGKILL: a sync killed at any
        point resumes from its last committed batch."""
        self._stopping.set()
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=self.settings.jobs_lease_seconds)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _jobs_child(settings: Settings) -> None:
    """The jobs process's entry point, forked from the master before any worker."""
    _die_with_parent()
    run_jobs(settings, open_database(settings))


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when the process that forked it dies,
    so a master killed with SIGKILL leaves no jobs process behind once its
    current job ends (elsewhere: no-op)."""
    if sys.platform != "linux":
        return
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(set_parent_death_signal, signal.SIGTERM)


def run_jobs(settings: Settings, database: Database) -> None:
    """`--role jobs`: hold the jobs lease and run the jobs; also keep this host's snapshot."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    os.nice(max(0, settings.jobs_niceness))
    services = _services(create_app(settings, database))
    _follow_changes(services)
    leader = jobs_leader(settings, services.database, services.exchanges, services.egress)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: leader.quit())
    print(
        f"hma jobs process {leader.holder} waiting for the jobs lease", file=sys.stderr, flush=True
    )
    leader.run()


def _announce_first_start(database: Database, settings: Settings) -> None:
    """Write the first admin token and account to an owner-only file and say where.

    Never to stdout: in a container that is the log, which many people and
    systems read. The admin must choose a new password and authenticator at
    first sign-in, so what the file held stops working for the console.
    """
    try:
        first = bootstrap(database, secret_box(settings))
    except Conflict:
        return  # another replica, started at the same moment, made them
    if first is None:
        return
    token, account = first
    path = settings.data_dir / FIRST_START_FILE
    write_private(
        path,
        "# Written once by the first `hma serve`: read it, keep the token safe, delete this file.\n"
        "# The console asks for a new password and authenticator at first sign-in.\n"
        f"HMA_ADMIN_TOKEN={token}\n"
        f"HMA_ADMIN_USER={account.username}\n"
        f"HMA_ADMIN_PASSWORD={account.password}\n"
        f"HMA_ADMIN_TOTP_SECRET={account.totp_secret}\n"
        f"HMA_ADMIN_TOTP_URI={account.totp_uri}\n",
    )
    print(
        "First start: created an admin API token and an admin console account;"
        f" their secrets are in {path.resolve()} (readable by this user only).",
        flush=True,
    )
