"""Issue 24: the function set with concurrency on, as Lambda runs it: Mailchimp's requests in flight and
the throughput of the order consumer with 1, 4 and 10 containers at once.

Each run starts a local runner (moto server, the template's resources, the HTTP API, every function in
container processes of its own) against the Mailchimp emulator with --latency-ms added to every request (a
real API answers in tens of milliseconds, the emulator in one) and its cap of 10 connections. A burst of
--events canonical `order.updated` deliveries (each a different order by a different shopper, signed) is
sent through the HTTP API by 8 senders; the time is from the first delivery to the last queue drained.
Containers are warmed up first (cold starts are a separate cost, counted and printed).

    consumers 1:  --concurrency 1 (every function one container at a time)
    consumers N:  OrderStatusMaxConcurrency=N and CartEventsMaxConcurrency=N (template parameters)
    mixed:        the template's defaults, carts and orders together: the deployment's own ceiling

Printed per run: orders/s, Mailchimp requests/s, the most Mailchimp requests in flight at once (the
emulator's count; the target is <= 10, Mailchimp's connection limit), 429s seen, cold starts and the
most containers that ran at once per function.

    .venv/bin/python bench/bench_concurrency.py [--events 300] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commerce_sync.aws.settings import Settings

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner, RunnerConfig
from local_runner.senders import send_canonical
from local_runner.workers import FunctionPool
from operator_cli.stores import NewStore, add_store, generate_webhook_secret

API_KEY = "0123456789abcdef0123456789abcdef-us6"
MAILCHIMP_CONNECTION_LIMIT = 10
SENDERS = 8


def order_event(store_id: str) -> dict[str, Any]:
    order_id = uuid.uuid4().hex[:16]
    return {
        "schema_version": "1",
        "event_id": f"bench:order:{order_id}:1",
        "type": "order.updated",
        "store_id": store_id,
        "platform": "canonical",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": order_id,
        "entity_version": "2025-03-14T13:18:02.000000Z",
        "data": {
            "id": order_id,
            "customer": {"email": f"shopper-{order_id}@example.com", "consent": {"state": "granted"}},
            "currency_code": "EUR",
            "financial_status": "paid",
            "order_total": "42.50",
            "lines": [
                {
                    "id": "l1",
                    "product_id": "bench-socks",
                    "variant_id": "bench-socks-m",
                    "product_title": "Socks",
                    "quantity": 2,
                    "price": "21.25",
                }
            ],
        },
    }


def cart_event(store_id: str) -> dict[str, Any]:
    cart_id = uuid.uuid4().hex[:16]
    event = order_event(store_id)
    event.update(type="cart.updated", event_id=f"bench:cart:{cart_id}:1", entity_id=cart_id)
    data = event["data"]
    data.pop("financial_status")
    data.update(id=cart_id, checkout_url=f"https://shop.example.com/checkout/{cart_id}")
    return event


def deliver(runner: LocalRunner, secret: str, store_id: str, events: list[dict[str, Any]]) -> None:
    def send(event: dict[str, Any]) -> None:
        response = send_canonical(runner.url, secret, store_id, json.dumps(event).encode())
        if response.status_code != 202:
            raise RuntimeError(f"delivery refused: {response.status_code} {response.text}")

    with ThreadPoolExecutor(SENDERS) as senders:
        list(senders.map(send, events))


def run(label: str, config: RunnerConfig, mailchimp: MailchimpEmulator, events: int, mixed: bool) -> float:
    """One run; its events/s."""
    with LocalRunner(config) as runner:
        secret = generate_webhook_secret()
        store_id = f"bench-{uuid.uuid4().hex[:8]}"
        add_store(
            Settings.from_environment(),
            NewStore(
                store_id=store_id,
                platform="canonical",
                identity=store_id,
                name="Bench",
                list_id="bench-list",
                currency_code="EUR",
                webhook_secret=secret,
            ),
        )
        consumers = runner.functions["OrderStatusFunction"]
        width = consumers.concurrency if isinstance(consumers, FunctionPool) else 1

        def burst(count: int) -> list[dict[str, Any]]:
            if not mixed:
                return [order_event(store_id) for _ in range(count)]
            return [(order_event if i % 2 else cart_event)(store_id) for i in range(count)]

        deliver(runner, secret, store_id, burst(max(2 * width, 4)))  # warm-up: containers started
        runner.wait_until_idle(timeout=120)
        mailchimp.reset_peak_in_flight()
        mailchimp.clear_requests()

        started = time.monotonic()
        deliver(runner, secret, store_id, burst(events))
        runner.wait_until_idle(timeout=600)
        elapsed = time.monotonic() - started

        requests = mailchimp.requests
        throttled = sum(1 for r in requests if r["status"] == 429)
        pools = {name: function for name, function in runner.functions.items() if isinstance(function, FunctionPool)}
        containers = ", ".join(
            f"{name.removesuffix('Function')} {pool.peak_concurrency}/{pool.concurrency}"
            for name, pool in pools.items()
            if pool.cold_starts
        )
        cold = sum(pool.cold_starts for pool in pools.values())
        peak = mailchimp.peak_in_flight
        verdict = "ok" if peak <= MAILCHIMP_CONNECTION_LIMIT else "TARGET MISSED"
        print(
            f"  {label:<26} {events / elapsed:7.1f} events/s  {len(requests) / elapsed:7.1f} Mailchimp req/s  "
            f"peak in flight {peak:2d} (<= {MAILCHIMP_CONNECTION_LIMIT}: {verdict})  429s {throttled}  "
            f"cold starts {cold}  containers at once (peak/cap): {containers}"
        )
        return events / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=50)
    arguments = parser.parse_args(argv)

    mailchimp = MailchimpEmulator(api_key=API_KEY, account_id="bench", host="127.0.0.1", port=0)
    mailchimp.start()
    mailchimp.set_faults(latency_ms=arguments.latency_ms)
    print(
        f"{arguments.events} events a run through the HTTP API ({SENDERS} senders); Mailchimp emulator "
        f"+{arguments.latency_ms} ms a request, {MAILCHIMP_CONNECTION_LIMIT}-connection cap"
    )
    base = {"mailchimp_api_url": mailchimp.base_url, "mailchimp_api_key": API_KEY, "echo_logs": False}
    rates: dict[int, float] = {}
    try:
        for consumers in (1, 4, 10):
            if consumers == 1:
                config = RunnerConfig(**base, concurrency=1)  # type: ignore[arg-type]
            else:
                overrides = {"OrderStatusMaxConcurrency": str(consumers), "CartEventsMaxConcurrency": str(consumers)}
                config = RunnerConfig(**base, parameter_overrides=overrides)  # type: ignore[arg-type]
            rates[consumers] = run(f"orders, {consumers} consumer(s)", config, mailchimp, arguments.events, mixed=False)
        print(
            "  throughput against 1 consumer: " + ", ".join(f"{n}: x{rate / rates[1]:.1f}" for n, rate in rates.items())
        )
        run("mixed, template defaults", RunnerConfig(**base), mailchimp, arguments.events, mixed=True)  # type: ignore[arg-type]
    finally:
        mailchimp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
