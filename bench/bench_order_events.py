"""Issue 4: warm in-process cost per event of normalising and processing one order event, network excluded.

1. receive: `WebhookReceiver.receive("shopify", headers, body)` for a signed orders/updated delivery
   (find the store, verify the HMAC, parse, normalise to `order.updated`, publish), with the real Shopify
   adapter, StoreRegistry, SecretReader (Powertools SecretsProvider, cache kept) and EventPublisher.
2. process: what the order_status handler does per SQS record (parse the bus message with
   `event_from_message`, then `OrderSync(services).process(event=...)`: idempotency, registry, the order's
   sync state, conversion of the shopper's carts, the customer and order writes through the real
   MailchimpClient and requests Session, and record_applied).

Half of the events are a new order (`pending`), half the second status change of an order already applied
(`paid` after `pending`); the figures are printed for both together and for each path. Every shopper has
an open abandoned cart from the checkout (as the cart path leaves it), which the new order converts.

AWS SDK clients/resources and requests' transport adapter are stubbed (bench/stubs.py), so botocore's own
serialisation/signing/parsing and urllib3 are not in the figures; everything above them is. The Mailchimp
stub holds carts and orders: a PATCH of an order it lacks is 404 and sends upsert_order to the POST, as
Mailchimp does. Each step prints p50/p90/p99/max, the AWS and Mailchimp calls per event, and whether the
issue's target (p50 <= 1 ms, p99 <= 5 ms) is met. It never fails on a miss.

    .venv/bin/python bench/bench_order_events.py [--events N] [--warmup N] [--profile receive|process]
"""

from __future__ import annotations

import os

# Before the layer is imported: Powertools reads these when its singletons are built.
ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "CommerceSync",
    "STORES_TABLE": "bench-stores",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "SYNC_STATE_TABLE": "bench-sync-state",
    "EVENT_BUS_NAME": "bench-bus",
    "MAILCHIMP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:commerce-sync/mailchimp-AbCdEf",
    "SECRET_MAX_AGE_SECONDS": "60",
    "AWS_DEFAULT_REGION": "us-east-1",
}
os.environ.update(ENVIRONMENT)
for _name in ("POWERTOOLS_IDEMPOTENCY_DISABLED", "POWERTOOLS_DEV", "MAILCHIMP_API_URL"):
    os.environ.pop(_name, None)

