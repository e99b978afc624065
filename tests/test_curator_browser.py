"""The curator console in a real browser (Debian's chromium, Playwright) against a real
`hma serve`: sign in with TOTP, create a bank, upload content, follow a list
exchange served on 127.0.0.1, sync it and watch its progress, find a signal,
remove it with a reason, and read the overview's charts.

With HMA_CONSOLE_SCREENSHOTS=<folder>, the pages are saved there as PNG
(docs/screenshots/ holds the ones the docs show)."""

from __future__ import annotations

import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.test_console_browser import CHROMIUM, FIXTURES, hma
from tests.test_end_to_end import Client, first_start_token, hma_env, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]

#: Lines of the followed list; sent slowly, so that its sync runs long enough to watch.
LIST_LINES = 20_000
SEND_SECONDS = 4.0


def slow_list_server() -> tuple[ThreadingHTTPServer, str, list[str]]:
    values = [f"{i:064x}" for i in range(1, LIST_LINES + 1)]
    body = "".join(f"pdq {value}\n" for value in values).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            pieces = 20
            step = len(body) // pieces + 1
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                time.sleep(SEND_SECONDS / pieces)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/list.txt", values


def test_a_curator_curates_banks_and_exchanges_in_the_browser(tmp_path, database_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path / "data"
    env = hma_env(database_url) | {"HMA_EGRESS_ALLOW": "127.0.0.1"}
    shots = os.environ.get("HMA_CONSOLE_SCREENSHOTS")
    feed, feed_url, values = slow_list_server()
    try:
        with running_server(data_dir, env) as (base, _process):
            created = hma(data_dir, env, "user", "create", "cora", "--role", "curator")
            password = re.search(r"^password: (\S+)$", created, re.M).group(1)
            secret = re.search(r"^totp secret: (\S+)$", created, re.M).group(1)
            with playwright_api.sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                media: list[str] = []
                page.on(
                    "response",
                    lambda r: (
                        media.append(r.url)
                        if r.headers.get("content-type", "").startswith(("image/", "video/"))
                        else None
                    ),
                )

                def shot(name: str) -> None:
                    if shots:
                        page.screenshot(
                            path=str(Path(shots) / f"curator-{name}.png"), full_page=True
                        )

                # Sign in with password and code: a curator lands on the overview.
                page.goto(f"{base}/console/login")
                page.fill("input[name=username]", "cora")
                page.fill("input[name=password]", password)
                page.fill("input[name=code]", pyotp.TOTP(secret).now())
                page.keyboard.press("Enter")
                page.wait_for_url(re.compile(r".*/console/overview$"))

                # A bank, created from the banks page (reached by keyboard: g b).
                page.keyboard.press("g")
                page.keyboard.press("b")
                page.wait_for_url(re.compile(r".*/console/banks$"))
                page.fill("#create-bank input[name=name]", "known")
                page.fill("#create-bank input[name=description]", "curated here")
                page.keyboard.press("Enter")
                page.wait_for_url(re.compile(r".*/console/banks/known$"))

                # Content, by upload with tags: hashed, the file itself not kept.
                page.set_input_files(
                    "#add-content input[type=file]", str(FIXTURES / "aaa-orig.jpg")
                )
                page.fill("#add-content input[name=tags]", "csam")
                page.click("#add-content button")
                page.wait_for_selector("p.flash")
                assert "aaa-orig.jpg added as item" in page.inner_text("p.flash")

                # A list exchange on a local server, added from the list adapter's own form.
                page.keyboard.press("g")
                page.keyboard.press("x")
                page.wait_for_url(re.compile(r".*/console/exchanges$"))
                page.select_option("#new-exchange select[name=type]", "list")
                page.click("#new-exchange button")
                page.wait_for_url(re.compile(r".*/console/exchanges/new\?type=list$"))
                page.fill("#exchange-form input[name=name]", "partner-list")
                page.select_option("#exchange-form select[name=bank]", "known")
                page.fill("#exchange-form input[name=url]", feed_url)
                page.fill("#exchange-form input[name=batch_size]", "1000")
                page.click("#exchange-form button")
                page.wait_for_url(re.compile(r".*/console/exchanges/partner-list$"))

                # Sync now (s, then Enter), and watch the bar while the jobs process syncs.
                page.keyboard.press("s")
                assert page.evaluate("document.activeElement.id") == "sync-now"
                page.keyboard.press("Enter")
                page.wait_for_selector("#sync-text:has-text('Syncing')", timeout=30_000)
                assert page.is_visible("#sync-bar")
                shot("sync-progress")
                page.wait_for_selector("#runs td:has-text('done')", timeout=60_000)
                runs = page.inner_text("#runs")
                assert f"{LIST_LINES:,}" in runs and f"upserts {LIST_LINES}" in runs
                shot("exchange")

                # Find a signal by its value ("/" focuses the search), and remove it, saying why.
                page.goto(f"{base}/console/banks/known")
                page.keyboard.press("/")
                page.keyboard.type(values[41].upper())
                page.keyboard.press("Enter")
                page.wait_for_url(re.compile(r".*/console/banks/known\?value=.*"))
                rows = page.locator("table.content tbody tr")
                assert rows.count() == 1 and values[41] in rows.inner_text()
                shot("bank")
                rows.locator("input[name=reason]").fill("listed by mistake: not abuse")
                rows.locator("form.remove button").click()
                page.wait_for_selector("p.flash")
                assert "removed" in page.inner_text("p.flash")
                page.goto(f"{base}/console/banks/known?value={values[41]}")
                assert "Nothing found." in page.inner_text("table.content")

                # A platform's upload matches the bank: a match, and a case for review.
                api = Client(base, first_start_token(data_dir))
                status, scanned = api.upload("/scan", FIXTURES / "aaa-orig.jpg", content_ref="u-1")
                assert status == 200 and scanned["case_id"], scanned

                # The overview's charts are drawn on the server; their figures are in tables.
                page.keyboard.press("g")
                page.keyboard.press("o")
                page.wait_for_url(re.compile(r".*/console/overview$"))
                assert page.locator("svg.chart").count() == 5
                page.click("section.chart-box:has-text('Signals per bank') summary")
                figures = page.locator("section.chart-box:has-text('Signals per bank') tbody tr")
                # The list's lines and the upload's three signals, less the one removed.
                assert figures.last.inner_text().split()[1:] == [str(LIST_LINES + 3 - 1)]
                syncs = page.locator("section.chart-box:has-text('Exchange syncs')")
                syncs.locator("summary").click()
                today = syncs.locator("tbody tr").last.inner_text().split()
                assert today[1:] == ["1", "0"]  # one sync today, none failed
                matches = page.locator("section.chart-box:has-text('Matches per day')")
                matches.locator("summary").click()
                # Its PDQ, MD5 and SHA-256 each matched the uploaded item.
                assert matches.locator("tbody tr").last.inner_text().split()[1:] == ["3"]
                shot("overview")
                assert media == []  # no media ever reaches a curator's browser
                browser.close()
            log = hma(data_dir, env, "audit", "log", "--json")
            assert '"actor": "user:cora"' in log and "listed by mistake" in log
    finally:
        feed.shutdown()
        feed.server_close()
