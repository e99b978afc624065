"""HTTP throughput and latency of `hma serve`, measured with wrk on loopback.

    python bench/http.py [--database sqlite|postgresql|both] [--hashes 1000]
                         [--seconds 10] [--backfill 1000000] [--workers 1,0]
                         [--loads lookup,hma-lookup,upload,scan,lookup-beside-upload]

Starts the server itself (one run per worker count; 0 means one per core),
on a fresh database holding a bank of `--hashes` random PDQ hashes, and
drives it with wrk (Debian's package) at 1 and 8 connections:

- lookup by hash: `POST /api/v1/match` with one PDQ hash in JSON, a hit;
- the same lookup through HMA's API (`hma-lookup`): `GET /m/lookup?signal_type=pdq&signal=`;
- hash + match of a 1024x768 JPEG upload (multipart), no hit;
- scan of a 320x240 JPEG upload with a `content_ref`, no hit;
- Coop's flow on HMA's API (`coop`): `GET /h/hash?url=` of the 1024x768 JPEG,
  served on loopback, then `GET /m/lookup` with its hash, alternately (a
  flow is two requests);
- lookups at 8 connections while uploads run at 8 beside them
  (`lookup-beside-upload`, two wrk processes);

then, with one worker per core, lookups at 8 connections while a `--role jobs`
process syncs a new list of `--backfill` signals, and how soon after the sync
its last signal is matchable. Prints req/s,
p50, p99 and errors (non-2xx and socket errors) per row, how long each
server took to become ready (the first start builds the index snapshot, the
next ones map it), and the resident memory of the server's processes, idle
and after the loads. wrk
runs one thread: it shares the two cores with the server, and its own CPU
use is part of the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project root in place of bench/, whose http.py (this file) would hide the
# standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image
from sqlalchemy import Engine, create_engine, text

from bench.corpus import make_corpus
from bench.databases import KINDS, fresh_database_url
from bench.sync import write_feed
from hashers import HashingConfig, default_registry

HMA = [str(Path(sys.executable).parent / "hma")]
BOUNDARY = "hmabenchboundary"

WRK_SCRIPT = """
local f = io.open("{body}", "rb")
wrk.method = "{method}"
wrk.body = f:read("*a")
f:close()
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "{content_type}"
"""


@dataclass
class Load:
    name: str
    path: str
    body: bytes
    content_type: str
    method: str = "POST"


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


#: The upload of the `upload` and `coop` loads.
UPLOAD = make_corpus((1024, 768), 1)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def multipart(fields: dict[str, str], file_bytes: bytes, field: str = "file") -> bytes:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    out.write(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="u.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
    )
    out.write(file_bytes + f"\r\n--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


def small_jpeg() -> bytes:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def hma(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*HMA, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"hma {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


class ServerProcess:
    """A server a benchmark starts and stops; its output goes to a log file."""

    def __init__(
        self, command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> None:
        self.log = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._log, stderr=self._log
        )

    def answering(self, url: str, seconds: float) -> float:
        """Wait until `url` answers 200; how many seconds that took."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.process.args[0]} exited; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{url} did not answer within {seconds:.0f} s; see {self.log}")

    def memory_mb(self) -> tuple[float, float]:
        return memory_mb([self.process.pid, *children(self.process.pid)])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


class Server(ServerProcess):
    """One `hma serve`."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [*HMA, "serve", "--port", str(self.port), "--workers", str(workers)], env, log
        )
        self.ready_seconds = self.answering(f"{self.url}/api/v1/ready", 600)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """Resident and proportional (shared pages split) memory of these processes, in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return rss / 1024, pss / 1024


