"""The nightly segment pass (issue 14, "Benchmark"): wall time, tag writes (only changes) and flat memory.

Customers' aggregates are generated as the sync-state table holds them, with the tags their rules gave one day
earlier recorded as written; a fraction `--crossing` (default 1 %) crossed a time threshold since (their only
order turned 30 days old: one-time buyers now), and nobody else's segments changed. Expected tag writes: exactly
the crossing customers. Three measurements:

1. The evaluation alone over `--evaluate` (1,000,000) streamed aggregates: each item as DynamoDB returns it
   parsed, evaluated at "now" and compared with its written tags, as the pass's page loop does; no I/O.
2. The pass as product_sync runs it (segments.nightly.SegmentPass, in this process, one slice without a time
   limit) over `--aggregates` (1,000,000) customers, with only the index Query served from a stream of pages
   (a stand-in for `Aggregates.page`): everything else is real — the checkpoint committed and the lease renewed
   in DynamoDB (moto server, a process of its own) after each page of 500, the account's bulk slots, the crossing
   customers' status reads and tag writes to the Mailchimp emulator over HTTP (a process of its own, with
   `--latency-ms` added to each request, `--concurrency` workers), their written tags recorded conditionally.
3. The same pass over `--moto-aggregates` (5,000) aggregates loaded into moto server, listed through its segments
   index. moto answers any Query by walking its whole table (seconds per page on this machine), so this is
   moto's cost, not DynamoDB's, and loading a million items into it is not practical on 2 cores.

Printed: wall time, aggregates per second, tag writes and Mailchimp requests (one status read and one tag write
per change) with the floor the latency allows, and this process's resident memory (VmRSS) before, after each
quarter, its maximum during the pass, and its peak (VmHWM).

    .venv/bin/python bench/bench_segments.py [--aggregates 1000000] [--evaluate 1000000] [--moto-aggregates 5000]
        [--crossing 0.01] [--latency-ms 20] [--concurrency 4]
    make bench-segments BENCH_SEGMENTS_ARGS="--aggregates 20000 --moto-aggregates 2000 --evaluate 20000"
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT)]
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
os.environ.update(QUIET)

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "bench-list"
POOL = 10_000
DAY = timedelta(days=1)


def memory_kb() -> dict[str, int]:
    """This process's resident memory now (VmRSS) and its peak so far (VmHWM), in kB."""
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


