"""`commerce-sync sync-catalog` and `sync-products` (run the catalog sync now) and `commerce-sync catalog-status`.

sync-catalog runs the product_sync function itself, as Lambda would, for the parts it is given (`--what`:
products, promotions; both by default, as the nightly run); sync-products is `sync-catalog --what products`,
what it always did:
- locally (the default; settings from `--env-file .local/runner.env`): the function's handler is loaded
  from template.yaml's CodeUri and invoked in this process with a Lambda-like context, one store at a
  time, against the same AWS endpoint and Mailchimp the local runner uses. A run that nears the time
  limit continues through the product queue, which the running `commerce-sync-local` consumes.
- deployed (`--stack NAME`, or PRODUCT_SYNC_FUNCTION_NAME set): the function is invoked asynchronously
  (Event) per store; `--wait` then follows the run's checkpoint until it finishes.
Progress (phase, pages, products seen) is read from the run's checkpoint while it works.

catalog-status reads what the runs left in the sync-state table: the last run's summary, the run in
progress (or interrupted) with its checkpoint, who holds the run lock, and batches still in flight.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from commerce_sync.aws.observability import logger
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.aws.sync_lock import SyncLock
from commerce_sync.catalog.checkpoints import CATALOG_PARTS
from commerce_sync.catalog.state import LOCK, CatalogState, partition

from operator_cli.terminal import ProgressBars, columns, print_json, print_table

FUNCTION_LOGICAL_ID = "ProductSyncFunction"
FUNCTION_NAME_OUTPUT = "ProductSyncFunctionName"
FUNCTION_NAME_VARIABLE = "PRODUCT_SYNC_FUNCTION_NAME"
PROGRESS_INTERVAL_SECONDS = 2.0


def catalog_state(settings: Settings | None = None) -> CatalogState:
    return CatalogState((settings or Settings.from_environment()).sync_state_table, boto3.resource("dynamodb"))


def parse_parts(value: str) -> list[str]:
    """`--what`: a comma-separated subset of products, promotions (argparse answers exit 2 with the reason)."""
    parts = [part.strip().lower() for part in value.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(CATALOG_PARTS))
    if not parts or unknown:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing'} is not a part of the catalog; give {' or '.join(CATALOG_PARTS)}, "
            "comma-separated"
        )
    return [part for part in CATALOG_PARTS if part in parts]


def stores_to_sync(store_id: str | None) -> list[Store]:
    registry = StoreRegistry(Settings.from_environment().stores_table)
    if store_id:
        store = registry.get(store_id)
        if store is None:
            raise SystemExit(
                f"commerce-sync: error: no store {store_id} is registered (`commerce-sync stores list` lists them)"
            )
        return [store]
    return [store for store in registry.list() if store.active]


def deployed_function_name(stack: str | None) -> str | None:
    if os.environ.get(FUNCTION_NAME_VARIABLE):
        return os.environ[FUNCTION_NAME_VARIABLE]
    if not stack:
        return None
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == FUNCTION_NAME_OUTPUT), None)


def local_invoker() -> Callable[[dict[str, Any]], Any]:
    """The product_sync handler, loaded and invoked as the local runner does (one warm container)."""
    from local_runner.functions import LocalFunction
    from local_runner.runner import DEFAULT_TEMPLATE, PROJECT_ROOT
    from local_runner.template import Template

    spec = next(s for s in Template(DEFAULT_TEMPLATE).functions() if s.logical_id == FUNCTION_LOGICAL_ID)
    environment = {
        "POWERTOOLS_SERVICE_NAME": "product_sync",
        "PRODUCT_SYNC_QUEUE_URL": os.environ.get("PRODUCT_SYNC_QUEUE_URL", ""),
        "DEAD_LETTER_QUEUE_URL": os.environ.get("PRODUCT_SYNC_DEAD_LETTER_QUEUE_URL", ""),
        "MAX_RECEIVE_COUNT": os.environ.get("MAX_RECEIVE_COUNT", "5"),
    }
    return LocalFunction(spec, PROJECT_ROOT, environment).invoke


@contextmanager
def function_output_to(stream: TextIO) -> Iterator[None]:
    """The locally invoked function's log lines (and any print) go to `stream`, so stdout holds only the command's
    result (`--json` is read by scripts)."""
    handlers = [h for h in logging.getLogger(logger.service).handlers if isinstance(h, logging.StreamHandler)]
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        with redirect_stdout(stream):
            yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


class ProgressPrinter:
    """Shows a store's run progress from its checkpoint while the run works (in another thread): a bar on a
    terminal, else a line whenever it moves."""

    def __init__(self, state: CatalogState, store_id: str, out: TextIO | None = None) -> None:
        self._state = state
        self._store_id = store_id
        self._bars = ProgressBars(out or sys.stderr)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._last = ""

    def __enter__(self) -> ProgressPrinter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._bars.close()

    def _watch(self) -> None:
        while not self._stop.wait(PROGRESS_INTERVAL_SECONDS):
            try:
                checkpoint = self._state.load_run(self._store_id)
            except Exception:
                continue
            if checkpoint is None or checkpoint.status != "running":
                continue
            counters = checkpoint.counters
            total = f"/{checkpoint.total}" if checkpoint.total else ""
            written = counters.created + counters.updated + counters.removed
            line = (
                f"{self._store_id}: {checkpoint.phase}, {checkpoint.pages} pages, {counters.seen}{total} seen, "
                f"{written} written"
            )
            key, done, of, detail = "products", counters.seen, checkpoint.total or None, f"{written} written"
            promotions = checkpoint.promotions
            if checkpoint.phase == "promotions" and promotions is not None:
                done_counters = promotions.counters
                written = _written(done_counters.model_dump())
                line = (
                    f"{self._store_id}: promotions ({promotions.phase}), {done_counters.rules_seen} rules and "
                    f"{done_counters.codes_seen} codes seen, {written} written"
                )
                key, done, of = "promotions", done_counters.rules_seen + done_counters.codes_seen, None
                detail = f"{written} written"
            if line != self._last:
                self._bars.update(key, line, f"{self._store_id} {key}", done, of, detail)
                self._last = line


def sync_products(
    store_id: str | None,
    stack: str | None,
    wait: bool,
    out: TextIO | None = None,
    what: list[str] | None = None,
    as_json: bool = False,
) -> int:
    """The catalog sync of one store or every active one: `what` (products, promotions) or both. With `as_json`,
    one document with each store's outcome goes to `out`, and what happens on the way to stderr."""
    out = out or sys.stdout
    said = sys.stderr if as_json else out
    stores = stores_to_sync(store_id)
    results: list[dict[str, Any]] = []
    if not stores:
        print("no active store to sync", file=sys.stderr if as_json else out)
    state = catalog_state() if stores else None
    function_name = deployed_function_name(stack) if stores else None
    failures = 0
    invoke = None if function_name or not stores else local_invoker()
    for store in stores:
        assert state is not None
        event: dict[str, Any] = {"action": "catalog_sync", "store_id": store.store_id, "trigger": "cli"}
        if what:
            event["what"] = list(what)
        if function_name:
            started = time.time()
            boto3.client("lambda").invoke(
                FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
            )
            print(f"{store.store_id}: catalog sync started in {function_name}", file=said)
            result: dict[str, Any] = {"status": "started", "function": function_name}
            if wait:
                result = _wait_for_run(state, store.store_id, started, said)
                failures += result["status"] == "failed"
            results.append({"store_id": store.store_id, **result})
            continue
        assert invoke is not None
        with ProgressPrinter(state, store.store_id), function_output_to(sys.stderr) if as_json else nullcontext():
            try:
                result = invoke(event)
            except Exception as error:
                print(f"{store.store_id}: failed: {type(error).__name__}: {error}", file=said)
                results.append(
                    {"store_id": store.store_id, "status": "failed", "reason": f"{type(error).__name__}: {error}"}
                )
                failures += 1
                continue
        if not as_json:
            print(f"{store.store_id}: {describe(result)}", file=out)
        results.append({"store_id": store.store_id, **result})
        failures += result.get("status") not in ("done", "continued", "already_running", "skipped")
    if as_json:
        print_json(results, out)
    return 1 if failures else 0


