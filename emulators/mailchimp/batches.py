"""`/batches`: asynchronous batch operations and the downloadable tar.gz of their results.

`POST /batches` stores the batch as `pending` and queues it. Each account has its own runner, whose one
worker thread runs that account's batches one at a time (as Mailchimp does): the status becomes `started`,
each operation goes through the account's dispatcher as an HTTP request would (routing, JSON parsing, schema
validation, rules; not auth, the concurrency limit or faults), then the status becomes `finished`.
`errored_operations` counts operations that answered 400 or more.

Finished batches carry a `response_body_url` on the emulator's own host. It serves a gzipped tar of JSON
files (`results_per_file` operations each), every file an array of
`{"status_code", "operation_id", "response"}` where `response` is the JSON text of the answer ("" for 204).
Each `GET /batches/{id}` issues a fresh URL, valid for `url_ttl_s` seconds (10 minutes by default).
"""

from __future__ import annotations

import io
import json
import logging
import queue
import secrets
import tarfile
import threading
import time
from collections.abc import Callable
from typing import Any

from .context import Call, Route
from .paging import page
from .problems import ApiProblem, not_found
from .state import Batch, BatchResult, EmulatorState, JsonDict, now_iso

logger = logging.getLogger(__name__)

BATCHES = "/batches"
BATCH = "/batches/{batch_id}"
MAX_PENDING = 500

# Runs one operation `{method, path, params, body, operation_id}` and returns its result.
OperationRunner = Callable[[JsonDict], BatchResult]


def build_archive(batch: Batch, results_per_file: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        chunks = [batch.results[i : i + results_per_file] for i in range(0, len(batch.results), results_per_file)]
        for number, chunk in enumerate(chunks or [[]]):
            data = json.dumps([result.to_json() for result in chunk]).encode("utf-8")
            info = tarfile.TarInfo(f"{batch.id}-{number:04d}.json")
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class BatchRunner:
    def __init__(
        self,
        state: EmulatorState,
        run_operation: OperationRunner,
        url_root: Callable[[], str],
        *,
        start_delay_s: float = 0.0,
        op_delay_s: float = 0.0,
        results_per_file: int = 1,
        url_ttl_s: float = 600.0,
        name: str = "mailchimp-emulator-batches",
    ) -> None:
        self.state = state
        self.name = name
        self.run_operation = run_operation
        self.url_root = url_root
        self.start_delay_s = start_delay_s
        self.op_delay_s = op_delay_s
        self.results_per_file = max(1, results_per_file)
        self.url_ttl_s = url_ttl_s
        # Mailchimp runs a batch's operations in no guaranteed order; tests set this to run them in another
        # order than submitted (batch_faults.shuffle_batch_operations). None keeps the submitted order.
        self.reorder: Callable[[list[JsonDict]], list[JsonDict]] | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._outstanding = 0
        self._outstanding_changed = threading.Condition()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, batch_id: str) -> None:
        with self._outstanding_changed:
            self._outstanding += 1
        self._queue.put(batch_id)

    def wait_idle(self, timeout: float) -> bool:
        """True once every submitted batch has finished (or was deleted)."""
        with self._outstanding_changed:
            return self._outstanding_changed.wait_for(lambda: self._outstanding == 0, timeout)

    def _work(self) -> None:
        while True:
            batch_id = self._queue.get()
            if batch_id is None:
                return
            try:
                self._run(batch_id)
            except Exception:
                logger.exception("batch worker failed")
            finally:
                with self._outstanding_changed:
                    self._outstanding -= 1
                    self._outstanding_changed.notify_all()

    def _current(self, batch: Batch) -> bool:
        return not batch.cancelled and self.state.batches.get(batch.id) is batch

    def _run(self, batch_id: str) -> None:
        if self.start_delay_s:
            time.sleep(self.start_delay_s)
        with self.state.lock:
            batch = self.state.batches.get(batch_id)
            if batch is None or batch.cancelled:
                return
            batch.status = "started"
            operations = list(batch.operations)
        if self.reorder is not None:
            operations = self.reorder(operations)
        for operation in operations:
            with self.state.lock:
                if not self._current(batch):
                    return
            result = self.run_operation(operation)
            with self.state.lock:
                batch.results.append(result)
                batch.finished_operations += 1
                if result.status_code >= 400:
                    batch.errored_operations += 1
            if self.op_delay_s:
                time.sleep(self.op_delay_s)
        with self.state.lock:
            batch.archive = build_archive(batch, self.results_per_file)
            batch.completed_at = now_iso()
            batch.status = "finished"

    def issue_url(self, batch: Batch) -> str:
        """A fresh, short-lived download URL for a finished batch's results ("" before that)."""
        if batch.status != "finished" or batch.archive is None:
            return ""
        moment = time.monotonic()
        for token, expiry in list(batch.url_tokens.items()):
            if expiry < moment:
                del batch.url_tokens[token]
        token = secrets.token_urlsafe(16)
        batch.url_tokens[token] = moment + self.url_ttl_s
        return f"{self.url_root()}/_emulator/batch-results/{batch.id}-response.tar.gz?token={token}"

    def archive_for(self, batch_id: str, token: str) -> tuple[int, bytes | None]:
        """(200, bytes), (403, None) for an expired or unknown token, or (404, None)."""
        with self.state.lock:
            batch = self.state.batches.get(batch_id)
            if batch is None or batch.archive is None:
                return 404, None
            expiry = batch.url_tokens.get(token)
            if expiry is None or expiry < time.monotonic():
                return 403, None
            return 200, batch.archive


def _runner(call: Call) -> BatchRunner:
    runner = call.env.batches
    if runner is None:
        raise ApiProblem(503, "Service Unavailable", "Batch operations are not available.")
    return runner


def batch_view(runner: BatchRunner, batch: Batch) -> JsonDict:
    return {
        "id": batch.id,
        "status": batch.status,
        "total_operations": batch.total_operations,
        "finished_operations": batch.finished_operations,
        "errored_operations": batch.errored_operations,
        "submitted_at": batch.submitted_at,
        "completed_at": batch.completed_at,
        "response_body_url": runner.issue_url(batch),
    }


def post_batch(call: Call) -> Any:
    runner = _runner(call)
    pending = sum(1 for batch in call.state.batches.values() if batch.status == "pending")
    if pending >= MAX_PENDING:
        raise ApiProblem(429, "Too Many Requests", f"You have more than {MAX_PENDING} pending batches.")
    batch = Batch(id=secrets.token_hex(5), operations=list(call.json["operations"]), submitted_at=now_iso())
    call.state.batches[batch.id] = batch
    runner.submit(batch.id)
    return batch_view(runner, batch)


def list_batches(call: Call) -> Any:
    runner = _runner(call)
    return page(call.query, "batches", [batch_view(runner, batch) for batch in call.state.batches.values()])


def get_batch(call: Call) -> Any:
    batch = call.state.batches.get(call.args["batch_id"])
    if batch is None:
        raise not_found()
    return batch_view(_runner(call), batch)


def delete_batch(call: Call) -> Any:
    batch = call.state.batches.pop(call.args["batch_id"], None)
    if batch is None:
        raise not_found()
    batch.cancelled = True
    return None


ROUTES = [
    Route("GET", BATCHES, list_batches),
    Route("POST", BATCHES, post_batch),
    Route("GET", BATCH, get_batch),
    Route("DELETE", BATCH, delete_batch),
]
