"""`/m`: lookups through our exact indexes, with HMA's coin flip and shapes.

A lookup keeps what our own lookups keep (enabled content of enabled banks,
within each bank's threshold), then lets each bank take part with the
probability of its matching ratio, as HMA does. With the
`hma_api_opens_cases` setting, what a lookup returns also opens a review
case, through the same path as a scan.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flask import Response, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from actioners.scan import ScanResult
from banks import changelog
from banks.hits import disabled_hits, hits_by_content, stored_signals
from banks.hma_vocabulary import (
    SIGNAL_TYPES,
    SignalInvalid,
    distance_text,
    normalize_signal,
)
from banks.lookup import BankMatch
from hashers import Signal
from hma.web.context import db_session, read_session, services
from hma.web.hma_api import answer, fail, hma_api, json_body, validated
from hma.web.hma_api.hashing import Hashed, hash_upload, hash_url

#: Bank name -> [{"bank_content_id", "distance"}]
BankHits = dict[str, list[dict[str, Any]]]


class RawLookupQuery(BaseModel):
    signal: str
    signal_type: str
    banks: str | None = None
    include_distance: bool = False


class LookupQuery(BaseModel):
    signal: str | None = None
    signal_type: str | None = None
    url: str | None = None
    content_type: str | None = None
    types: str | None = None
    banks: str | None = None
    seed: str | None = None
    #: Parsed as HMA parses it, and honoured as HMA's documentation says it is.
    bypass_coinflip: bool = False
    #: Ours: the platform's id for the content, for the case a match opens.
    content_ref: str | None = None


@hma_api.get("/m/raw_lookup")
def raw_lookup() -> Response:
    """Every index hit, whatever the state of its content and bank."""
    query = validated(RawLookupQuery, request.args.to_dict())
    signal = _query_signal(query.signal_type, query.signal)
    threshold = services().scanner.indexes.threshold(signal.type)
    session = read_session()
    distances = dict(services().scanner.indexes.hits(session, signal, threshold))
    found = hits_by_content(session, distances)
    kind = services().scanner.registry.signal_type(signal.type)
    found += disabled_hits(session, kind, signal.value, threshold)
    wanted = _bank_filter(query.banks)
    found = [hit for hit in found if wanted is None or hit[1] in wanted]
    hma_type = query.signal_type
    if query.include_distance:
        matches: list[Any] = [
            {"bank_content_id": content_id, "distance": distance_text(hma_type, distance)}
            for content_id, _bank, distance in found
        ]
    else:
        matches = [content_id for content_id, _bank, _distance in found]
    return answer({"matches": matches})


@hma_api.get("/m/lookup")
def lookup_get() -> Response:
    """Look up a hash, or the media at a URL, in the banks the coin flip lets in."""
    query = validated(LookupQuery, request.args.to_dict())
    banks = _bank_filter(query.banks)
    if query.url:
        hashed = hash_url(query.url, query.content_type, query.types)
        by_type = _lookup_hashed(
            hashed, banks, query.seed, query.bypass_coinflip, query.content_ref
        )
        if query.signal_type:
            return answer(by_type.get(query.signal_type, {}))
        return answer(by_type)
    if not query.signal or not query.signal_type:
        fail(400, "Either url or both signal and signal_type are required")
    signal = _query_signal(query.signal_type, query.signal)
    coin = _coin(query.seed, query.bypass_coinflip)
    hits = _lookup(signal, query.signal_type, banks, coin)
    _open_case([hits], query.content_ref, f"{query.signal_type}:{signal.value}", None)
    return answer(hits.by_bank)


@hma_api.post("/m/lookup")
def lookup_upload() -> Response:
    """Hash an upload and look it up."""
    args = request.args
    hashed = hash_upload(args.get("types"))
    # HMA reads this one by hand: only the exact text "true" bypasses the flip.
    bypass = args.get("bypass_coinflip") == "true"
    banks = _bank_filter(args.get("banks"))
    return answer(_lookup_hashed(hashed, banks, args.get("seed"), bypass, args.get("content_ref")))


@hma_api.post("/m/compare")
def compare() -> Response:
    """Distances between pairs of hashes, by signal type."""
    body = json_body()
    if not isinstance(body, dict):
        fail(400, "Request input was not a dict")
    registry = services().scanner.registry
    result: dict[str, Any] = {}
    for hma_type, pair in body.items():
        if not isinstance(pair, list):
            fail(400, f"Comparison hashes for {hma_type} was not a list")
        if len(pair) != 2:
            fail(400, "Comparison hash list length must be exactly 2")
        if hma_type not in SIGNAL_TYPES:
            fail(400, f"No such SignalType '{hma_type}'")
        try:
            left, right = (normalize_signal(hma_type, value) for value in pair)
        except SignalInvalid as exc:
            fail(400, f"Invalid {hma_type} hash: {exc}")
        kind = registry.signal_type(SIGNAL_TYPES[hma_type])
        distance = kind.distance(left, right)
        if kind.comparison == "hamming":
            result[hma_type] = [distance <= kind.default_threshold, {"distance": distance}]
        else:
            # HMA fails here (500); an exact type's comparison has no distance to show.
            result[hma_type] = [distance == 0, {}]
    return answer(result)


@hma_api.get("/m/index/status")
def index_status() -> Response:
    """Each signal type's index: whether it is loaded, how far it reaches, its size."""
    statuses = index_statuses(read_session(), request.args.get("signal_type"))
    return answer(
        {
            name: {
                "built_to": status["index_built_to"],
                "present": status["present"],
                "size": status["index_size"],
            }
            for name, status in statuses.items()
        }
    )


