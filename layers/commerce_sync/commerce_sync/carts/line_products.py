"""Creating the products and variants that cart and order lines name but Mailchimp lacks, from what the
lines know, so a cart or an order is never dropped for want of its catalog.

It runs after Mailchimp refused a cart or order write for a missing product or variant, and works per
distinct product, never per line (a 1,200-line cart may name 300 products). It only ever POSTs, which
Mailchimp refuses with "already exists" for anything it holds, so a product's real catalog data (title,
url, images, description, written by the catalog sync) is never overwritten with the little a line knows.

- **Direct**, for up to `max_direct_products` products and `max_direct_variants` variants (most carts):
  one GET per product, then a missing product is POSTed once with every variant its lines name, and an
  existing one gets only the variants it lacks. At most 10 + 20 sequential calls on the one connection
  (a few seconds), and no wait behind Mailchimp's batch queue, which runs one batch per account at a
  time and may be busy with the nightly catalog sync.
- **Batch**, above that: one Mailchimp batch holding, per product, a POST of the product with every
  variant its lines name, and per variant a POST of the variant. Operations run in no guaranteed order,
  and every order ends the same: a variant POST that runs first fails (product not found) but its
  product's POST carries it; one that runs after is "already exists"; for an existing product the
  product POST is "already exists" and the variant POSTs add what it lacks. So "already exists" is
  success, and "not found" is success when that product's own POST created it. Anything else fails the
  call with `ProductsNotCreated`, which the queue retries and finally dead-letters with its reason.

The wait for a batch is bounded: `batch_wait_seconds`, and never past the invocation's time left less
`reserve_seconds` (for reading the results and writing the cart or order), so waiting never carries a
function with a 60 s timeout into its end: it gives up in time and the record is retried. A batch still
running then is left to finish, so the retry usually finds the products there and writes at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.canonical.model import Line
from commerce_sync.mailchimp.batches import (
    BatchGone,
    BatchNotFinished,
    BatchOperation,
    BatchResultsUnavailable,
    BatchStatus,
    MailchimpBatches,
    OperationResult,
    operation_id,
    parse_operation_id,
)
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpAlreadyExists, MailchimpNotFound
from commerce_sync.mailchimp.ids import store_path
from commerce_sync.mailchimp.mapping import product_from_line, variant_from_line
from commerce_sync.mailchimp.models import McProduct, McProductVariant

PRODUCT_OP = "product"
VARIANT_OP = "variant"
CREATE = "create"
# Joins a product id and a variant id in one operation id; no id can hold it (mailchimp_ids refuses '/'
# in entity ids, and a shortened id is hex).
_PAIR = "/"
# How many failed operations an error message names; the count says how many there were in all.
REASONS_SHOWN = 3


@dataclass(frozen=True)
class LineProductsPolicy:
    max_direct_products: int = 10
    max_direct_variants: int = 20
    # Half the cart_events / order_status timeout (60 s in template.yaml).
    batch_wait_seconds: float = 30.0
    reserve_seconds: float = 15.0
    first_poll_seconds: float = 0.5
    max_poll_seconds: float = 5.0

    def wait_seconds(self, time_left: float | None) -> float:
        if time_left is None:
            return self.batch_wait_seconds
        return max(0.0, min(self.batch_wait_seconds, time_left - self.reserve_seconds))


DEFAULT_POLICY = LineProductsPolicy()


class ProductsNotCreated(Exception):
    """Not every product or variant the lines name could be created now. Never permanent: a batch that
    was slow or an operation that failed on Mailchimp's side may well succeed on the record's retry."""


@dataclass(frozen=True)
class LineProductsReport:
    """What one call did; logged and counted, never holding a shopper's data."""

    via: Literal["direct", "batch"]
    products: int
    variants: int
    created_products: int = 0
    created_variants: int = 0
    batch_id: str | None = None


