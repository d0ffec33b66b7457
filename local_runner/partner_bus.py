"""Shopify's Amazon EventBridge delivery, end to end: the partner event bus and its rule, played by the
runner, because moto cannot hold a partner bus (it refuses bus names with '/' and has no partner event
sources).

`POST /_local/shopify/eventbridge` takes what a Shopify HTTPS webhook carries (the JSON body, and the
`X-Shopify-Topic`, `X-Shopify-Shop-Domain`, optional `X-Shopify-Event-Id` headers; no signature: on
EventBridge AWS vouches for the sender) and puts it on the partner bus as Shopify does: an event with
`detail-type` `shopifyWebhook`, `source` the partner event source, and `detail` `{payload, metadata}`.
Every rule of the template on that bus whose EventPattern matches sends the event to its target function
as EventBridge does, asynchronously (the route answers 202 with the event id at once). A target that
fails is invoked again (Lambda's asynchronous invocation makes two retries); after the last failure the
event goes to the target's DeadLetterConfig queue with the attributes EventBridge gives it (ERROR_CODE,
ERROR_MESSAGE, RULE_ARN, TARGET_ARN).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_runner.aws_resources import BUS, RULE
from local_runner.functions import Invocable
from local_runner.template import SERVERLESS_FUNCTION, Template

log = logging.getLogger("local_runner.partner_bus")

DETAIL_TYPE = "shopifyWebhook"
# Lambda's asynchronous invocation: the first attempt and two retries.
ATTEMPTS = 3


@dataclass
class PartnerRule:
    logical_id: str
    arn: str
    pattern: dict[str, Any]
    function: str
    dead_letter_queue: str | None


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge's matching for the pattern shapes the template uses: a field's list of allowed values
    (any may equal the event's value), and nested objects field by field."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(part, value.get(name)) for name, part in pattern.items())
    if isinstance(pattern, list):
        return any(value == allowed for allowed in pattern)
    return bool(pattern == value)


def partner_buses(template: Template) -> dict[str, str]:
    """Logical id -> name of the buses on a partner event source (the ones moto cannot create)."""
    return {
        logical_id: str(template.resolve(resource["Properties"]["Name"]))
        for logical_id, resource in template.of_type(BUS).items()
        if resource.get("Properties", {}).get("EventSourceName")
    }


class PartnerBus:
    def __init__(
        self,
        template: Template,
        functions: dict[str, Invocable],
        sqs: Any,
        retry_delay_seconds: float,
    ) -> None:
        self._template = template
        self._functions = functions
        self._sqs = sqs
        self._retry_delay = retry_delay_seconds
        self._lock = threading.Lock()
        self.in_flight = 0
        buses = partner_buses(template)
        self.source = next(iter(buses.values()), None)
        self.rules = self._rules(buses)

    def _rules(self, buses: dict[str, str]) -> list[PartnerRule]:
        rules = []
        functions = set(self._template.of_type(SERVERLESS_FUNCTION))
        for logical_id, resource in self._template.of_type(RULE).items():
            properties = resource.get("Properties", {})
            bus = properties.get("EventBusName")
            if not (isinstance(bus, dict) and bus.get("Ref") in buses):
                continue
            for target in properties.get("Targets", []):
                arn = target.get("Arn")
                function = arn["Fn::GetAtt"][0] if isinstance(arn, dict) and "Fn::GetAtt" in arn else None
                if function not in functions:
                    continue
                dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
                queue = dead_letters["Fn::GetAtt"][0] if isinstance(dead_letters, dict) else None
                rules.append(
                    PartnerRule(
                        logical_id=logical_id,
                        arn=str(self._template.attributes.get((logical_id, "Arn"), logical_id)),
                        pattern=dict(properties.get("EventPattern") or {}),
                        function=str(function),
                        dead_letter_queue=self._template.refs.get(queue) if queue else None,
                    )
                )
        return rules

    @property
    def busy(self) -> bool:
        return self.in_flight > 0

    def put_shopify_webhook(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """The local route: a Shopify webhook's headers and body, put on the partner bus."""
        if self.source is None:
            return 404, {
                "message": "no Shopify partner event source (template parameter ShopifyPartnerEventSourceName)"
            }
        topic, shop = headers.get("x-shopify-topic"), headers.get("x-shopify-shop-domain")
        if not topic or not shop:
            return 400, {"message": "X-Shopify-Topic and X-Shopify-Shop-Domain are required"}
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return 400, {"message": "the body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"message": "the body must be a JSON object (the webhook's payload)"}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Event-Id": headers.get("x-shopify-event-id") or str(uuid.uuid4()),
            "X-Shopify-API-Version": headers.get("x-shopify-api-version") or "2025-01",
            "X-Shopify-Triggered-At": headers.get("x-shopify-triggered-at") or now,
        }
        event_id = self.put(DETAIL_TYPE, {"payload": payload, "metadata": metadata}, now)
        return 202, {"id": event_id}

    def put(self, detail_type: str, detail: dict[str, Any], time_text: str) -> str:
        """One event on the bus, as a target receives it; each matching rule's target invoked."""
        event: dict[str, Any] = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": self.source,
            "account": self._template.pseudo["AWS::AccountId"],
            "time": time_text,
            "region": self._template.pseudo["AWS::Region"],
            "resources": [],
            "detail": detail,
        }
        for rule in self.rules:
            if matches(rule.pattern, event):
                with self._lock:
                    self.in_flight += 1
                threading.Thread(target=self._deliver, args=(rule, event), daemon=True).start()
        return str(event["id"])

    def _deliver(self, rule: PartnerRule, event: dict[str, Any]) -> None:
        try:
            error: Exception | None = None
            for attempt in range(ATTEMPTS):
                try:
                    self._functions[rule.function].invoke(event)
                    return
                except Exception as failure:
                    error = failure
                    log.warning(
                        "%s failed on partner event %s (attempt %d): %s",
                        rule.function,
                        event["id"],
                        attempt + 1,
                        failure,
                    )
                    time.sleep(self._retry_delay)
            if rule.dead_letter_queue and error is not None:
                self._sqs.send_message(
                    QueueUrl=rule.dead_letter_queue,
                    MessageBody=json.dumps(event),
                    MessageAttributes={
                        name: {"DataType": "String", "StringValue": value}
                        for name, value in {
                            "ERROR_CODE": type(error).__name__,
                            "ERROR_MESSAGE": str(error)[:1000],
                            "RULE_ARN": rule.arn,
                            "TARGET_ARN": f"arn:aws:lambda:{event['region']}:{event['account']}:"
                            f"function:{rule.function}",
                        }.items()
                    },
                )
        finally:
            with self._lock:
                self.in_flight -= 1
