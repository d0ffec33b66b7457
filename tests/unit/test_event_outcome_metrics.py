"""Each applied event's outcome is counted twice: under its own name (`<prefix>_<outcome>`, docs/outcomes.md) and
as the `outcome` dimension of `EventOutcomes`, which the dashboard searches per function (docs/operations.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.aws.metric_names import EVENT_OUTCOMES, WEBHOOK_DELIVERIES
from commerce_sync.aws.observability import count_by, log_metrics, metrics
from commerce_sync.processing.outcomes import record_outcome


@pytest.fixture(autouse=True)
def _as_a_consumer_in_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "order_status")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def printed_documents(out: str, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and f'"{name}"' in line]


def test_an_outcome_is_counted_with_its_own_name_and_as_a_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    @log_metrics
    def invocation(event: dict[str, Any], context: Any) -> None:
        record_outcome("Order", "order.updated", "event-1", {"outcome": "synced", "order_id": "o1"})
        record_outcome("Order", "order.updated", "event-2", {"outcome": "stale", "order_id": "o1"})
        record_outcome("Order", "order.updated", "event-3", {"outcome": "synced", "order_id": "o2"})
        assert metrics.metric_set["Order_synced"]["Value"] == [1.0, 1.0]
        assert metrics.metric_set["Order_stale"]["Value"] == [1.0]
        assert printed_documents(capsys.readouterr().out, EVENT_OUTCOMES.name) == [], "printed when the invocation ends"

    invocation({}, None)

    documents = printed_documents(capsys.readouterr().out, EVENT_OUTCOMES.name)
    # One document per outcome and invocation, holding its count (the dashboard sums them).
    assert [(d["outcome"], d["service"], d[EVENT_OUTCOMES.name]) for d in documents] == [
        ("synced", "order_status", [2.0]),
        ("stale", "order_status", [1.0]),
    ]
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "CommerceSync"
        assert sorted(directive["Dimensions"][0]) == ["outcome", "service"]
        assert directive["Metrics"] == [{"Name": EVENT_OUTCOMES.name, "Unit": "Count"}]
    # Its own documents: nothing of the shared buffer (which the alarms read) took the outcome dimension.
    assert "outcome" not in metrics.dimension_set


def test_a_metric_is_counted_only_by_the_dimensions_it_declares() -> None:
    with pytest.raises(ValueError, match="WebhookDeliveries"):
        count_by(WEBHOOK_DELIVERIES, platform="shopify")
    with pytest.raises(ValueError, match="EventOutcomes"):
        count_by(EVENT_OUTCOMES, outcome="synced", store_id="s1")
