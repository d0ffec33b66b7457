"""`commerce-sync backfill STORE` (bring a store's history into Mailchimp now) and the check `commerce-sync status`
makes for an `is_syncing` flag a killed backfill left on.

backfill runs the product_sync function itself, as `sync-products` does (operator_cli.catalog):
- locally (settings from `--env-file .local/runner.env`): the handler is loaded from template.yaml and invoked
  in this process, with `{"action": "backfill", ...}`; a run that nears the time limit continues through the
  product queue, which the running `commerce-sync-local` consumes, and `--wait` (the default) follows it.
- deployed (`--stack NAME`, or PRODUCT_SYNC_FUNCTION_NAME set): the function is invoked asynchronously
  (Event) and `--wait` follows the run's checkpoint until it is done.
Progress is read from the run's checkpoint (commerce_sync.history.state): one line per resource as it moves
(done / total, rate, ETA), to stderr, so `--json` leaves stdout to the summary.

A second backfill of a store while one runs is refused by the function (one lock per store); the CLI looks
at the lock first, so it can say which run holds it without starting anything.

`commerce-sync reconcile [--store S]` runs the nightly reconciliation now the same way, store by store, and follows
each run to its end (locally through the product queue the runner consumes; deployed, every store's run is
started asynchronously, then each is followed): progress from the run's checkpoint
(commerce_sync.history.reconcile_state) to stderr, one summary line per store (or `--json`) to stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TextIO

import boto3
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.aws.sync_lock import SyncLock
from commerce_sync.history.backfill import Backfill, ordered_resources
from commerce_sync.history.reconcile import WAITING
from commerce_sync.history.reconcile_state import ReconcileCheckpoint, ReconcileRecords
from commerce_sync.history.state import LOCK, BackfillCheckpoint, HistoryState, ResourceProgress, partition
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import iso

from operator_cli.catalog import deployed_function_name, function_output_to, local_invoker
from operator_cli.terminal import ProgressBars

PROGRESS_INTERVAL_SECONDS = 1.0
# A failed slice is retried (the queue, or Lambda's own retries of an async invoke); a checkpoint with an
# error that has not moved this long, its lock free, is taken as failed for good.
FAILED_AFTER_SECONDS = 90.0


class BackfillArgumentError(ValueError):
    pass


def history_state(settings: Settings | None = None) -> HistoryState:
    table = boto3.resource("dynamodb").Table((settings or Settings.from_environment()).sync_state_table)
    return HistoryState(table)


def parse_since_date(value: str | None) -> str | None:
    """`--since YYYY-MM-DD` as the start of that day in UTC (what the function takes: ISO 8601)."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise BackfillArgumentError(f"--since {value!r} is not a date (YYYY-MM-DD)") from error
    if day > datetime.now(UTC).date():
        raise BackfillArgumentError(f"--since {value} is in the future")
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def parse_resources(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    try:
        return ordered_resources(names) if names else None
    except ValueError as error:
        raise BackfillArgumentError(str(error)) from error


# ---- progress ------------------------------------------------------------------------------------------------


def _duration(value: float) -> str:
    hours, rest = divmod(max(round(value), 0), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass
class _Rate:
    """The rate of one resource as this CLI saw it move (the checkpoint keeps counts, not times)."""

    first_at: float
    first_done: int


class ProgressLines:
    """A bar per resource on a terminal; elsewhere one line per resource whenever its count moves:
    `STORE orders: 1200/5000 (24%), 310/s, ETA 0:12`."""

    def __init__(self, store_id: str, out: TextIO) -> None:
        self.store_id = store_id
        self.out = out
        self.bars = ProgressBars(out)
        self._rates: dict[str, _Rate] = {}
        self._last: dict[str, str] = {}

    def line(self, resource: str, progress: ResourceProgress, now: float) -> str:
        done = progress.read
        rate = self._rates.setdefault(resource, _Rate(now, done))
        elapsed = now - rate.first_at
        per_second = (done - rate.first_done) / elapsed if elapsed > 0 and done > rate.first_done else None
        text = f"{self.store_id} {resource}: {done}"
        if progress.total is not None:
            share = f" ({100 * done / progress.total:.0f}%)" if progress.total else ""
            text += f"/{progress.total}{share}"
        text += f", {progress.written} written"
        if progress.failed:
            text += f", {progress.failed} failed"
        if per_second:
            text += f", {per_second:.1f}/s"
            if progress.total is not None and progress.total > done:
                text += f", ETA {_duration((progress.total - done) / per_second)}"
        return text

    def show(self, checkpoint: BackfillCheckpoint, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        for resource in checkpoint.resources:
            progress = checkpoint.progress.get(resource)
            if progress is None:
                continue
            text = self.line(resource, progress, moment)
            # The rate changes on every look; only a change of the counts makes a new line.
            counts = (progress.read, progress.written, progress.failed, progress.total)
            key = repr(counts)
            if self._last.get(resource) != key:
                self._last[resource] = key
                detail = f"{progress.written} written" + (f", {progress.failed} failed" if progress.failed else "")
                self.bars.update(resource, text, f"{self.store_id} {resource}", progress.read, progress.total, detail)


class Watcher:
    """Calls `look(final)` every PROGRESS_INTERVAL_SECONDS in another thread while a run works in this one, and once
    more at the end with `final` true, whatever the run's status: the final counts show even when the run ended
    between two looks (a short run, a loaded machine)."""

    def __init__(self, look: Callable[[bool], None]) -> None:
        self._look = look
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._safe_look(final=True)

    def _safe_look(self, final: bool) -> None:
        try:
            self._look(final)
        except Exception:  # a read failing now and then must not end the watch
            return

    def _watch(self) -> None:
        while not self._stop.wait(PROGRESS_INTERVAL_SECONDS):
            self._safe_look(final=False)


def backfill_watcher(state: HistoryState, store_id: str, out: TextIO) -> Watcher:
    lines = ProgressLines(store_id, out)

    def look(final: bool) -> None:
        checkpoint = state.load(store_id)
        if checkpoint is not None and (final or checkpoint.status == "running"):
            lines.show(checkpoint)
        if final:
            lines.bars.close()

    return Watcher(look)


# ---- the summary ---------------------------------------------------------------------------------------------


def describe(summary: dict[str, Any]) -> str:
    parts = []
    for resource in summary.get("resources") or []:
        progress = (summary.get("progress") or {}).get(resource) or {}
        part = (
            f"{resource} {progress.get('written', 0)} written, {progress.get('unchanged', 0)} unchanged, "
            f"{progress.get('failed', 0)} failed"
        )
        if progress.get("dead_lettered"):
            part += f" ({progress['dead_lettered']} dead-lettered)"
        if progress.get("skipped"):
            part += f", {progress['skipped']} skipped"
        parts.append(part)
    return (
        f"backfill done in {float(summary.get('duration_seconds') or 0):.1f}s: " + "; ".join(parts) + f" "
        f"({summary.get('batches', 0)} batches, {summary.get('mailchimp_requests', 0)} Mailchimp requests; "
        f"since {str(summary.get('since', ''))[:10]})"
    )


def failed_in_summary(summary: dict[str, Any]) -> int:
    return sum(int(progress.get("failed", 0)) for progress in (summary.get("progress") or {}).values())


def _lock_holder(state: HistoryState, store_id: str) -> Any:
    holder = SyncLock(state.table, partition(store_id), LOCK).holder()
    return holder if holder is not None and not holder.expired else None


def _running_message(state: HistoryState, store_id: str) -> str:
    checkpoint = state.load(store_id)
    what = f"run {checkpoint.run_id}, {checkpoint.phase}" if checkpoint and checkpoint.status == "running" else "a run"
    return f"{store_id}: a backfill of this store is already running ({what}); not started again"


# ---- the command ---------------------------------------------------------------------------------------------


def _store(store_id: str) -> Store:
    store = StoreRegistry(Settings.from_environment().stores_table).get(store_id)
    if store is None:
        raise BackfillArgumentError(f"no store {store_id} is registered")
    if not store.active:
        raise BackfillArgumentError(f"store {store_id} is disabled (`commerce-sync stores enable {store_id}` first)")
    return store


def backfill(
    store_id: str,
    since: str | None,
    resources: str | None,
    stack: str | None,
    wait: bool,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        store = _store(store_id)
        event: dict[str, Any] = {"action": "backfill", "store_id": store.store_id, "trigger": "cli"}
        if (start := parse_since_date(since)) is not None:
            event["since"] = start
        if (wanted := parse_resources(resources)) is not None:
            event["resources"] = wanted
    except BackfillArgumentError as error:
        print(f"commerce-sync backfill: error: {error}", file=err)
        return 2
    state = history_state()
    if _lock_holder(state, store.store_id) is not None:
        print(_running_message(state, store.store_id), file=out)
        return 1
    held = ImportBook(state.table).current(store.store_id)
    if held is not None and held.live and not held.expired():
        # The two would share Mailchimp's one is_syncing: the first to end would set it off under the other.
        print(
            f"{store.store_id}: canonical import {held.import_id} is {held.status.value} (until {iso(held.expires_at)}"
            " unless more of it arrives); the backfill was not started",
            file=out,
        )
        return 1
    before = state.load(store.store_id)
    if before is not None and before.status == "running":
        # The function resumes an unfinished run whatever this request asks (no second window meanwhile).
        print(f"{store.store_id}: resuming the unfinished backfill run {before.run_id} ({before.phase})", file=err)
    started = time.time()
    function_name = deployed_function_name(stack)
    if function_name:
        boto3.client("lambda").invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        print(f"{store.store_id}: backfill started in {function_name}", file=err)
        return _follow(state, store.store_id, started, as_json, out, err) if wait else 0
    invoke = local_invoker()
    with backfill_watcher(state, store.store_id, err), function_output_to(err):
        try:
            result = invoke(event)
        except Exception as error:
            print(f"{store.store_id}: backfill failed: {type(error).__name__}: {error}", file=out)
            return 1
    status = result.get("status")
    if status == "done":
        return _report(store.store_id, result, as_json, out)
    if status == "continued":
        if not wait:
            phase = result.get("phase")
            print(f"{store.store_id}: the backfill continues through the product queue ({phase})", file=out)
            return 0
        return _follow(state, store.store_id, started, as_json, out, err)
    if status == "already_running":
        print(_running_message(state, store.store_id), file=out)
        return 1
    print(f"{store.store_id}: backfill {status}: {result.get('reason', '')}".rstrip(": "), file=out)
    return 1


def _report(store_id: str, summary: dict[str, Any], as_json: bool, out: TextIO) -> int:
    if as_json:
        print(json.dumps({"store_id": store_id, **summary}, indent=2, default=str), file=out)
    else:
        if summary.get("flag_reset"):
            print(f"{store_id}: {summary['flag_reset']}", file=out)
        print(f"{store_id}: {describe(summary)}", file=out)
    return 1 if failed_in_summary(summary) else 0


def _follow(state: HistoryState, store_id: str, started: float, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Until the run finishes: its summary appears (finished after `started`), or it fails for good."""
    lines = ProgressLines(store_id, err)
    with lines.bars:  # stopped before the summary is printed, so a terminal shows it below the bars
        ended = _until_ended(state, store_id, started, lines)
    if isinstance(ended, str):
        print(f"{store_id}: backfill failed: {ended}", file=out)
        return 1
    return _report(store_id, ended, as_json, out)


def _until_ended(state: HistoryState, store_id: str, started: float, lines: ProgressLines) -> dict[str, Any] | str:
    """The run's summary, or the error it failed with for good."""
    said_error: str | None = None
    while True:
        summary = state.last_summary(store_id)
        if summary and float(summary.get("finished_at") or 0) >= started:
            return summary
        checkpoint = state.load(store_id)
        if checkpoint is not None and checkpoint.status == "running" and checkpoint.updated_at >= started - 1:
            lines.show(checkpoint)
            if checkpoint.last_error and checkpoint.last_error != said_error:
                said_error = checkpoint.last_error
                lines.bars.note(f"{store_id}: a slice failed ({said_error[:200]}); it is retried")
            stalled = time.time() - checkpoint.updated_at > FAILED_AFTER_SECONDS
            if checkpoint.last_error and stalled and _lock_holder(state, store_id) is None:
                return checkpoint.last_error
        time.sleep(PROGRESS_INTERVAL_SECONDS)


# ---- `status`: a flag left behind -----------------------------------------------------------------------------


def release_left_flags(settings: Settings | None = None) -> list[str]:
    """For every active store whose last backfill left `is_syncing` on and is dead (its lock free, its checkpoint
    still for a while): the flag is reset in Mailchimp. Returns one line per store reset."""
    settings = settings or Settings.from_environment()
    state = history_state(settings)
    services: Services | None = None
    messages: list[str] = []
    for store in StoreRegistry(settings.stores_table).list():
        if not store.active:
            continue
        checkpoint = state.load(store.store_id)
        if checkpoint is None or not checkpoint.syncing:
            continue  # the common case costs one read, and no Mailchimp call
        services = services or Services(settings)
        message = Backfill(services).release_left_flag(store)
        if message:
            messages.append(f"store {store.store_id}: {message}")
    return messages


# ---- `reconcile` ---------------------------------------------------------------------------------------------


def describe_webhooks(webhooks: dict[str, Any] | None) -> str | None:
    """The run's webhook check in one line, with each topic that was not active: what it was, what was done."""
    if not webhooks:
        return None
    if not webhooks.get("checked"):
        return f"webhooks not checked: {webhooks.get('reason', '')}"
    counts = webhooks.get("counts") or {}
    line = (
        f"webhooks: {counts.get('topics', 0)} topics, {counts.get('none', 0)} active, "
        f"{webhooks.get('reactivated', 0)} reactivated, {webhooks.get('missing', 0)} missing, "
        f"{counts.get('reactivation_failed', 0)} reactivation failed"
    )
    if counts.get("recreated") or counts.get("recreation_failed"):
        # Missing Shopify subscriptions made again (docs/shopify.md): counted among the missing above.
        line += f" ({counts.get('recreated', 0)} recreated, {counts.get('recreation_failed', 0)} recreation failed)"
    for topic in webhooks.get("topics") or []:
        if topic.get("state_before") != "active":
            failed = str(topic.get("action", "")).endswith("_failed")
            shown = topic.get("detail") and (failed or topic.get("state_before") != "missing")
            detail = f" ({topic['detail']})" if shown else ""
            line += f"\n    {topic['topic']}: was {topic['state_before']}, {topic['action'].replace('_', ' ')}{detail}"
    return line


def describe_reconciliation(result: dict[str, Any]) -> str:
    webhooks = describe_webhooks(result.get("webhooks"))
    if result.get("status") == "skipped":
        return f"skipped: {result.get('reason', '')}" + (f"\n  {webhooks}" if webhooks else "")
    if result.get("status") != "done":
        return f"reconciliation {result.get('status')}: {result.get('reason', '')}".rstrip(": ")
    checked = result.get("checked") or {}
    repaired = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(result["repaired"].items()))
    slices = int(result.get("slices") or 1)
    # API2Cart's abandoned carts (not repairs: a cart without basket webhooks has no other way in).
    carts = sum((result.get("pulled") or {}).values())
    not_read: dict[str, str] = result.get("not_read") or {}
    return (
        f"reconciliation done in {float(result.get('duration_seconds') or 0):.1f}s"
        f"{f' ({slices} slices)' if slices > 1 else ''}: checked "
        f"{checked.get('customers', 0)} customers, {checked.get('orders', 0)} orders; "
        f"repaired {result.get('repairs', 0)}{f' ({repaired})' if repaired else ''}; failed {result.get('failed', 0)}"
        f"{f'; abandoned carts written {carts}' if carts else ''}"
        + "".join(f"\n  {resource} not read: {reason}" for resource, reason in sorted(not_read.items()))
    ) + (f"\n  {webhooks}" if webhooks else "")


def reconcile_records(settings: Settings | None = None) -> ReconcileRecords:
    table = boto3.resource("dynamodb").Table((settings or Settings.from_environment()).sync_state_table)
    return ReconcileRecords(table)


class ReconcileProgress:
    """One line whenever a run moves: `STORE reconciliation: orders, page 14; checked 300 customers, 1200 orders;
    repaired 2`, and once when it starts waiting for a backfill of the store or a slice fails."""

    def __init__(self, store_id: str, out: TextIO) -> None:
        self.store_id = store_id
        self.out = out
        self.bars = ProgressBars(out)
        self._last = ""
        self._said_wait: str | None = None
        self._said_error: str | None = None

    def show(self, checkpoint: ReconcileCheckpoint) -> None:
        checked = checkpoint.checked
        line = (
            f"{self.store_id} reconciliation: {checkpoint.phase}, page {checkpoint.pages}; checked "
            f"{checked.get('customers', 0)} customers, {checked.get('orders', 0)} orders; repaired {checkpoint.repairs}"
        )
        if line != self._last:
            self._last = line
            # The number of pages is not known ahead: the bar counts them, without a total.
            checked_line = f"{checked.get('customers', 0)} customers, {checked.get('orders', 0)} orders checked"
            detail = f"{checkpoint.phase}; {checked_line}; repaired {checkpoint.repairs}"
            self.bars.update("pages", line, f"{self.store_id} reconciliation", checkpoint.pages, None, detail)
        if checkpoint.waiting_for and checkpoint.waiting_for != self._said_wait:
            self._said_wait = checkpoint.waiting_for
            self.bars.note(
                f"{self.store_id}: waiting for the backfill of this store (run {checkpoint.waiting_for}) to end"
            )
        if checkpoint.failing and checkpoint.last_error != self._said_error:
            self._said_error = checkpoint.last_error
            self.bars.note(f"{self.store_id}: a slice failed ({str(checkpoint.last_error)[:200]}); it is retried")


def _reconcile_running_message(records: ReconcileRecords, store_id: str) -> str | None:
    if records.chain(store_id).holder() is None:
        return None
    checkpoint = records.load(store_id)
    what = f"run {checkpoint.run_id}, {checkpoint.phase}" if checkpoint and checkpoint.status == "running" else "a run"
    return f"{store_id}: a reconciliation of this store is already running ({what}); not started again"


def follow_reconciliation(
    records: ReconcileRecords,
    store_id: str,
    err: TextIO,
    run_id: str | None = None,
    since: float = 0.0,
    progress: ReconcileProgress | None = None,
) -> dict[str, Any]:
    """Until the run ends: the summary of `run_id` (or of a run finished after `since`) appears, or its latest slice
    has failed and nothing has moved for FAILED_AFTER_SECONDS with its lock free (retries given up on)."""
    progress = progress or ReconcileProgress(store_id, err)
    with progress.bars:
        return _follow_reconciliation(records, store_id, run_id, since, progress)


def _follow_reconciliation(
    records: ReconcileRecords, store_id: str, run_id: str | None, since: float, progress: ReconcileProgress
) -> dict[str, Any]:
    while True:
        summary = records.last_summary(store_id)
        if summary and (summary.get("run_id") == run_id if run_id else float(summary.get("finished_at") or 0) >= since):
            return summary
        checkpoint = records.load(store_id)
        if checkpoint is not None and checkpoint.status == "running" and run_id in (None, checkpoint.run_id):
            progress.show(checkpoint)
            stalled = time.time() - checkpoint.updated_at > FAILED_AFTER_SECONDS
            if checkpoint.failing and stalled and records.chain(store_id).holder() is None:
                return {"store_id": store_id, "status": "failed", "reason": checkpoint.last_error}
        time.sleep(PROGRESS_INTERVAL_SECONDS)


def reconcile(
    store_id: str | None,
    stack: str | None,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    wait: bool = True,
) -> int:
    """Runs the reconciliation now, store by store, and follows each run to its end (a run that nears the time limit
    continues through the product queue). Deployed, every store's run is started first (asynchronous invocations),
    then each is followed, unless `wait` is off. Locally a run's first slice runs here; without `wait` a run that
    continues through the product queue is reported as `continued` (`commerce-sync status` follows it)."""
    out, err = out or sys.stdout, err or sys.stderr
    registry = StoreRegistry(Settings.from_environment().stores_table)
    if store_id:
        store = registry.get(store_id)
        if store is None:
            print(f"commerce-sync reconcile: error: no store {store_id} is registered", file=err)
            return 2
        stores = [store]
    else:
        stores = [store for store in registry.list() if store.active]
    records = reconcile_records()
    function_name = deployed_function_name(stack)
    results: list[dict[str, Any]] = []

    def show(result: dict[str, Any]) -> None:
        results.append(result)
        if as_json:
            return
        status, name = result.get("status"), result["store_id"]
        if status == "failed":
            print(f"{name}: reconciliation failed: {result.get('reason')}", file=out)
        elif status == "already_running":
            print(result["message"], file=out)
        elif status == "started":
            print(f"{name}: reconciliation started in {result['function']} (`commerce-sync status {name}`)", file=out)
        elif status in ("continued", WAITING):
            print(f"{name}: the reconciliation continues through the product queue ({result.get('phase')})", file=out)
        else:
            print(f"{name}: {describe_reconciliation(result)}", file=out)

    def refused(store: Store) -> bool:
        message = _reconcile_running_message(records, store.store_id)
        if message:
            show({"store_id": store.store_id, "status": "already_running", "message": message})
        return message is not None

    if function_name:
        started: list[tuple[str, float]] = []
        for store in stores:
            if refused(store):
                continue
            event = {"action": "reconcile", "store_id": store.store_id, "trigger": "cli"}
            at = time.time()
            try:
                boto3.client("lambda").invoke(
                    FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
                )
            except Exception as error:
                show({"store_id": store.store_id, "status": "failed", "reason": f"{type(error).__name__}: {error}"})
                continue
            print(f"{store.store_id}: reconciliation started in {function_name}", file=err)
            started.append((store.store_id, at))
        for started_id, at in started:
            if wait:
                show({"store_id": started_id, **follow_reconciliation(records, started_id, err, since=at)})
            else:
                show({"store_id": started_id, "status": "started", "function": function_name})
    else:
        invoke = local_invoker()
        for store in stores:
            if refused(store):
                continue
            show({"store_id": store.store_id, **_reconcile_locally(invoke, records, store.store_id, err, wait)})
    if as_json:
        print(json.dumps(results, indent=2, default=str), file=out)
    return 1 if any(result.get("status") in ("failed", "already_running") for result in results) else 0


def _reconcile_locally(
    invoke: Any, records: ReconcileRecords, store_id: str, err: TextIO, wait: bool = True
) -> dict[str, Any]:
    progress = ReconcileProgress(store_id, err)
    with progress.bars:
        return _reconcile_here(invoke, records, store_id, err, progress, wait)


def _reconcile_here(
    invoke: Any, records: ReconcileRecords, store_id: str, err: TextIO, progress: ReconcileProgress, wait: bool
) -> dict[str, Any]:
    event = {"action": "reconcile", "store_id": store_id, "trigger": "cli"}

    def look(final: bool) -> None:
        checkpoint = records.load(store_id)
        if checkpoint is not None and checkpoint.status == "running":
            progress.show(checkpoint)

    try:
        with Watcher(look), function_output_to(err):
            result: dict[str, Any] = invoke(event)
    except Exception as error:
        return {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
    if result.get("status") == "already_running":
        message = f"{store_id}: a reconciliation of this store is already running; not started again"
        return {**result, "message": message}
    if result.get("status") in ("continued", WAITING):
        if not wait:
            return result
        progress.bars.note(
            f"{store_id}: the reconciliation continues through the product queue ({result.get('phase')})"
        )
        return follow_reconciliation(records, store_id, err, run_id=str(result["run_id"]), progress=progress)
    return result
