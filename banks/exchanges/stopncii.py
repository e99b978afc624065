"""StopNCII (JSON over HTTPS, API keys in headers).

Wire facts: `GET {base}/FetchHashes?startTimestamp=&pageSize=&nextPageToken=`
with headers `Ocp-Apim-Subscription-Key` and `x-functions-key` answers
`{hashRecords: [...], hasMoreRecords, nextPageToken, nextSetTimestamp}`. A
record's `hashStatus` of Withdrawn or Deleted withdraws it (the person who
submitted it asked for that, which is what the program promises them).
`nextSetTimestamp` is the checkpoint; one older than 30 days is stale.

Credentials: `subscription_key:fetch_key[:feedback_key]`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import Field

from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FeedbackItem,
    FetchBatch,
    UpstreamRecord,
)
from core.errors import ExchangeError, MalformedResponse

SIGNAL_TYPES = {"ImagePDQ": "pdq", "VideoMD5": "md5", "URL": "url", "Text": "keyword"}
WITHDRAWN = frozenset({"Withdrawn", "Deleted"})
STALE_AFTER = 30 * 24 * 3600
SKIP_SECONDS = 600
FEEDBACK_VALUE = {"positive": "Blocked", "negative": "NotBlocked"}


class StopNCIIConfig(AdapterConfig):
    page_size: int = Field(800, ge=1, le=5000, description="Hashes asked for per request.")


class StopNCIICheckpoint(Checkpoint):
    """StopNCII's `nextSetTimestamp`; stale after 30 days, as deletions expire upstream."""

    stale_after: ClassVar[float | None] = STALE_AFTER

    start: int = 0

    def age(self, now: float) -> float | None:
        return max(0.0, now - self.start)


class StopNCIIAdapter(ExchangeAdapter):
    type_name = "stopncii"
    config_type = StopNCIIConfig
    checkpoint_type = StopNCIICheckpoint
    default_base_url = "https://api.stopncii.org/v1"
    config: StopNCIIConfig

    def _keys(self) -> list[str]:
        keys = (self.credentials or "").split(":")
        if len(keys) < 2 or not all(keys[:2]):
            raise ExchangeError(
                "StopNCII credentials must be subscription_key:fetch_key[:feedback_key]"
            )
        return keys

    def _headers(self, function_key: str) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self._keys()[0], "x-functions-key": function_key}

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        start = checkpoint.start if isinstance(checkpoint, StopNCIICheckpoint) else 0
        token: str | None = None
        headers = self._headers(self._keys()[1])
        while True:
            params = {
                "startTimestamp": start,
                "pageSize": self.config.page_size,
                "nextPageToken": token,
            }
            try:
                page = self.http.get_json(
                    f"{self.base_url}/FetchHashes", params=params, headers=headers
                )
                if not isinstance(page, dict) or not isinstance(page.get("hashRecords"), list):
                    raise MalformedResponse("the page has no hashRecords list")
                following = int(page["nextSetTimestamp"])
            except (MalformedResponse, KeyError, TypeError, ValueError) as exc:
                start, token = start + SKIP_SECONDS, None
                yield FetchBatch(
                    checkpoint=self._checkpoint(start),
                    skipped_pages=1,
                    problems=[f"unreadable page skipped: {exc}"],
                )
                if start > time.time():
                    return
                continue
            batch = FetchBatch(checkpoint=self._checkpoint(following))
            for record in page["hashRecords"]:
                self._apply(record, batch)
            yield batch
            if not page.get("hasMoreRecords"):
                return
            token = page.get("nextPageToken")
            if not token:
                start, token = following, None

    @staticmethod
    def _checkpoint(start: int) -> StopNCIICheckpoint:
        return StopNCIICheckpoint(start=start)

    def _apply(self, record: Any, batch: FetchBatch) -> None:
        try:
            kind, value = str(record["signalType"]), str(record["hashValue"])
            status = str(record.get("hashStatus", "Unknown"))
        except (KeyError, TypeError):
            batch.skipped_records += 1
            batch.problems.append(f"unusable record {str(record)[:120]}")
            return
        upstream_id = f"{kind}:{value}"
        signal_type = SIGNAL_TYPES.get(kind)
        if signal_type is None:
            batch.skipped_records += 1
            return
        if status in WITHDRAWN:
            batch.deletes.append(upstream_id)
            return
        feedbacks = [f for f in record.get("CSPFeedbacks") or [] if isinstance(f, dict)]
        tags = sorted({str(t) for f in feedbacks for t in f.get("tags") or []})
        cases = record.get("caseNumbers")
        batch.upserts.append(
            UpstreamRecord(
                upstream_id=upstream_id,
                signals=((signal_type, value),),
                tags=tuple(tags),
                metadata={
                    "source": "stopncii",
                    "hash_status": status,
                    # Case ids identify the people who asked for help: only their number is kept.
                    "cases": len(cases) if isinstance(cases, dict | list) else 0,
                    "feedbacks": [
                        {
                            "source": str(f.get("source", "")),
                            "value": str(f.get("feedbackValue", "")),
                            "tags": [str(t) for t in f.get("tags") or []],
                        }
                        for f in feedbacks
                    ],
                    "last_modified": record.get("lastModtimestamp"),
                },
            )
        )

    def send_feedback(self, items: Sequence[FeedbackItem]) -> None:
        keys = self._keys()
        if len(keys) < 3 or not keys[2]:
            raise ExchangeError(
                "StopNCII feedback needs a feedback function key:"
                " credentials subscription_key:fetch_key:feedback_key"
            )
        # Feedback names the record as StopNCII spelled it (the upstream id's value),
        # not as it is stored here: a URL's canonical form is not theirs.
        entries = [
            {
                "hashValue": item.upstream_id.partition(":")[2],
                "feedbackValue": FEEDBACK_VALUE[item.verdict],
                "tags": list(item.metadata.get("review_tags", [])),
            }
            for item in items
        ]
        body = json.dumps({"count": len(entries), "hashFeedbacks": entries}).encode()
        self.http.request(
            "POST",
            f"{self.base_url}/SubmitFeedback",
            body=body,
            headers=self._headers(keys[2]) | {"Content-Type": "application/json"},
        )
