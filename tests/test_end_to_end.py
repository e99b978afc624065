"""The walking skeleton end to end: a real `hma serve` process, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "pdq-reference"


def reference_image(name: str) -> Path:
    """The shared reference copy when present, else the fixture copy of the same file."""
    shared = REFERENCE / name
    return shared if shared.exists() else FIXTURES / name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def json(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        return self.request(method, path, json.dumps(payload).encode(), "application/json")

    def upload(self, path: str, file: Path, **fields: str) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + file.read_bytes()
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.request(
            "POST", path, b"".join(parts), f"multipart/form-data; boundary={boundary}"
        )


def hma_env(database_url: str) -> dict[str, str]:
    """The environment for a child `hma`: no inherited HMA_* settings but the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMA_")}
    if not database_url.startswith("sqlite"):
        env["HMA_DATABASE_URL"] = database_url
    return env


@contextmanager
def running_server(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """`hma serve` until the block ends; yields (base URL, process)."""
    port = free_port()
    hma = Path(sys.executable).with_name("hma")
    process = subprocess.Popen(
        [str(hma), "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(
                        f"hma serve exited with {process.returncode}:\n{process.stderr.read()}"
                    )
                if time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"hma serve did not answer in 30 s:\n{process.communicate()[1]}")
                time.sleep(0.2)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def first_start_secrets(data_dir: Path) -> dict[str, str]:
    """The HMA_ADMIN_* values the first `hma serve` wrote to its data dir (it is ready by
    the time the server answers: it is written before the workers start)."""
    text = (data_dir / "first-start-secrets.txt").read_text()
    return dict(re.findall(r"^(HMA_ADMIN_\w+)=(\S+)$", text, re.MULTILINE))


def first_start_token(data_dir: Path) -> str:
    return first_start_secrets(data_dir)["HMA_ADMIN_TOKEN"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_everything_in_a_data_dir_made_beforehand_is_owner_only(tmp_path, database_url):
    """An operator (or a container volume) made the data dir, readable by all: what the
    service writes there, index snapshots and locks included, is still its user's only."""
    data_dir = tmp_path / "made-by-the-operator"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with running_server(data_dir, hma_env(database_url)):
        assert (data_dir / "indexes" / "state.json").exists()
    written = [path for path in data_dir.rglob("*") if path != data_dir]
    assert any(path.parent.name == "indexes" for path in written)
    loose = {
        str(path.relative_to(data_dir)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in written
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    }
    assert loose == {}


@pytest.mark.slow
def test_bank_scan_case_decision_over_http(tmp_path, database_url):
    data_dir = tmp_path / "fresh-data"
    env = hma_env(database_url) | {"HMA_UNDO_SECONDS": "1"}
    with running_server(data_dir, env) as (base, _process):
        token = first_start_token(data_dir)
        # Only the service's user can read the data dir, the secrets and the database.
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir / "first-start-secrets.txt").stat().st_mode) == 0o600
        if database_url.startswith("sqlite"):
            assert stat.S_IMODE((data_dir / "hma.db").stat().st_mode) == 0o600
        hma = str(Path(sys.executable).with_name("hma"))
        # The second reviewer is another person: an account, and a token of theirs.
        for command in (
            ["user", "create", "second", "--role", "reviewer"],
            ["token", "create", "--name", "second", "--role", "reviewer", "--user", "second"],
        ):
            second = subprocess.run(
                [hma, *command, "--data-dir", str(data_dir)],
                capture_output=True,
                text=True,
                env=env,
            )
            assert second.returncode == 0, second.stderr
        walk_the_skeleton(Client(base, token), Client(base, second.stdout.strip()))


def walk_the_skeleton(api: Client, second_reviewer: Client) -> None:

    status, bank = api.json("POST", "/banks", {"name": "known-abuse"})
    assert status == 201, bank
    status, content = api.upload(
        "/banks/known-abuse/content", reference_image("aaa-orig.jpg"), tags="csam,a1"
    )
    assert status == 201, content

    status, scanned = api.upload(
        "/scan", reference_image("blur-a-lot.jpg"), content_ref="upload-0001"
    )
    assert status == 200, scanned
    assert scanned["case_id"] is not None
    pdq_match = next(m for m in scanned["matches"] if m["signal_type"] == "pdq")
    assert pdq_match["bank"] == "known-abuse"
    assert pdq_match["content_id"] == content["id"]
    assert pdq_match["tags"] == ["csam", "a1"]
    assert 0 < pdq_match["distance"] <= 31

    status, queue = api.request("GET", "/cases")
    assert status == 200
    assert [c["id"] for c in queue["cases"]] == [scanned["case_id"]]

    status, decided = api.json(
        "POST",
        f"/cases/{scanned['case_id']}/decision",
        {"decision": "confirm", "note": "matches the banked image"},
    )
    assert status == 200, decided
    # The bank's tags include a1, among the most severe: a second reviewer must agree.
    assert decided["status"] == "pending" and decided["decision"] is None
    assert decided["decisions"][0]["state"] == "awaiting_second"
    status, approved = second_reviewer.request("POST", f"/cases/{scanned['case_id']}/approve")
    assert status == 200 and approved["decisions"][0]["state"] == "pending", approved
    # One second of undo window, then the server's scheduler makes the decision effective.
    deadline = time.monotonic() + 30
    while True:
        status, case = api.request("GET", f"/cases/{scanned['case_id']}")
        if case["status"] == "closed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert case["status"] == "closed" and case["decision"] == "confirm"
    assert case["decisions"][0]["note"] == "matches the banked image"
    assert case["decisions"][0]["classification"] == ["csam", "a1"]
    assert case["decisions"][0]["approved_by"] == "user:second"
    qualities = {m["signal_type"]: m["quality"] for m in case["matches"]}
    assert qualities["pdq"] >= 50 and qualities.get("md5") is None

    status, unrelated = api.upload("/scan", FIXTURES / "wee.jpg", content_ref="upload-0002")
    assert status == 200
    assert unrelated["matches"] == [] and unrelated["case_id"] is None
    status, queue = api.request("GET", "/cases?status=all")
    assert queue["total"] == 1

    status, error = api.upload("/scan", FIXTURES / "NOTICE", content_ref="upload-0003")
    assert status == 400 and error["error"]["code"] == "unsupported_media"


@pytest.mark.slow
def test_second_start_prints_no_new_token_and_has_indexes_ready(tmp_path, database_url):
    env = hma_env(database_url)
    hma = Path(sys.executable).with_name("hma")
    data_dir = tmp_path / "d"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(hma), *args, "--data-dir", str(data_dir)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return done

    token = run("token", "create", "--name", "pre", "--role", "admin").stdout.strip()
    run("bank", "create", "known")
    run("bank", "add", "known", str(FIXTURES / "aaa-orig.jpg"))
    with running_server(data_dir, env) as (base, process):
        status, banks = Client(base, token).request("GET", "/banks")
        assert status == 200 and [b["name"] for b in banks["banks"]] == ["known"]
        # Indexes were loaded before the first request, not by it.
        request = urllib.request.Request(
            f"{base}/api/v1/status", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            state = json.loads(response.read())
        assert state["index_lag"] == 0
        assert state["indexes"]["pdq"]["size"] == 1
    assert not (data_dir / "first-start-secrets.txt").exists()
    assert "HMA_ADMIN" not in process.stdout.read()


def test_each_request_is_logged_once_without_its_token(tmp_path, database_url):
    env = hma_env(database_url)
    with running_server(tmp_path / "d", env) as (base, process):
        token = first_start_token(tmp_path / "d")
        status, _ = Client(base, token).request("GET", "/banks?note=100%25")
        assert status == 200
    logged = process.stdout.read()
    lines = [line for line in logged.splitlines() if '"GET /api/v1/banks?' in line]
    assert len(lines) == 1, logged[-2000:]
    assert re.search(
        r'^127\.0\.0\.1 - - \[[^]]+\] "GET /api/v1/banks\?note=100%25 HTTP/1\.1"'
        r' 200 \d+ "-" "[^"]*" \d+ms$',
        lines[0],
    ), lines[0]
    assert token not in logged
    assert "first-start-secrets.txt" in logged  # where they are, never what they are


@pytest.mark.slow
def test_a_token_in_the_path_works_and_is_never_logged(tmp_path, database_url):
    env = hma_env(database_url)
    with running_server(tmp_path / "d", env) as (base, process):
        token = first_start_token(tmp_path / "d")
        with urllib.request.urlopen(f"{base}/t/{token}/api/v1/banks", timeout=10) as answer:
            assert answer.status == 200 and json.load(answer) == {"banks": []}
        # Every other spelling that decodes to the same path is refused, and not logged.
        port = int(base.rsplit(":", 1)[1])
        escaped = token[:8] + "".join(f"%{ord(c):02X}" for c in token[8:10]) + token[10:]
        for target in (
            f"//t/{token}/api/v1/banks",
            f"/%74/{token}/api/v1/banks",
            f"/t%2F{token}/api/v1/banks",
            f"/t/{escaped}/api/v1/banks",
            f"{base}/t/{token}/api/v1/banks",
        ):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", target)
            answer = connection.getresponse()
            assert answer.status == 404, (target, answer.status, answer.read())
            connection.close()
    logged = process.stdout.read()
    assert '"GET /t/[token]/api/v1/banks HTTP/1.1" 200' in logged, logged[-2000:]
    assert logged.count('/t/[token]/api/v1/banks HTTP/1.1" 404') == 5, logged[-3000:]
    assert token not in logged and token[10:] not in logged
