"""`python -m emulators.shopify --port 8402 --shop demo.myshopify.com --access-token T [--sample]`"""

from __future__ import annotations

import argparse
import signal
import threading

from .discounts import sample_price_rules
from .emulator import ShopifyEmulator
from .fixtures import sample_catalog
from .history import sample_history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Shopify Admin REST API emulator (products, orders, customers, price rules and discount codes)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8402)
    parser.add_argument("--shop", default="demo-shop.myshopify.com")
    parser.add_argument("--access-token", default="local-token")
    parser.add_argument(
        "--sample", action="store_true", help="load the sample catalog, a small order history and sample discounts"
    )
    args = parser.parse_args(argv)
    emulator = ShopifyEmulator(args.shop, args.access_token, host=args.host, port=args.port)
    if args.sample:
        for product in sample_catalog():
            emulator.put_product(product)
        customers, orders = sample_history()
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        for rule, codes in sample_price_rules():
            emulator.put_price_rule(rule, codes)
    emulator.start()
    print(f"Shopify emulator on {emulator.base_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


main()
