"""Issue 12: the promotions part of the nightly catalog sync at 10,000 rules with 100,000 codes, against emulators
on 127.0.0.1.

Setup (this process), as bench_product_sync.py's (whose pieces it uses): moto server for template.yaml's AWS
resources (stores, secrets, queues), the Mailchimp emulator with 50 ms added to every request and its
10-connection cap, Shopify emulators serving generated price rules and discount codes (computed on demand;
emulators/shopify/discounts.py), and the sync-state table as an in-memory stub in a process of its own (moto's
DynamoDB would make the benchmark measure moto; the stub evaluates the conditions the sync uses and counts the
calls as DynamoDB would bill them). Each sync runs in a child process: the layer's CatalogSync.run with
`what=["promotions"]`, as the function's handler calls it, looping over continuations as the product queue
would, so its peak RSS (VmHWM) is the sync's alone.

Printed:
  (a) first full sync of --rules rules with --codes-per-rule codes each: wall time, Mailchimp requests (counted by
      the emulator: direct writes, POST /batches, status polls) and the operations the batches carried; the
      requests as a ratio of the writes a sync of one write per request would make; throughput against the
      ceiling that 10 connections at 50 ms allow (200 requests/s);
  (b) second run without a change: wall time and Mailchimp writes (target 0);
  (c) peak RSS of the sync at --small-rules rules, at --rules rules, and for a store of one rule with
      --single-use-codes codes (target: flat).

The emulator runs batch operations as fast as it can (they are not HTTP requests, so without the 50 ms); real
Mailchimp runs a batch asynchronously and can take minutes. --batch-op-delay-ms models a server-side cost per
operation.

    .venv/bin/python bench/bench_promotions.py [--rules 10000] [--codes-per-rule 10] [--small-rules 1000]
        [--single-use-codes 100000] [--latency-ms 50] [--batch-op-delay-ms 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT), str(ROOT / "bench")]

import bench_product_sync as catalog_bench  # noqa: E402  (the stubbed sync-state table, the environment)

TOKEN = "shpat_bench_promotions"
CEILING_CONNECTIONS = catalog_bench.CEILING_CONNECTIONS


def child_sync(store_id: str) -> dict[str, Any]:
    from commerce_sync.catalog.promotion_state import PromotionState
    from commerce_sync.catalog.run import CatalogSync
    from commerce_sync.catalog.state import CatalogState
    from commerce_sync.processing.services import Services

    sync = CatalogSync(Services.from_environment())
    resource_stub = catalog_bench.RemoteResource(os.environ["BENCH_SYNC_STATE"])
    sync.state = CatalogState(os.environ["SYNC_STATE_TABLE"], resource_stub)
    sync.promotions.state = PromotionState(os.environ["SYNC_STATE_TABLE"], resource_stub)
    started = time.monotonic()
    run_id = None
    invocations = 0
    while True:
        deadline = time.monotonic() + 900  # a fresh Lambda invocation's 15 minutes
        result = sync.run(
            store_id,
            trigger="bench",
            remaining_ms=lambda deadline=deadline: int((deadline - time.monotonic()) * 1000),
            run_id=run_id,
            what=["promotions"],
        )
        invocations += 1
        if result["status"] != "continued":
            break
        run_id = result["run_id"]
    return {
        "result": result,
        "wall": time.monotonic() - started,
        "invocations": invocations,
        "rss_mb": catalog_bench.peak_rss_mb(),
        "state_calls": resource_stub.counts,
    }


def add_shop(rules: int, codes_per_rule: int) -> tuple[str, Any]:
    from commerce_sync.aws.settings import Settings

    from emulators.shopify import ShopifyEmulator
    from emulators.shopify.discounts import generated_discount_code, generated_price_rule
    from operator_cli.stores import NewStore, add_store

    shop = ShopifyEmulator(f"promo-{uuid.uuid4().hex[:6]}.myshopify.com", TOKEN).start()
    shop.discounts.generate(
        rules, codes_per_rule, partial(generated_price_rule), generated_discount_code, first_code_id=1_000_000
    )
    store_id = f"promo-{rules}-{uuid.uuid4().hex[:6]}"
    add_store(
        Settings.from_environment(),
        NewStore(
            store_id=store_id,
            platform="shopify",
            identity=shop.shop_domain,
            name=f"Bench promotions {rules}",
            list_id="bench-list",
            currency_code="USD",
            webhook_secret="bench",
            platform_api_url=shop.base_url,
            platform_api_credentials={"access_token": TOKEN},
        ),
    )
    return store_id, shop


def in_child(env: dict[str, str], store_id: str) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", store_id],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise SystemExit(f"the sync failed:\n{answer.stderr[-4000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def report(args: argparse.Namespace) -> None:
    env, mailchimp, counter, servers, _ = catalog_bench.start_environment(args)
    shops: list[Any] = []
    try:
        total_codes = args.rules * args.codes_per_rule
        print(
            f"store: {args.rules:,} generated Shopify price rules with {args.codes_per_rule} codes each "
            f"({total_codes:,} codes); Mailchimp emulator +{args.latency_ms} ms a request, {CEILING_CONNECTIONS} "
            "connections; sync-state table: in-memory stub (own process); stores, secrets, queues: moto server"
        )
        small_id, shop = add_shop(args.small_rules, args.codes_per_rule)
        shops.append(shop)
        small = in_child(env, small_id)

        big_id, shop = add_shop(args.rules, args.codes_per_rule)
        shops.append(shop)
        before = counter.snapshot()
        first = in_child(env, big_id)
        first_counts = counter.since(before)
        before = counter.snapshot()
        second = in_child(env, big_id)
        second_counts = counter.since(before)

        single_id, shop = add_shop(1, args.single_use_codes)
        shops.append(shop)
        single = in_child(env, single_id)
    finally:
        for shop in shops:
            shop.stop()
        mailchimp.stop()
        for server in servers:
            server.shutdown() if hasattr(server, "shutdown") else server.stop()

    p1, p2 = first["result"]["promotions"], second["result"]["promotions"]
    written = p1["rules_created"] + p1["codes_created"]
    print(
        f"\n(a) first sync of {args.rules:,} rules and {total_codes:,} codes: {first['wall']:.1f} s "
        f"({first['invocations']} invocation(s)); {p1['rules_created']:,} rules and {p1['codes_created']:,} codes "
        f"created, {p1['rules_failed'] + p1['codes_failed']} failed"
    )
    direct = first_counts["http_writes"] - first_counts["batch_posts"]
    print(
        f"    Mailchimp requests: {first_counts['http']:,} ({first_counts['batch_posts']} POST /batches carrying "
        f"{first_counts['batch_operations']:,} operations, {direct} direct writes, the rest status polls): "
        f"{first_counts['http'] / max(written, 1):.4f} of the {written:,} requests one write a request would make"
    )
    ceiling_rate = CEILING_CONNECTIONS * 1000 / args.latency_ms
    rate = written / first["wall"]
    print(
        f"    throughput: {rate:,.0f} writes/s = {rate / ceiling_rate:.2f}x the {ceiling_rate:.0f} requests/s ceiling "
        f"({CEILING_CONNECTIONS} connections at {args.latency_ms} ms: {written / ceiling_rate:,.0f} s for these writes "
        "at one a request), on one connection"
    )
    calls = ", ".join(f"{name} {count:,}" for name, count in sorted(first["state_calls"].items()))
    print(f"    sync-state calls (as DynamoDB would count them): {calls}")
    second_writes = second_counts["http_writes"] + second_counts["batch_operations"]
    print(
        f"(b) second run, no change: {second['wall']:.1f} s; Mailchimp writes: {second_writes} (target 0), Mailchimp "
        f"requests: {second_counts['http']}; {p2['rules_unchanged']:,} rules and {p2['codes_unchanged']:,} codes "
        "unchanged"
    )
    print(
        f"(c) peak RSS of the sync: {small['rss_mb']:.0f} MB at {args.small_rules:,} rules, {first['rss_mb']:.0f} MB "
        f"at {args.rules:,} (first run), {second['rss_mb']:.0f} MB (second run), {single['rss_mb']:.0f} MB for one "
        f"rule of {args.single_use_codes:,} single-use codes ({single['wall']:.1f} s, "
        f"{single['result']['promotions']['codes_created']:,} created); spread "
        f"{max(small['rss_mb'], first['rss_mb'], second['rss_mb'], single['rss_mb']) - small['rss_mb']:+.0f} MB "
        "(target: flat)"
    )
    print(
        "    note: the emulator runs batch operations without the per-request latency; real Mailchimp runs a "
        "batch asynchronously (minutes for thousands of operations), see --batch-op-delay-ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--codes-per-rule", type=int, default=10)
    parser.add_argument("--small-rules", type=int, default=1_000)
    parser.add_argument("--single-use-codes", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--batch-op-delay-ms", type=float, default=0.0)
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_sync(args.child[0]), default=str))
        return
    args.small_rules = min(args.small_rules, args.rules)
    report(args)


if __name__ == "__main__":
    main()
