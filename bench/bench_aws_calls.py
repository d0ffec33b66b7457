"""AWS requests per event, by function and operation, counted where AWS would bill them: at the moto server of
the local runner (local_runner.aws_requests), for real signed Shopify deliveries through the local HTTP API.

For each event kind (a new cart, a customer update, a new order, its payment, a product update) it sends
`--events` deliveries, each of another entity, from `--senders` threads at once (so the queues hold several
events and the consumers get batches, as under load; `--senders 1` gives batches of one), waits until every
queue is empty, and divides each function's requests by the deliveries. Containers are warmed first (one
delivery of each kind, not counted), so the figures are warm ones, as almost every event in AWS is. The
runner's own requests (its SQS pollers, standing in for Lambda's event source mappings, long-polling while
idle) are printed apart: they depend on wall time, not on the events.

    .venv/bin/python bench/bench_aws_calls.py [--events 50] [--senders 8] [--results .bench-results/aws_calls.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT)]
# Production logs at INFO; metrics are what each invocation prints once (EMF), not an AWS request.
QUIET = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "true"}
os.environ.update(QUIET)

API_KEY = "0123456789abcdef0123456789abcdef-us6"
SHOP = "bench-calls.myshopify.com"
STORE_ID = "bench-calls"
EVENTS = ROOT / "events"
DEFAULT_RESULTS = ROOT / ".bench-results" / "aws_calls.json"

Delivery = tuple[str, bytes]


def _sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return body


def _moment(n: int) -> str:
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)).isoformat()


def cart(n: int) -> Delivery:
    checkout = _sample("shopify_checkout_update_body.json")
    checkout.update(
        id=900_000 + n,
        token=f"bench-token-{n}",
        cart_token=f"bench-cart-{n}",
        email=f"shopper{n}@example.com",
        updated_at=_moment(n),
    )
    if isinstance(checkout.get("customer"), dict):
        checkout["customer"].update(id=800_000 + n, email=checkout["email"])
    return "checkouts/update", json.dumps(checkout).encode()


def customer(n: int) -> Delivery:
    body = _sample("shopify_customer_update_body.json")
    body.update(id=700_000 + n, email=f"customer{n}@example.com", updated_at=_moment(n))
    return "customers/update", json.dumps(body).encode()


def _order(n: int, financial_status: str, seconds: int) -> dict[str, Any]:
    body = _sample("shopify_order_body.json")
    body.update(
        id=600_000 + n,
        name=f"#B{n}",
        order_number=100_000 + n,
        email=f"buyer{n}@example.com",
        contact_email=f"buyer{n}@example.com",
        financial_status=financial_status,
        updated_at=_moment(seconds),
        checkout_token=f"bench-order-checkout-{n}",
        cart_token=f"bench-order-cart-{n}",
        checkout_id=500_000 + n,
    )
    if isinstance(body.get("customer"), dict):
        body["customer"].update(id=400_000 + n, email=body["email"])
    return body


def order_created(n: int) -> Delivery:
    return "orders/create", json.dumps(_order(n, "pending", n)).encode()


def order_paid(n: int) -> Delivery:
    return "orders/paid", json.dumps(_order(n, "paid", 100_000 + n)).encode()


def product(n: int) -> Delivery:
    body = _sample("shopify_product_update_body.json")
    body.update(id=300_000 + n, title=f"Bench product {n}", updated_at=_moment(n))
    for index, variant in enumerate(body.get("variants") or []):
        variant.update(id=(300_000 + n) * 10 + index, product_id=300_000 + n)
    return "products/update", json.dumps(body).encode()


# Each kind's deliveries; `order_paid` changes the orders `order_created` made, so it runs after it.
KINDS: dict[str, Callable[[int], Delivery]] = {
    "cart": cart,
    "customer": customer,
    "order_created": order_created,
    "order_paid": order_paid,
    "product": product,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50, help="deliveries of each kind (default 50)")
    parser.add_argument("--senders", type=int, default=8, help="deliveries sent at once (default 8)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where the JSON figures go")
    args = parser.parse_args()

    from commerce_sync.aws.settings import Settings

    from emulators.mailchimp import MailchimpEmulator
    from local_runner.aws_requests import RUNNER, AwsRequestLog
    from local_runner.runner import LocalRunner, RunnerConfig
    from local_runner.senders import send_shopify
    from operator_cli.stores import NewStore, add_store, generate_webhook_secret

    rows: list[dict[str, Any]] = []
    runner_calls: Counter[str] = Counter()
    with MailchimpEmulator(api_key=API_KEY) as mailchimp:
        config = RunnerConfig(
            mailchimp_api_url=mailchimp.base_url, mailchimp_api_key=API_KEY, environment=QUIET, echo_logs=False
        )
        with LocalRunner(config) as runner:
            secret = generate_webhook_secret()
            add_store(
                Settings.from_environment(),
                NewStore(
                    store_id=STORE_ID,
                    platform="shopify",
                    identity=SHOP,
                    name="Bench",
                    list_id="bench-list",
                    currency_code="USD",
                    webhook_secret=secret,
                ),
            )

            def deliver(kind: str, n: int) -> None:
                topic, body = KINDS[kind](n)
                response = send_shopify(runner.url, secret, topic, SHOP, body)
                if response.status_code != 202:
                    raise SystemExit(f"{kind} delivery {n} answered {response.status_code}: {response.text}")

            # Warm every container once (cold starts read secrets and tables' descriptions once; not per event).
            for kind in KINDS:
                deliver(kind, 0)
            runner.wait_until_idle(timeout=120)

            for kind in KINDS:
                mark = runner.aws_requests.mark()
                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=args.senders) as senders:
                    list(senders.map(lambda n, kind=kind: deliver(kind, n), range(1, args.events + 1)))
                runner.wait_until_idle(timeout=300)
                elapsed = time.monotonic() - started
                records = runner.aws_requests.since(mark)
                runner_calls.update(AwsRequestLog.counts(records, RUNNER))
                by_function: dict[str, list[Any]] = defaultdict(list)
                for record in records:
                    if record.caller != RUNNER:
                        by_function[record.caller].append(record)
                for function, made in sorted(by_function.items()):
                    calls = AwsRequestLog.counts(made)
                    per_service: Counter[str] = Counter()
                    for call, count in calls.items():
                        per_service[call.split(":", 1)[0]] += count
                    rows.append(
                        {
                            "function": function,
                            "event_kind": kind,
                            "events": args.events,
                            "calls": dict(sorted(calls.items())),
                            "per_event": {
                                service: round(count / args.events, 2) for service, count in sorted(per_service.items())
                            },
                            "request_bytes_per_event": round(sum(r.request_bytes for r in made) / args.events),
                            "seconds": round(elapsed, 1),
                        }
                    )

    command = f".venv/bin/python bench/bench_aws_calls.py --events {args.events} --senders {args.senders}"
    print(
        f"AWS requests per event, warm, {args.events} Shopify deliveries of each kind, {args.senders} at once "
        f"({command})"
    )
    for kind in KINDS:
        print(f"\n{kind}:")
        for row in (row for row in rows if row["event_kind"] == kind):
            services = ", ".join(f"{service} {count:g}" for service, count in row["per_event"].items())
            print(f"  {row['function']:<28} {services}")
            for call, count in row["calls"].items():
                print(f"      {count / args.events:7.2f}  {call}")
    print("\nthe runner's own requests over all kinds (SQS pollers standing in for Lambda's event source mappings):")
    for call, count in sorted(runner_calls.items()):
        print(f"  {count:7d}  {call}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command,
                "senders": args.senders,
                "rows": rows,
                "runner_calls": dict(sorted(runner_calls.items())),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
