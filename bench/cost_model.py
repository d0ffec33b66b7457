"""What a million events cost in AWS: measured usage (bench/local_usage.py) times a dated price table
(bench/aws_prices.csv). Plain functions, so that the counting and the pricing are tested apart
(tests/unit/benchmarks/test_cost_model.py).

Usage per event is counted, not assumed: the AWS requests each function sent (the local runner's request log), the
SQS requests of Lambda's event source mappings (the runner's pollers: polls that returned messages, and their
deletes), each invocation's measured duration and its batch size, and the bytes each function logged. What AWS does
without a request the runner can see is added, each as a stated assumption (`Assumptions`): EventBridge delivering
each event to its queue (one SQS request), the Lambda platform's START/END/REPORT log lines, and X-Ray's sampling.

Lambda's billed duration is modelled rather than taken from the local wall clock, which a loaded 2-core machine
stretches several times over: the CPU time each handler used (measured in its container, on a whole core, so
stretched by 1,769 MB / the function's memory: Lambda's share of a vCPU), plus each AWS request it
made times a stated in-region latency, plus each Mailchimp request times Mailchimp's stated latency (the emulator
answers in about a millisecond; AWS waits for the real Mailchimp), plus half a millisecond of rounding per
invocation (Lambda bills whole milliseconds).

DynamoDB bills request units, not requests; they are estimated from the request and answer sizes as DynamoDB counts
them: a write 1 unit per KB (a transactional write twice), a strongly consistent read 1 unit per 4 KB (every read
here is strongly consistent), each item of a batch at least one.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

PRICES = Path(__file__).resolve().parent / "aws_prices.csv"
RECEIVER = "WebhooksFunction"
# Lambda's memory at which a function gets one full vCPU.
FULL_VCPU_MB = 1769
RUNNER = "runner"
COMPONENTS = (
    "api_gateway",
    "lambda_requests",
    "lambda_compute",
    "eventbridge",
    "sqs",
    "dynamodb",
    "secrets_manager",
    "logs",
    "xray",
    "s3",
)


@dataclass(frozen=True)
class Price:
    service: str
    item: str
    unit: str
    usd: float
    region: str
    as_of: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.service}.{self.item}"


def load_prices(path: Path = PRICES) -> dict[str, Price]:
    """The price table: `service.item` → Price. Lines starting with `#` are comments."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    prices = [
        Price(
            service=row["service"],
            item=row["item"],
            unit=row["unit"],
            usd=float(row["usd"]),
            region=row["region"],
            as_of=row["as_of"],
            source=row["source"],
        )
        for row in csv.DictReader(lines)
    ]
    return {price.key: price for price in prices}


@dataclass(frozen=True)
class Assumptions:
    """What the local run cannot see, as parameters."""

    mailchimp_latency_ms: float = 150.0
    # In-region request latencies (typical figures; DynamoDB's single-digit milliseconds).
    aws_latency_ms: Mapping[str, float] = field(
        default_factory=lambda: {"dynamodb": 6.0, "events": 20.0, "sqs": 10.0, "secretsmanager": 15.0, "s3": 20.0}
    )
    # Tracing Active samples with X-Ray's default rule (the first request each second, then 5 %): at volume, 5 %.
    xray_sampled_fraction: float = 0.05
    # Lambda's own START, END and REPORT lines per invocation.
    platform_log_bytes_per_invocation: int = 350
    # EventBridge delivers each event to one queue (one SQS SendMessage, billed to the account).
    queue_targets_per_event: float = 1.0
    # Records of a batch the cart and order consumers apply at once (template parameter ConsumerLanes).
    consumer_lanes: int = 2


class Request(Protocol):
    """What the cost model reads of local_runner.aws_requests.AwsRequest."""

    service: str
    operation: str
    caller: str
    request_bytes: int
    response_bytes: int
    items: int
    returned: int


class Timed(Protocol):
    function: str
    cpu_seconds: float
    records: int


