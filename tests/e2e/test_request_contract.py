"""Contract: every request body commerce-sync sent to Mailchimp while running the slice validates
against Mailchimp's published schema, the emulator's bundled copy emulators/mailchimp/spec/ecommerce-subset.json.

The emulator validates each body as it arrives; this check does it again with a validator of its own, so
a lenient emulator cannot hide a bad body, and it names the operation each body was sent to. That the
copy still equals ../shared/mailchimp/ecommerce-subset.json is checked in
tests/unit/mailchimp/test_models_contract.py (skipped when the shared folder is absent).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.harness import RegisteredStore

pytestmark = pytest.mark.spec

BUNDLED_SPEC = Path(__file__).resolve().parents[2] / "emulators" / "mailchimp" / "spec" / "ecommerce-subset.json"
SAMPLE = Path(__file__).resolve().parents[2] / "events" / "shopify_checkout_update_body.json"
SPEC_URI = "urn:mailchimp:ecommerce-subset"


def operation_matchers(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str]]:
    matchers = []
    for operation, reference in spec["x-request-body-schemas"].items():
        method, template = operation.split(" ", 1)
        pattern = re.compile("^/3.0" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
        matchers.append((method, pattern, reference))
    return matchers


def test_every_body_sent_during_the_slice_matches_the_spec(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    spec = json.loads(BUNDLED_SPEC.read_text(encoding="utf-8"))
    registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec))
    matchers = operation_matchers(spec)
    body = json.loads(SAMPLE.read_text())
    body["token"] = uuid.uuid4().hex
    body["cart_token"] = uuid.uuid4().hex
    for revision, quantity in enumerate((2, 3)):
        body["updated_at"] = f"2025-03-14T09:2{revision}:00-04:00"
        body["line_items"][0]["quantity"] = quantity
        raw = json.dumps(body).encode()
        response = send_shopify(
            runner.url, shopify_store.webhook_secret, "checkouts/update", shopify_store.identity, raw
        )
        assert response.status_code == 202
        runner.wait_until_idle()

    sent = [
        r
        for r in mailchimp.requests
        if (r["body"] is not None and f"/stores/{shopify_store.store_id}" in r["path"])
        or (r["path"] == "/3.0/ecommerce/stores" and r["body"] and r["body"].get("id") == shopify_store.store_id)
    ]
    checked = set()
    for request in sent:
        if request["body"] is None:
            continue
        match = next((m for m in matchers if m[0] == request["method"] and m[1].match(request["path"])), None)
        assert match is not None, f"{request['method']} {request['path']} is not an operation in the spec"
        validator = Draft4Validator({"$ref": SPEC_URI + match[2]}, registry=registry)
        problems = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(request["body"])
        ]
        assert problems == [], f"{request['method']} {request['path']}: {problems}"
        checked.add(f"{request['method']} {match[1].pattern}")
    # The slice sends at least: the store, the customer, products from lines, the cart (POST and PATCH).
    assert len(checked) >= 5, checked