class MemorySampler:
    """VmRSS every 0.2 s while running: its maximum, and the values at start and end."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(memory_kb()["VmRSS"])
            self._stop.wait(0.2)

    def __enter__(self) -> MemorySampler:
        self.samples.append(memory_kb()["VmRSS"])
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(memory_kb()["VmRSS"])

    def line(self) -> str:
        start, end, peak = self.samples[0], self.samples[-1], max(self.samples)
        return (
            f"RSS {start / 1024:.0f} MB at start, max {peak / 1024:.0f} MB during, {end / 1024:.0f} MB at end "
            f"(+{(end - start) / 1024:.1f} MB); process peak (VmHWM) {memory_kb()['VmHWM'] / 1024:.0f} MB"
        )


def customer_of(number: int) -> tuple[str, str]:
    email = f"bench-{number}@example.com"
    return hashlib.md5(email.encode(), usedforsecurity=False).hexdigest(), email


def aggregate_pool(now: datetime, crossing: float, size: int = POOL) -> list[tuple[dict[str, Any], bool]]:
    """`size` items as the sync-state table holds them (without keys), each with whether it crosses a threshold
    between one day before `now` and `now`. Their times keep every other customer's segments the same over that
    day: no order within a day of 30 (one-time, advocate window) or 90 (at risk) days old."""
    from commerce_sync.aws.store_registry import SegmentRules
    from commerce_sync.segments.aggregate import Aggregate, OrderEntry
    from commerce_sync.segments.rules import segments_of

    rules = SegmentRules()
    before = now - DAY
    pick = random.Random(14)
    crossers = round(size * crossing)
    items: list[tuple[dict[str, Any], bool]] = []
    for index in range(size):
        if index < crossers:
            shape, days = "crossing", [30.5]
        else:
            shape = pick.choice(("one_time", "at_risk", "regular", "vip", "advocate"))
            if shape == "one_time":
                days = [pick.uniform(35, 400)]
            elif shape == "at_risk":
                days = sorted((pick.uniform(95, 400) for _ in range(pick.randint(2, 4))), reverse=True)
            elif shape == "regular":
                days = [pick.uniform(35, 80), pick.uniform(2, 25)]
            elif shape == "vip":
                days = sorted((pick.uniform(35, 80) for _ in range(pick.randint(5, 8))), reverse=True)
            else:
                days = [pick.uniform(2, 25) for _ in range(3)]
        orders = {
            f"o{index}-{n}": OrderEntry(
                net=Decimal(pick.choice(("19.99", "45.00", "120.00", "310.50"))),
                placed_at=now - timedelta(days=ago),
                counted=True,
                version=f"2026-01-01T00:00:{n:02d}.000000Z",
            )
            for n, ago in enumerate(days)
        }
        aggregate = Aggregate(orders=orders)
        written = segments_of(aggregate.standing(), rules, before)
        now_tags = segments_of(aggregate.standing(), rules, now)
        item = {
            "aggregate": aggregate.model_dump_json(),
            "revision": Decimal(len(orders)),
            "written_tags": sorted(written),
        }
        items.append((item, written != now_tags))
    return items


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    from local_runner.runner import free_port

    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return process, endpoint
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("moto server did not start")


class EmulatorProcess:
    """The Mailchimp emulator in a process of its own (its request log and members' tags are not this process's
    memory), driven through its admin routes."""

    def __init__(self) -> None:
        from local_runner.runner import free_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulators.mailchimp.server", "--port", str(self.port), "--api-key", API_KEY],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base_url = f"http://127.0.0.1:{self.port}/3.0"
        self.admin = f"http://127.0.0.1:{self.port}/_emulator"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.admin}/accounts", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the Mailchimp emulator did not start")

    def set_latency(self, latency_ms: int) -> None:
        requests.post(f"{self.admin}/faults", json={"latency_ms": latency_ms}, timeout=10).raise_for_status()

    def clear_requests(self) -> None:
        requests.delete(f"{self.admin}/requests", timeout=60).raise_for_status()

    def requests_made(self) -> int:
        return len(requests.get(f"{self.admin}/requests", timeout=120).json()["requests"])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def moto_rss_mb(process: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def environment() -> Iterator[tuple[Any, EmulatorProcess, str, subprocess.Popen[bytes]]]:
    """moto server in a process of its own, the Mailchimp emulator and the template's resources (the local
    runner's), a store with the default segment rules: (services, emulator, store id, moto's process)."""
    from commerce_sync.aws.settings import Settings
    from commerce_sync.aws.store_registry import SegmentRules, Store, StoreRegistry
    from commerce_sync.processing.services import Services

    from local_runner.runner import LocalRunner, RunnerConfig

    moto, endpoint = start_moto()
    mailchimp = EmulatorProcess()
    try:
        config = RunnerConfig(
            mailchimp_api_url=mailchimp.base_url,
            mailchimp_api_key=API_KEY,
            aws_endpoint_url=endpoint,
            environment=QUIET,
            echo_logs=False,
        )
        with LocalRunner(config):
            store_id = f"bench-{uuid.uuid4().hex[:8]}"
            StoreRegistry(Settings.from_environment().stores_table).put(
                Store(
                    store_id=store_id,
                    platform="canonical",
                    identity=store_id,
                    name="Bench",
                    list_id=LIST_ID,
                    currency_code="USD",
                    secret_id="unused",
                    segments=SegmentRules(),
                )
            )
            yield Services.from_environment(), mailchimp, store_id, moto
    finally:
        mailchimp.stop()
        moto.kill()
        moto.wait()


def load(services: Any, store_id: str, numbers: Iterator[int], pool: list[tuple[dict[str, Any], bool]]) -> int:
    """The aggregates of customers `numbers` written into the sync-state table (batch writes); how many."""
    from commerce_sync.segments.aggregate import shard_of

    count = 0
    with services.sync_state.table.batch_writer() as writer:
        for number in numbers:
            customer, _ = customer_of(number)
            item, _ = pool[number % len(pool)]
            writer.put_item(
                Item={
                    "pk": f"{store_id}#segment#{customer}",
                    "sk": "state",
                    **item,
                    "segment_shard": shard_of(store_id, customer),
                    "segment_customer": customer,
                }
            )
            count += 1
    return count


def add_members(services: Any, numbers: list[int]) -> None:
    client = replace(services.mailchimp(), max_connections=8)

    def add(number: int) -> None:
        customer, email = customer_of(number)
        client.put_member(LIST_ID, customer, {"email_address": email, "status_if_new": "transactional"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, numbers))


def report_pass(summary: dict[str, Any], seconds: float, expected: int, requests_made: int, args: Any) -> None:
    examined = summary["examined"]
    print(f"  {seconds:.1f} s wall for {examined:,} aggregates ({summary['pages']:,} index pages)")
    print(
        f"  {examined / seconds:,.0f} aggregates/s; {seconds / examined * 1e6:.0f} µs per aggregate; "
        f"{seconds / summary['pages'] * 1000:.0f} ms per page"
    )
    print(
        f"  tag writes: {summary['changed']:,} (expected {expected:,}: only changes); tags added "
        f"{summary['tags_added']:,}, removed {summary['tags_removed']:,}; skipped without a member "
        f"{summary['skipped_no_member']}; dead-lettered {summary['dead_lettered']}"
    )
    floor = requests_made * args.latency_ms / 1000 / args.concurrency
    print(
        f"  Mailchimp requests: {requests_made:,} (a status read and a tag write per change), {args.latency_ms} ms "
        f"each on {args.concurrency} workers: a floor of {floor:.0f} s ({floor / seconds:.0%} of the wall time)"
    )


def measure_pass_streamed(args: argparse.Namespace) -> None:
    """The pass over `args.aggregates` with the index Query served from a stream (module docstring, 1)."""
    from commerce_sync.segments.aggregate import SHARDS, Listed, ListedPage, Stored
    from commerce_sync.segments.nightly import SegmentPass

    now = datetime.now(UTC)
    pool = aggregate_pool(now, args.crossing)
    total = args.aggregates
    per_shard = -(-total // SHARDS)
    crossing = [n for n in range(total) if pool[n % len(pool)][1]]
    with environment() as (services, mailchimp, store_id, _moto):
        made = time.monotonic()
        load(services, store_id, iter(crossing), pool)
        add_members(services, crossing)
        print(
            f"pass over {total:,} aggregates, the index Query served from a stream: {len(crossing):,} crossing "
            f"customers' items and members made in {time.monotonic() - made:.0f} s (not measured)"
        )

        quarters: list[str] = []
        pages = {"n": 0}
        every = max(-(-total // 500) // 4, 1)

        def page(shard: str, start_key: dict[str, Any] | None = None, limit: int = 500) -> ListedPage:
            pages["n"] += 1
            if pages["n"] % every == 0:
                quarters.append(f"{pages['n']:,}: {memory_kb()['VmRSS'] / 1024:.0f} MB")
            index = int(shard.rsplit("#", 1)[1], 16)
            first = int(start_key["n"]) + 1 if start_key else index * per_shard
            last = min((index + 1) * per_shard, total)
            numbers = range(first, min(first + limit, last))
            listed = [Listed(customer_of(n)[0], Stored.of_item(pool[n % len(pool)][0])) for n in numbers]
            more = numbers and numbers[-1] + 1 < last
            return ListedPage(listed, {"n": numbers[-1]} if more else None)

        segment_pass = SegmentPass(services)
        segment_pass.aggregates.page = page  # type: ignore[method-assign]
        mailchimp.set_latency(args.latency_ms)
        mailchimp.clear_requests()
        with MemorySampler() as memory:
            started = time.monotonic()
            summary = segment_pass.run(store_id, trigger="bench", remaining_ms=lambda: 10**9, at=now.isoformat())
            seconds = time.monotonic() - started
        requests_made = mailchimp.requests_made()
    report_pass(summary, seconds, len(crossing), requests_made, args)
    print("  RSS after page " + ", ".join(quarters))
    print(f"  {memory.line()}")


def measure_pass_moto(args: argparse.Namespace) -> None:
    """The pass over `args.moto_aggregates` listed through moto's index (module docstring, 2)."""
    from commerce_sync.segments.nightly import SegmentPass

    now = datetime.now(UTC)
    pool = aggregate_pool(now, args.crossing)
    total = args.moto_aggregates
    crossing = [n for n in range(total) if pool[n % len(pool)][1]]
    with environment() as (services, mailchimp, store_id, moto):
        made = time.monotonic()
        load(services, store_id, iter(range(total)), pool)
        add_members(services, crossing)
        print(
            f"pass over {total:,} aggregates in moto server, listed through its index: loaded in "
            f"{time.monotonic() - made:.0f} s (moto RSS {moto_rss_mb(moto):.0f} MB)"
        )
        mailchimp.set_latency(args.latency_ms)
        mailchimp.clear_requests()
        with MemorySampler() as memory:
            started = time.monotonic()
            summary = SegmentPass(services).run(
                store_id, trigger="bench", remaining_ms=lambda: 10**9, at=now.isoformat()
            )
            seconds = time.monotonic() - started
        requests_made = mailchimp.requests_made()
    report_pass(summary, seconds, len(crossing), requests_made, args)
    print(f"  {memory.line()}")