@dataclass
class Usage:
    """One kind's usage per event."""

    kind: str
    api_requests: float = 0.0
    lambda_requests: float = 0.0
    gb_seconds: dict[str, float] = field(default_factory=dict)  # by architecture
    eventbridge_events: float = 0.0
    sqs_requests: float = 0.0
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    secrets_calls: float = 0.0
    log_bytes: float = 0.0
    traces: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0
    mailchimp_requests: float = 0.0
    # `service:Operation` → requests per event, the functions' own (not the runner's).
    calls: dict[str, float] = field(default_factory=dict)
    batch_size: float = 1.0


def dynamodb_units(request: Request) -> tuple[float, float]:
    """(read units, write units) of one DynamoDB request, as on-demand capacity bills them."""
    operation = request.operation
    write_kb = max(1, math.ceil(request.request_bytes / 1024))
    read_4kb = max(1, math.ceil(request.response_bytes / 4096))
    if operation in ("GetItem", "Query", "Scan"):
        return float(read_4kb), 0.0
    if operation == "BatchGetItem":
        return float(max(request.items, read_4kb)), 0.0
    if operation == "TransactGetItems":
        return float(2 * max(request.items, read_4kb)), 0.0
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 0.0, float(write_kb)
    if operation == "BatchWriteItem":
        return 0.0, float(max(request.items, write_kb))
    if operation == "TransactWriteItems":
        return 0.0, float(2 * max(request.items, write_kb))
    return 0.0, 0.0  # DescribeTable and the like: not billed as request units


def overlap(calls: Sequence[Timed], lanes: int) -> float:
    """How many of a consumer's waits run at once, on average over its records: a batch of n records changing e
    entities is applied on min(lanes, e) lanes (commerce_sync.processing.batch_lanes), its waits side by side as if
    perfectly spread over them (an upper bound on the saving). 1 for a function that is not a consumer."""
    records = sum(call.records for call in calls)
    if not records:
        return 1.0
    # `entities` (bench/local_usage.Invocation): what the batch's records change; a report without it, one each.
    spread = sum(
        call.records / max(1, min(lanes, getattr(call, "entities", call.records), call.records)) for call in calls
    )
    return records / spread


