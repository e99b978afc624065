"""NCMEC hash sharing (XML over HTTPS, HTTP Basic).

Wire facts: `GET {base}/v2/entries?from=<UTC>&to=<UTC>` answers a `<queryResult>`
with `<images>` and `<videos>` holding `<image>`/`<video>` entries (member,
id, classification, fingerprints) and `<deletedImage>`/`<deletedVideo>`
tombstones; `<paging><next>` is a relative link to the next page. An update is
the same member and id appearing again.

Entries within a time window come in no particular time order, so the only
safe checkpoint is the end of a window whose every page was read: pages in
between carry no checkpoint, and a sync interrupted inside a window reads it
again (upserts make that harmless). Windows are `window_days` long.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FeedbackItem,
    FetchBatch,
    UpstreamRecord,
)
from core.errors import ExchangeError, MalformedResponse

NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Fingerprint elements we can match, and the signal type each becomes.
SIGNAL_TYPES = {"md5": "md5", "pdq": "pdq"}
#: Signal type -> the fingerprint type NCMEC's feedback URLs name.
FEEDBACK_TYPES = {"md5": "MD5", "pdq": "PDQ"}
#: Stay this far behind the present, so entries landing at "now" are not missed.
SETTLE_SECONDS = 5


def _parse_time(text: str) -> float:
    return datetime.strptime(text[:19] + "Z", TIME_FORMAT).replace(tzinfo=UTC).timestamp()


def _format_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(TIME_FORMAT)


class NCMECConfig(AdapterConfig):
    start: str = Field("2000-01-01T00:00:00Z", description="Where the first sync starts (UTC).")
    window_days: int = Field(30, ge=1, description="Days of updates asked for per request.")
    negative_reason: str = Field(
        "",
        description="Reason GUID for negative feedback; empty: the first reason NCMEC offers.",
    )
    only_esp_ids: list[int] = Field(
        default_factory=list,
        description="Keep only entries of these member (ESP) ids; empty: every member's.",
    )

    @field_validator("start")
    @classmethod
    def _utc_time(cls, value: str) -> str:
        try:
            _parse_time(value)
        except ValueError:
            raise ValueError("start must be a UTC time like 2020-01-01T00:00:00Z") from None
        return value


class NCMECCheckpoint(Checkpoint):
    """The end of the last time window read in full (UTC, as NCMEC writes times)."""

    window_end: str = Field(alias="from")

    def age(self, now: float) -> float | None:
        return max(0.0, now - _parse_time(self.window_end))


class NCMECAdapter(ExchangeAdapter):
    type_name = "ncmec"
    config_type = NCMECConfig
    checkpoint_type = NCMECCheckpoint
    default_base_url = "https://report.cybertip.org/hashsharing"
    config: NCMECConfig

    def _auth(self) -> tuple[str, str]:
        user, colon, password = (self.credentials or "").partition(":")
        if not colon:
            raise ExchangeError("NCMEC credentials must be user:password")
        return user, password

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        begin = _parse_time(
            checkpoint.window_end if isinstance(checkpoint, NCMECCheckpoint) else self.config.start
        )
        end = time.time() - SETTLE_SECONDS
        window = self.config.window_days * 86400
        while begin < end:
            until = min(begin + window, end)
            yield from self._window(begin, until)
            begin = until

    def _window(self, begin: float, until: float) -> Iterator[FetchBatch]:
        done = NCMECCheckpoint(window_end=_format_time(until))
        url: str | None = f"{self.base_url}/v2/entries"
        params: dict[str, Any] | None = {"from": _format_time(begin), "to": _format_time(until)}
        while url is not None:
            try:
                root = self.http.get_xml(url, params=params, auth=self._auth())
                if root.tag != "queryResult":
                    raise MalformedResponse(f"expected <queryResult>, got <{root.tag}>")
            except MalformedResponse as exc:
                # The rest of this window cannot be reached; move on rather than wedge.
                yield FetchBatch(
                    checkpoint=done,
                    skipped_pages=1,
                    problems=[f"unreadable page, rest of window skipped: {exc}"],
                )
                return
            batch = self._page(root)
            following = root.findtext("paging/next")
            url = f"{self.base_url}{following}" if following else None
            params = None
            if url is None:
                batch.checkpoint = done
            yield batch

    def _page(self, root: ElementTree.Element) -> FetchBatch:
        batch = FetchBatch()
        for section in ("images", "videos"):
            for entry in root.findall(section + "/*"):
                member_id = entry.find("member")
                entry_id = entry.findtext("id")
                if member_id is None or not entry_id or not member_id.get("id"):
                    batch.skipped_records += 1
                    batch.problems.append(f"entry without member or id in <{section}>")
                    continue
                upstream_id = f"{member_id.get('id')}-{entry_id}"
                if not self._wanted_member(member_id.get("id", "")):
                    continue
                if entry.tag.startswith("deleted"):
                    batch.deletes.append(upstream_id)
                    continue
                signals = tuple(
                    (SIGNAL_TYPES[f.tag], (f.text or "").strip())
                    for f in entry.findall("fingerprints/*")
                    if f.tag in SIGNAL_TYPES and (f.text or "").strip()
                )
                if not signals:
                    batch.skipped_records += 1  # only fingerprints we cannot match
                    continue
                classification = (entry.findtext("classification") or "").strip()
                batch.upserts.append(
                    UpstreamRecord(
                        upstream_id=upstream_id,
                        signals=signals,
                        tags=(classification.lower(),) if classification else (),
                        metadata={
                            "source": "ncmec",
                            "member_id": member_id.get("id"),
                            "member": (member_id.text or "").strip(),
                            "entry_id": entry_id,
                            "media": entry.tag,
                            "classification": classification or None,
                            "timestamp": entry.findtext("timestamp"),
                        },
                    )
                )
        return batch

    def _wanted_member(self, member: str) -> bool:
        wanted = self.config.only_esp_ids
        return not wanted or member in {str(esp) for esp in wanted}

    def send_feedback(self, items: Sequence[FeedbackItem]) -> None:
        """Up- or down-votes per fingerprint: PUT .../entries/{member}/{id}/{TYPE}/feedback."""
        auth = self._auth()
        for item in items:
            member, entry = item.metadata.get("member_id"), item.metadata.get("entry_id")
            if not member or not entry:
                raise ExchangeError(f"feedback for {item.upstream_id} lacks NCMEC ids")
            for signal_type, _ in item.signals:
                kind = FEEDBACK_TYPES.get(signal_type)
                if kind is None:
                    continue
                body = self._feedback_body(item.verdict, kind, auth)
                self.http.request(
                    "PUT",
                    f"{self.base_url}/v2/entries/{member}/{entry}/{kind}/feedback",
                    body=body,
                    auth=auth,
                    headers={"Content-Type": "application/xml; charset=utf-8"},
                )

    def _feedback_body(self, verdict: str, kind: str, auth: tuple[str, str]) -> bytes:
        root = ElementTree.Element("feedbackSubmission", xmlns=NAMESPACE)
        if verdict == "positive":
            ElementTree.SubElement(root, "affirmative")
        else:
            reasons = ElementTree.SubElement(ElementTree.SubElement(root, "negative"), "reasonIds")
            ElementTree.SubElement(reasons, "guid").text = self._reason(kind, auth)
        return ElementTree.tostring(root)

    def _reason(self, kind: str, auth: tuple[str, str]) -> str:
        if self.config.negative_reason:
            return self.config.negative_reason
        root = self.http.get_xml(f"{self.base_url}/v2/feedback/{kind}/reasons", auth=auth)
        for reason in root.iter("reason"):
            if reason.get("guid"):
                return str(reason.get("guid"))
        raise ExchangeError(
            f"NCMEC offers no reason for negative {kind} feedback; set negative_reason=<GUID>"
        )