def products_from_lines(lines: Iterable[Line]) -> list[McProduct]:
    """One product per distinct product id, in the order the lines first name them, each carrying every
    distinct variant its lines name; what the first line naming a product (or variant) says wins."""
    products: dict[str, McProduct] = {}
    variants: dict[str, dict[str, McProductVariant]] = {}
    for line in lines:
        if line.product_id not in products:
            products[line.product_id] = product_from_line(line)
            variants[line.product_id] = {}
        variants[line.product_id].setdefault(line.variant_id, variant_from_line(line))
    return [
        product.model_copy(update={"variants": list(variants[product_id].values())})
        for product_id, product in products.items()
    ]


def batch_operations(store_id: str, products: Sequence[McProduct]) -> list[BatchOperation]:
    """Per product a POST of it with all its variants, then per variant a POST of the variant."""
    creates = [
        BatchOperation(
            "POST", store_path(store_id, "products"), operation_id(PRODUCT_OP, product.id, CREATE), product.body()
        )
        for product in products
    ]
    additions = [
        BatchOperation(
            "POST",
            store_path(store_id, "products", product.id, "variants"),
            operation_id(VARIANT_OP, f"{product.id}{_PAIR}{variant.id}", CREATE),
            variant.body(),
        )
        for product in products
        for variant in product.variants
    ]
    return creates + additions


@dataclass
class BatchOutcome:
    """The results of a batch from `batch_operations`, read in whatever order Mailchimp ran them."""

    created_products: set[str] = field(default_factory=set)
    created_variants: int = 0
    failures: list[str] = field(default_factory=list)


def settle(products: Sequence[McProduct], results: Iterable[OperationResult]) -> BatchOutcome:
    outcome = BatchOutcome()
    variants_of = {product.id: len(product.variants) for product in products}
    expected = {operation_id(PRODUCT_OP, product.id, CREATE) for product in products} | {
        operation_id(VARIANT_OP, f"{product.id}{_PAIR}{variant.id}", CREATE)
        for product in products
        for variant in product.variants
    }
    # Variants whose product was missing when they ran: fine only if that product's POST created it.
    before_their_product: dict[str, list[str]] = {}
    for result in results:
        if result.operation_id not in expected:
            continue
        expected.discard(result.operation_id)
        parsed = parse_operation_id(result.operation_id)
        if parsed is None:
            continue
        kind, entity, _ = parsed
        error = result.error()
        if kind == PRODUCT_OP:
            if error is None:
                outcome.created_products.add(entity)
                outcome.created_variants += variants_of.get(entity, 0)
            elif not isinstance(error, MailchimpAlreadyExists):
                outcome.failures.append(f"product {entity}: {error}")
            continue
        product_id, _, variant_id = entity.partition(_PAIR)
        if error is None:
            outcome.created_variants += 1
        elif isinstance(error, MailchimpNotFound):
            before_their_product.setdefault(product_id, []).append(variant_id)
        elif not isinstance(error, MailchimpAlreadyExists):
            outcome.failures.append(f"variant {variant_id} of product {product_id}: {error}")
    for product_id, variant_ids in before_their_product.items():
        if product_id not in outcome.created_products:
            outcome.failures.extend(
                f"variant {variant_id} of product {product_id}: the product is neither created nor found"
                for variant_id in variant_ids
            )
    outcome.failures.extend(f"no result for operation {missing}" for missing in sorted(expected))
    return outcome


def create_missing_products(
    client: MailchimpClient,
    store_id: str,
    lines: Iterable[Line],
    time_left: float | None = None,
    policy: LineProductsPolicy = DEFAULT_POLICY,
) -> LineProductsReport:
    """Create what the lines name and Mailchimp lacks. `time_left` is the invocation's remaining seconds
    (None outside Lambda), which bounds the wait for a batch."""
    products = products_from_lines(lines)
    variants = sum(len(product.variants) for product in products)
    if len(products) <= policy.max_direct_products and variants <= policy.max_direct_variants:
        report = _create_directly(client, store_id, products)
    else:
        report = _create_in_batch(client, store_id, products, policy, policy.wait_seconds(time_left))
    metrics.add_metric(name="ProductsCreatedFromLines", unit="Count", value=report.created_products)
    metrics.add_metric(name="VariantsCreatedFromLines", unit="Count", value=report.created_variants)
    if report.via == "batch":
        metrics.add_metric(name="LineProductBatches", unit="Count", value=1)
    logger.info("products for lines created", **asdict(report))
    return report