def usage_of(
    kind: str,
    events: int,
    requests: Sequence[Request],
    invocations: Sequence[Timed],
    log_bytes: Mapping[str, int],
    mailchimp_requests: int,
    memory_mb: Mapping[str, int],
    architectures: Mapping[str, str],
    assumptions: Assumptions,
) -> Usage:
    """Usage per event of `events` deliveries of one kind, from what the local run measured."""
    usage = Usage(kind=kind)
    per_event = 1.0 / events
    own = [request for request in requests if request.caller != RUNNER]
    usage.calls = {
        call: count * per_event for call, count in Counter(f"{r.service}:{r.operation}" for r in own).items()
    }
    totals: Counter[str] = Counter()
    for request in own:
        if request.service == "dynamodb":
            read, write = dynamodb_units(request)
            totals["read_units"] += int(read)
            totals["write_units"] += int(write)
        elif request.service == "events" and request.operation == "PutEvents":
            totals["eventbridge"] += request.items
        elif request.service == "sqs":
            totals["sqs"] += 1
        elif request.service == "secretsmanager":
            totals["secrets"] += 1
        elif request.service == "s3" and request.operation.startswith(("PUT", "POST")):
            totals["s3_puts"] += 1
        elif request.service == "s3" and request.operation.startswith("GET"):
            totals["s3_gets"] += 1
    usage.dynamodb_read_units = totals["read_units"] * per_event
    usage.dynamodb_write_units = totals["write_units"] * per_event
    usage.eventbridge_events = totals["eventbridge"] * per_event
    usage.secrets_calls = totals["secrets"] * per_event
    usage.s3_puts = totals["s3_puts"] * per_event
    usage.s3_gets = totals["s3_gets"] * per_event
    # Lambda's event source mappings: the polls that brought messages and the deletes after each batch (empty
    # polls cost the same whatever the traffic: a fixed monthly line, not per event).
    mappings = [request for request in requests if request.caller == RUNNER and request.service == "sqs"]
    totals["sqs"] += sum(
        1
        for request in mappings
        if (request.operation == "ReceiveMessage" and request.returned > 0)
        or request.operation in ("DeleteMessageBatch", "DeleteMessage", "ChangeMessageVisibilityBatch")
    )
    usage.sqs_requests = (totals["sqs"] + totals["eventbridge"] * assumptions.queue_targets_per_event) * per_event

    usage.api_requests = sum(1 for call in invocations if call.function == RECEIVER) * per_event
    usage.lambda_requests = len(invocations) * per_event
    consumers = [call for call in invocations if call.function != RECEIVER]
    seconds_of: Counter[str] = Counter()
    for call in invocations:
        # Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB: below that, the CPU time
        # measured here on a whole core takes longer there.
        slowdown = max(1.0, FULL_VCPU_MB / memory_mb.get(call.function, 128))
        seconds_of[call.function] += call.cpu_seconds * slowdown + 0.0005
    waiting_of: Counter[str] = Counter()
    for request in own:
        waiting_of[request.caller] += assumptions.aws_latency_ms.get(request.service, 10.0) / 1000.0
    if consumers:
        waiting = mailchimp_requests * assumptions.mailchimp_latency_ms / 1000.0
        for call in consumers:
            waiting_of[call.function] += waiting / len(consumers)
    for function, waiting in waiting_of.items():
        seconds_of[function] += waiting / overlap(
            [call for call in consumers if call.function == function], assumptions.consumer_lanes
        )
    for function, seconds in seconds_of.items():
        arch = architectures.get(function, "x86_64")
        gb_seconds = seconds * memory_mb.get(function, 128) / 1024 * per_event
        usage.gb_seconds[arch] = usage.gb_seconds.get(arch, 0.0) + gb_seconds
    usage.batch_size = sum(call.records for call in consumers) / len(consumers) if consumers else 1.0
    usage.log_bytes = (
        sum(log_bytes.values()) + len(invocations) * assumptions.platform_log_bytes_per_invocation
    ) * per_event
    usage.traces = len(invocations) * assumptions.xray_sampled_fraction * per_event
    usage.mailchimp_requests = mailchimp_requests * per_event
    return usage


def provisioned(prices: Mapping[str, Price], utilization: float) -> dict[str, Price]:
    """The prices with DynamoDB's request units priced as provisioned capacity used at `utilization` (a unit-hour
    serves 3,600 requests a second-long unit at 100 %; auto scaling keeps tables near its target, often 70 %)."""
    if not 0 < utilization <= 1:
        raise ValueError("utilization is a fraction of the provisioned capacity, above 0 and at most 1")
    changed = dict(prices)
    for unit, hourly in (
        ("write_request_unit", "write_capacity_unit_hour"),
        ("read_request_unit", "read_capacity_unit_hour"),
    ):
        hour = prices[f"dynamodb.{hourly}"]
        changed[f"dynamodb.{unit}"] = replace(
            prices[f"dynamodb.{unit}"],
            item=f"{unit} (provisioned at {utilization:.0%})",
            usd=hour.usd / 3600 / utilization,
            source=hour.source,
        )
    return changed


