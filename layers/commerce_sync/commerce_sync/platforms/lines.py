"""The rule every platform follows for a cart or order line (docs/line-items.md): each line kind is
handled on purpose, and one odd line never costs the rest of the cart or order.

- A line naming a product and a variant maps to them.
- A line naming a product but no variant (a deleted variant, a product without options) uses the product
  id as its variant id, as Mailchimp's own integrations do.
- A line naming no product (custom items, gift certificates, lines whose product was deleted) maps to one
  per-store product, CUSTOM_ITEMS_PRODUCT_ID, with one variant per distinct title and SKU. One product,
  not one per line, because such lines are many and each would otherwise leave a product behind in
  Mailchimp that no catalog sync ever removes; a deterministic variant id, because the same custom item
  sold twice (the same gift wrap, the same gift certificate theme) is then one variant Mailchimp can
  count, and a redelivery names the same variant rather than a new one. The product and its variants are
  created like any other a line names and Mailchimp lacks (commerce_sync.carts.line_products): the
  product once, a variant the first time its title/SKU is seen. Its variants are written hidden at
  inventory 0 (commerce_sync.mailchimp.mapping): a custom item is never one to recommend.
- Zero-price lines (free gifts, pick-list items, 100 % discounts) are kept: Mailchimp takes price 0.
- A line Mailchimp would refuse (negative quantity or price, out of Mailchimp's range) is left out, with
  the reason logged and counted (metric LineSkipped, dimension `reason`, one of SKIP_REASONS), and the
  rest of the cart or order syncs.
- An id with path syntax is no line kind any platform sends but an attack on another store's data: it
  stays a 400 naming the field, as every such id is (docs/tenant-isolation.md).

Line ids are made unique within the entity (Shopify's own checkout example repeats a line `key`), since
Mailchimp addresses a line by its id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import ValidationError

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.ids import entity_id_problem
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID, MAX_MAILCHIMP_INTEGER, MAX_MONEY, Line

CUSTOM_ITEMS_TITLE = "Custom items"
CUSTOM_VARIANT_PREFIX = "custom-"
DEFAULT_CUSTOM_TITLE = "Custom item"

# The values of the LineSkipped metric's `reason` dimension: a fixed few, so the metric stays cheap.
NEGATIVE_QUANTITY = "negative_quantity"
NEGATIVE_PRICE = "negative_price"
OUT_OF_RANGE = "out_of_range"
INVALID = "invalid"
SKIP_REASONS = frozenset({NEGATIVE_QUANTITY, NEGATIVE_PRICE, OUT_OF_RANGE, INVALID})

# Platform ids that mean "no product" or "no variant".
_NO_ID = (None, "", "0")


class NoLineLeft(Exception):
    """Every line of an order was left out. Mailchimp takes no order without lines, so the adapter
    acknowledges and skips the order (logged and counted as any skipped entity) instead of refusing it."""


@dataclass(frozen=True)
class PlatformLine:
    """What a platform says about one line, before the rule above decides what becomes of it."""

    id: str | None
    product_id: str | None
    variant_id: str | None
    title: str | None
    quantity: int
    price: Decimal
    variant_title: str | None = None
    sku: str | None = None
    discount: Decimal = Decimal(0)
    url: str | None = None
    image_url: str | None = None


def custom_item_variant_id(title: str, sku: str | None) -> str:
    """The same title and SKU always name the same variant of the custom-items product (case and
    surrounding spaces aside); hex, so it is a valid id whatever the title holds."""
    key = f"{(sku or '').strip().casefold()}\x1f{title.strip().casefold()}"
    return CUSTOM_VARIANT_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:20]


def _present(value: str | None) -> str | None:
    value = value.strip() if value is not None else None
    return None if value in _NO_ID else value


def _skip(platform: str, entity: str, line_id: str | None, reason: str) -> None:
    # A shopper's data never enters the log: the entity and line ids and the reason say enough to find it.
    logger.info("line skipped", platform=platform, entity_id=entity, line_id=line_id, reason=reason)
    with single_metric(name="LineSkipped", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="reason", value=reason)


def _refuse_path_syntax(line: PlatformLine, index: int) -> None:
    for name in ("id", "product_id", "variant_id"):
        value = _present(getattr(line, name))
        problem = entity_id_problem(value) if value is not None else None
        if problem:
            raise BadRequest(f"not a usable id: {problem}", field=f"line_items.{index}.{name}")


def _problem(line: PlatformLine) -> str | None:
    if line.quantity < 0:
        return NEGATIVE_QUANTITY
    if line.price < 0:
        return NEGATIVE_PRICE
    if line.quantity > MAX_MAILCHIMP_INTEGER or line.price >= MAX_MONEY or not line.price.is_finite():
        return OUT_OF_RANGE
    return None


def to_line(line: PlatformLine, line_id: str) -> Line:
    product_id = _present(line.product_id)
    title = (line.title or "").strip()
    if product_id is None:
        title = title or DEFAULT_CUSTOM_TITLE
        return Line(
            id=line_id,
            product_id=CUSTOM_ITEMS_PRODUCT_ID,
            variant_id=custom_item_variant_id(title, line.sku),
            product_title=CUSTOM_ITEMS_TITLE,
            variant_title=title,
            sku=line.sku,
            quantity=line.quantity,
            price=line.price,
            discount=max(line.discount, Decimal(0)),
        )
    return Line(
        id=line_id,
        product_id=product_id,
        variant_id=_present(line.variant_id) or product_id,
        product_title=title or f"Item {line_id}",
        variant_title=line.variant_title,
        sku=line.sku,
        quantity=line.quantity,
        price=line.price,
        discount=max(line.discount, Decimal(0)),
        url=line.url,
        image_url=line.image_url,
    )


def to_lines(platform: str, entity: str, lines: Iterable[PlatformLine]) -> tuple[Line, ...]:
    """The lines Mailchimp can hold, in the platform's order; each one left out is logged and counted."""
    kept: list[Line] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        _refuse_path_syntax(line, index)
        line_id = _present(line.id) or _present(line.variant_id) or _present(line.product_id) or f"line-{index}"
        problem = _problem(line)
        if problem is not None:
            _skip(platform, entity, line.id, problem)
            continue
        unique = line_id
        copy = 1
        while unique in seen:
            copy += 1
            unique = f"{line_id}-{copy}"
        try:
            mapped = to_line(line, unique)
        except ValidationError:
            # A value the canonical model refuses that the checks above did not foresee: still one line.
            _skip(platform, entity, line.id, INVALID)
            continue
        seen.add(unique)
        kept.append(mapped)
    return tuple(kept)


def order_lines(platform: str, entity: str, lines: Iterable[PlatformLine]) -> tuple[Line, ...]:
    """`to_lines` for an order, which Mailchimp holds only with at least one line."""
    kept = to_lines(platform, entity, lines)
    if not kept:
        raise NoLineLeft(f"order {entity} has no line Mailchimp can hold (each line's reason is logged)")
    return kept
