"""AWS requests per event, by function and operation, counted where AWS would bill them: at the moto server of
the local runner (local_runner.aws_requests), for real signed Shopify deliveries through the local HTTP API
(bench/local_usage.py drives them).

For each event kind (a new cart, a customer update, a new order, its payment, a product update) it sends
`--events` deliveries, each of another entity, from `--senders` threads at once (so the queues hold several
events and the consumers get batches, as under load; `--senders 1` gives smaller ones), waits until every
queue is empty, and divides each function's requests by the deliveries. Containers are warmed first with
`--senders` deliveries of each kind at once (as many containers as the measured ones use), so the figures are warm
ones. The runner's own requests (its SQS pollers, standing in for Lambda's event source
mappings, long-polling while idle) are printed apart: they depend on wall time, not on the events.

    .venv/bin/python bench/bench_aws_calls.py [--events 50] [--senders 8] [--results .bench-results/aws_calls.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_usage
import results

DEFAULT_RESULTS = results.RESULTS_DIR / "aws_calls.json"
RUNNER = "runner"
# DynamoDB requests per event of the consuming function before issue 17 (commit a570225, where this bench first ran;
# `--events 40 --senders 8`, the same with `--senders 1`): the report prints them beside today's.
BEFORE = {
    "commit": "a570225",
    "dynamodb_per_event": {"cart": 20.1, "customer": 16.1, "order_created": 31.1, "order_paid": 25.1, "product": 10.0},
    "receiver_dynamodb_per_delivery": 2.0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50, help="deliveries of each kind (default 50)")
    parser.add_argument("--senders", type=int, default=8, help="deliveries sent at once (default 8)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where the JSON figures go")
    args = parser.parse_args()

    measured = local_usage.measure(args.events, args.senders)
    rows: list[dict[str, Any]] = []
    runner_calls: Counter[str] = Counter()
    for kind in measured.kinds:
        by_function: dict[str, Counter[str]] = defaultdict(Counter)
        for request in kind.requests:
            if request.caller == RUNNER:
                runner_calls[request.call] += 1
            else:
                by_function[request.caller][request.call] += 1
        consumers = [call for call in kind.invocations if call.function != "WebhooksFunction"]
        batch = sum(call.records for call in consumers) / len(consumers) if consumers else 0.0
        for function, calls in sorted(by_function.items()):
            per_service: Counter[str] = Counter()
            for call, count in calls.items():
                per_service[call.split(":", 1)[0]] += count
            rows.append(
                {
                    "function": function,
                    "event_kind": kind.kind,
                    "events": kind.events,
                    "calls": dict(sorted(calls.items())),
                    "per_event": {
                        service: round(count / kind.events, 2) for service, count in sorted(per_service.items())
                    },
                    "consumer_batch_size": round(batch, 1),
                    "seconds": round(kind.seconds, 1),
                }
            )

    command = f".venv/bin/python bench/bench_aws_calls.py --events {args.events} --senders {args.senders}"
    print(f"AWS requests per event, warm, {args.events} Shopify deliveries of each kind, {args.senders} at once")
    print(f"({command})")
    for kind in measured.kinds:
        kind_rows = [row for row in rows if row["event_kind"] == kind.kind]
        batch = kind_rows[0]["consumer_batch_size"] if kind_rows else 0
        print(f"\n{kind.kind} (consumer batches of {batch} on average):")
        for row in kind_rows:
            services = ", ".join(f"{service} {count:g}" for service, count in row["per_event"].items())
            print(f"  {row['function']:<28} {services}")
            for call, count in row["calls"].items():
                print(f"      {count / kind.events:7.2f}  {call}")
    print(f"\nbefore (commit {BEFORE['commit']}), DynamoDB requests per event of the consumer:")
    for kind, count in BEFORE["dynamodb_per_event"].items():
        now = next(
            (
                row["per_event"].get("dynamodb", 0)
                for row in rows
                if row["event_kind"] == kind and row["function"] != "WebhooksFunction"
            ),
            None,
        )
        print(f"  {kind:<14} {count:5.1f} -> {now if now is not None else '?'}")
    print("\nthe runner's own requests over all kinds (SQS pollers standing in for Lambda's event source mappings):")
    for call, count in sorted(runner_calls.items()):
        print(f"  {count:7d}  {call}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": results.machine(),
                "command": command,
                "senders": args.senders,
                "rows": rows,
                "runner_calls": dict(sorted(runner_calls.items())),
                "before": BEFORE,
                "target": {"dynamodb_per_event": 4},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
