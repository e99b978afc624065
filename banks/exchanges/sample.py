"""`sample`: an exchange that lives nowhere and serves the signal types' examples.

For demonstrations, first steps and tests: an operator can follow an
exchange, see a bank fill and a lookup match without credentials, a network
or a peer. HMA has a type of the same name for the same purpose, so clients
of its API (and its own tests) can create one.

Each example is one item, `<type>:<n>`; the whole set comes in one batch,
every sync, so a removed example would be found gone by absence.
"""

from __future__ import annotations

from collections.abc import Iterator

from banks.exchanges.base import Checkpoint, ExchangeAdapter, FetchBatch, UpstreamRecord
from hashers.registry import BUILT_IN_TYPES

#: The tag every sample item carries, so that no one takes it for real content.
SAMPLE_TAG = "sample"


class SampleAdapter(ExchangeAdapter):
    type_name = "sample"
    #: Nowhere: the signals are built in, and nothing is ever requested.
    default_base_url = ""
    needs_credentials = False

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        records = [
            UpstreamRecord(
                upstream_id=f"{signal_type.name}:{number}",
                signals=((signal_type.name, example),),
                tags=(SAMPLE_TAG,),
                metadata={"source": "the sample exchange's built-in examples"},
            )
            for signal_type in BUILT_IN_TYPES.values()
            for number, example in enumerate(signal_type.examples, 1)
        ]
        yield FetchBatch(upserts=records)

    def always_full(self) -> bool:
        return True
