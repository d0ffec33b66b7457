"""The backfill and the nightly reconciliation of one Shopify store, end to end (issue 11, "Benchmark").

A Shopify stand-in (emulators/shopify) serves a generated catalog of P products (3 variants, 2 images each) and a
generated history of C customers and N orders (one line each, round robin over the catalog); the backfill runs
in the product_sync function as Lambda runs it (the local runner: a container process of its own, moto server,
continuations through the product queue) into the Mailchimp emulator with 50 ms added to every request and its
cap of 10 connections. Then a reconciliation of the same store, where nothing was missed.

Printed: wall time per phase (products, customers, orders, and the wait for the last batches) and in all;
Mailchimp requests (the emulator's count, by kind) and the operations Mailchimp ran inside batches; platform
requests; the most Mailchimp requests in flight at once; the ratio of the wall time to the floor 10 connections
at 50 ms allow for the requests made (requests x 0.05 s / 10). For the reconciliation: wall time, platform
requests, Mailchimp writes (target 0), events published (target 0).

The history's `updated_at` times are spread over the last 20 hours, so the reconciliation's first window (24
hours) covers the whole store; the backfill reads them as it would six months of history.

    .venv/bin/python bench/bench_backfill.py [--orders 50000] [--customers 10000] [--products 10000]
        [--latency-ms 50] [--batch-op-delay-ms 0]
    .venv/bin/python bench/bench_backfill.py --orders 2000 --customers 400 --products 400   # about a minute
    .venv/bin/python bench/bench_backfill.py ... --profile backfill.prof   # in this process, under cProfile
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT)]
# The runner applies these to every function; metrics would print one EMF line per invocation.
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
os.environ.update(QUIET)

from results import write_results  # noqa: E402

API_KEY = "0123456789abcdef0123456789abcdef-us6"
TOKEN = "shpat_bench_backfill"
FUNCTION = "ProductSyncFunction"
CONNECTIONS = 10
TARGET_SECONDS = 600.0


class RequestCounter:
    """Every request the Mailchimp emulator records, counted as it is recorded (its own log keeps the last
    100,000 only): by source ("http" or "batch"), method and resource kind."""

    def __init__(self, app: Any, store_id: str) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._store_id = store_id
        original = app.record

        def record(entry: Any) -> None:
            with self._lock:
                self.counts[(entry.source, entry.method, self.kind(entry.path))] += 1
            original(entry)

        app.record = record

    def kind(self, path: str) -> str:
        path = path.removeprefix("/3.0").replace(f"/ecommerce/stores/{self._store_id}", "/{store}")
        path = re.sub(r"^/\{store\}/(carts|customers|products|orders)/[^/]+", r"/{store}/\1/{id}", path)
        path = re.sub(r"/variants/[^/]+$", "/variants/{id}", path)
        return re.sub(r"^/batches/[^/]+", "/batches/{id}", path)

    def snapshot(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            return Counter(self.counts)


def totals(counts: Counter[tuple[str, str, str]]) -> dict[str, int]:
    http = sum(n for (source, _, _), n in counts.items() if source == "http")
    writes = sum(n for (source, method, _), n in counts.items() if source == "http" and method != "GET")
    batch = sum(n for (source, _, _), n in counts.items() if source == "batch")
    submits = counts.get(("http", "POST", "/batches"), 0)
    return {"http": http, "http_writes": writes, "batch_operations": batch, "batches": submits}


def platform_kinds(requests: list[dict[str, Any]]) -> Counter[str]:
    return Counter(re.sub(r"^/admin/api/[^/]+", "", str(r["path"])) for r in requests)


def floor_seconds(requests: int) -> float:
    return requests * 0.05 / CONNECTIONS


class PhaseWatch(threading.Thread):
    """Reads the run's checkpoint every 0.25 s and notes when each phase is first seen, with the Mailchimp and
    platform request counts at that moment."""

    def __init__(self, state: Any, store_id: str, counter: RequestCounter, shop: Any, started: float) -> None:
        super().__init__(daemon=True)
        self.state, self.store_id, self.counter, self.shop, self.started = state, store_id, counter, shop, started
        self.marks: list[tuple[str, float, Counter[tuple[str, str, str]], int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                checkpoint = self.state.load(self.store_id)
            except Exception:  # moto busy: look again
                checkpoint = None
            if checkpoint is not None:
                phase = "done" if checkpoint.status == "done" else checkpoint.phase
                if not self.marks or self.marks[-1][0] != phase:
                    self.mark(phase)
            self.stop.wait(0.25)

    def mark(self, phase: str) -> None:
        if self.marks and self.marks[-1][0] == phase:
            return
        self.marks.append((phase, time.monotonic() - self.started, self.counter.snapshot(), len(self.shop.requests)))


class DynamoDBCounter:
    """DynamoDB requests moto served (it runs in this process), by operation: what the jobs would pay for, and
    wait for, in AWS."""

    OPERATIONS = (
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "batch_get_item",
        "transact_write_items",
        "batch_write_item",
    )

    def __init__(self) -> None:
        import moto.dynamodb.responses as responses

        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        for operation in self.OPERATIONS:
            original = getattr(responses.DynamoHandler, operation)
            setattr(responses.DynamoHandler, operation, self._counted(operation, original))

    def _counted(self, operation: str, original: Any) -> Any:
        def counted(handler: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.counts[operation] += 1
            return original(handler, *args, **kwargs)

        return counted

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


def run_backfill(runner: Any, store_id: str, profile: str | None, state: Any) -> dict[str, Any]:
    event = {"action": "backfill", "store_id": store_id}
    if profile:
        import cProfile

        function = runner.in_process(FUNCTION)
        profiler = cProfile.Profile()
        result: dict[str, Any] = profiler.runcall(function.invoke, event)
        profiler.dump_stats(profile)
        import pstats

        print(f"profile of the first slice (in this process) written to {profile}; the top by own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        result = runner.invoke(FUNCTION, event)
    while result.get("status") == "continued" or (result.get("status") == "running"):
        # A slice reached its time limit: the continuation runs from the product queue.
        runner.wait_until_idle(timeout=3600)
        checkpoint = state.load(store_id)
        result = {"store_id": store_id, **checkpoint.summary()} if checkpoint is not None else {"status": "lost"}
    return result


def run_reconciliation(runner: Any, store_id: str, state: Any) -> dict[str, Any]:
    """The reconciliation's summary: a run cut by its slice's time continues from the product queue (its
    summary is written once, at its end)."""
    from commerce_sync.history.reconcile_state import ReconcileRecords

    answer: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
    if answer.get("status") not in ("continued", "waiting"):
        return answer
    records = ReconcileRecords(state.table)
    while True:
        summary = records.last_summary(store_id)
        if summary is not None and summary.get("run_id") == answer.get("run_id"):
            return summary
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    # Mailchimp runs an account's batches one at a time, at a speed it does not publish; the emulator runs an
    # operation in well under a millisecond. This models a server-side cost per operation.
    parser.add_argument("--batch-op-delay-ms", type=float, default=0.0)
    parser.add_argument("--skip-reconcile", action="store_true")
    parser.add_argument(
        "--profile", metavar="FILE", help="run the backfill's first slice in this process under cProfile"
    )
    args = parser.parse_args()

    import boto3
    from commerce_sync.aws.settings import Settings
    from commerce_sync.history.state import HistoryState

    from emulators.mailchimp import MailchimpEmulator
    from emulators.shopify import ShopifyEmulator
    from emulators.shopify.fixtures import generated_product
    from emulators.shopify.history import generate_history
    from local_runner import moto_transactions
    from local_runner.runner import LocalRunner, RunnerConfig
    from operator_cli.stores import NewStore, add_store, generate_webhook_secret

    moto_transactions.install()  # the runner installs it too; here before anything else touches moto
    dynamodb = DynamoDBCounter()
    load = os.getloadavg()[0]
    made = time.monotonic()
    shop_domain = f"bench-{uuid.uuid4().hex[:8]}.myshopify.com"
    with (
        MailchimpEmulator(api_key=API_KEY, batch_op_delay_s=args.batch_op_delay_ms / 1000) as mailchimp,
        ShopifyEmulator(shop_domain, TOKEN) as shop,
    ):
        shop.products.generate(args.products, generated_product)
        now = datetime.now(UTC)
        lines = [(product_id, product_id * 10 + 1) for product_id in range(1, args.products + 1)]
        customers, orders = generate_history(
            args.customers, args.orders, now - timedelta(hours=20), now - timedelta(hours=1), lines
        )
        shop.history["customers"].put_many(customers)
        shop.history["orders"].put_many(orders)
        del customers, orders
        config = RunnerConfig(mailchimp_api_url=mailchimp.base_url, mailchimp_api_key=API_KEY, environment=QUIET)
        with LocalRunner(config) as runner:
            store_id = f"bench-{uuid.uuid4().hex[:8]}"
            add_store(
                Settings.from_environment(),
                NewStore(
                    store_id=store_id,
                    platform="shopify",
                    identity=shop_domain,
                    name="Bench",
                    list_id="bench-list",
                    currency_code="USD",
                    webhook_secret=generate_webhook_secret(),
                    platform_api_url=shop.base_url,
                    platform_api_credentials={"access_token": TOKEN},
                ),
                check=False,
            )
            state = HistoryState(boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table))
            counter = RequestCounter(mailchimp.app, store_id)
            dynamodb_before = dynamodb.snapshot()
            print(
                f"store: {args.products:,} products (3 variants each), {args.customers:,} customers, "
                f"{args.orders:,} orders; set up in {time.monotonic() - made:.0f} s; load average {load:.2f}; "
                f"Mailchimp at {args.latency_ms} ms a request, {args.batch_op_delay_ms:g} ms a batch operation",
                flush=True,
            )

            # ---- the backfill ------------------------------------------------------------------------
            mailchimp.set_faults(latency_ms=args.latency_ms)
            mailchimp.reset_peak_in_flight()
            shop.clear_requests()
            started = time.monotonic()
            watch = PhaseWatch(state, store_id, counter, shop, started)
            watch.marks.append(("products", 0.0, counter.snapshot(), 0))
            watch.start()
            result = run_backfill(runner, store_id, args.profile, state)
            elapsed = time.monotonic() - started
            watch.stop.set()
            watch.join()
            watch.mark("done")
            watch.marks[-1] = ("done", elapsed, counter.snapshot(), len(shop.requests))
            peak = mailchimp.peak_in_flight
            dynamodb_backfill = dynamodb.snapshot() - dynamodb_before
            backfill_counts = counter.snapshot()
            backfill_platform = platform_kinds(shop.requests)
            with mailchimp.app.state.lock:
                held = mailchimp.app.state.stores[store_id]
                holds = {
                    "products": len(held.products),
                    "customers": len(held.customers),
                    "orders": len(held.orders),
                    "is_syncing": held.data.get("is_syncing"),
                }

            # ---- the reconciliation: nothing missed ------------------------------------------------------
            reconcile: dict[str, Any] | None = None
            if not args.skip_reconcile and result.get("status") == "done":
                before = counter.snapshot()
                shop.clear_requests()
                mailchimp.reset_peak_in_flight()
                dynamodb_before = dynamodb.snapshot()
                reconciled_at = time.monotonic()
                answer = run_reconciliation(runner, store_id, state)
                reconcile_seconds = time.monotonic() - reconciled_at
                runner.wait_until_idle(timeout=600)
                settled_seconds = time.monotonic() - reconciled_at
                reconcile = {
                    "answer": answer,
                    "seconds": reconcile_seconds,
                    "settled": settled_seconds,
                    "counts": counter.snapshot() - before,
                    "platform": platform_kinds(shop.requests),
                    "dynamodb": dynamodb.snapshot() - dynamodb_before,
                }
        mailchimp.set_faults()

    rows = report_backfill(args, result, elapsed, watch, backfill_counts, backfill_platform, peak, holds)
    report_dynamodb(dynamodb_backfill)
    if reconcile is not None:
        report_reconcile(args, reconcile)
        spent = totals(reconcile["counts"])
        rows.append(
            {
                "phase": "reconciliation (nothing missed)",
                "wall_s": reconcile["seconds"],
                "mailchimp_requests": spent["http"],
                "floor_s": floor_seconds(spent["http"]),
            }
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    command = (
        f".venv/bin/python bench/bench_backfill.py --orders {args.orders} --customers {args.customers} "
        f"--products {args.products} --latency-ms {args.latency_ms}"
    )
    size = f"{args.orders:,} orders, {args.customers:,} customers, {args.products:,} products"
    write_results("backfill", {"command": command, "size": size, "rows": rows})
    return 0


def report_backfill(
    args: argparse.Namespace,
    result: dict[str, Any],
    elapsed: float,
    watch: PhaseWatch,
    counts: Counter[tuple[str, str, str]],
    platform: Counter[str],
    peak: int,
    holds: dict[str, Any],
) -> list[dict[str, Any]]:
    """Prints the backfill's figures; returns them per phase (and in all) for .bench-results/backfill.json."""
    rows: list[dict[str, Any]] = []
    print(f"\nbackfill: status {result.get('status')}, {elapsed:.1f} s in all, slices {result.get('slices')}")
    progress = result.get("progress") or {}
    for resource, figures in progress.items():
        shown = {k: v for k, v in figures.items() if v}
        print(f"  {resource:9s} {shown}")
    print(f"  Mailchimp holds: {holds}")
    print("  per phase (as the checkpoint showed it, to 0.25 s):")
    header = ("wall s", "MC reqs", "batch ops", "platform", "floor s", "ratio")
    print(f"    {'phase':10s} " + " ".join(f"{name:>9s}" for name in header))
    for (phase, at, seen, shop_seen), (_, next_at, next_seen, next_shop) in zip(
        watch.marks, watch.marks[1:], strict=False
    ):
        spent = totals(next_seen - seen)
        floor = floor_seconds(spent["http"])
        ratio = f"{(next_at - at) / floor:.1f}" if floor else "-"
        rows.append({"phase": phase, "wall_s": next_at - at, "mailchimp_requests": spent["http"], "floor_s": floor})
        print(
            f"    {phase:10s} {next_at - at:9.1f} {spent['http']:9,d} {spent['batch_operations']:9,d} "
            f"{next_shop - shop_seen:9,d} {floor:9.1f} {ratio:>9s}"
        )
    spent = totals(counts)
    floor = floor_seconds(spent["http"])
    print(
        f"  Mailchimp requests: {spent['http']:,} ({spent['http_writes']:,} writes, {spent['batches']:,} batches "
        f"submitted); operations run inside batches: {spent['batch_operations']:,}"
    )
    for (source, method, kind), n in sorted(counts.items()):
        print(f"    {n:8,d}  {source:5s} {method:6s} {kind}")
    print(f"  platform requests: {sum(platform.values()):,}")
    for kind, n in sorted(platform.items()):
        print(f"    {n:8,d}  GET {kind}")
    print(f"  peak Mailchimp requests in flight: {peak} (cap {CONNECTIONS})")
    print(
        f"  floor for {spent['http']:,} requests at {args.latency_ms} ms over {CONNECTIONS} connections: "
        f"{floor:.1f} s; wall / floor = {elapsed / floor if floor else float('nan'):.1f}"
    )
    items = args.orders + args.customers + args.products
    print(f"  (had every resource been one direct request: {items:,} requests, floor {floor_seconds(items):.0f} s)")
    verdict = "met" if elapsed <= TARGET_SECONDS else "target missed"
    print(f"  target <= {TARGET_SECONDS / 60:.0f} min at this size: {elapsed / 60:.1f} min, {verdict}")
    rows.append({"phase": "backfill, in all", "wall_s": elapsed, "mailchimp_requests": spent["http"], "floor_s": floor})
    return rows