class MediaServer:
    """A photo served on 127.0.0.1, for the loads that hash media by URL."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        served = body

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(served)))
                self.end_headers()
                self.wfile.write(served)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}/photo.jpg"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


#: Coop's flow: hash the media at a URL, then look its hash up, one after the other.
WRK_COOP = """
local paths = {{"/h/hash?url={url}", "/m/lookup?signal_type=pdq&signal={pdq}"}}
local sent = 0
{auth}
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[(sent - 1) % 2 + 1])
end
"""


def coop_flow(
    url: str, media: MediaServer, token: str, connections: int, seconds: int, work: Path
) -> Figures:
    """`GET /h/hash?url=` then `GET /m/lookup` with the hash, alternately (req/s: half
    of them flows)."""
    pdq = next(s.value for s in default_registry().hash_bytes(media.body, HashingConfig()))
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = work / "coop.lua"
    script.write_text(WRK_COOP.format(url=media.url, pdq=pdq, auth=auth))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def drive(
    url: str, load: Load | MediaServer, token: str, connections: int, seconds: int, work: Path
) -> Figures:
    """One load by wrk; a media server stands for Coop's flow on the media it serves."""
    if isinstance(load, MediaServer):
        return coop_flow(url, load, token, connections, seconds, work)
    return wrk(url, load, token, connections, seconds, work)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wrk(url: str, load: Load, token: str, connections: int, seconds: int, work: Path) -> Figures:
    return parse_wrk(start_wrk(url, load, token, connections, seconds, work).communicate()[0])