def streamed(pool: list[tuple[dict[str, Any], bool]], count: int) -> Iterator[tuple[str, dict[str, Any], bool]]:
    for number in range(count):
        item, crosses = pool[number % len(pool)]
        yield f"{number:032x}", item, crosses


def measure_evaluation(args: argparse.Namespace) -> None:
    from commerce_sync.aws.store_registry import SegmentRules
    from commerce_sync.segments.aggregate import Stored
    from commerce_sync.segments.rules import segments_of

    now = datetime.now(UTC)
    pool = aggregate_pool(now, args.crossing)
    rules = SegmentRules()
    changes = expected = 0
    checkpoints: list[str] = []
    with MemorySampler() as memory:
        started = time.monotonic()
        for number, (_, item, crosses) in enumerate(streamed(pool, args.evaluate), start=1):
            stored = Stored.of_item(item)
            wanted = segments_of(stored.aggregate.standing(), rules, now)
            changes += wanted != stored.written
            expected += crosses
            if number % (args.evaluate // 4 or 1) == 0:
                checkpoints.append(f"{number:,}: {memory_kb()['VmRSS'] / 1024:.0f} MB")
        seconds = time.monotonic() - started
    print(f"evaluation alone over {args.evaluate:,} streamed aggregates: {seconds:.1f} s wall")
    print(f"  {args.evaluate / seconds:,.0f} aggregates/s, {seconds / args.evaluate * 1e6:.1f} µs per aggregate")
    print(f"  changes found: {changes:,} (expected {expected:,}; {changes / args.evaluate:.2%} of customers)")
    print("  RSS after " + ", ".join(checkpoints))
    print(f"  {memory.line()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregates", type=int, default=1_000_000, help="aggregates of the pass (streamed index)")
    parser.add_argument("--moto-aggregates", type=int, default=5_000, help="aggregates of the pass in moto's index")
    parser.add_argument("--evaluate", type=int, default=1_000_000, help="aggregates of the evaluation alone")
    parser.add_argument("--crossing", type=float, default=0.01, help="fraction that crossed a threshold")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Mailchimp request")
    parser.add_argument("--concurrency", type=int, default=4, help="the pass's workers (SEGMENT_PASS_CONCURRENCY)")
    args = parser.parse_args()
    os.environ["SEGMENT_PASS_CONCURRENCY"] = str(args.concurrency)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.evaluate:
        measure_evaluation(args)
    if args.aggregates:
        measure_pass_streamed(args)
    if args.moto_aggregates:
        measure_pass_moto(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
