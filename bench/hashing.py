"""Hashing speed and PDQ fidelity, ours next to threatexchange (and vpdq) in one run.

    python bench/hashing.py [--count 40] [--json]

Prints, per image size: images/s on one core for our PDQ hasher (decode
included) and for threatexchange's PdqSignal.hash_from_bytes, timed image by
image, interleaved; the drift of our default (fast) path against the
full-resolution reference path (median, p95, max bits); then each shared
reference video's real-time factor at one frame per second, ours next to the
vpdq C++ reference when it is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.corpus import make_corpus
from hashers import PDQ, HashingConfig, default_registry
from hashers.media import Media
from hashers.stills import PDQHasher

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SIZES = ((1024, 768), (3000, 2000), (4032, 3024))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_images(count: int) -> list[dict]:
    try:
        from threatexchange.signal_type.pdq.signal import PdqSignal
    except ImportError as exc:
        raise SystemExit("the baseline needs threatexchange: pip install -e '.[bench]'") from exc
    hasher = PDQHasher()
    fast, full = HashingConfig(), HashingConfig(fast_decode=False, exif_orientation=False)
    rows = []
    for size in SIZES:
        corpus = make_corpus(size, count)
        # Not timed: the first call loads (or compiles) our kernel, and warms both caches.
        hasher.hash(Media(corpus[0]), fast)
        PdqSignal.hash_from_bytes(corpus[0])
        ours_s, theirs_s, drift = [], [], []
        for data in corpus:
            started = time.perf_counter()
            ours = hasher.hash(Media(data), fast)
            ours_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            theirs = PdqSignal.hash_from_bytes(data)
            theirs_s.append(time.perf_counter() - started)
            reference = hasher.hash(Media(data), full)
            assert reference.value == theirs, "the reference path must equal threatexchange"
            drift.append(PDQ.distance(ours.value, reference.value))
        rows.append(
            {
                "size": f"{size[0]}x{size[1]}",
                "images": len(corpus),
                "ours_images_per_s": len(corpus) / sum(ours_s),
                "threatexchange_images_per_s": len(corpus) / sum(theirs_s),
                "speedup": sum(theirs_s) / sum(ours_s),
                "drift_median": statistics.median(drift),
                "drift_p95": percentile(drift, 0.95),
                "drift_max": max(drift),
            }
        )
    return rows


def bench_videos() -> list[dict]:
    if not VIDEOS.is_dir():
        print(f"(no reference videos at {VIDEOS}; video figures skipped)", file=sys.stderr)
        return []
    try:
        import vpdq
    except ImportError:
        vpdq = None
        print("(vpdq not installed, see bench/README.md; ours alone)", file=sys.stderr)
    import cv2

    registry = default_registry()
    config = HashingConfig(video_seconds_per_hash=1.0)
    rows = []
    for video in sorted(VIDEOS.glob("*.mp4")):
        capture = cv2.VideoCapture(str(video))
        duration = capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        ours = _best_of_three(registry.hash_bytes, video.read_bytes(), config, video)
        row = {"video": video.name, "seconds": round(duration, 1), "ours_realtime": duration / ours}
        if vpdq is not None:
            theirs = _best_of_three(vpdq.computeHash, str(video), seconds_per_hash=1.0)
            row |= {"vpdq_realtime": duration / theirs, "speedup": theirs / ours}
        rows.append(row)
    return rows


def _best_of_three(function, *args, **kwargs) -> float:
    """The fastest of three runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        function(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="images per size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    images, videos = bench_images(args.count), bench_videos()
    if args.json:
        print(json.dumps({"images": images, "videos": videos}, indent=2))
        return
    print(
        f"{'size':>10} {'n':>4} {'ours img/s':>11} {'threatexchange':>15} {'speedup':>8}"
        f" {'drift median/p95/max (bits)':>28}"
    )
    for r in images:
        print(
            f"{r['size']:>10} {r['images']:>4} {r['ours_images_per_s']:>11.1f}"
            f" {r['threatexchange_images_per_s']:>15.1f} {r['speedup']:>7.1f}x"
            f" {r['drift_median']:>14}/{r['drift_p95']}/{r['drift_max']}"
        )
    if videos:
        print(
            f"\n{'video (1 frame/s)':>28} {'s':>5} {'ours x realtime':>16}"
            f" {'vpdq x realtime':>16} {'speedup':>8}"
        )
        for r in videos:
            theirs = f"{r['vpdq_realtime']:>16.1f} {r['speedup']:>7.2f}x" if "speedup" in r else ""
            print(f"{r['video']:>28} {r['seconds']:>5} {r['ours_realtime']:>16.1f} {theirs}")


if __name__ == "__main__":
    main()
