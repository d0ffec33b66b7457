"""Creating the products that cart and order lines name but Mailchimp lacks, from what the lines know,
so a cart or an order is never dropped for want of its catalog."""

from __future__ import annotations

from collections.abc import Iterable

from commerce_sync.canonical import Line
from commerce_sync.mailchimp_client import MailchimpClient
from commerce_sync.mapping import product_from_line, variant_from_line
from commerce_sync.observability import metrics


def create_missing_products(client: MailchimpClient, store_id: str, lines: Iterable[Line]) -> None:
    for line in lines:
        product = client.get_product(store_id, line.product_id)
        if product is None:
            client.upsert_product(store_id, product_from_line(line))
            metrics.add_metric(name="ProductsCreatedFromLines", unit="Count", value=1)
        elif all(variant.get("id") != line.variant_id for variant in product.get("variants", [])):
            client.upsert_variant(store_id, line.product_id, variant_from_line(line))
