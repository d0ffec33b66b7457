"""The receiver counts every answer by platform and status (`WebhookDeliveries`, docs/operations.md): what the
dashboard's webhook widgets and the refused-signature alarm read. The handler runs in this process against the
runner's AWS (a registered store, its secret), and its EMF documents are read from what it prints."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from commerce_sync.aws.metric_names import UNKNOWN_PLATFORM, WEBHOOK_DELIVERIES
from commerce_sync.platforms.signatures import sign_base64_hmac

from local_runner.runner import LocalRunner
from tests.harness import register_store
from tests.paths import EVENTS

SAMPLE = json.loads((EVENTS / "webhooks_shopify_checkouts_update.json").read_text(encoding="utf-8"))


def delivery(platform: str, headers: dict[str, str], body: str) -> dict[str, Any]:
    """The sample HTTP API event of a Shopify webhook, sent to `platform` with these headers and body."""
    event = copy.deepcopy(SAMPLE)
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/{platform}"
    event["pathParameters"] = {"platform": platform}
    event["headers"] = {**event["headers"], **headers}
    event["body"] = body
    return event


def counted_deliveries(printed: str) -> list[dict[str, Any]]:
    """The dimensions of every WebhookDeliveries document printed, with the namespace and the metric's value."""
    found = []
    for line in printed.splitlines():
        if not line.startswith("{") or WEBHOOK_DELIVERIES.name not in line:
            continue
        document = json.loads(line)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        [dimension_set] = directive["Dimensions"]
        found.append(
            {
                "namespace": directive["Namespace"],
                **{name: document[name] for name in dimension_set},
                "value": document[WEBHOOK_DELIVERIES.name],
            }
        )
    return found


@pytest.fixture
def handler(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> Any:
    # What the template gives the function in AWS; the runner turns metrics off for its own functions.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "webhooks")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    return runner.in_process("WebhooksFunction")


def test_every_answer_is_counted_by_platform_and_status(handler: Any, capsys: pytest.CaptureFixture[str]) -> None:
    store = register_store("shopify")
    ignored_body = json.dumps({"id": 1, "name": "a shop update commerce-sync has no use for"})
    shop = {"x-shopify-shop-domain": store.identity, "x-shopify-topic": "shop/update"}
    capsys.readouterr()

    answers = [
        handler.invoke(
            delivery("shopify", {**shop, "x-shopify-hmac-sha256": sign_base64_hmac(store.webhook_secret, b"")}, "")
        ),
        handler.invoke(
            delivery(
                "shopify",
                {**shop, "x-shopify-hmac-sha256": sign_base64_hmac(store.webhook_secret, ignored_body.encode())},
                ignored_body,
            )
        ),
        handler.invoke(
            delivery("shopify", {**shop, "x-shopify-hmac-sha256": sign_base64_hmac("a wrong secret", b"{}")}, "{}")
        ),
        handler.invoke(delivery("made-up-platform", shop, "{}")),
    ]

    assert [answer["statusCode"] for answer in answers] == [400, 200, 401, 404]
    base = {"namespace": "CommerceSync", "service": "webhooks", "value": [1.0]}
    assert counted_deliveries(capsys.readouterr().out) == [
        {**base, "platform": "shopify", "status": "400"},
        {**base, "platform": "shopify", "status": "200"},
        {**base, "platform": "shopify", "status": "401"},
        # A made-up path is not a dimension value: every platform the receiver does not know is one line.
        {**base, "platform": UNKNOWN_PLATFORM, "status": "404"},
    ]


def test_an_accepted_delivery_is_counted_as_202(handler: Any, capsys: pytest.CaptureFixture[str]) -> None:
    store = register_store("shopify")
    body = SAMPLE["body"]
    headers = {
        "x-shopify-shop-domain": store.identity,
        "x-shopify-hmac-sha256": sign_base64_hmac(store.webhook_secret, body.encode()),
    }
    capsys.readouterr()

    answer = handler.invoke(delivery("shopify", headers, body))

    assert answer["statusCode"] == 202
    assert counted_deliveries(capsys.readouterr().out) == [
        {"namespace": "CommerceSync", "service": "webhooks", "platform": "shopify", "status": "202", "value": [1.0]}
    ]


def test_nothing_is_printed_when_metrics_are_off(
    handler: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    capsys.readouterr()
    assert handler.invoke(delivery("made-up-platform", {}, "{}"))["statusCode"] == 404
    assert counted_deliveries(capsys.readouterr().out) == []