def start_wrk(
    url: str, load: Load, token: str, connections: int, seconds: int, work: Path
) -> subprocess.Popen[str]:
    """wrk driving `load`, running; its report is its standard output."""
    body = work / f"{load.name}.body"
    body.write_bytes(load.body)
    script = work / f"{load.name}.lua"
    script.write_text(
        WRK_SCRIPT.format(
            body=body, token=token, content_type=load.content_type, method=load.method
        )
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    return subprocess.Popen([*command, url + load.path], stdout=subprocess.PIPE, text=True)


def beside(url: str, first: Load, second: Load, token: str, seconds: int, work: Path) -> None:
    """`first` at 8 connections while `second` runs at 8 beside it, each by its own wrk."""
    other = start_wrk(url, second, token, 8, seconds + 2, work)
    time.sleep(1)  # the second load is under way before the first is measured
    figures = wrk(url, first, token, 8, seconds, work)
    row(f"{first.name}, 8 conn, beside {second.name} at 8", figures)
    row(f"  ({second.name} meanwhile)", parse_wrk(other.communicate()[0]))


def parse_wrk(text: str) -> Figures:
    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", text, re.M)
        if found is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        errors += int(found.group(1))
    if found := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        errors += sum(int(n) for n in found.groups())
    return Figures(rps, ms("50"), ms("99"), errors)


def seed(env: dict[str, str], root: Path, hashes: int) -> tuple[str, str]:
    """A bank of random PDQ hashes and an admin token; returns the token and a banked hash."""
    token = hma(env, "token", "create", "--name", "bench", "--role", "admin").strip()
    hma(env, "bank", "create", "known")
    listing = root / "known.jsonl"
    banked = write_feed(listing, hashes, seed=11)
    # A list exchange: the bulk write path, as a platform following a large list has.
    hma(env, "exchange", "add", "known", "--type", "list", "--bank", "known", "--url", str(listing))
    hma(env, "exchange", "sync", "known")
    listing.unlink()
    return token, banked


def loads(banked: str) -> list[Load]:
    upload = UPLOAD
    form = f"multipart/form-data; boundary={BOUNDARY}"
    return [
        Load(
            "lookup",
            "/api/v1/match",
            json.dumps({"signals": [{"type": "pdq", "value": banked}]}).encode(),
            "application/json",
        ),
        Load(
            "hma-lookup",
            f"/m/lookup?signal_type=pdq&signal={banked}",
            b"",
            "application/json",
            "GET",
        ),
        Load("upload", "/api/v1/match", multipart({}, upload), form),
        Load("scan", "/api/v1/scan", multipart({"content_ref": "bench-1"}, small_jpeg()), form),
    ]


def backfill(env: dict[str, str], root: Path, signals: int) -> tuple[str, subprocess.Popen[bytes]]:
    """A list of `signals` PDQ hashes, followed by a new exchange, synced by a
    `--role jobs` process as in production; returns the list's last hash and the process."""
    feed = root / "feed.jsonl"
    last = write_feed(feed, signals)
    hma(env, "bank", "create", "followed")
    hma(env, "exchange", "add", "feed", "--type", "list", "--bank", "followed", "--url", str(feed))
    jobs = subprocess.Popen(
        [*HMA, "serve", "--role", "jobs"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return last, jobs


def synced(database: Engine) -> bool:
    with database.connect() as connection:
        return bool(
            connection.scalar(text("SELECT last_success_at FROM exchanges WHERE name = 'feed'"))
        )


def matches(url: str, token: str, value: str) -> bool:
    request = urllib.request.Request(
        f"{url}/api/v1/match",
        data=json.dumps({"signals": [{"type": "pdq", "value": value}]}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bool(json.loads(answer.read())["matches"])


def row(label: str, figures: Figures) -> None:
    print(
        f"{label:<44} {figures.rps:>9,.0f} {figures.p50_ms:>9.2f} {figures.p99_ms:>9.2f}"
        f" {figures.errors:>7}",
        flush=True,
    )


def run(kind: str, args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="hma-bench-http-", dir=os.environ.get("TMPDIR")))
    media = MediaServer(UPLOAD)
    env = os.environ | {
        # The `coop` load has the server fetch the upload from `media`.
        "HMA_EGRESS_ALLOW": f"127.0.0.1:{media.port}",
        "HMA_DATA_DIR": str(root / "data"),
        "HMA_DATABASE_URL": fresh_database_url(kind, root, "hma_bench_http"),
        "HMA_LOG_LEVEL": "WARNING",
        # The lists it follows are written there.
        "HMA_IMPORT_FOLDER": str(root),
        # `--role jobs` needs the key every replica shares.
        "HMA_SECRET_KEY": "bench-http",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    hma(env, "db", "upgrade")
    token, banked = seed(env, root, args.hashes)
    cores = len(os.sched_getaffinity(0))
    print(f"\n== {kind}: bank of {args.hashes:,} PDQ hashes, {cores} cores, wrk -t1 ==")
    print(f"{'load':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for workers in args.workers:
        count = workers or cores
        snapshot = "from the snapshot" if (root / "data" / "indexes").exists() else "building it"
        server = Server(env, count, root / "serve.log")
        print(f"{count} worker(s) ready {server.ready_seconds:.1f} s after starting ({snapshot})")
        time.sleep(2)  # the jobs process settles
        rss, pss = server.memory_mb()
        print(f"idle memory, {count} worker(s), master, jobs: RSS {rss:,.0f} MB, PSS {pss:,.0f} MB")
        try:
            by_name = {load.name: load for load in loads(banked)}
            for name in args.loads:
                if name == "lookup-beside-upload":
                    lookup, upload = by_name["lookup"], by_name["upload"]
                    beside(server.url, lookup, upload, token, args.seconds, root)
                    continue
                for connections in (1, 8):
                    load = media if name == "coop" else by_name[name]
                    figures = drive(server.url, load, token, connections, args.seconds, root)
                    row(f"{name}, {count} worker(s), {connections} conn", figures)
            rss, pss = server.memory_mb()
            print(f"memory after the loads: RSS {rss:,.0f} MB, PSS {pss:,.0f} MB")
            if args.backfill and workers == args.workers[-1]:
                lookup = loads(banked)[0]
                last, jobs = backfill(env, root, args.backfill)
                database = create_engine(env["HMA_DATABASE_URL"])
                started = time.monotonic()
                while not synced(database):
                    during = wrk(server.url, lookup, token, 8, args.seconds, root)
                    at = time.monotonic() - started
                    row(f"lookup during a {args.backfill:,} backfill (to {at:.0f} s)", during)
                done = time.monotonic()
                while not matches(server.url, token, last):
                    time.sleep(0.05)
                print(
                    f"backfill by the jobs process: about {done - started:.0f} s (polled);"
                    f" its last signal matchable {time.monotonic() - done:.2f} s after that"
                )
                jobs.terminate()
                jobs.wait()
                database.dispose()
                (root / "feed.jsonl").unlink()
        finally:
            server.stop()
    media.close()
    print(f"server log: {root / 'serve.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--hashes", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--backfill", type=int, default=1_000_000)
    parser.add_argument(
        "--loads",
        type=lambda text: text.split(","),
        default=["lookup", "upload", "scan"],
        help=(
            "loads to run, comma-separated: lookup, hma-lookup, upload, scan, coop (GET"
            " /h/hash?url= then /m/lookup, alternately), lookup-beside-upload (lookups at 8"
            " connections while uploads run at 8)"
        ),
    )
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 0],
        help="worker counts to run, comma-separated (0: one per core)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    kinds = KINDS if args.database == "both" else (args.database,)
    for kind in kinds:
        run(kind, args)


if __name__ == "__main__":
    main()
