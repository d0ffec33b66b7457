"""The cost model's counting and pricing, on known usage: each request counted once per event, DynamoDB request
units as DynamoDB bills them, and every component priced from the table (a price changed there changes its
component in proportion and nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import cost_model

MEMORY = {"WebhooksFunction": 512, "CartEventsFunction": 1024}
X86 = {"WebhooksFunction": "x86_64", "CartEventsFunction": "x86_64"}


@dataclass(frozen=True)
class Request:
    service: str
    operation: str
    caller: str
    request_bytes: int = 200
    response_bytes: int = 100
    items: int = 1
    returned: int = 0


@dataclass(frozen=True)
class Call:
    function: str
    cpu_seconds: float
    records: int = 1
    entities: int = 1


def known_run(events: int = 10) -> cost_model.Usage:
    """`events` deliveries, each one receiver invocation and one consumer batch of one."""
    requests: list[Request] = []
    invocations: list[Call] = []
    for _ in range(events):
        requests += [
            Request("dynamodb", "UpdateItem", "WebhooksFunction"),
            Request("events", "PutEvents", "WebhooksFunction"),
            Request("sqs", "ReceiveMessage", "runner", returned=1),
            Request("sqs", "ReceiveMessage", "runner"),  # an empty poll: not the event's
            Request("dynamodb", "BatchGetItem", "CartEventsFunction", items=5),
            Request("dynamodb", "TransactWriteItems", "CartEventsFunction", items=3, request_bytes=2500),
            Request("sqs", "DeleteMessageBatch", "runner"),
        ]
        invocations += [Call("WebhooksFunction", 0.020), Call("CartEventsFunction", 0.100)]
    return cost_model.usage_of(
        "cart",
        events,
        requests,
        invocations,
        {"CartEventsFunction": 1000 * events},
        2 * events,
        MEMORY,
        X86,
        cost_model.Assumptions(mailchimp_latency_ms=150, xray_sampled_fraction=0.05),
    )


def test_a_known_run_counts_each_request_once_per_event() -> None:
    usage = known_run()
    assert usage.calls == {
        "dynamodb:UpdateItem": 1.0,
        "events:PutEvents": 1.0,
        "dynamodb:BatchGetItem": 1.0,
        "dynamodb:TransactWriteItems": 1.0,
    }
    assert usage.api_requests == 1.0 and usage.lambda_requests == 2.0 and usage.eventbridge_events == 1.0
    # The poll that brought the message, the delete after the batch, and EventBridge's delivery to the queue.
    assert usage.sqs_requests == pytest.approx(3.0)
    assert usage.dynamodb_read_units == pytest.approx(5.0)
    assert usage.dynamodb_write_units == pytest.approx(1.0 + 2 * 3)
    # The receiver: 20 ms of CPU, a DynamoDB write (6 ms) and a PutEvents (20 ms), at 0.5 GB; the consumer: 100 ms of
    # CPU, two DynamoDB requests and two Mailchimp answers of 150 ms, at 1 GB; each with half a millisecond of rounding.
    # CPU time takes 1,769 MB / memory times as long there (Lambda's share of a vCPU).
    receiver = (0.020 * 1769 / 512 + 0.006 + 0.020 + 0.0005) * 0.5
    consumer = (0.100 * 1769 / 1024 + 2 * 0.006 + 2 * 0.150 + 0.0005) * 1.0
    assert usage.gb_seconds["x86_64"] == pytest.approx(receiver + consumer)
    assert usage.log_bytes == pytest.approx(1000 + 2 * 350)
    assert usage.traces == pytest.approx(0.1)


def test_dynamodb_units_follow_item_sizes_and_transactions() -> None:
    units = cost_model.dynamodb_units
    assert units(Request("dynamodb", "GetItem", "f", response_bytes=9000)) == (3.0, 0.0)
    assert units(Request("dynamodb", "UpdateItem", "f", request_bytes=2049)) == (0.0, 3.0)
    assert units(Request("dynamodb", "TransactWriteItems", "f", items=4)) == (0.0, 8.0)
    assert units(Request("dynamodb", "BatchGetItem", "f", items=7)) == (7.0, 0.0)
    assert units(Request("dynamodb", "DescribeTable", "f")) == (0.0, 0.0)


def test_a_price_changed_in_the_table_changes_its_component_in_proportion(tmp_path: Path) -> None:
    prices = cost_model.load_prices()
    usage = known_run()
    before = cost_model.cost_per_million(usage, prices)

    table = cost_model.PRICES.read_text().replace(
        "write_request_unit,write request unit (on-demand),0.000000625",
        "write_request_unit,write request unit (on-demand),0.00000125",
    )
    changed = tmp_path / "prices.csv"
    changed.write_text(table)
    after = cost_model.cost_per_million(usage, cost_model.load_prices(changed))

    write_share = usage.dynamodb_write_units * 0.625
    assert after["dynamodb"] == pytest.approx(before["dynamodb"] + write_share)
    assert {k: v for k, v in after.items() if k != "dynamodb"} == {k: v for k, v in before.items() if k != "dynamodb"}
    assert before["api_gateway"] == pytest.approx(1.0) and before["eventbridge"] == pytest.approx(1.0)


def test_every_price_names_its_page_and_date() -> None:
    for price in cost_model.load_prices().values():
        assert price.source.startswith("https://aws.amazon.com/") and price.as_of and price.region == "us-east-1"


def test_arm64_compute_is_priced_at_the_graviton_rate() -> None:
    prices = cost_model.load_prices()
    usage = cost_model.Usage(kind="cart", gb_seconds={"arm64": 1.0})
    x86 = cost_model.Usage(kind="cart", gb_seconds={"x86_64": 1.0})
    ratio = (
        cost_model.cost_per_million(usage, prices)["lambda_compute"]
        / cost_model.cost_per_million(x86, prices)["lambda_compute"]
    )
    assert ratio == pytest.approx(0.8, abs=0.001)


def test_a_month_of_the_profile_adds_each_kind_and_the_fixed_lines() -> None:
    prices = cost_model.load_prices()
    costs = {"cart": {"dynamodb": 2.0, "logs": 1.0}}
    profile = cost_model.Profile(stores=10, per_store={"cart": 100_000}, alarms=5, dashboards=1)
    month = cost_model.monthly(profile, costs, prices)
    assert month["cart"] == pytest.approx(10 * 100_000 * 3.0 / 1_000_000)
    assert month["secrets (one per store, and the Mailchimp key)"] == pytest.approx(11 * 0.40)
    assert month["dashboard and alarms"] == pytest.approx(3.00 + 5 * 0.10)


def test_a_consumer_s_waits_overlap_across_the_entities_of_its_batches_up_to_its_lanes() -> None:
    def batches(entities: int) -> list[Call]:
        return [Call("CartEventsFunction", 0.0, records=4, entities=entities) for _ in range(3)]

    assert cost_model.overlap(batches(4), lanes=4) == pytest.approx(4.0)
    assert cost_model.overlap(batches(4), lanes=2) == pytest.approx(2.0)
    assert cost_model.overlap(batches(1), lanes=4) == pytest.approx(1.0)  # one entity: one after another
    assert cost_model.overlap(batches(4), lanes=1) == pytest.approx(1.0)
    assert cost_model.overlap([], lanes=4) == 1.0


def test_provisioned_capacity_prices_a_request_unit_from_the_unit_hour_at_the_stated_utilization() -> None:
    prices = cost_model.load_prices()
    at_full = cost_model.provisioned(prices, 1.0)
    assert at_full["dynamodb.write_request_unit"].usd == pytest.approx(
        prices["dynamodb.write_capacity_unit_hour"].usd / 3600
    )
    at_half = cost_model.provisioned(prices, 0.5)
    assert at_half["dynamodb.read_request_unit"].usd == pytest.approx(2 * at_full["dynamodb.read_request_unit"].usd)
    usage = known_run()
    on_demand = cost_model.cost_per_million(usage, prices)
    cheaper = cost_model.cost_per_million(usage, at_half)
    assert cheaper["dynamodb"] < on_demand["dynamodb"]
    assert {k: v for k, v in cheaper.items() if k != "dynamodb"} == {
        k: v for k, v in on_demand.items() if k != "dynamodb"
    }
    with pytest.raises(ValueError):
        cost_model.provisioned(prices, 0)
