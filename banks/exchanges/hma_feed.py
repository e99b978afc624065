"""Following a bank that another instance of this project publishes.

The publishing instance serves its bank's change log to tokens of role
`exchange`: `GET /api/v1/exchange/banks/<bank>/changes?after=<cursor>` answers
`{"changes": [...], "next_after": <cursor>, "has_more": bool}`, each change an
upsert or a delete of one signal (see hma/web/api/exchange_feed.py). The
cursor is the checkpoint; the log is never pruned, so it never goes stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from pydantic import Field

from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FetchBatch,
    UpstreamRecord,
)
from core.errors import MalformedResponse


class FeedConfig(AdapterConfig):
    bank: str = Field(
        min_length=1, description="The published bank's name on the other instance (required)."
    )
    page_size: int = Field(1000, ge=1, le=10_000, description="Records asked for per request.")


class FeedCheckpoint(Checkpoint):
    """The last change read of the published bank's log (never pruned: never stale)."""

    after: int = 0


class HMAFeedAdapter(ExchangeAdapter):
    type_name = "hma"
    config_type = FeedConfig
    checkpoint_type = FeedCheckpoint
    config: FeedConfig

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        after = checkpoint.after if isinstance(checkpoint, FeedCheckpoint) else 0
        url = f"{self.base_url}/api/v1/exchange/banks/{quote(self.config.bank, safe='')}/changes"
        headers = {"Authorization": f"Bearer {self.credentials}"}
        while True:
            params = {"after": after, "limit": self.config.page_size}
            try:
                page = self.http.get_json(url, params=params, headers=headers)
                batch, after, more = self._page(page)
            except MalformedResponse as exc:
                # Skip the unreadable stretch rather than wedge on it.
                after += self.config.page_size
                yield FetchBatch(
                    checkpoint=FeedCheckpoint(after=after),
                    skipped_pages=1,
                    problems=[f"page after {params['after']} skipped: {exc}"],
                )
                continue
            batch.checkpoint = FeedCheckpoint(after=after)
            yield batch
            if not more:
                return

    def _page(self, page: Any) -> tuple[FetchBatch, int, bool]:
        if not isinstance(page, dict) or not isinstance(page.get("changes"), list):
            raise MalformedResponse("the feed page has no list of changes")
        try:
            next_after, more = int(page["next_after"]), bool(page.get("has_more"))
        except (KeyError, TypeError, ValueError):
            raise MalformedResponse("the feed page has no next_after cursor") from None
        batch = FetchBatch()
        for change in page["changes"]:
            try:
                upstream_id = str(int(change["signal_id"]))
                if change["op"] == "delete":
                    batch.deletes.append(upstream_id)
                    continue
                batch.upserts.append(
                    UpstreamRecord(
                        upstream_id=upstream_id,
                        signals=((str(change["signal_type"]), str(change["value"])),),
                        tags=tuple(str(tag) for tag in change.get("tags") or ()),
                        metadata={
                            "source": "hma",
                            "source_bank": self.config.bank,
                            "source_content_id": change.get("content_id"),
                        },
                    )
                )
            except (KeyError, TypeError, ValueError):
                batch.skipped_records += 1
                batch.problems.append(f"unusable change {str(change)[:120]}")
        return batch, next_after, more