def _wait_for_run(state: CatalogState, store_id: str, started: float, out: TextIO) -> dict[str, Any]:
    """Follows a deployed run to its end: its summary (status done), or its failure (status failed)."""
    with ProgressPrinter(state, store_id):
        while True:
            time.sleep(PROGRESS_INTERVAL_SECONDS)
            summary = state.last_summary(store_id)
            if summary and float(summary.get("finished_at") or 0) >= started:
                print(f"{store_id}: {describe({'status': 'done', **summary})}", file=out)
                return {"status": "done", **summary}
            checkpoint = state.load_run(store_id)
            if checkpoint and checkpoint.last_error and checkpoint.updated_at >= started:
                print(f"{store_id}: failed: {checkpoint.last_error}", file=out)
                return {"status": "failed", "reason": checkpoint.last_error}


def _written(counters: dict[str, Any]) -> int:
    return sum(
        int(counters.get(f"{target}_{kind}", 0))
        for target in ("rules", "codes")
        for kind in ("created", "updated", "deleted")
    )


def _promotions_line(promotions: dict[str, Any]) -> str:
    if promotions.get("phase") == "skipped":
        return f"promotions skipped: {promotions.get('reason')}"
    parts = []
    for target in ("rules", "codes"):
        parts.append(
            f"{target} {promotions.get(f'{target}_seen', 0)} seen, {promotions.get(f'{target}_unchanged', 0)} "
            f"unchanged, {promotions.get(f'{target}_created', 0)} created, {promotions.get(f'{target}_updated', 0)} "
            f"updated, {promotions.get(f'{target}_deleted', 0)} deleted, {promotions.get(f'{target}_failed', 0)} failed"
        )
    skipped = promotions.get("rules_skipped", 0) + promotions.get("codes_skipped", 0)
    line = "promotions: " + "; ".join(parts)
    if skipped:
        line += f"; {skipped} left out (" + "; ".join(promotions.get("skipped") or []) + ")"
    return line


