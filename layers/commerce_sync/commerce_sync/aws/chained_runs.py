"""A long job run as a chain of invocations: one store's run reads more than one Lambda invocation can, so each
invocation works a slice of it and hands the rest on. What such a chain needs, in one place (the reconciliation
uses it; docs/history.md, "Chaining"):

- One run of a store's job at a time: a lease lock (aws.sync_lock) taken for the slice and renewed at every
  commit, so an invocation killed outright frees it within one lease. A request while another invocation
  holds it answers `already_running`.
- The checkpoint: one item in the sync-state table (aws.run_records.save_checkpoint), committed after each unit
  of work, from which any invocation resumes. A request that finds the run unfinished resumes it (the job's
  `begin` decides), which is how a killed run goes on; a continuation of a run that has ended or was replaced
  answers `superseded`.
- The continuation: when the slice's time is up, the lock is released, then a message
  `{"action", "store_id", "run_id", "trigger": "continuation"}` goes on the job's queue, whose consumer resumes
  the run. Released first: a continuation that found the lock still held would be dropped as already running.
- A slice's time (`slice_deadline`): until `safety_margin_seconds` before Lambda's deadline, or
  `queue_slice_seconds` when it runs in the queue consumer, so the events waiting behind it are not held up.
  A slice always does one unit of work, so a run moves even when its budget is nil.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

import boto3

from commerce_sync.aws import run_records
from commerce_sync.aws.sync_lock import LockHolder, LockLost, SyncLock, new_token
from commerce_sync.canonical.redaction import redact_emails

CONTINUATION = "continuation"
# SQS's longest DelaySeconds.
MAX_DELAY_SECONDS = 900


class ChainCheckpoint(Protocol):
    # Read-only here, so a checkpoint whose status is a Literal of its own states fits.
    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    updated_at: float
    slices: int
    last_error: str | None
    # The slice that recorded `last_error`: when it is the latest slice, the error is the run's current state.
    failed_slice: int | None

    def model_dump_json(self) -> str: ...


C = TypeVar("C", bound=ChainCheckpoint)
T = TypeVar("T")


def tuning_from_environment(cls: type[T], prefix: str) -> T:
    """A dataclass of numbers, each field overridable by the environment variable `<PREFIX><FIELD>` (upper case), so
    an operator's (or a test's) setting applies to the next invocation."""
    values: dict[str, Any] = {}
    for spec in fields(cls):  # type: ignore[arg-type]
        raw = os.environ.get(f"{prefix}{spec.name.upper()}")
        if raw is not None and raw.strip():
            values[spec.name] = int(raw) if spec.type in ("int", int) else float(raw)
    return cls(**values)


def slice_deadline(remaining_ms: int, safety_margin_seconds: float, slice_seconds: float | None) -> float:
    """The monotonic time after which a slice starts no new unit of work."""
    budget = remaining_ms / 1000 - safety_margin_seconds
    if slice_seconds is not None:
        budget = min(budget, slice_seconds)
    return time.monotonic() + max(budget, 0.0)


@dataclass(frozen=True)
class Next:
    """How a slice ends: the run is finished, or it continues in a fresh invocation after `delay_seconds`, the
    slice answering `status` (`continued`, or the job's word for a pause, such as `waiting`)."""

    finished: bool
    delay_seconds: int = 0
    status: str = "continued"


FINISHED = Next(finished=True)
CONTINUE = Next(finished=False)


def continue_after(seconds: float, status: str = "continued") -> Next:
    return Next(finished=False, delay_seconds=max(0, min(int(seconds), MAX_DELAY_SECONDS)), status=status)


class Continuations:
    """A job's continuation messages on its queue."""

    def __init__(self, action: str, queue_url: str | None, client: Any | None = None) -> None:
        self._action = action
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, run_id: str, delay_seconds: int = 0) -> None:
        if not self._queue_url:
            raise RuntimeError(f"no queue URL (PRODUCT_SYNC_QUEUE_URL): a {self._action} run cannot continue")
        body = {"action": self._action, "store_id": store_id, "run_id": run_id, "trigger": CONTINUATION}
        (self._client or boto3.client("sqs")).send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(body),
            DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
        )


