"""Mailchimp requests one large cart costs when none of its products are in Mailchimp yet.

One `cart.updated` record whose lines name products Mailchimp lacks goes through the cart_events handler
(the local runner: moto server for the AWS side, the Mailchimp emulator over HTTP on 127.0.0.1). The
emulator's own request log is the count: every `/3.0` request the handler made (batch operations, which
Mailchimp runs on its side, are printed apart). Defaults: 1,200 lines over 300 products with 3 variants
each (900 distinct variants, so some lines repeat a variant).

    .venv/bin/python bench/bench_line_products.py [--lines 1200] [--products 300] [--variants 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "commerce_sync"), str(ROOT)]
# The runner applies these to every function; metrics would print one EMF line per invocation.
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
os.environ.update(QUIET)

API_KEY = "0123456789abcdef0123456789abcdef-us6"
SAMPLE = ROOT / "events" / "cart_events_sqs.json"


def cart_lines(lines: int, products: int, variants: int) -> list[dict[str, Any]]:
    """Line n names product n % products and, cycling, one of its `variants` variants."""
    return [
        {
            "id": f"line-{n}",
            "product_id": f"bench-p{n % products}",
            "variant_id": f"bench-p{n % products}-v{(n // products) % variants}",
            "product_title": f"Bench product {n % products}",
            "variant_title": f"Size {(n // products) % variants}",
            "quantity": 1,
            "price": "1.00",
        }
        for n in range(lines)
    ]


def cart_record(store_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    record = copy.deepcopy(json.loads(SAMPLE.read_text())["Records"][0])
    message = json.loads(record["body"])
    detail = message["detail"]
    cart_id = uuid.uuid4().hex
    detail.update(event_id=f"bench:{uuid.uuid4()}", store_id=store_id, entity_id=cart_id)
    detail["data"].update(id=cart_id, lines=lines, order_total=f"{len(lines)}.00", campaign_id=None)
    record["messageId"] = str(uuid.uuid4())
    record["body"] = json.dumps(message)
    return record


def kind_of(path: str, store_id: str) -> str:
    """The request's resource with its ids replaced: `/carts/{id}`, `/products/{id}/variants`, `/batches/{id}`."""
    path = path.removeprefix("/3.0").replace(f"/ecommerce/stores/{store_id}", "")
    path = re.sub(r"^/(carts|customers|products|batches)/[^/]+", r"/\1/{id}", path)
    return re.sub(r"/variants/[^/]+$", "/variants/{id}", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1200)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--variants", type=int, default=3)
    args = parser.parse_args()

    from commerce_sync.aws.settings import Settings

    from emulators.mailchimp import MailchimpEmulator
    from local_runner.runner import LocalRunner, RunnerConfig
    from operator_cli.stores import NewStore, add_store, generate_webhook_secret

    with MailchimpEmulator(api_key=API_KEY) as mailchimp:
        config = RunnerConfig(mailchimp_api_url=mailchimp.base_url, mailchimp_api_key=API_KEY, environment=QUIET)
        with LocalRunner(config) as runner:
            store_id = f"bench-{uuid.uuid4().hex[:8]}"
            add_store(
                Settings.from_environment(),
                NewStore(
                    store_id=store_id,
                    platform="shopify",
                    identity=f"{store_id}.myshopify.com",
                    name="Bench",
                    list_id="bench-list",
                    currency_code="USD",
                    webhook_secret=generate_webhook_secret(),
                ),
            )
            lines = cart_lines(args.lines, args.products, args.variants)
            record = cart_record(store_id, lines)
            mailchimp.clear_requests()

            started = time.monotonic()
            result = runner.invoke("CartEventsFunction", {"Records": [record]})
            elapsed = time.monotonic() - started

            recorded = mailchimp.requests
            http = [r for r in recorded if r["source"] == "http"]
            in_batches = [r for r in recorded if r["source"] == "batch"]
            cart_id = json.loads(record["body"])["detail"]["entity_id"]
            with mailchimp.state.lock:
                store = mailchimp.state.stores[store_id]
                cart = store.carts.get(cart_id)
                held_variants = sum(len(product["variants"]) for product in store.products.values())
                held_products = len(store.products)

    distinct_variants = len({line["variant_id"] for line in lines})
    print(
        f"cart: {len(lines)} lines, {len({line['product_id'] for line in lines})} products, "
        f"{distinct_variants} distinct variants; SQS record body {len(record['body']):,} bytes"
    )
    print(f"handler result: {result}, {elapsed:.1f} s")
    print(
        f"Mailchimp holds: cart with {len(cart['lines']) if cart else 0} lines, "
        f"{held_products} products, {held_variants} variants"
    )
    print(f"Mailchimp API requests made by the handler: {len(http)}")
    for (method, kind, status), count in sorted(
        Counter((r["method"], kind_of(r["path"], store_id), r["status"]) for r in http).items()
    ):
        print(f"  {count:6d}  {method:6s} {kind}  -> {status}")
    print(f"batch operations run by Mailchimp: {len(in_batches)}")
    for (method, kind, status), count in sorted(
        Counter((r["method"], kind_of(r["path"], store_id), r["status"]) for r in in_batches).items()
    ):
        print(f"  {count:6d}  {method:6s} {kind}  -> {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
