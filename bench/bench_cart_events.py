"""Issue 3: warm in-process cost per event of the two hot steps of the cart path, network excluded.

1. receive: `WebhookReceiver.receive("shopify", headers, body)` for a signed checkouts/update delivery
   (find the store, verify the HMAC, parse, normalise, publish), with the real Shopify adapter,
   StoreRegistry, SecretReader (Powertools SecretsProvider, cache kept) and EventPublisher.
2. process: what the cart_events handler does per SQS record (parse the bus message with
   `event_from_message`, then `CartSync.process(event=...)`: idempotency, registry, sync state,
   mapping, and the Mailchimp writes through the real MailchimpClient and requests Session).

AWS SDK clients/resources and requests' transport adapter are stubbed (bench/stubs.py), so botocore's
own serialisation/signing/parsing and urllib3 are not in the figures; everything above them is. Each
step prints p50/p90/p99/max over the timed events and the AWS and Mailchimp calls per event, and says
whether the issue's target (p50 <= 1 ms, p99 <= 5 ms) is met. It never fails on a miss.

    .venv/bin/python bench/bench_cart_events.py [--events N] [--warmup N] [--profile receive|process]
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
from dataclasses import dataclass  # noqa: E402
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
from commerce_sync.carts.sync import CartSync  # noqa: E402
from commerce_sync.platforms.receiver import WebhookReceiver  # noqa: E402
from commerce_sync.platforms.registry import adapters  # noqa: E402
from commerce_sync.platforms.signatures import sign_base64_hmac  # noqa: E402
from commerce_sync.processing.services import Services  # noqa: E402
from results import latency_row, write_results  # noqa: E402
from stubs import (  # noqa: E402
    CallLog,
    FakeLambdaContext,
    StubDynamoDBClient,
    StubDynamoDBResource,
    StubEventsClient,
    StubMailchimpAdapter,
    StubSecretsManagerClient,
    StubTable,
    canned_mailchimp_responses,
    mount_stub_transport,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_BODY = ROOT / "events" / "shopify_checkout_update_body.json"
SAMPLE_DELIVERY = ROOT / "events" / "webhooks_shopify_checkouts_update.json"

TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0
STORE_ID = "shop-bench"
SHOP_DOMAIN = "demo-shop.myshopify.com"
STORE_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:commerce-sync/stores/shop-bench-Qw3rTy"
MAILCHIMP_API_KEY = "0123456789abcdef0123456789abcdef-us6"


# ---- the world around the code under test ----------------------------------------------------------------


@dataclass
class World:
    calls: CallLog
    dynamodb: StubDynamoDBResource
    idempotency_client: StubDynamoDBClient
    secrets_client: StubSecretsManagerClient
    events_client: StubEventsClient
    mailchimp_adapter: StubMailchimpAdapter
    webhook_secret: str


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
        mailchimp_adapter=StubMailchimpAdapter(canned_mailchimp_responses(STORE_ID), calls),
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


def build_cart_sync(world: World) -> CartSync:
    """As functions/cart_events/app.py builds it (Services.from_environment, then CartSync), with the
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
    cart_sync = CartSync(services)
    # The handler registers its Lambda context so an in-progress record can expire (cart_events/app.py).
    cart_sync.idempotency_config.register_lambda_context(FakeLambdaContext())
    return cart_sync


# ---- inputs, built before timing ---------------------------------------------------------------------------


def signed_deliveries(count: int, secret: str) -> list[tuple[dict[str, str], bytes]]:
    """`count` checkouts/update deliveries, each a different checkout (token, cart token, id, updated_at)
    by a different shopper (customer id, e-mail) with its own event id: compact JSON as Shopify sends
    it, signed like Shopify signs it. Distinct shoppers keep per-shopper sync state (open carts) at the
    size one real shopper has, rather than one item that every timed event grows."""
    template = json.loads(SAMPLE_BODY.read_text())
    header_template = json.loads(SAMPLE_DELIVERY.read_text())["headers"]
    rng = random.Random(20250314)
    start = datetime.fromisoformat(template["updated_at"])
    deliveries = []
    for n in range(count):
        payload = copy.deepcopy(template)
        payload["id"] = template["id"] + n
        payload["token"] = f"{rng.getrandbits(128):032x}"
        payload["cart_token"] = f"{rng.getrandbits(256):064x}"[:52]
        updated_at = start + timedelta(seconds=n)
        payload["updated_at"] = updated_at.isoformat()
        email = f"Shopper.{n}@Example.COM"
        payload["email"] = email
        payload["customer"].update(id=template["customer"]["id"] + n, email=email)
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
        deliveries.append((headers, body))
    return deliveries


