"""URL, account and keyword lookups at bank scale, with threatexchange's URL index beside ours.

    python bench/signals.py [--urls 10000000] [--accounts 1000000] [--keywords 100000]
                            [--queries 20000] [--parts urls,threatexchange,accounts,keywords]
                            [--json]

Each part runs in its own process on data generated from one seed, so that
memory figures are its own:

* urls: a bank of URL entries, one in ten a whole site (`host/`), two in ten
  a folder, the rest single pages. Queries are raw URLs as a post would hold
  them: deep ones on unknown sites (misses, the common case; five host
  suffixes and six path prefixes, thirty expressions), and URLs under a
  banked site, folder or page (hits). A lookup is what a scan does per URL:
  its expressions listed and all of them looked up in the index; canonicalising
  the raw URL first is timed apart.
* threatexchange: its URL signal's index (a dict of exact strings) over the
  same entries and queries: one dictionary read a lookup, and only an entry
  spelled exactly as the query matches, so a site or folder entry never
  covers a deeper URL.
* accounts: a bank of email, username, phone and payment identifiers; a
  lookup normalises the raw identifier by its kind's rules and looks it up.
* keywords: a bank of words and phrases against texts of 10 KB: a lookup
  folds the text and finds every keyword in it.

Each exact index also holds 10,000 entries added after its build, as a live
bank does between compactions. Reported: build seconds (values hashed into
keys and indexed; reading the rows from the database is not included), resident bytes per entry (the
process's growth with the bank loaded and its input dropped), snapshot bytes
per entry, lookup p50 and p99 on one thread, and the share of hit queries
found.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.matching import resident_bytes
from hashers.signals import ACCOUNT, URL
from matchers.exact import ExactIndex, value_keys
from matchers.keywords import KeywordIndex

SEED = 20261203
TLDS = ["com", "net", "org", "info", "ru", "co.uk", "com.br", "xyz", "io", "de"]
#: Values hashed into keys at a time while building (bounds the strings held at once).
CHUNK = 500_000
#: Entries added after the build, as a bank takes them between compactions: lookups
#: read them from the index's recent additions as well as from its segments.
RECENT = 10_000
SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]
#: Common words a post is mostly made of (none of them a keyword).
PROSE = ["the", "a", "of", "and", "to", "in", "is", "it", "you", "that", "was", "for", "on", "we"]


def name(i: int) -> str:
    """A distinct pronounceable label for each i (base-85 over syllables)."""
    out = []
    i += 85 * 85  # at least three syllables
    while i:
        i, digit = divmod(i, len(SYLLABLES))
        out.append(SYLLABLES[digit])
    return "".join(out)


def site(i: int) -> str:
    return f"{name(i)}.{TLDS[i % len(TLDS)]}"


def url_entry(i: int) -> str:
    """The bank's i-th entry, in stored (expression) form."""
    kind = i % 10
    if kind == 0:
        return f"{site(i)}/"
    if kind < 3:
        return f"{site(i)}/f{i % 97}/"
    return f"{site(i)}/f{i % 97}/p{i}.html"


def url_query_hit(i: int) -> str:
    """A raw URL a post might hold that falls under entry i."""
    kind = i % 10
    if kind == 0:
        return f"https://cdn.eu.{site(i)}/a/b/c/{i}.jpg?size=l"
    if kind < 3:
        return f"http://www.{site(i)}/f{i % 97}/deeper/page.html?ref=x"
    return f"https://{site(i).upper()}/f{i % 97}/p{i}.html#top"


def url_query_miss(i: int) -> str:
    """A deep URL on a site the bank does not hold: up to thirty expressions, none there."""
    return f"https://a.b.c.{site(i)}/1/2/3/4/{i}.html?q={i}"


def account_entry(i: int) -> str:
    kind = i % 4
    if kind == 0:
        return f"email:{name(i)}.{i % 1000}@{site(i // 7)}"
    if kind == 1:
        return f"username:{('instagram', 'telegram', 'discord')[i % 3]}:{name(i)}_{i % 100}"
    if kind == 2:
        return f"phone:+4420{7000_0000 + i % 9999_9999:08d}"
    return f"payment:{('paypal', 'cashapp')[i % 2]}:{name(i)}"


