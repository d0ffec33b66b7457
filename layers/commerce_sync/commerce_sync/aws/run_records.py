"""A long job's records in the sync-state table, shared by the catalog sync and the history jobs (backfill,
reconciliation): its checkpoint (one item, the JSON document plus the run id and status to query on) and its
summaries (the last one, and one per run kept for SUMMARY_TTL_DAYS). Two jobs sharing a partition keep their
summaries apart by a sort-key prefix (the reconciliation's are `reconcile#summary#…` beside the backfill's)."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

LAST_SUMMARY = "summary#last"
SUMMARY = "summary#"
SUMMARY_TTL_DAYS = 90


class Checkpoint(Protocol):
    # Read-only here, so a checkpoint whose status is a Literal of its own states fits.
    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    updated_at: float

    def model_dump_json(self) -> str: ...


def save_checkpoint(table: Any, pk: str, sk: str, checkpoint: Checkpoint) -> None:
    checkpoint.updated_at = time.time()
    table.put_item(
        Item={
            "pk": pk,
            "sk": sk,
            "run_id": checkpoint.run_id,
            "status": checkpoint.status,
            "doc": checkpoint.model_dump_json(),
        }
    )


def save_summary(table: Any, pk: str, summary: dict[str, Any], prefix: str = "") -> None:
    document = json.dumps(summary, default=str)
    finished = float(summary.get("finished_at") or time.time())
    with table.batch_writer() as writer:
        writer.put_item(Item={"pk": pk, "sk": prefix + LAST_SUMMARY, "doc": document})
        writer.put_item(
            Item={
                "pk": pk,
                "sk": f"{prefix}{SUMMARY}{finished:017.3f}",
                "doc": document,
                "expires_at": int(time.time()) + SUMMARY_TTL_DAYS * 86400,
            }
        )


def last_summary(table: Any, pk: str, consistent: bool = False, prefix: str = "") -> dict[str, Any] | None:
    item = table.get_item(Key={"pk": pk, "sk": prefix + LAST_SUMMARY}, ConsistentRead=consistent).get("Item")
    return json.loads(item["doc"]) if item else None
