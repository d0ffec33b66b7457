"""`make cost`: dollars per million events of each kind and a month of a stated profile, from usage measured on the
local runner (bench/local_usage.py) and the dated price table (bench/aws_prices.csv); bench/cost_model.py prices it.

    .venv/bin/python bench/bench_cost.py [--events 40] [--senders 8] [--mailchimp-latency-ms 150]
        [--xray-sampled 0.05] [--lanes N] [--batching-window S] [--rate R] [--bulk-products 1000] [--bulk-orders 1000]
        [--results .bench-results/cost.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cost_model
import local_usage
import results
from rich.console import Console
from rich.table import Table

DEFAULT_RESULTS = results.RESULTS_DIR / "cost.json"
TARGET_USD_PER_MILLION = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40, help="deliveries of each kind (default 40)")
    parser.add_argument("--senders", type=int, default=8, help="deliveries sent at once (default 8)")
    parser.add_argument("--mailchimp-latency-ms", type=float, default=150.0)
    parser.add_argument("--xray-sampled", type=float, default=0.05, help="fraction of invocations traced")
    parser.add_argument("--lanes", type=int, default=None, help="ConsumerLanes to run with (default: the template's)")
    parser.add_argument(
        "--batching-window",
        type=float,
        default=None,
        help="ConsumerBatchingWindowSeconds to run with (default: the template's)",
    )
    parser.add_argument("--rate", type=float, default=None, help="deliveries a second (default: as fast as sent)")
    parser.add_argument("--bulk-products", type=int, default=1000, help="catalog sync of this many (0: skip)")
    parser.add_argument("--bulk-orders", type=int, default=1000, help="backfill of this many orders (0: skip)")
    parser.add_argument(
        "--dynamodb-provisioned",
        type=float,
        default=None,
        metavar="UTILIZATION",
        help="price DynamoDB as provisioned capacity used at this fraction (e.g. 0.7) instead of on-demand",
    )
    parser.add_argument("--prices", type=Path, default=cost_model.PRICES)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()

    prices = cost_model.load_prices(args.prices)
    if args.dynamodb_provisioned is not None:
        prices = cost_model.provisioned(prices, args.dynamodb_provisioned)
    measured = local_usage.measure(
        args.events, args.senders, lanes=args.lanes, batching_window=args.batching_window, rate=args.rate
    )
    assumptions = cost_model.Assumptions(
        mailchimp_latency_ms=args.mailchimp_latency_ms,
        xray_sampled_fraction=args.xray_sampled,
        consumer_lanes=measured.lanes,
    )

    def priced(kinds: list[local_usage.KindUsage]) -> list[cost_model.Usage]:
        return [
            cost_model.usage_of(
                kind.kind,
                kind.events,
                kind.requests,
                kind.invocations,
                kind.log_bytes,
                kind.mailchimp_requests,
                measured.memory_mb,
                measured.architectures,
                assumptions,
            )
            for kind in kinds
        ]

    usages = priced(measured.kinds)
    bulk = priced(
        local_usage.measure_bulk(args.bulk_products, args.bulk_orders, lanes=args.lanes)
        if args.bulk_products and args.bulk_orders
        else []
    )
    costs = {usage.kind: cost_model.cost_per_million(usage, prices) for usage in usages}
    # A product or an order of a bulk run, priced per thousand.
    bulk_costs = {
        usage.kind: {line: dollars / 1000 for line, dollars in cost_model.cost_per_million(usage, prices).items()}
        for usage in bulk
    }
    profile = cost_model.DEFAULT_PROFILE
    month = cost_model.monthly(profile, costs, prices)

    command = (
        f".venv/bin/python bench/bench_cost.py --events {args.events} --senders {args.senders} "
        f"--mailchimp-latency-ms {args.mailchimp_latency_ms:g} --xray-sampled {args.xray_sampled:g}"
        + (f" --lanes {args.lanes}" if args.lanes is not None else "")
        + (f" --batching-window {args.batching_window:g}" if args.batching_window is not None else "")
        + (f" --rate {args.rate:g}" if args.rate is not None else "")
        + f" --bulk-products {args.bulk_products} --bulk-orders {args.bulk_orders}"
        + (f" --dynamodb-provisioned {args.dynamodb_provisioned:g}" if args.dynamodb_provisioned is not None else "")
    )
    console = Console(width=160)
    table = Table(title=f"US dollars per million events, us-east-1 list prices ({command})")
    table.add_column("component")
    for usage in usages:
        table.add_column(usage.kind.replace("_", " "), justify="right")
    for component in cost_model.COMPONENTS:
        table.add_row(component.replace("_", " "), *(f"{costs[usage.kind][component]:.2f}" for usage in usages))
    table.add_row("total", *(f"[bold]{sum(costs[usage.kind].values()):.2f}[/bold]" for usage in usages))
    console.print(table)
    architectures = sorted(set(measured.architectures.values()))
    console.print(
        f"Measured: {args.events} deliveries of each kind, {args.senders} at once; consumer batches of "
        + ", ".join(f"{usage.kind} {usage.batch_size:.1f}" for usage in usages)
        + f". Assumed: Mailchimp answers in {args.mailchimp_latency_ms:g} ms, X-Ray traces "
        f"{args.xray_sampled:.0%} of invocations, functions on {'/'.join(architectures)}."
    )
    for usage in usages:
        if usage.kind in ("cart", "cart_update", "order_created", "order_paid"):
            dollars = sum(costs[usage.kind].values())
            verdict = "target met" if dollars <= TARGET_USD_PER_MILLION else "target missed"
            console.print(
                f"  {usage.kind}: ${dollars:.2f} per million (target ${TARGET_USD_PER_MILLION:.2f}: {verdict})"
            )

    if bulk:
        bulk_table = Table(title="US dollars per 1,000 products (catalog sync, first run) and orders (backfill)")
        bulk_table.add_column("component")
        for usage in bulk:
            bulk_table.add_column(usage.kind.replace("_", " "), justify="right")
        for component in cost_model.COMPONENTS:
            bulk_table.add_row(
                component.replace("_", " "), *(f"{bulk_costs[usage.kind][component]:.5f}" for usage in bulk)
            )
        bulk_table.add_row("total", *(f"[bold]{sum(bulk_costs[usage.kind].values()):.5f}[/bold]" for usage in bulk))
        console.print(bulk_table)
        console.print(
            "  Mailchimp runs batch operations on its side: what the function waits for them is not counted "
            "(the emulator runs them at once)."
        )

    monthly_table = Table(title=f"A month of {profile.describe()}")
    monthly_table.add_column("line")
    monthly_table.add_column("USD a month", justify="right")
    for line, dollars in month.items():
        monthly_table.add_row(line.replace("_", " "), f"{dollars:,.2f}")
    monthly_table.add_row("total", f"[bold]{cost_model.total(month.values()):,.2f}[/bold]")
    console.print(monthly_table)

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": results.machine(),
                "command": command,
                "assumptions": vars(assumptions) if hasattr(assumptions, "__dict__") else {},
                "prices": {key: vars(price) for key, price in prices.items()},
                "kinds": cost_model.as_json(usages, costs),
                "bulk": cost_model.as_json(bulk, bulk_costs, per="thousand"),
                "profile": {"description": profile.describe(), "stores": profile.stores, **profile.per_store},
                "monthly_usd": {line: round(dollars, 2) for line, dollars in month.items()},
                "monthly_total_usd": round(cost_model.total(month.values()), 2),
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
