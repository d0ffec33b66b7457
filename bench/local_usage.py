"""What each kind of webhook uses, measured on the local runner: the AWS requests the functions send (counted at its
moto server, local_runner.aws_requests), each invocation's duration and batch size, the bytes each function logs,
and the Mailchimp requests made. bench_aws_calls.py prints the requests; bench_cost.py prices all of it.

Real signed Shopify deliveries go through the local HTTP API, each of another entity, `senders` at once (so the
queues hold several events and the consumers get batches, as under load), and the runner is left to go idle after
each kind. Containers are warmed first (one delivery of each kind, not counted): the figures are warm ones, as
almost every event in AWS is.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT)]
# Production logs at INFO (the bytes logged are part of the bill); metrics would print one EMF line per invocation,
# as they do in AWS, so they are left on.
PRODUCTION_LOGGING = {"POWERTOOLS_LOG_LEVEL": "INFO"}
os.environ.update(PRODUCTION_LOGGING)

API_KEY = "0123456789abcdef0123456789abcdef-us6"
SHOP = "bench-usage.myshopify.com"
STORE_ID = "bench-usage"
EVENTS = ROOT / "events"
# The warm-up's entities: ids no measured delivery uses.
WARMUP_FIRST_ID = 90_000

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
        # Most carts come from no campaign (the sample's names a campaign Mailchimp does not have: one more request).
        landing_site="/products/trail-running-socks",
    )
    if isinstance(checkout.get("customer"), dict):
        checkout["customer"].update(id=800_000 + n, email=checkout["email"])
    return "checkouts/update", json.dumps(checkout).encode()


def cart_update(n: int) -> Delivery:
    """Cart n again, later, with a line more: the usual cart event (a shopper's cart changes several times)."""
    topic, body = cart(n)
    checkout = json.loads(body)
    checkout["updated_at"] = _moment(50_000 + n)
    if checkout.get("line_items"):
        checkout["line_items"][0]["quantity"] = int(checkout["line_items"][0].get("quantity") or 1) + 1
    return topic, json.dumps(checkout).encode()


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
        landing_site="/products/trail-running-socks",
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


# Each kind's deliveries; `cart_update` and `order_paid` change what `cart` and `order_created` made, so each runs
# after it.
KINDS: dict[str, Callable[[int], Delivery]] = {
    "cart": cart,
    "cart_update": cart_update,
    "customer": customer,
    "order_created": order_created,
    "order_paid": order_paid,
    "product": product,
}


@dataclass(frozen=True)
class Invocation:
    function: str
    seconds: float  # the handler's run, as measured here (stretched by a loaded machine)
    cpu_seconds: float  # the CPU time the handler used
    records: int  # SQS records in the batch; 1 for an API request
    entities: int  # the entities (store and entity id) the batch's records change; 1 for an API request


@dataclass
class KindUsage:
    """One kind's deliveries and everything they used."""

    kind: str
    events: int
    seconds: float
    requests: list[Any] = field(default_factory=list)  # local_runner.aws_requests.AwsRequest
    invocations: list[Invocation] = field(default_factory=list)
    log_bytes: dict[str, int] = field(default_factory=dict)  # by function
    mailchimp_requests: int = 0


@dataclass
class Measurement:
    kinds: list[KindUsage]
    memory_mb: dict[str, int]  # by function, from the template
    architectures: dict[str, str]  # by function, from the template
    lanes: int  # ConsumerLanes the consumers ran with


class _LogBytes:
    """A LogStream capture of whole lines: the bytes of each function's messages (what CloudWatch ingests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_function: dict[str, int] = defaultdict(int)

    def write(self, text: str) -> None:
        for line in text.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3:
                with self._lock:
                    self.by_function[parts[0]] += len(parts[2].encode()) + 1

    def take(self) -> dict[str, int]:
        with self._lock:
            taken, self.by_function = dict(self.by_function), defaultdict(int)
        return taken


def entities_of(event: Any) -> int:
    """The entities an SQS batch's canonical events change (each record its own when it cannot be read here)."""
    records = (event or {}).get("Records") if isinstance(event, dict) else None
    if not records:
        return 1
    seen = set()
    for number, record in enumerate(records):
        try:
            detail = json.loads(record["body"])["detail"]
            seen.add((detail["store_id"], detail["entity_id"]))
        except (KeyError, TypeError, ValueError):
            seen.add(("record", str(number)))
    return len(seen)


@contextmanager
def _timed_invocations(runner: Any, into: list[Invocation], lock: threading.Lock) -> Iterator[None]:
    """Each invocation that answered, with how long its handler ran (the runner's containers measure it: no cold
    start, no wait for a free container)."""

    def note(report: Any) -> None:  # local_runner.workers.InvocationReport
        with lock:
            entities = entities_of(report.event)
            into.append(Invocation(report.function, report.seconds, report.cpu_seconds, report.records, entities))

    pools = [function for function in runner.functions.values() if hasattr(function, "listeners")]
    for pool in pools:
        pool.listeners.append(note)
    try:
        yield
    finally:
        for pool in pools:
            pool.listeners.remove(note)


def _measured_kind(
    kind: str,
    events: int,
    run: Callable[[], None],
    idle_timeout: float,
    runner: Any,
    mailchimp: Any,
    invocations: list[Invocation],
    lock: threading.Lock,
    log_bytes: _LogBytes,
) -> KindUsage:
    """What `run` and everything it set off until the runner was idle used: AWS requests, invocations, log bytes
    and Mailchimp requests, counted from when it started."""
    mark = runner.aws_requests.mark()
    log_bytes.take()
    with lock:
        invocations.clear()
    mailchimp.clear_requests()
    started = time.monotonic()
    run()
    runner.wait_until_idle(timeout=idle_timeout)
    with lock:
        timed = list(invocations)
    return KindUsage(
        kind=kind,
        events=events,
        seconds=time.monotonic() - started,
        requests=runner.aws_requests.since(mark),
        invocations=timed,
        log_bytes=log_bytes.take(),
        mailchimp_requests=sum(1 for r in mailchimp.requests if r["source"] == "http"),
    )


def measure(
    events: int,
    senders: int,
    kinds: list[str] | None = None,
    lanes: int | None = None,
    batching_window: float | None = None,
    rate: float | None = None,
) -> Measurement:
    """Runs `events` deliveries of each kind (all by default) through a fresh local runner; `lanes` and
    `batching_window` override the template's ConsumerLanes and ConsumerBatchingWindowSeconds; `rate` paces the
    deliveries to that many a second (default: as fast as `senders` at once can send them)."""
    from commerce_sync.aws.settings import Settings

    from emulators.mailchimp import MailchimpEmulator
    from local_runner.runner import LocalRunner, RunnerConfig
    from local_runner.senders import send_shopify
    from operator_cli.stores import NewStore, add_store, generate_webhook_secret

    chosen = kinds or list(KINDS)
    usage: list[KindUsage] = []
    with MailchimpEmulator(api_key=API_KEY) as mailchimp:
        config = RunnerConfig(
            mailchimp_api_url=mailchimp.base_url,
            mailchimp_api_key=API_KEY,
            environment=PRODUCTION_LOGGING,
            echo_logs=False,
            parameter_overrides=overrides(lanes, batching_window),
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
                check=False,
            )

            def deliver(kind: str, n: int) -> None:
                topic, body = KINDS[kind](n)
                response = send_shopify(runner.url, secret, topic, SHOP, body)
                if response.status_code != 202:
                    raise SystemExit(f"{kind} delivery {n} answered {response.status_code}: {response.text}")

            # Warmed as many at once as are measured at once, so that every container the measured deliveries use is
            # warm (its store read, its account's health known): one delivery warmed one container a function, and the
            # first kind measured paid for the others' first reads. Entities of their own (ids past the measured ones).
            for kind in chosen:
                with ThreadPoolExecutor(max_workers=senders) as pool:
                    list(pool.map(partial(deliver, kind), range(WARMUP_FIRST_ID, WARMUP_FIRST_ID + senders)))
                runner.wait_until_idle(timeout=120)

            invocations: list[Invocation] = []
            lock = threading.Lock()
            log_bytes = _LogBytes()
            with _timed_invocations(runner, invocations, lock), runner.logs.capture(log_bytes, whole_lines=True):
                for kind in chosen:

                    def send_all(kind: str = kind) -> None:
                        started = time.monotonic()

                        def paced(n: int) -> None:
                            if rate:
                                time.sleep(max(0.0, started + (n - 1) / rate - time.monotonic()))
                            deliver(kind, n)

                        with ThreadPoolExecutor(max_workers=senders) as pool:
                            list(pool.map(paced, range(1, events + 1)))

                    usage.append(
                        _measured_kind(kind, events, send_all, 300, runner, mailchimp, invocations, lock, log_bytes)
                    )
            specs = list(runner.template.functions())
            document = runner.template.document
            used_lanes = lanes if lanes is not None else int(document["Parameters"]["ConsumerLanes"]["Default"])
    return Measurement(
        kinds=usage,
        memory_mb={spec.logical_id: int(spec.memory_size) for spec in specs},
        architectures={spec.logical_id: architecture(document, spec.logical_id) for spec in specs},
        lanes=used_lanes,
    )


def overrides(lanes: int | None, batching_window: float | None) -> dict[str, str]:
    """Template parameters the bench runs with instead of their defaults."""
    chosen = {"ConsumerLanes": lanes, "ConsumerBatchingWindowSeconds": batching_window}
    return {name: f"{value:g}" for name, value in chosen.items() if value is not None}


def architecture(document: dict[str, Any], logical_id: str) -> str:
    """The function's instruction set as the template gives it (its own, else Globals'; Lambda's default x86_64)."""
    own = document.get("Resources", {}).get(logical_id, {}).get("Properties", {}).get("Architectures")
    shared = document.get("Globals", {}).get("Function", {}).get("Architectures")
    return str((own or shared or ["x86_64"])[0])


BULK_SHOP = "bench-bulk.myshopify.com"
BULK_STORE_ID = "bench-bulk"
BULK_TOKEN = "shpat_bench_bulk"
FIRST_PRODUCT_ID = 2_000_000


def measure_bulk(products: int = 1000, orders: int = 1000, lanes: int | None = None) -> list[KindUsage]:
    """The nightly catalog sync of `products` products (first run: every product new) and the history backfill of
    `orders` orders (a quarter as many customers) of one Shopify store, each run through the product_sync function
    as the runner invokes it, with its continuations through the product queue, until idle."""
    from commerce_sync.aws.settings import Settings

    from emulators.mailchimp import MailchimpEmulator
    from emulators.shopify import ShopifyEmulator
    from emulators.shopify.fixtures import generated_product
    from emulators.shopify.history import generate_history
    from local_runner.runner import LocalRunner, RunnerConfig
    from operator_cli.stores import NewStore, add_store, generate_webhook_secret

    usage: list[KindUsage] = []
    with (
        MailchimpEmulator(api_key=API_KEY) as mailchimp,
        ShopifyEmulator(BULK_SHOP, BULK_TOKEN) as shopify,
    ):
        catalog = [generated_product(FIRST_PRODUCT_ID + n) for n in range(products)]
        for product in catalog:
            shopify.put_product(product)
        now = datetime.now(UTC)
        pairs = [(product["id"], product["variants"][0]["id"]) for product in catalog[:50]]
        history_customers, history_orders = generate_history(
            max(1, orders // 4), orders, now - timedelta(days=150), now - timedelta(days=1), pairs
        )
        shopify.history["customers"].put_many(history_customers)
        shopify.history["orders"].put_many(history_orders)
        config = RunnerConfig(
            mailchimp_api_url=mailchimp.base_url,
            mailchimp_api_key=API_KEY,
            environment=PRODUCTION_LOGGING,
            echo_logs=False,
            parameter_overrides=overrides(lanes, None),
        )
        with LocalRunner(config) as runner:
            add_store(
                Settings.from_environment(),
                NewStore(
                    store_id=BULK_STORE_ID,
                    platform="shopify",
                    identity=BULK_SHOP,
                    name="Bench bulk",
                    list_id="bench-list",
                    currency_code="USD",
                    webhook_secret=generate_webhook_secret(),
                    platform_api_url=shopify.base_url,
                    platform_api_credentials={"access_token": BULK_TOKEN},
                ),
                check=False,
            )
            invocations: list[Invocation] = []
            lock = threading.Lock()
            log_bytes = _LogBytes()
            with _timed_invocations(runner, invocations, lock), runner.logs.capture(log_bytes, whole_lines=True):
                for kind, action, count in (
                    (f"product_sync_{products}", "catalog_sync", products),
                    (f"backfill_{orders}", "backfill", orders),
                ):

                    def run(action: str = action) -> None:
                        runner.invoke("ProductSyncFunction", {"action": action, "store_id": BULK_STORE_ID})

                    usage.append(_measured_kind(kind, count, run, 600, runner, mailchimp, invocations, lock, log_bytes))
    return usage
