"""The reviewer console in a real browser (Debian's chromium driven by Playwright)
against a real `hma serve`: sign in with TOTP, work a case from the queue to a
decision, with the preview blurred until a logged reveal."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyotp
import pytest
from PIL import Image

from tests.test_end_to_end import Client, first_start_secrets, hma_env, running_server

CHROMIUM = Path("/usr/bin/chromium")
FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


def hma(data_dir: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hma")), *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def sharpness(image: Image.Image) -> float:
    """Mean squared difference between neighbouring pixels: low for a blurred image."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    return float(np.mean(np.diff(grey, axis=0) ** 2) + np.mean(np.diff(grey, axis=1) ** 2))


def sign_in(page, base: str, username: str, password: str, secret: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/queue$"))


def test_a_reviewer_works_a_case_from_queue_to_decision(tmp_path, database_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path / "data"
    env = hma_env(database_url) | {"HMA_UNDO_SECONDS": "2"}
    with running_server(data_dir, env) as (base, _process):
        first = first_start_secrets(data_dir)
        api = Client(base, first["HMA_ADMIN_TOKEN"])
        assert api.json("POST", "/banks", {"name": "known"})[0] == 201
        status, _ = api.upload("/banks/known/content", FIXTURES / "aaa-orig.jpg", tags="csam")
        assert status == 201
        status, scanned = api.upload("/scan", FIXTURES / "aaa-orig.jpg", content_ref="upload-1")
        assert status == 200 and scanned["case_id"], scanned
        case_id = scanned["case_id"]
        created = hma(data_dir, env, "user", "create", "rita", "--role", "reviewer")
        password = re.search(r"^password: (\S+)$", created, re.M).group(1)
        secret = re.search(r"^totp secret: (\S+)$", created, re.M).group(1)

        with playwright_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            images: list[str] = []
            page.on(
                "response",
                lambda r: (
                    images.append(r.url)
                    if r.headers.get("content-type", "").startswith("image/")
                    else None
                ),
            )

            # The first admin's secrets passed through a file: the console has
            # them replaced before anything else.
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", first["HMA_ADMIN_USER"])
            page.fill("input[name=password]", first["HMA_ADMIN_PASSWORD"])
            page.fill("input[name=code]", pyotp.TOTP(first["HMA_ADMIN_TOTP_SECRET"]).now())
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/console/renew$"))
            new_secret = page.input_value("#totp-secret")
            page.fill("input[name=password]", "the admin's own passphrase")
            page.fill("input[name=repeat]", "the admin's own passphrase")
            page.fill("input[name=code]", pyotp.TOTP(new_secret).now())
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/console/queue$"))
            page.click("button:has-text('Sign out')")
            page.wait_for_url(re.compile(r".*/console/login$"))

            # A wrong code is refused; the right one signs in.
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", "rita")
            page.fill("input[name=password]", password)
            page.fill("input[name=code]", "000000")
            page.keyboard.press("Enter")
            assert "sign-in failed" in page.inner_text("p.flash.error")
            sign_in(page, base, "rita", password, secret)
            assert f"#{case_id} upload-1" in page.inner_text("table.queue")
            shots = os.environ.get("HMA_CONSOLE_SCREENSHOTS")
            if shots:
                page.screenshot(path=str(Path(shots) / "queue.png"), full_page=True)

            # Keyboard only: "n" takes the most urgent case.
            page.keyboard.press("n")
            page.wait_for_url(re.compile(rf".*/console/cases/{case_id}$"))
            assert "held by user:rita" in page.inner_text("main")
            page.wait_for_function("document.getElementById('preview').complete")
            if shots:
                page.screenshot(path=str(Path(shots) / "case.png"), full_page=True)

            # The browser received the preview only: greyscale and blurred.
            assert [u for u in images if "/cases/" in u] == [
                f"{base}/console/cases/{case_id}/preview"
            ]
            shown = page.request.get(f"{base}/console/cases/{case_id}/preview")
            blurred = Image.open(io.BytesIO(shown.body()))
            assert blurred.mode == "L" and max(blurred.size) <= 320

            # Revealing is a deliberate POST, and it is logged.
            page.keyboard.press("v")
            assert page.evaluate("document.activeElement.id") == "reveal"
            page.keyboard.press("Enter")
            page.wait_for_selector("img.revealed")
            src = page.get_attribute("img.revealed", "src")
            kept = Image.open(io.BytesIO(__import__("base64").b64decode(src.split(",", 1)[1])))
            assert kept.mode == "RGB"
            assert sharpness(kept.resize(blurred.size)) > 4 * sharpness(blurred)
            log = hma(data_dir, env, "audit", "log", "--action", "case.reveal", "--json")
            entries = [json.loads(line) for line in log.splitlines()]
            assert [(e["actor"], e["subject"]) for e in entries] == [
                ("user:rita", f"case:{case_id}")
            ]

            # Back to the case, and reject it with the keyboard.
            page.keyboard.press("b")
            page.wait_for_url(re.compile(rf".*/console/cases/{case_id}$"))
            page.keyboard.press("r")
            assert page.evaluate("document.activeElement.id") == "reason"
            page.select_option("#reason", "false_positive")
            page.keyboard.press("Tab")
            page.keyboard.type("matches a benign meme")
            page.keyboard.press("Enter")
            page.wait_for_selector("p.pending")
            assert "unless undone" in page.inner_text("p.pending")

            # The undo window passes; the server's scheduler makes the decision effective.
            deadline = time.monotonic() + 30
            while "effective" not in page.inner_text("ol.history"):
                assert time.monotonic() < deadline, page.inner_text("main")
                time.sleep(1)
                page.reload()
            assert "closed" in page.inner_text("h1").lower()
            browser.close()

        status, case = api.request("GET", f"/cases/{case_id}")
        assert (case["status"], case["decision"]) == ("closed", "reject")
        assert case["decisions"][0]["decided_by"] == "user:rita"
        assert "case.decide" in hma(data_dir, env, "audit", "log", "--json")
        assert hma(data_dir, env, "audit", "verify").startswith("audit log intact")