def describe(result: dict[str, Any]) -> str:
    status = result.get("status")
    if status == "done":
        what = result.get("what") or ["products"]
        lines = []
        if "products" in what:
            lines.append(
                f"{result.get('seen', 0)} seen, {result.get('unchanged', 0)} unchanged, {result.get('created', 0)} "
                f"created, {result.get('updated', 0)} updated, {result.get('removed', 0)} removed, "
                f"{result.get('failed', 0)} failed"
            )
        if result.get("promotions"):
            lines.append(_promotions_line(result["promotions"]))
        return (
            f"done in {result.get('duration_seconds', 0):.1f}s: "
            + "\n  ".join(lines)
            + f" ({result.get('mailchimp_requests', 0)} Mailchimp requests)"
        )
    if status == "continued":
        return f"continues through the product queue (phase {result.get('phase')}, {result.get('pages')} pages)"
    if status == "already_running":
        return "a run for this store is already in progress"
    return f"{status}: {result.get('reason', '')}".rstrip(": ")


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_of(state: CatalogState, store: Store) -> dict[str, Any]:
    checkpoint = state.load_run(store.store_id)
    holder = SyncLock(state.table, partition(store.store_id), LOCK).holder()
    return {
        "store_id": store.store_id,
        "platform": store.platform,
        "last_run": state.last_summary(store.store_id),
        "current_run": checkpoint.summary() | {"cursor": checkpoint.cursor} if checkpoint else None,
        "lock": None
        if holder is None or holder.expired
        else {"held_since": holder.acquired_at, "lease_until": holder.lease_until, "by": holder.label},
        "batches_in_flight": len(state.open_batches(store.store_id)),
    }


def catalog_status(store_id: str | None, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    stores = stores_to_sync(store_id) if store_id else StoreRegistry(Settings.from_environment().stores_table).list()
    state = catalog_state()
    statuses = [status_of(state, store) for store in stores]
    if as_json:
        print(json.dumps(statuses, indent=2, default=str), file=out)
        return 0
    rows: list[tuple[str, ...]] = []
    promotions: list[str] = []
    for status in statuses:
        last = status["last_run"] or {}
        current = status["current_run"]
        now = "idle"
        if status["lock"]:
            now = f"running ({current['phase']}, {current['pages']} pages)" if current else "running"
        elif current and current["status"] == "running":
            now = f"interrupted in {current['phase']}; the next run resumes it"
            if current.get("last_error"):
                now += f" ({current['last_error'][:60]})"
        if status["batches_in_flight"]:
            now += f", {status['batches_in_flight']} batch(es) in flight"
        counts = (last.get(name, 0) for name in ("seen", "unchanged", "created", "updated", "removed", "failed"))
        seconds = f"{float(last.get('duration_seconds', 0)):.1f}"
        rows.append((status["store_id"], _when(last.get("finished_at")), *map(str, counts), seconds, now))
        if last.get("promotions"):
            promotions.append(f"{status['store_id']}: {_promotions_line(last['promotions'])}")
    headers = ("STORE", "LAST RUN FINISHED", "SEEN", "UNCHG", "NEW", "UPD", "RM", "FAIL", "SECS", "NOW")
    print_table(columns(rows, *headers, numbers=headers[2:9]), out)
    for line in promotions:
        print(line, file=out)
    return 0
