"""`make demo`: the whole function set offline, end to end, printed as it goes.

Starts moto, the Mailchimp emulator (unless MAILCHIMP_API_URL and MAILCHIMP_API_KEY name a real
account), a Shopify Admin API emulator with a small catalog, and the local API; registers a demo
Shopify store; replays the sample checkout webhook from events/ with a valid signature, plus a
duplicate, a forged, a malformed and an unknown-shop one; replays an order's lifecycle; runs the
nightly product sync; and prints what Mailchimp holds after each part.
"""

from __future__ import annotations

import json
import os

# Before the layer is imported: Powertools reads these when its singletons are built.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from commerce_sync.aws.settings import Settings
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.ids import store_path

from local_runner.main import DEMO_API_KEY
from local_runner.runner import PROJECT_ROOT, LocalRunner, RunnerConfig
from local_runner.senders import send_shopify
from operator_cli.stores import NewStore, add_store, generate_webhook_secret

EVENTS = PROJECT_ROOT / "events"
ORDER_LIFECYCLE = [
    ("orders/create", {"financial_status": "pending", "updated_at": "2025-03-14T09:31:12-04:00"}),
    ("orders/paid", {"financial_status": "paid", "updated_at": "2025-03-14T09:35:00-04:00"}),
    (
        "orders/fulfilled",
        {
            "fulfillment_status": "fulfilled",
            "updated_at": "2025-03-15T08:00:00-04:00",
            "fulfillments": [
                {
                    "id": 4401,
                    "status": "success",
                    "tracking_company": "UPS",
                    "tracking_number": "1Z999AA10123456784",
                    "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                    "created_at": "2025-03-15T08:00:00-04:00",
                }
            ],
        },
    ),
]
DEMO_STORE = "demo-shopify"
DEMO_SHOP = "demo-shop.myshopify.com"


def _sample_checkout() -> tuple[bytes, dict[str, str]]:
    event = json.loads((EVENTS / "webhooks_shopify_checkouts_update.json").read_text())
    return event["body"].encode(), event["headers"]


def _show(title: str, response) -> None:  # type: ignore[no-untyped-def]
    print(f"  {title:<34} -> HTTP {response.status_code} {response.text.strip()}")


def _print_mailchimp(client: MailchimpClient, store_id: str) -> None:
    print("\nWhat Mailchimp holds for store", store_id)
    for customer in client.get(store_path(store_id, "customers")).get("customers", []):
        print(f"  customer {customer['id']}: opt_in_status={customer.get('opt_in_status')}")
    for product in client.get(store_path(store_id, "products")).get("products", []):
        print(f"  product  {product['id']}: {product['title']} ({len(product.get('variants', []))} variant(s))")
    for cart in client.get(store_path(store_id, "carts")).get("carts", []):
        print(
            f"  cart     {cart['id']}: {cart['currency_code']} {cart['order_total']}, "
            f"{len(cart.get('lines', []))} line(s), customer {cart['customer']['id']}"
        )
        print(f"           checkout_url {cart.get('checkout_url')}")
        for line in cart.get("lines", []):
            item = f"{line['product_id']}/{line['product_variant_id']}"
            print(f"           line {item} x{line['quantity']} @ {line['price']}")
    for order in client.get(store_path(store_id, "orders")).get("orders", []):
        print(
            f"  order    {order['id']}: {order['currency_code']} {order['order_total']}, "
            f"financial_status={order.get('financial_status')}, fulfillment_status={order.get('fulfillment_status')}, "
            f"tracking={order.get('tracking_number')}"
        )


def main() -> int:
    api_url = os.environ.get("MAILCHIMP_API_URL")
    api_key = os.environ.get("MAILCHIMP_API_KEY", DEMO_API_KEY)
    emulator = None
    if not api_url:
        from emulators.mailchimp import MailchimpEmulator

        emulator = MailchimpEmulator(api_key=api_key, account_id="demo-account", host="127.0.0.1", port=0)
        emulator.start()
        api_url = emulator.base_url
        print(f"Mailchimp emulator: {api_url}")
    from emulators.shopify import ShopifyEmulator
    from emulators.shopify.fixtures import sample_catalog

    # The shop's own Admin API, serving a small fixture catalog for the nightly product sync.
    shop_api = ShopifyEmulator(DEMO_SHOP, access_token="shpat_demo").start()
    for product in sample_catalog():
        shop_api.put_product(product)
    with LocalRunner(RunnerConfig(mailchimp_api_url=api_url, mailchimp_api_key=api_key)) as runner:
        print(f"Local API: {runner.url}   AWS (moto): {runner.aws_endpoint_url}")
        secret = generate_webhook_secret()
        store = add_store(
            Settings.from_environment(),
            NewStore(
                store_id=DEMO_STORE,
                platform="shopify",
                identity=DEMO_SHOP,
                name="Demo Outfitters",
                list_id=os.environ.get("MAILCHIMP_LIST_ID", "demo-list"),
                currency_code="USD",
                webhook_secret=secret,
                domain=DEMO_SHOP,
                platform_api_url=shop_api.base_url,
                platform_api_credentials={"access_token": "shpat_demo"},
            ),
        ).store
        print(f"Registered store {store.store_id} for {store.platform_identity}")

        body, headers = _sample_checkout()
        print("\nReplaying events/ through POST /webhooks/shopify:")
        _show(
            "checkouts/update (signed)",
            send_shopify(runner.url, secret, "checkouts/update", DEMO_SHOP, body, headers.get("x-shopify-event-id")),
        )
        _show(
            "same delivery again (duplicate)",
            send_shopify(runner.url, secret, "checkouts/update", DEMO_SHOP, body, headers.get("x-shopify-event-id")),
        )
        _show(
            "checkouts/update (forged)", send_shopify(runner.url, "not-the-secret", "checkouts/update", DEMO_SHOP, body)
        )
        _show(
            "checkouts/update (malformed JSON)", send_shopify(runner.url, secret, "checkouts/update", DEMO_SHOP, b"{")
        )
        _show("unknown shop", send_shopify(runner.url, secret, "checkouts/update", "nobody.myshopify.com", body))
        runner.wait_until_idle(timeout=60)
        _print_mailchimp(MailchimpClient(api_key=api_key, base_url=api_url), DEMO_STORE)

        print("\nThe shopper buys: the order's lifecycle through POST /webhooks/shopify:")
        order = json.loads((EVENTS / "shopify_order_body.json").read_text())
        for topic, changes in ORDER_LIFECYCLE:
            order.update(changes)
            _show(topic, send_shopify(runner.url, secret, topic, DEMO_SHOP, json.dumps(order).encode()))
            runner.wait_until_idle(timeout=60)

        print("\nNightly product sync (scheduled invocation):")
        schedule = json.loads((EVENTS / "product_sync_schedule.json").read_text())
        print("  ", runner.invoke("ProductSyncFunction", schedule))
        runner.wait_until_idle(timeout=120)

        _print_mailchimp(MailchimpClient(api_key=api_key, base_url=api_url), DEMO_STORE)
        if emulator:
            history = emulator.order_status_history(DEMO_STORE, str(order["id"]))
            print("  status changes Mailchimp saw (each fires its notification):", history)
        dead = {name: d["visible"] for name, d in runner.queue_depths().items() if "DeadLetter" in name}
        print("\nDead-letter queues:", dead)
    shop_api.stop()
    if emulator:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