def cost_per_million(usage: Usage, prices: Mapping[str, Price]) -> dict[str, float]:
    """Dollars per million events of the kind, by component (COMPONENTS)."""

    def price(key: str) -> float:
        return prices[key].usd

    compute = sum(
        seconds * price("lambda.gb_second_arm64" if arch == "arm64" else "lambda.gb_second_x86_64")
        for arch, seconds in usage.gb_seconds.items()
    )
    per_event = {
        "api_gateway": usage.api_requests * price("apigateway.http_api_request"),
        "lambda_requests": usage.lambda_requests * price("lambda.request"),
        "lambda_compute": compute,
        "eventbridge": usage.eventbridge_events * price("eventbridge.custom_event"),
        "sqs": usage.sqs_requests * price("sqs.standard_request"),
        "dynamodb": usage.dynamodb_read_units * price("dynamodb.read_request_unit")
        + usage.dynamodb_write_units * price("dynamodb.write_request_unit"),
        "secrets_manager": usage.secrets_calls * price("secretsmanager.api_call"),
        "logs": usage.log_bytes / 1024**3 * price("cloudwatch.logs_ingested_gb"),
        "xray": usage.traces * price("xray.trace_recorded"),
        "s3": usage.s3_puts * price("s3.put_request") + usage.s3_gets * price("s3.get_request"),
    }
    return {component: dollars * 1_000_000 for component, dollars in per_event.items()}


@dataclass(frozen=True)
class Profile:
    """A deployment's month: stores, and events of each kind per store."""

    stores: int
    per_store: Mapping[str, int]
    alarms: int = 10
    dashboards: int = 1

    def describe(self) -> str:
        kinds = ", ".join(f"{count:,} {kind.replace('_', ' ')}" for kind, count in self.per_store.items())
        return f"{self.stores:,} stores, each a month: {kinds}"


# The example: 200 stores, each with 3,000 orders (created, then paid) and 20,000 cart events a month (carts
# of 5,000 visits, each changed three times more), plus their customers' updates and a few hundred product changes.
DEFAULT_PROFILE = Profile(
    stores=200,
    per_store={
        "cart": 5_000,
        "cart_update": 15_000,
        "order_created": 3_000,
        "order_paid": 3_000,
        "customer": 1_500,
        "product": 300,
    },
)


def monthly(
    profile: Profile, costs: Mapping[str, Mapping[str, float]], prices: Mapping[str, Price]
) -> dict[str, float]:
    """Dollars a month for the profile, by line: each kind's events, and what is paid whatever the traffic (a
    secret per store and the deployment's Mailchimp key, the dashboard and the alarms)."""
    lines = {
        kind: profile.stores * count * sum(costs[kind].values()) / 1_000_000
        for kind, count in profile.per_store.items()
        if kind in costs
    }
    lines["secrets (one per store, and the Mailchimp key)"] = (profile.stores + 1) * prices[
        "secretsmanager.secret_month"
    ].usd
    lines["dashboard and alarms"] = (
        profile.dashboards * prices["cloudwatch.dashboard_month"].usd
        + profile.alarms * prices["cloudwatch.alarm_month"].usd
    )
    return lines


def total(lines: Iterable[float]) -> float:
    return float(sum(lines))


def as_json(
    usages: Sequence[Usage], costs: Mapping[str, Mapping[str, float]], per: str = "million"
) -> list[dict[str, Any]]:
    """Each kind's dollars (`costs`: per million events, or per thousand items of a bulk run: `per`) and usage."""
    return [
        {
            "kind": usage.kind,
            f"usd_per_{per}": {component: round(costs[usage.kind][component], 6) for component in COMPONENTS},
            f"total_usd_per_{per}": round(sum(costs[usage.kind].values()), 6),
            "usage_per_event": {
                "lambda_requests": round(usage.lambda_requests, 3),
                "gb_seconds": {arch: round(value, 6) for arch, value in usage.gb_seconds.items()},
                "batch_size": round(usage.batch_size, 2),
                "dynamodb_read_units": round(usage.dynamodb_read_units, 2),
                "dynamodb_write_units": round(usage.dynamodb_write_units, 2),
                "sqs_requests": round(usage.sqs_requests, 2),
                "eventbridge_events": round(usage.eventbridge_events, 2),
                "log_bytes": round(usage.log_bytes),
                "mailchimp_requests": round(usage.mailchimp_requests, 2),
                "calls": {call: round(count, 2) for call, count in sorted(usage.calls.items())},
            },
        }
        for usage in usages
    ]