def account_query(entry: str) -> str:
    """The entry as a person might type it: another case, spaces around."""
    kind, _, rest = entry.partition(":")
    if kind == "phone":
        return f"phone: +44 20 {rest[5:9]} {rest[9:]}"
    return f"{kind.upper()}:{rest.upper()} "


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    us = np.array(samples_ns) / 1e3
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99))}


def timed(calls: Sequence[Callable[[], Any]]) -> tuple[list[int], list[Any]]:
    """Each call's duration in ns and result, after one warm-up call."""
    calls[0]()
    durations, results = [], []
    for call in calls:
        started = time.perf_counter_ns()
        results.append(call())
        durations.append(time.perf_counter_ns() - started)
    return durations, results


def build_exact(count: int, entry: Callable[[int], str]) -> tuple[ExactIndex, float]:
    """An exact index over entries 0..count-1, built chunk by chunk as a bank load does,
    then RECENT more (from far past the queries' range) added live."""
    started = time.perf_counter()
    keys = [
        value_keys([entry(i) for i in range(start, min(start + CHUNK, count))])
        for start in range(0, count, CHUNK)
    ]
    index = ExactIndex.from_rows(np.arange(count, dtype=np.int64), np.concatenate(keys))
    seconds = time.perf_counter() - started
    index.auto_compact = False
    later = range(3 * count, 3 * count + RECENT)
    index.add_values(list(later), [entry(i) for i in later])
    return index, seconds


def snapshot_bytes(index: ExactIndex) -> int:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "index"
        index.save(target)
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())