def sqs_bodies(entries: Sequence[dict[str, Any]]) -> list[str]:
    """The SQS message bodies EventBridge delivers for the published entries (what cart_events parses)."""
    rng = random.Random(7)
    bodies = []
    for entry in entries:
        message = {
            "version": "0",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": "123456789012",
            # The publisher leaves Time out (EventBridge stamps it on put), so the bench stamps it as EventBridge would.
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
    durations_ns: list[int]
    calls: Counter[str]
    outcomes: Counter[str]
    labels: frozenset[str]

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.durations_ns)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] / 1e6


def time_step(name: str, inputs: Sequence[Any], call: Callable[[Any], str], warmup: int, calls: CallLog) -> StepResult:
    """Run `call` over the first `warmup` inputs untimed, then time each of the rest on its own.

    Between events (untimed) the metric set is cleared, as the per-invocation flush of @log_metrics
    does in Lambda; otherwise Powertools would serialise and print an EMF blob every 100 values.
    """
    labels_before = calls.snapshot()
    for item in inputs[:warmup]:
        call(item)
        metrics.clear_metrics()
    gc.collect()
    before = calls.snapshot()
    outcomes: Counter[str] = Counter()
    durations = []
    clock = time.perf_counter_ns
    for item in inputs[warmup:]:
        started = clock()
        outcome = call(item)
        durations.append(clock() - started)
        metrics.clear_metrics()
        outcomes[outcome] += 1
    # Labels seen during warm-up too, so a call that the warm path no longer makes shows as 0.
    seen = frozenset(calls.since(labels_before))
    return StepResult(name, durations, calls.since(before), outcomes, seen)


