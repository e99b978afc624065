"""Where an upload's time goes: cProfile over hash+match requests of 1024x768 JPEGs.

    python bench/upload_profile.py [--count 40] [--rounds 3]

Builds the app in this process on a fresh SQLite database holding a bank of
1,000 random PDQ hashes, then sends `POST /api/v1/match` multipart uploads
(no hit) through Flask's test client, twice: hashing in the request's own
thread (as `hma serve` hashes images), and handing each upload to a hashing
process (as it hashes videos; images went that way before).
Prints, per stage, the milliseconds a request spends in it (cumulative time
of the functions that do it, from cProfile, divided by the requests) and
what is left for Flask, routing and the answer. HTTP parsing by gunicorn and
the sockets are not in this figure: `bench/http.py` measures the whole.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import cProfile
import io
import pstats
import secrets
import tempfile
from collections.abc import Callable

from bench.corpus import make_corpus
from hma.hashing_pool import HashingPool
from hma.settings import load_settings
from hma.web import create_app
from hma.web.context import EXTENSION

#: Stages of a request, by the functions whose cumulative time they are
#: (file name suffix, function name); the first match of a stage counts.
STAGES: dict[str, list[tuple[str, str]]] = {
    "multipart parsing": [("werkzeug/wrappers/request.py", "_load_form_data")],
    "hand-off to the hashing process (and back)": [("hma/hashing_pool.py", "hash")],
    "decode (JPEG to pixels, orientation, alignment)": [("hashers/images.py", "still_pixels")],
    "PDQ": [("hashers/pdq.py", "pdq_from_rgb"), ("hashers/pdq.py", "pdq_from_luma")],
    "MD5 and SHA-256": [("hashers/digests.py", "hash")],
    "lookup in the indexes": [("banks/lookup.py", "find")],
    "the answer (JSON)": [("flask/json/provider.py", "response")],
}
TOTAL = ("flask/app.py", "wsgi_app")


def stage_times(stats: pstats.Stats, requests: int) -> dict[str, float]:
    by_function = {
        (filename, name): cumulative
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    }

    def find(suffix: str, name: str) -> float:
        return sum(
            seconds
            for (filename, function), seconds in by_function.items()
            if filename.endswith(suffix) and function == name
        )

    out = {}
    for stage, functions in STAGES.items():
        out[stage] = next((find(*f) for f in functions if find(*f)), 0.0) * 1000 / requests
    out["total in the app"] = find(*TOTAL) * 1000 / requests
    return out


def profile(send: Callable[[], None], requests: int) -> dict[str, float]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        send()
    profiler.disable()
    return stage_times(pstats.Stats(profiler), requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="distinct images")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images")
    args = parser.parse_args()
    corpus = make_corpus((1024, 768), args.count)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder), scheduler=False, token_cache_seconds=60)
        app = create_app(settings)
        services = app.extensions[EXTENSION]
        client = app.test_client()
        from accounts.tokens import create_token
        from banks import store

        with services.database.session() as session:
            token = create_token(session, "bench", "admin")
            bank = store.create_bank(session, "known")
            for _ in range(1000):
                store.add_content(
                    session,
                    bank,
                    [services.scanner.parse_signals([("pdq", secrets.token_hex(32))])[0]],
                    tags=["csam"],
                )
        headers = {"Authorization": f"Bearer {token}"}
        position = iter(range(10**9))

        def send() -> None:
            data = corpus[next(position) % len(corpus)]
            answer = client.post(
                "/api/v1/match",
                headers=headers,
                data={"file": (io.BytesIO(data), "u.jpg", "image/jpeg")},
                content_type="multipart/form-data",
            )
            assert answer.status_code == 200, answer.get_data(as_text=True)

        for _ in range(5):
            send()  # indexes loaded, kernels compiled
        requests = args.count * args.rounds
        in_thread = profile(send, requests)
        pool = HashingPool(settings, 1)
        services.scanner.hash = pool.hash  # every upload, images included
        for _ in range(5):
            send()
        handed_off = profile(send, requests)
        pool.shutdown()
    print(f"{'stage (ms per request)':<50} {'in thread':>10} {'handed off':>11}")
    for stage in [*STAGES, "total in the app"]:
        print(f"{stage:<50} {in_thread[stage]:>10.2f} {handed_off[stage]:>11.2f}")
    for name, figures in (("in thread", in_thread), ("handed off", handed_off)):
        named = sum(v for k, v in figures.items() if k != "total in the app")
        print(f"rest of the app ({name}): {figures['total in the app'] - named:.2f} ms")


if __name__ == "__main__":
    main()
