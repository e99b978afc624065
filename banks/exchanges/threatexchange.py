"""Meta's ThreatExchange: `threat_updates` of a privacy group (it hosts Lantern).

Wire facts: `GET {base}/{privacy_group}/threat_updates/` with the app token
(`APPID|SECRET`) as `access_token`, `start_time`, `limit` and the fields below;
pages follow `paging.next`, an absolute URL carrying every parameter, and the
last page has none. An update is deleted when `should_delete` is true or it has
no descriptors. Each descriptor is one participant's opinion: its status
(MALICIOUS, NON_MALICIOUS, ...), tags, and others' reactions.

The checkpoint is the newest `last_updated` seen. Deletions are kept upstream
for 90 days only, so a checkpoint not refreshed for 85 days is stale and the
next sync reads everything again (and removes what is gone).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import Field

from banks.egress import origin, shown_url
from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FeedbackItem,
    FetchBatch,
    UpstreamRecord,
)
from core.errors import EgressRefused, ExchangeError, MalformedResponse

FIELDS = "indicator,type,last_updated,should_delete,descriptors{id,reactions,owner{id},tags,status}"
#: Indicator types we can match, and the signal type each becomes.
SIGNAL_TYPES = {
    "HASH_PDQ": "pdq",
    "HASH_MD5": "md5",
    "HASH_VIDEO_MD5": "md5",
    "HASH_SHA256": "sha256",
    "URI": "url",
    "RAW_URI": "url",
    "UNCLICKABLE_URL": "url",
    "TEXT_STRING": "keyword",
}
STALE_AFTER = 85 * 24 * 3600
#: How far past the last good update a sync skips when a page cannot be read.
SKIP_SECONDS = 600
REACTION_FOR = {"positive": "SAW_THIS_TOO", "negative": "DISAGREE_WITH_TAGS"}


class ThreatExchangeConfig(AdapterConfig):
    privacy_group: str = Field(
        pattern=r"^[0-9]+$", description="The numeric id of the privacy group (required)."
    )
    page_size: int = Field(100, ge=1, le=1000, description="Indicators asked for per request.")


class ThreatExchangeCheckpoint(Checkpoint):
    """The newest `last_updated` seen; stale after 85 days (deletions are kept 90)."""

    stale_after: ClassVar[float | None] = STALE_AFTER

    update_time: int | None = None

    def age(self, now: float) -> float | None:
        return None if self.update_time is None else max(0.0, now - self.update_time)


class ThreatExchangeAdapter(ExchangeAdapter):
    type_name = "threatexchange"
    config_type = ThreatExchangeConfig
    checkpoint_type = ThreatExchangeCheckpoint
    default_base_url = "https://graph.facebook.com/v9.0"
    config: ThreatExchangeConfig

    @property
    def app_id(self) -> str:
        return (self.credentials or "").partition("|")[0]

    def _token(self) -> str:
        if not self.credentials or "|" not in self.credentials:
            raise ExchangeError("ThreatExchange credentials must be an app token APPID|SECRET")
        return self.credentials

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        start = checkpoint.update_time if isinstance(checkpoint, ThreatExchangeCheckpoint) else None
        highest = int(start or 0)
        url: str | None = f"{self.base_url}/{self.config.privacy_group}/threat_updates/"
        params: dict[str, Any] | None = {
            "access_token": self._token(),
            "start_time": start,
            "limit": self.config.page_size,
            "fields": FIELDS,
        }
        while url is not None:
            try:
                page = self.http.get_json(url, params=params)
                if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                    raise MalformedResponse("the page has no data list")
            except MalformedResponse as exc:
                # Resume a little past the last good update instead of wedging here.
                highest += SKIP_SECONDS
                yield FetchBatch(
                    checkpoint=self._checkpoint(highest),
                    skipped_pages=1,
                    problems=[f"unreadable page skipped: {exc}"],
                )
                url = f"{self.base_url}/{self.config.privacy_group}/threat_updates/"
                params = {
                    "access_token": self._token(),
                    "start_time": highest,
                    "limit": self.config.page_size,
                    "fields": FIELDS,
                }
                continue
            batch = FetchBatch()
            for update in page["data"]:
                highest = max(highest, self._apply(update, batch))
            batch.checkpoint = self._checkpoint(highest)
            yield batch
            url, params = self._next(page), None

    def _next(self, page: dict[str, Any]) -> str | None:
        """The next page's URL; refused unless on the configured host (it carries the token)."""
        following = (page.get("paging") or {}).get("next")
        if not following:
            return None
        try:
            elsewhere = origin(str(following)) != origin(self.base_url)
        except EgressRefused as exc:
            raise ExchangeError(
                f"ThreatExchange paged to a refused address ({exc}); stopped"
            ) from None
        if elsewhere:
            raise ExchangeError(
                f"ThreatExchange paged to another host ({shown_url(str(following))}); stopped"
            )
        return str(following)

    def _checkpoint(self, highest: int) -> ThreatExchangeCheckpoint:
        return ThreatExchangeCheckpoint(update_time=highest)

    def _apply(self, update: Any, batch: FetchBatch) -> int:
        """Add one update to the batch; its last_updated (0 if unusable)."""
        try:
            kind, indicator = str(update["type"]), str(update["indicator"])
            updated = int(update.get("last_updated") or 0)
        except (KeyError, TypeError, ValueError):
            batch.skipped_records += 1
            batch.problems.append(f"unusable update {str(update)[:120]}")
            return 0
        upstream_id = f"{kind}:{indicator}"
        signal_type = SIGNAL_TYPES.get(kind)
        if signal_type is None:
            batch.skipped_records += 1
            return updated
        descriptors = (
            (update.get("descriptors") or {}).get("data")
            if isinstance(update.get("descriptors"), dict)
            else None
        )
        if update.get("should_delete") or not descriptors:
            batch.deletes.append(upstream_id)
            return updated
        opinions = [_opinion(d) for d in descriptors if isinstance(d, dict)]
        tags = sorted({tag for opinion in opinions for tag in opinion["tags"]})
        positive = any(o["status"] == "MALICIOUS" or "HELPFUL" in o["reactions"] for o in opinions)
        batch.upserts.append(
            UpstreamRecord(
                upstream_id=upstream_id,
                signals=((signal_type, indicator),),
                tags=tuple(tags),
                metadata={
                    "source": "threatexchange",
                    "privacy_group": self.config.privacy_group,
                    "indicator_id": str(update.get("id", "")),
                    "last_updated": updated,
                    "opinions": opinions,
                },
                # Only the participants' own opinions make it a lead: if none says it is
                # malicious, it is kept for the record but never matched.
                enabled=positive,
            )
        )
        return updated

    def send_feedback(self, items: Sequence[FeedbackItem]) -> None:
        """A reaction on every other participant's descriptor of each indicator."""
        token = self._token()
        for item in items:
            reaction = REACTION_FOR[item.verdict]
            for opinion in item.metadata.get("opinions", []):
                if opinion.get("owner") == self.app_id or not opinion.get("descriptor_id"):
                    continue
                answer = self.http.request(
                    "POST",
                    f"{self.base_url}/{opinion['descriptor_id']}/",
                    params={"access_token": token, "reactions": reaction},
                )
                if b'"success": false' in answer.body or b'"success":false' in answer.body:
                    raise ExchangeError(
                        f"ThreatExchange refused the reaction on descriptor"
                        f" {opinion['descriptor_id']}"
                    )


def _opinion(descriptor: dict[str, Any]) -> dict[str, Any]:
    """One participant's descriptor, as kept in the content's metadata."""
    raw_tags = descriptor.get("tags") or []
    if isinstance(raw_tags, dict):
        raw_tags = [t.get("text") for t in raw_tags.get("data", []) if isinstance(t, dict)]
    reactions: dict[str, list[str]] = {}
    for reaction in descriptor.get("reactions") or []:
        if isinstance(reaction, dict) and reaction.get("key"):
            reactions[str(reaction["key"])] = str(reaction.get("value", "")).split(",")
    return {
        "descriptor_id": str(descriptor.get("id", "")),
        "owner": str((descriptor.get("owner") or {}).get("id", "")),
        "status": str(descriptor.get("status", "UNKNOWN")),
        "tags": sorted(str(t) for t in raw_tags if t),
        "reactions": reactions,
    }