def index_statuses(session: Session, only: str | None) -> dict[str, dict[str, Any]]:
    """This process's index and the database, per HMA signal type (`/m/index/status`,
    `/c/signal_type/index`)."""
    if only is not None and only not in SIGNAL_TYPES:
        fail(400, f"No such signal type '{only}'")
    indexes = services().scanner.indexes
    lag = changelog.head(session) - indexes.applied_change_id
    sizes = indexes.status()["indexes"]
    out = {}
    for hma_type, ours in SIGNAL_TYPES.items():
        if only is not None and hma_type != only:
            continue
        count, newest = stored_signals(session, ours)
        newest_ts = int(newest.timestamp()) if newest is not None else -1
        size = sizes.get(ours, {}).get("size", 0)
        out[hma_type] = {
            "db_size": count,
            "newest_db_item": newest_ts,
            "index_size": size,
            "index_built_to": newest_ts if indexes.built and size else -1,
            "index_out_of_date": lag > 0,
            "present": indexes.built,
        }
    return out


# Lookup ------------------------------------------------------------------------------


class _Hits:
    """One signal type's lookup: HMA's answer, and the matches behind it."""

    def __init__(self) -> None:
        self.by_bank: BankHits = {}
        self.matches: list[BankMatch] = []


def _lookup(signal: Signal, hma_type: str, banks: set[str] | None, coin: float) -> _Hits:
    session = read_session()
    matches = services().scanner.indexes.find(session, [signal])
    out = _Hits()
    seen: set[tuple[str, int]] = set()
    grouped: BankHits = defaultdict(list)
    for match in matches:
        if match.matching_ratio < coin or (banks is not None and match.bank not in banks):
            continue
        if (match.bank, match.content_id) in seen:
            continue
        seen.add((match.bank, match.content_id))
        out.matches.append(match)
        grouped[match.bank].append(
            {
                "bank_content_id": match.content_id,
                "distance": distance_text(hma_type, match.distance),
            }
        )
    out.by_bank = dict(grouped)
    return out


def _lookup_hashed(
    hashed: Hashed,
    banks: set[str] | None,
    seed: str | None,
    bypass: bool,
    content_ref: str | None,
) -> dict[str, BankHits]:
    """Each computed signal looked up: signal type -> bank -> hits. Without a seed,
    each signal type draws its own coin, as in HMA."""
    results: dict[str, _Hits] = {}
    for hma_type, value in hashed.signals.items():
        signal = _query_signal(hma_type, value)
        results[hma_type] = _lookup(signal, hma_type, banks, _coin(seed, bypass))
    fallback = ",".join(f"{t}:{v}" for t, v in sorted(hashed.signals.items()))
    _open_case(results.values(), content_ref, fallback, hashed.data)
    return {hma_type: hits.by_bank for hma_type, hits in results.items()}


def _open_case(
    results: Iterable[_Hits], content_ref: str | None, fallback: str, media: bytes | None
) -> None:
    """With `hma_api_opens_cases`, what the lookup returned opens (or joins) a case."""
    found = services()
    if not found.settings.hma_api_opens_cases:
        return
    matches = [m for hits in results for m in hits.matches]
    if not matches:
        return
    session = db_session()
    result = ScanResult(signals=[], matches=matches)
    ref = content_ref or f"hma-lookup:{fallback}"
    found.scanner.record(session, result, ref, {"via": "hma-api"}, media)
    session.commit()


def _query_signal(hma_type: str, value: str) -> Signal:
    if hma_type not in SIGNAL_TYPES:
        fail(400, f"No such SignalType '{hma_type}'")
    try:
        return Signal(type=SIGNAL_TYPES[hma_type], value=normalize_signal(hma_type, value))
    except SignalInvalid as exc:
        fail(400, f"invalid signal: {exc}")


def _bank_filter(text: str | None) -> set[str] | None:
    """HMA's `banks=`: comma-separated exact names; empty means no filter."""
    if not text:
        return None
    return set(text.split(","))


def _coin(seed: str | None, bypass: bool) -> float:
    """The draw a bank's ratio must reach. Seeded as HMA seeds it, so that a seed
    picks the same banks here as there."""
    if bypass:
        return 0.0
    if seed is not None:
        return random.Random(seed).random()
    return random.random()