def report(result: StepResult, expected_outcome: str, log_level: str, rows: list[dict[str, Any]]) -> None:
    rows.append(latency_row(result.name, log_level, result.durations_ns, TARGET_P50_MS, TARGET_P99_MS))
    count = len(result.durations_ns)
    p50, p90, p99 = (result.percentile_ms(q) for q in (0.50, 0.90, 0.99))
    worst = max(result.durations_ns) / 1e6
    mean_ms = sum(result.durations_ns) / count / 1e6
    print(f"  {result.name}: {count} events timed")
    print(f"    p50 {p50:.3f} ms   p90 {p90:.3f} ms   p99 {p99:.3f} ms   max {worst:.3f} ms   mean {mean_ms:.3f} ms")
    print(f"    {1000 / mean_ms:,.0f} events/s (one thread, in-process time only)")
    print("    calls per event (stubbed at the client boundary; total over the timed events in brackets):")
    for label in sorted(result.labels):
        made = result.calls.get(label, 0)
        note = "  served from cache while warm" if made == 0 else ""
        print(f"      {label:<44} {made / count:7.4f}  ({made}){note}")
    outcomes = ", ".join(f"{outcome}={n}" for outcome, n in result.outcomes.most_common())
    print(f"    outcomes: {outcomes}")
    if set(result.outcomes) != {expected_outcome}:
        print(f"    WARNING: expected every outcome to be {expected_outcome!r}; the figures describe another path")
    met_p50, met_p99 = p50 <= TARGET_P50_MS, p99 <= TARGET_P99_MS
    verdict = "target met" if met_p50 and met_p99 else "target missed"
    print(
        f"    {verdict} (p50 {p50:.3f} <= {TARGET_P50_MS} ms: {'yes' if met_p50 else 'NO'}; "
        f"p99 {p99:.3f} <= {TARGET_P99_MS} ms: {'yes' if met_p99 else 'NO'})"
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def set_log_level(level: str, stream: Any) -> None:
    logger.setLevel(level)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


# ---- the two steps -------------------------------------------------------------------------------------


def receive_step(world: World, deliveries: Sequence[tuple[dict[str, str], bytes]], warmup: int) -> StepResult:
    receiver = build_receiver(world)

    def receive(delivery: tuple[dict[str, str], bytes]) -> str:
        headers, body = delivery
        return receiver.receive("shopify", headers, body).status

    return time_step(
        "receive (WebhookReceiver.receive, shopify checkouts/update)", deliveries, receive, warmup, world.calls
    )


def process_step(world: World, bodies: Sequence[str], warmup: int) -> StepResult:
    cart_sync = build_cart_sync(world)

    def apply(body: str) -> str:
        # functions/cart_events/app.py apply(): SQSRecord.json_body, event_from_message, correlation id, process.
        event = event_from_message(json.loads(body))
        logger.set_correlation_id(event.event_id)
        return cart_sync.process(event=event)["outcome"]

    return time_step(
        "process (event_from_message + CartSync.process, cart.updated)", bodies, apply, warmup, world.calls
    )


def profile(step: str, world: World, deliveries: list[tuple[dict[str, str], bytes]], warmup: int) -> None:
    """Optional look at where a step's time goes (stdlib cProfile; not part of `make bench`)."""
    profiler = cProfile.Profile()
    if step == "receive":
        receiver = build_receiver(world)
        for headers, body in deliveries[:warmup]:
            receiver.receive("shopify", headers, body)
        profiler.enable()
        for headers, body in deliveries[warmup:]:
            receiver.receive("shopify", headers, body)
            metrics.clear_metrics()
    else:
        receive_step(world, deliveries, 0)
        bodies = sqs_bodies(world.events_client.entries)
        cart_sync = build_cart_sync(world)
        for body in bodies[:warmup]:
            cart_sync.process(event=event_from_message(json.loads(body)))
            metrics.clear_metrics()
        profiler.enable()
        for body in bodies[warmup:]:
            cart_sync.process(event=event_from_message(json.loads(body)))
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
    print(f"{os.cpu_count()} CPUs, {len(os.environ)} environment variables (requests reads all on each Mailchimp call)")
    print(f"Load average at start {load()}: anything else running on this machine inflates the tail")
    print("Stubbed at the client boundary: DynamoDB, Secrets Manager, EventBridge (boto3 objects), and Mailchimp")
    print("  (requests transport adapter); botocore/urllib3 work and network time are not in these figures.")

    started = time.perf_counter()
    world = build_world()
    deliveries = signed_deliveries(total, world.webhook_secret)
    print(
        f"Built {total} signed deliveries ({len(deliveries[0][1])} bytes each) in {time.perf_counter() - started:.1f} s"
    )

    if options.profile:
        profile(options.profile, world, deliveries, options.warmup)
        return

    print(f"\n[log level WARNING] warm-up {options.warmup} events per step, then {options.events} timed")
    rows: list[dict[str, Any]] = []
    received = receive_step(world, deliveries, options.warmup)
    report(received, "accepted", "WARNING", rows)
    bodies = sqs_bodies(world.events_client.entries)
    processed = process_step(world, bodies, options.warmup)
    report(processed, "synced", "WARNING", rows)
    del world, bodies, received, processed  # the first run's stores would only make the next one's GC slower
    gc.collect()

    # Production runs at INFO (template LogLevel): the same again with every INFO line written out.
    print(f"\n[log level INFO, JSON log lines written to {os.devnull}] fresh stores and caches, same deliveries")
    info_world = build_world()  # the same webhook secret, so the deliveries signed above verify
    with open(os.devnull, "w") as devnull:
        set_log_level("INFO", devnull)
        try:
            report(receive_step(info_world, deliveries, options.warmup), "accepted", "INFO", rows)
            bodies = sqs_bodies(info_world.events_client.entries)
            report(process_step(info_world, bodies, options.warmup), "synced", "INFO", rows)
        finally:
            set_log_level("WARNING", sys.stdout)
    print(f"\nTotal bench time {time.perf_counter() - started:.1f} s; load average at end {load()}")
    command = f".venv/bin/python bench/bench_cart_events.py --events {options.events} --warmup {options.warmup}"
    write_results("cart_events", {"command": command, "rows": rows})


if __name__ == "__main__":
    main()