def index_figures(count: int, build: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    gc.collect()
    baseline = resident_bytes()
    index, seconds = build()
    gc.collect()
    return index, {
        "entries": count,
        "build_s": seconds,
        "resident_bytes_per_entry": (resident_bytes() - baseline) / count,
    }


def run_urls(count: int, queries: int) -> dict[str, Any]:
    index, out = index_figures(count, lambda: build_exact(count, url_entry))
    out["snapshot_bytes_per_entry"] = snapshot_bytes(index) / count
    rng = random.Random(SEED)
    hits = [rng.randrange(count) for _ in range(queries // 2)]
    raw = {
        "miss": [url_query_miss(count + j) for j in range(queries // 2)],
        "hit": [url_query_hit(i) for i in hits],
    }
    canonical = {shape: [URL.normalize(u) for u in urls] for shape, urls in raw.items()}
    found: dict[str, list[Any]] = {}
    for shape in ("miss", "hit"):
        durations, found[shape] = timed(
            [lambda e=e: index.lookup(URL.lookup_values(e)) for e in canonical[shape]]
        )
        out[f"lookup_{shape}"] = percentiles(durations) | {
            "expressions": float(np.mean([len(URL.lookup_values(e)) for e in canonical[shape]])),
            "found": sum(any(r) for r in found[shape]) / len(found[shape]),
        }
    out["lookup_hit"]["found_the_entry"] = sum(
        any(h.id == i for per_expression in result for h in per_expression)
        for i, result in zip(hits, found["hit"], strict=True)
    ) / len(hits)
    durations, _ = timed([lambda u=u: URL.normalize(u) for u in raw["miss"] + raw["hit"]])
    out["canonicalise"] = percentiles(durations)
    return out


def run_threatexchange(count: int, queries: int) -> dict[str, Any]:
    from threatexchange.signal_type.signal_base import TrivialSignalTypeIndex

    def build() -> tuple[Any, float]:
        started = time.perf_counter()
        index: Any = TrivialSignalTypeIndex()
        for i in range(count):
            index.add(url_entry(i), i)
        return index, time.perf_counter() - started

    index, out = index_figures(count, build)
    rng = random.Random(SEED)
    hits = [rng.randrange(count) for _ in range(queries // 2)]
    raw = {
        "miss": [url_query_miss(count + j) for j in range(queries // 2)],
        "hit": [url_query_hit(i) for i in hits],
    }
    for shape, urls in raw.items():
        durations, results = timed([lambda u=u: index.query(u) for u in urls])
        out[f"lookup_{shape}"] = percentiles(durations) | {
            "expressions": 1.0,
            "found": sum(bool(r) for r in results) / len(results),
        }
    return out


def run_accounts(count: int, queries: int) -> dict[str, Any]:
    index, out = index_figures(count, lambda: build_exact(count, account_entry))
    out["snapshot_bytes_per_entry"] = snapshot_bytes(index) / count
    rng = random.Random(SEED)
    wanted = [rng.randrange(count) for _ in range(queries // 2)]
    typed = [account_query(account_entry(i)) for i in wanted]
    typed += [account_query(account_entry(count + j)) for j in range(queries // 2)]
    durations, results = timed([lambda t=t: index.lookup([ACCOUNT.normalize(t)]) for t in typed])
    out["lookup"] = percentiles(durations)
    out["lookup"]["found"] = sum(
        any(h.id == i for h in result[0])
        for i, result in zip(wanted, results[: len(wanted)], strict=True)
    ) / len(wanted)
    out["lookup"]["false_hits"] = sum(bool(r[0]) for r in results[len(wanted) :])
    return out


def run_keywords(count: int, queries: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    words = [name(i) for i in range(count)]

    def phrase() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.choice((1, 1, 2, 3))))

    def build() -> tuple[KeywordIndex, float]:
        started = time.perf_counter()
        index = KeywordIndex()
        index.add_values(list(range(count)), [phrase() for _ in range(count)])
        index.lookup(["warm"])  # the automaton is built on first use
        return index, time.perf_counter() - started

    index, out = index_figures(count, build)
    # A post is mostly common words; a share of its words comes from the keywords'
    # vocabulary: one in five hundred (a handful of keywords found), or one in twenty
    # (hundreds found, as in spam written to be caught).
    for shape, share in (("ordinary", 0.002), ("dense", 0.05)):
        texts = []
        for _ in range(min(queries, 2000)):
            drawn = [
                rng.choice(words) if rng.random() < share else rng.choice(PROSE)
                for _ in range(3500)
            ]
            texts.append(" ".join(drawn)[:10_000])
        durations, results = timed([lambda t=t: index.lookup([t]) for t in texts])
        out[f"lookup_10kb_{shape}"] = percentiles(durations) | {
            "keywords_found_mean": float(np.mean([len(r[0]) for r in results])),
        }
    return out


PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "urls": lambda a: run_urls(a.urls, a.queries),
    "threatexchange": lambda a: run_threatexchange(a.urls, a.queries),
    "accounts": lambda a: run_accounts(a.accounts, a.queries),
    "keywords": lambda a: run_keywords(a.keywords, a.queries),
}


def row(part: str, figures: dict[str, Any]) -> list[str]:
    lines = [
        f"{part:15} entries {figures['entries']:>10,}  build {figures['build_s']:7.1f} s  "
        f"resident {figures['resident_bytes_per_entry']:6.1f} B/entry"
        + (
            f"  snapshot {figures['snapshot_bytes_per_entry']:5.1f} B/entry"
            if "snapshot_bytes_per_entry" in figures
            else ""
        )
    ]
    for key, value in figures.items():
        if isinstance(value, dict):
            extra = "  ".join(
                f"{k} {v:.3g}" for k, v in value.items() if k not in ("p50_us", "p99_us")
            )
            lines.append(
                f"  {key:22} p50 {value['p50_us']:8.1f} us  p99 {value['p99_us']:8.1f} us  {extra}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--keywords", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--parts", default="urls,threatexchange,accounts,keywords")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(PARTS[args.worker](args)))
        return
    results = {}
    for part in args.parts.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--worker", part, *sys.argv[1:]],
            capture_output=True,
            text=True,
            check=True,
        )
        results[part] = json.loads(done.stdout.strip().splitlines()[-1])
        if not args.json:
            print("\n".join(row(part, results[part])), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