class Link(Generic[C]):
    """One invocation's hold on the run, for its slice: every commit saves the checkpoint and renews the lease
    (LockLost when another invocation took the run over meanwhile)."""

    def __init__(self, chain: Chain[C], token: str) -> None:
        self._chain = chain
        self._token = token

    def commit(self, checkpoint: C) -> None:
        self._chain.save(checkpoint)
        self.renew()

    def renew(self) -> None:
        self._chain.lock.renew(self._token, self._chain.lease_seconds)


class Chain(Generic[C]):
    """One store's job: its checkpoint at (`pk`, `checkpoint_sk`) and its lock at (`pk`, `lock_sk`) in the
    sync-state table (`table`, a boto3 Table resource). `parse` reads a checkpoint back from its JSON. Without
    `continuations` it only reads (an operator's CLI following a run)."""

    def __init__(
        self,
        table: Any,
        pk: str,
        *,
        checkpoint_sk: str,
        lock_sk: str,
        parse: Callable[[str], C],
        lease_seconds: float = 300.0,
        continuations: Continuations | None = None,
    ) -> None:
        self.table = table
        self.pk = pk
        self.checkpoint_sk = checkpoint_sk
        self.lock = SyncLock(table, pk, lock_sk)
        self.lease_seconds = lease_seconds
        self._parse = parse
        self._continuations = continuations

    def load(self) -> C | None:
        item = self.table.get_item(Key={"pk": self.pk, "sk": self.checkpoint_sk}, ConsistentRead=True).get("Item")
        return self._parse(str(item["doc"])) if item else None

    def save(self, checkpoint: C) -> None:
        run_records.save_checkpoint(self.table, self.pk, self.checkpoint_sk, checkpoint)

    def holder(self) -> LockHolder | None:
        """Who runs a slice now (None when nobody does: idle, between two slices, or killed and its lease over)."""
        holder = self.lock.holder()
        return holder if holder is not None and not holder.expired else None

    def run_slice(
        self,
        store_id: str,
        *,
        label: str,
        run_id: str | None,
        begin: Callable[[C | None], C],
        work: Callable[[C, Link[C]], Next],
        finish: Callable[[C], dict[str, Any]],
        progress: Callable[[C], dict[str, Any]],
    ) -> dict[str, Any]:
        """One slice of the store's run. `begin` gets the checkpoint held (None: never ran) and returns the one to
        work on, the same to resume it or a fresh one; `work` works until its deadline, committing as it goes,
        and says how the slice ends; `finish` (still under the lock) writes the run's end and returns its summary;
        `progress` is what a slice that continues answers besides its status. `run_id` is a continuation's: it
        carries on that run only."""
        if self._continuations is None:
            raise RuntimeError("this chain only reads: it was made without continuations")
        token = new_token()
        if not self.lock.acquire(token, self.lease_seconds, label=label):
            held = self.load()
            running = held.run_id if held is not None and held.status == "running" else None
            return {"status": "already_running", "store_id": store_id, "run_id": running}
        step = CONTINUE
        try:
            held = self.load()
            if run_id is not None and (held is None or held.run_id != run_id or held.status != "running"):
                return {"status": "superseded", "store_id": store_id, "run_id": run_id}
            checkpoint = begin(held)
            checkpoint.slices += 1
            link = Link(self, token)
            link.commit(checkpoint)
            try:
                step = work(checkpoint, link)
            except LockLost:
                return {"status": "lock_lost", "store_id": store_id, "run_id": checkpoint.run_id}
            except Exception as error:
                # The run stays resumable: the queue retries the message, or the next request resumes it.
                checkpoint.last_error = redact_emails(f"{type(error).__name__}: {error}")[:500]
                checkpoint.failed_slice = checkpoint.slices
                self.save(checkpoint)
                raise
            if step.finished:
                return finish(checkpoint)
            link.commit(checkpoint)
            result = {**progress(checkpoint), "status": step.status, "store_id": store_id, "run_id": checkpoint.run_id}
        finally:
            self.lock.release(token)
        self._continuations.send(store_id, checkpoint.run_id, step.delay_seconds)
        return result