import argparse  # noqa: E402
import copy  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: E402
from commerce_sync.aws.event_bus import EventPublisher, event_from_message  # noqa: E402
from commerce_sync.aws.observability import logger, metrics  # noqa: E402
from commerce_sync.aws.secret_store import SecretReader  # noqa: E402
from commerce_sync.aws.settings import Settings  # noqa: E402
from commerce_sync.aws.store_cache import StoreCache  # noqa: E402
from commerce_sync.aws.store_registry import PLATFORM_IDENTITY_INDEX, Store, StoreRegistry  # noqa: E402
from commerce_sync.aws.sync_state import SyncState  # noqa: E402
from commerce_sync.canonical.model import Customer  # noqa: E402
from commerce_sync.canonical.versions import version_from_timestamp  # noqa: E402
from commerce_sync.carts.conversion import CART, CART_ALIAS, CUSTOMER, OPEN_CARTS  # noqa: E402
from commerce_sync.mailchimp.ids import to_mailchimp_id  # noqa: E402
from commerce_sync.mailchimp.mapping import customer_id  # noqa: E402
from commerce_sync.orders.sync import OrderSync  # noqa: E402
from commerce_sync.platforms.receiver import WebhookReceiver  # noqa: E402
from commerce_sync.platforms.registry import adapters  # noqa: E402
from commerce_sync.platforms.shopify.webhooks import CHECKOUT_REFERENCE  # noqa: E402
from commerce_sync.platforms.signatures import sign_base64_hmac  # noqa: E402
from commerce_sync.processing.services import Services  # noqa: E402
from results import latency_row, write_results  # noqa: E402
from stubs import (  # noqa: E402
    CallLog,
    FakeLambdaContext,
    StubDynamoDBClient,
    StubDynamoDBResource,
    StubEventsClient,
    StubMailchimpResourceAdapter,
    StubSecretsManagerClient,
    StubTable,
    canned_mailchimp_order_responses,
    mount_stub_transport,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_BODY = ROOT / "events" / "shopify_order_body.json"
# Shopify sends the same headers for every topic; the checkout delivery's are the recorded ones.
SAMPLE_DELIVERY = ROOT / "events" / "webhooks_shopify_checkouts_update.json"

TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0
STORE_ID = "shop-bench"
SHOP_DOMAIN = "demo-shop.myshopify.com"
STORE_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:commerce-sync/stores/shop-bench-Qw3rTy"
MAILCHIMP_API_KEY = "0123456789abcdef0123456789abcdef-us6"

NEW, UPDATE = "new", "update"
PATH_TITLES = {
    NEW: "new order (pending; PATCH 404 then POST)",
    UPDATE: "known order (paid after pending; PATCH)",
}
# The paid event of an order comes this many orders after its pending one (others' events in between).
PAID_LAG = 25
PAID_AFTER = timedelta(seconds=90)


# ---- the world around the code under test ----------------------------------------------------------------


@dataclass
class World:
    calls: CallLog
    dynamodb: StubDynamoDBResource
    idempotency_client: StubDynamoDBClient
    secrets_client: StubSecretsManagerClient
    events_client: StubEventsClient
    mailchimp_adapter: StubMailchimpResourceAdapter
    webhook_secret: str


class OrderStatusContext(FakeLambdaContext):
    """The Lambda context the order_status handler registers with Idempotency."""

    function_name = "commerce-sync-OrderStatusFunction"


def build_world() -> World:
    settings = Settings.from_environment()
    calls = CallLog()
    stores = StubTable(settings.stores_table, ("store_id",), calls, "stores")
    stores.add_index(PLATFORM_IDENTITY_INDEX, "platform_identity")
    sync_state = StubTable(settings.sync_state_table, ("pk", "sk"), calls, "sync-state")
    dynamodb = StubDynamoDBResource({stores.name: stores, sync_state.name: sync_state})
    store = Store(
        store_id=STORE_ID,
        platform="shopify",
        identity=SHOP_DOMAIN,
        name="Demo Outfitters",
        list_id="a1b2c3d4e5",
        currency_code="USD",
        secret_id=STORE_SECRET_ARN,
        domain=SHOP_DOMAIN,
    )
    stores.put_item(Item=store.to_item())
    webhook_secret = "bench-" + uuid.UUID(int=random.Random(3).getrandbits(128)).hex
    secrets_client = StubSecretsManagerClient(
        {
            STORE_SECRET_ARN: {
                "kind": "store_webhook_secret",
                "webhook_secret": webhook_secret,
                "platform_api_credentials": {},
            },
            settings.mailchimp_secret_arn: {"api_key": MAILCHIMP_API_KEY},
        },
        calls,
    )
    calls.counts.clear()  # the setup put_item is not an event's
    return World(
        calls=calls,
        dynamodb=dynamodb,
        idempotency_client=StubDynamoDBClient(calls),
        secrets_client=secrets_client,
        events_client=StubEventsClient(calls),
        mailchimp_adapter=StubMailchimpResourceAdapter(canned_mailchimp_order_responses(STORE_ID), calls),
        webhook_secret=webhook_secret,
    )


def build_receiver(world: World) -> WebhookReceiver:
    """As functions/webhooks/app.py builds it, with stub AWS clients under the real objects."""
    settings = Settings.from_environment()
    return WebhookReceiver(
        adapters(),
        StoreCache(StoreRegistry(settings.stores_table, world.dynamodb), settings.store_cache_seconds),
        SecretReader(settings.secret_max_age_seconds, client=world.secrets_client),
        EventPublisher(settings.event_bus_name, client=world.events_client),
    )


def build_order_sync(world: World) -> OrderSync:
    """As functions/order_status/app.py builds it (OrderSync(Services.from_environment())), with the
    services' AWS clients stubbed and a Mailchimp client whose transport answers in-process."""
    services = Services.from_environment()
    settings = services.settings
    services.registry = StoreRegistry(settings.stores_table, world.dynamodb)
    services.sync_state = SyncState(settings.sync_state_table, world.dynamodb)
    services.secrets = SecretReader(settings.secret_max_age_seconds, client=world.secrets_client)
    services.idempotency_store = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=world.idempotency_client
    )
    # What Services.mailchimp() builds and keeps for the default account (the stores have no account of their
    # own), then the transport swapped for the stub.
    mount_stub_transport(services.mailchimp().session, world.mailchimp_adapter)
    order_sync = OrderSync(services)
    # The handler registers its Lambda context so an in-progress record can expire (order_status/app.py).
    order_sync.idempotency_config.register_lambda_context(OrderStatusContext())
    return order_sync