def _create_directly(client: MailchimpClient, store_id: str, products: Sequence[McProduct]) -> LineProductsReport:
    created_products = created_variants = 0
    for product in products:
        held = client.get_product(store_id, product.id)
        if held is None:
            if client.create_product(store_id, product):
                created_products += 1
                created_variants += len(product.variants)
                continue
            # Another writer (the catalog sync, a concurrent cart) created it since the GET.
            held = client.get_product(store_id, product.id)
            if held is None:
                raise ProductsNotCreated(f"product {product.id} was refused as existing but cannot be read")
        have = {variant.get("id") for variant in held.get("variants") or ()}
        for variant in product.variants:
            if variant.id not in have and client.create_variant(store_id, product.id, variant):
                created_variants += 1
    return LineProductsReport(
        via="direct",
        products=len(products),
        variants=sum(len(product.variants) for product in products),
        created_products=created_products,
        created_variants=created_variants,
    )


def _create_in_batch(
    client: MailchimpClient,
    store_id: str,
    products: Sequence[McProduct],
    policy: LineProductsPolicy,
    wait_seconds: float,
) -> LineProductsReport:
    batches = MailchimpBatches(client)
    operations = batch_operations(store_id, products)
    submitted = batches.submit(operations)
    report = LineProductsReport(
        via="batch",
        products=len(products),
        variants=sum(len(product.variants) for product in products),
        batch_id=submitted.id,
    )
    try:
        _wait(batches, submitted, wait_seconds, policy)
        outcome = settle(products, _results(batches, submitted.id))
    except ProductsNotCreated:
        logger.warning("products for lines not created", **asdict(report))
        raise
    report = replace(report, created_products=len(outcome.created_products), created_variants=outcome.created_variants)
    if outcome.failures:
        logger.warning("products for lines not created", failed_operations=len(outcome.failures), **asdict(report))
        shown = "; ".join(outcome.failures[:REASONS_SHOWN])
        more = len(outcome.failures) - REASONS_SHOWN
        raise ProductsNotCreated(
            f"Mailchimp batch {submitted.id}: {len(outcome.failures)} of {len(operations)} operations creating the "
            f"lines' products failed: {shown}" + (f"; and {more} more" if more > 0 else "")
        )
    return report


def _wait(
    batches: MailchimpBatches,
    submitted: BatchStatus,
    wait_seconds: float,
    policy: LineProductsPolicy,
) -> BatchStatus:
    """Poll with a doubling delay until the batch finished; raise once `wait_seconds` are spent."""
    deadline = time.monotonic() + wait_seconds
    delay = policy.first_poll_seconds
    status = submitted
    while not status.finished:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProductsNotCreated(
                f"Mailchimp batch {submitted.id} ({submitted.total_operations} operations creating the lines' "
                f"products) was still {status.status} after {wait_seconds:.0f} s; it keeps running, and the "
                "cart or order is tried again later"
            )
        time.sleep(min(delay, left))
        delay = min(delay * 2, policy.max_poll_seconds)
        polled = batches.status(submitted.id)
        if polled is None:
            raise ProductsNotCreated(f"Mailchimp no longer has batch {submitted.id} (creating the lines' products)")
        status = polled
    return status


def _results(batches: MailchimpBatches, batch_id: str) -> Iterator[OperationResult]:
    try:
        yield from batches.results(batch_id)
    except (BatchGone, BatchNotFinished, BatchResultsUnavailable) as error:
        raise ProductsNotCreated(f"the results of Mailchimp batch {batch_id} cannot be read: {error}") from error