def report_dynamodb(counts: Counter[str]) -> None:
    """DynamoDB requests, and what they would cost in wall time in AWS at an assumed latency (not measured
    here: moto's own cost per request is higher and grows with the table)."""
    total = sum(counts.values())
    print(f"  DynamoDB requests: {total:,} {dict(sorted(counts.items()))}")
    for assumed_ms in (5, 10):
        print(f"    at {assumed_ms} ms each, one at a time, in AWS: {total * assumed_ms / 1000:.0f} s")


def report_reconcile(args: argparse.Namespace, reconcile: dict[str, Any]) -> None:
    answer = reconcile["answer"]
    spent = totals(reconcile["counts"])
    platform = reconcile["platform"]
    print(
        f"\nreconciliation of {args.orders:,} orders and {args.customers:,} customers, nothing missed: "
        f"status {answer.get('status')}, {reconcile['seconds']:.1f} s (queues idle after {reconcile['settled']:.1f} s)"
    )
    print(
        f"  checked {answer.get('checked')}, pages {answer.get('pages')}, slices {answer.get('slices')}, "
        f"repaired {answer.get('repaired')}"
    )
    print(f"  platform requests: {sum(platform.values()):,} {dict(sorted(platform.items()))}")
    print(
        f"  Mailchimp writes: {spent['http_writes'] + spent['batch_operations']} (target 0); Mailchimp requests "
        f"{spent['http']}; events published: {answer.get('repairs')} (target 0)"
    )
    report_dynamodb(reconcile["dynamodb"])


if __name__ == "__main__":
    sys.exit(main())