# ---- inputs, built before timing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedOrder:
    """One shopper's order: its own ids, tokens and shopper, and when it was placed (pending)."""

    order_id: str
    customer_id: str
    email: str
    cart_token: str
    checkout_token: str
    checkout_id: str
    placed_at: datetime


@dataclass(frozen=True)
class Delivery:
    path: str  # NEW or UPDATE
    order: PlannedOrder
    headers: dict[str, str]
    body: bytes


def plan_orders(count: int) -> list[PlannedOrder]:
    template = json.loads(SAMPLE_BODY.read_text())
    rng = random.Random(20250314)
    start = datetime.fromisoformat(template["updated_at"])
    return [
        PlannedOrder(
            order_id=str(template["id"] + n),
            customer_id=str(template["customer"]["id"] + n),
            email=f"Shopper.{n}@Example.COM",
            cart_token=f"{rng.getrandbits(256):064x}"[:52],
            checkout_token=f"{rng.getrandbits(128):032x}",
            checkout_id=str(template["checkout_id"] + n),
            placed_at=start + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def schedule(orders: Sequence[PlannedOrder], total: int) -> list[tuple[str, PlannedOrder]]:
    """Each order's `pending` event, and its `paid` one PAID_LAG orders later: half new, half known."""
    sequence: list[tuple[str, PlannedOrder]] = []
    for n, order in enumerate(orders):
        sequence.append((NEW, order))
        if n >= PAID_LAG:
            sequence.append((UPDATE, orders[n - PAID_LAG]))
    sequence.extend((UPDATE, order) for order in orders[max(0, len(orders) - PAID_LAG) :])
    return sequence[:total]


def signed_deliveries(total: int, secret: str) -> list[Delivery]:
    """`total` orders/updated deliveries: compact JSON as Shopify sends it, signed like Shopify signs it,
    each with its own event id. A new order is `pending`; its second delivery is `paid`, 90 s later."""
    template = json.loads(SAMPLE_BODY.read_text())
    header_template = dict(json.loads(SAMPLE_DELIVERY.read_text())["headers"])
    header_template["x-shopify-topic"] = "orders/updated"
    rng = random.Random(20250315)
    deliveries = []
    for path, order in schedule(plan_orders(math.ceil(total / 2)), total):
        paid = path == UPDATE
        updated_at = order.placed_at + (PAID_AFTER if paid else timedelta(0))
        payload = copy.deepcopy(template)
        number = int(order.order_id) - template["id"]
        payload.update(
            id=int(order.order_id),
            admin_graphql_api_id=f"gid://shopify/Order/{order.order_id}",
            name=f"#{template['order_number'] + number}",
            order_number=template["order_number"] + number,
            email=order.email,
            contact_email=order.email,
            created_at=order.placed_at.isoformat(),
            processed_at=(order.placed_at - timedelta(seconds=1)).isoformat(),
            updated_at=updated_at.isoformat(),
            financial_status="paid" if paid else "pending",
            cart_token=order.cart_token,
            checkout_token=order.checkout_token,
            checkout_id=int(order.checkout_id),
        )
        payload["customer"].update(id=int(order.customer_id), email=order.email)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = dict(header_template)
        headers.update(
            {
                "content-length": str(len(body)),
                "x-shopify-event-id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "x-shopify-webhook-id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "x-shopify-triggered-at": (updated_at + timedelta(seconds=1)).astimezone(UTC).isoformat(),
                "x-amzn-trace-id": f"Root=1-{int(updated_at.timestamp()):08x}-{rng.getrandbits(96):024x}",
                "x-shopify-hmac-sha256": sign_base64_hmac(secret, body),
            }
        )
        deliveries.append(Delivery(path, order, headers, body))
    return deliveries


def seed_abandoned_carts(world: World, deliveries: Sequence[Delivery]) -> int:
    """What the cart path left for each shopper before the order (untimed, not counted): the checkout's
    cart in Mailchimp and in the sync state, its aliases (checkout id and token), and the shopper's
    open_carts set. The new order converts that cart (DELETE 204); the second status change finds it gone."""
    state = SyncState(Settings.from_environment().sync_state_table, world.dynamodb)
    seeded = 0
    for delivery in deliveries:
        if delivery.path != NEW:
            continue
        order = delivery.order
        shopper = Customer(id=order.customer_id, email=order.email)
        checkout_at = order.placed_at - timedelta(minutes=4)
        state.record_applied(
            STORE_ID,
            CART,
            order.cart_token,
            version_from_timestamp(checkout_at),
            customer=shopper.model_dump_json(),
            checkout_url=f"https://{SHOP_DOMAIN}/checkouts/ac/{order.checkout_token}/recover",
            removed="",
        )
        for reference in (CHECKOUT_REFERENCE + order.checkout_id, order.checkout_token):
            state.mark(STORE_ID, CART_ALIAS, reference, cart_id=order.cart_token)
        state.add_to_set(STORE_ID, CUSTOMER, customer_id(shopper), OPEN_CARTS, {order.cart_token})
        # Mailchimp holds the cart under its Mailchimp id (a 52-character token is longer than its ids allow).
        world.mailchimp_adapter.carts.add(to_mailchimp_id(order.cart_token))
        seeded += 1
    world.calls.counts.clear()
    return seeded


def sqs_bodies(entries: Sequence[dict[str, Any]]) -> list[str]:
    """The SQS message bodies EventBridge delivers for the published entries (what order_status parses)."""
    rng = random.Random(7)
    bodies = []
    for entry in entries:
        message = {
            "version": "0",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": "123456789012",
            "time": (entry.get("Time") or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": json.loads(entry["Detail"]),
        }
        bodies.append(json.dumps(message, separators=(",", ":")))
    return bodies


# ---- timing and reporting -------------------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    durations_ns: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    calls: dict[str, Counter[str]] = field(default_factory=dict)  # by path
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)  # by path
    labels: frozenset[str] = frozenset()


def percentile_ms(durations_ns: Sequence[int], fraction: float) -> float:
    ordered = sorted(durations_ns)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] / 1e6


def time_step(
    name: str, inputs: Sequence[tuple[str, Any]], call: Callable[[Any], str], warmup: int, calls: CallLog
) -> StepResult:
    """Run `call` over the first `warmup` (path, input) pairs untimed, then time each of the rest on its own.

    Between events (untimed) the metric set is cleared, as the per-invocation flush of @log_metrics does
    in Lambda, and the calls the event made are added to its path's counts.
    """
    labels_before = calls.snapshot()
    for _, item in inputs[:warmup]:
        call(item)
        metrics.clear_metrics()
    gc.collect()
    result = StepResult(name)
    for path in dict.fromkeys(path for path, _ in inputs[warmup:]):
        result.calls[path], result.outcomes[path] = Counter(), Counter()
    clock = time.perf_counter_ns
    for path, item in inputs[warmup:]:
        before = calls.snapshot()
        started = clock()
        outcome = call(item)
        result.durations_ns.append(clock() - started)
        metrics.clear_metrics()
        result.paths.append(path)
        result.calls[path].update(calls.since(before))
        result.outcomes[path][outcome] += 1
    # Labels seen during warm-up too, so a call that the warm path no longer makes shows as 0.
    result.labels = frozenset(calls.since(labels_before))
    return result


def figures(durations_ns: Sequence[int]) -> str:
    p50, p90, p99 = (percentile_ms(durations_ns, q) for q in (0.50, 0.90, 0.99))
    mean_ms = sum(durations_ns) / len(durations_ns) / 1e6
    return (
        f"p50 {p50:.3f} ms   p90 {p90:.3f} ms   p99 {p99:.3f} ms   max {max(durations_ns) / 1e6:.3f} ms   "
        f"mean {mean_ms:.3f} ms"
    )


def verdict(durations_ns: Sequence[int]) -> str:
    p50, p99 = percentile_ms(durations_ns, 0.50), percentile_ms(durations_ns, 0.99)
    met_p50, met_p99 = p50 <= TARGET_P50_MS, p99 <= TARGET_P99_MS
    return (
        f"{'target met' if met_p50 and met_p99 else 'target missed'} "
        f"(p50 {p50:.3f} <= {TARGET_P50_MS} ms: {'yes' if met_p50 else 'NO'}; "
        f"p99 {p99:.3f} <= {TARGET_P99_MS} ms: {'yes' if met_p99 else 'NO'})"
    )


def report(result: StepResult, expected: dict[str, str], log_level: str, rows: list[dict[str, Any]]) -> None:
    """`expected`: the one outcome each path must have, or the figures describe another path."""
    count = len(result.durations_ns)
    timed = list(zip(result.durations_ns, result.paths, strict=True))
    by_path = {path: [duration for duration, taken in timed if taken == path] for path in expected}
    rows.append(latency_row(result.name, log_level, list(result.durations_ns), TARGET_P50_MS, TARGET_P99_MS))
    for path, durations in by_path.items():
        if durations:
            step = f"{result.name.split(' (')[0]}, {path} alone"
            rows.append(latency_row(step, log_level, durations, TARGET_P50_MS, TARGET_P99_MS))
    mean_ms = sum(result.durations_ns) / count / 1e6
    print(f"  {result.name}: {count} events timed")
    print(f"    all     {figures(result.durations_ns)}")
    for path, durations in by_path.items():
        if durations:
            print(f"    {path:<7} {figures(durations)}   ({len(durations)} events: {PATH_TITLES[path]})")
    print(f"    {1000 / mean_ms:,.0f} events/s (one thread, in-process time only)")
    print("    calls per event (stubbed at the client boundary; totals over the timed events in brackets;")
    print("    a '-> 404' row counts those of the call above that the Mailchimp stub answered 404):")
    print(f"      {'':<52} {'all':>7}  {NEW:>7}  {UPDATE:>7}")
    for label in sorted(result.labels):
        made = {path: result.calls.get(path, Counter()).get(label, 0) for path in expected}
        total = sum(made.values())
        per_path = "  ".join(f"{made[path] / max(1, len(by_path[path])):7.4f}" for path in expected)
        note = "  served from cache while warm" if total == 0 else ""
        print(f"      {label:<52} {total / count:7.4f}  {per_path}  ({total}){note}")
    for path, wanted in expected.items():
        outcomes = result.outcomes.get(path, Counter())
        shown = ", ".join(f"{outcome}: {n}" for outcome, n in outcomes.most_common())
        print(f"    outcomes, {path}: {shown}")
        if set(outcomes) - {wanted}:
            print(f"    WARNING: expected every {path} outcome to be {wanted!r}; the figures describe another path")
    print(f"    {verdict(result.durations_ns)}")
    for path, durations in by_path.items():
        if durations:
            print(f"      {path} alone: {verdict(durations)}")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def set_log_level(level: str, stream: Any) -> None:
    logger.setLevel(level)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


# ---- the two steps -------------------------------------------------------------------------------------


def receive_step(world: World, deliveries: Sequence[Delivery], warmup: int) -> StepResult:
    receiver = build_receiver(world)

    def receive(delivery: Delivery) -> str:
        return receiver.receive("shopify", delivery.headers, delivery.body).status

    inputs = [(delivery.path, delivery) for delivery in deliveries]
    return time_step("receive (WebhookReceiver.receive, shopify orders/updated)", inputs, receive, warmup, world.calls)


def process_step(world: World, deliveries: Sequence[Delivery], warmup: int) -> StepResult:
    """Consumes what the receive step published, in the same order (each event is its delivery's)."""
    order_sync = build_order_sync(world)
    bodies = sqs_bodies(world.events_client.entries)

    def apply(body: str) -> str:
        # functions/order_status/app.py apply(): SQSRecord.json_body, event_from_message, correlation id, process.
        event = event_from_message(json.loads(body))
        logger.set_correlation_id(event.event_id)
        outcome = order_sync.process(event=event)
        return f"{outcome['outcome']} {outcome.get('financial_status')}, carts_ended={outcome.get('carts_ended')}"

    inputs = [(delivery.path, body) for delivery, body in zip(deliveries, bodies, strict=True)]
    name = "process (event_from_message + OrderSync.process, order.updated)"
    return time_step(name, inputs, apply, warmup, world.calls)


def mailchimp_held(world: World, seeded_carts: int) -> str:
    adapter = world.mailchimp_adapter
    return (
        f"    Mailchimp stub afterwards: {len(adapter.orders)} orders held, "
        f"{seeded_carts - len(adapter.carts)} of {seeded_carts} abandoned carts deleted"
    )


EXPECTED_RECEIVE = {NEW: "accepted", UPDATE: "accepted"}
EXPECTED_PROCESS = {NEW: "synced pending, carts_ended=1", UPDATE: "synced paid, carts_ended=0"}


def run(world: World, deliveries: Sequence[Delivery], warmup: int, log_level: str, rows: list[dict[str, Any]]) -> None:
    seeded = seed_abandoned_carts(world, deliveries)
    report(receive_step(world, deliveries, warmup), EXPECTED_RECEIVE, log_level, rows)
    report(process_step(world, deliveries, warmup), EXPECTED_PROCESS, log_level, rows)
    print(mailchimp_held(world, seeded))


def profile(step: str, world: World, deliveries: list[Delivery], warmup: int) -> None:
    """Optional look at where a step's time goes (stdlib cProfile; not part of `make bench`)."""
    seed_abandoned_carts(world, deliveries)
    receiver = build_receiver(world)
    profiler = cProfile.Profile()
    if step == "receive":
        for delivery in deliveries[:warmup]:
            receiver.receive("shopify", delivery.headers, delivery.body)
        profiler.enable()
        for delivery in deliveries[warmup:]:
            receiver.receive("shopify", delivery.headers, delivery.body)
            metrics.clear_metrics()
    else:
        for delivery in deliveries:
            receiver.receive("shopify", delivery.headers, delivery.body)
            metrics.clear_metrics()
        bodies = sqs_bodies(world.events_client.entries)
        order_sync = build_order_sync(world)
        for body in bodies[:warmup]:
            order_sync.process(event=event_from_message(json.loads(body)))
            metrics.clear_metrics()
        profiler.enable()
        for body in bodies[warmup:]:
            order_sync.process(event=event_from_message(json.loads(body)))
            metrics.clear_metrics()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="timed events per step (default 10000)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed events before timing (default 500)")
    parser.add_argument("--profile", choices=("receive", "process"), help="print a cProfile of one step instead")
    options = parser.parse_args()
    total = options.warmup + options.events

    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.machine()}")
    settings = {name: os.environ[name] for name in ENVIRONMENT if name.startswith("POWERTOOLS_")}
    print("Environment set before importing the layer: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"Target per step: p50 <= {TARGET_P50_MS} ms and p99 <= {TARGET_P99_MS} ms")
    print(f"{os.cpu_count()} CPUs; load average at start {load()}: anything else running here inflates the tail")
    print("Stubbed at the client boundary: DynamoDB, Secrets Manager, EventBridge (boto3 objects), and Mailchimp")
    print("  (requests transport adapter); botocore/urllib3 work and network time are not in these figures.")

    started = time.perf_counter()
    world = build_world()
    deliveries = signed_deliveries(total, world.webhook_secret)
    split = Counter(delivery.path for delivery in deliveries[options.warmup :])
    sizes = sorted(len(delivery.body) for delivery in deliveries)
    print(
        f"Built {total} signed orders/updated deliveries ({sizes[0]}-{sizes[-1]} bytes) in "
        f"{time.perf_counter() - started:.1f} s; timed: {split[NEW]} {NEW} orders, {split[UPDATE]} {UPDATE}s"
    )

    if options.profile:
        profile(options.profile, world, deliveries, options.warmup)
        return

    print(f"\n[log level WARNING] warm-up {options.warmup} events per step, then {options.events} timed")
    rows: list[dict[str, Any]] = []
    run(world, deliveries, options.warmup, "WARNING", rows)
    del world  # the first run's stores would only make the next one's GC slower
    gc.collect()

    # Production runs at INFO (template LogLevel): the same again with every INFO line written out.
    print(f"\n[log level INFO, JSON log lines written to {os.devnull}] fresh stores and caches, same deliveries")
    info_world = build_world()  # the same webhook secret, so the deliveries signed above verify
    with open(os.devnull, "w") as devnull:
        set_log_level("INFO", devnull)
        try:
            run(info_world, deliveries, options.warmup, "INFO", rows)
        finally:
            set_log_level("WARNING", sys.stdout)
    print(f"\nTotal bench time {time.perf_counter() - started:.1f} s; load average at end {load()}")
    command = f".venv/bin/python bench/bench_order_events.py --events {options.events} --warmup {options.warmup}"
    write_results("order_events", {"command": command, "rows": rows})


if __name__ == "__main__":
    main()
