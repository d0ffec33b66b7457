"""What every platform's catalog reader shares: the `CatalogSource` interface (one page at a time behind an
opaque cursor, so a sync holds one page in memory whatever the catalog's size and can continue from any
page in a fresh invocation; products by id, to check which still exist) and the rules every platform
follows when it maps a product into the canonical `Product`. Each platform's `catalog` module implements
it; `platforms.registry.source_for` picks one for a store. The webhook adapters use the same mapping, so
a product looks the same whether it came from the nightly sync or from a webhook.

Rules shared by every platform (docs/product-sync.md):
- Stock: a tracked variant sends its quantity (never below 0). A variant whose stock is not tracked
  sends UNTRACKED_STOCK_QUANTITY while it can be bought, 0 when the platform marks it out of stock.
  Mailchimp recommends only variants with inventory_quantity > 0, and the value is the one Mailchimp's
  own WooCommerce plugin sends for unmanaged stock, so the data looks alike whichever tool filled it.
- Visibility: "visible" when the product can be bought on the storefront (published, not hidden), else
  "hidden" — and a hidden variant always sends inventory 0, so drafts and unpublished products are
  present (orders may name them) but never recommended.
- Backorders: "yes" when the platform takes orders out of stock, "no" when it does not, absent when the
  platform does not say.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from commerce_sync.canonical.model import HIDDEN, VISIBLE, Product

UNTRACKED_STOCK_QUANTITY = 1_000_000

T = TypeVar("T")


class CatalogUnavailable(Exception):
    """The store's catalog cannot be read with what we have (no API URL or credentials, unsupported
    platform). Retrying will not help until an operator fixes the store's registration."""


def stock(*, visible: bool, tracked: bool, quantity: int | float | str | None, in_stock: bool = True) -> int:
    """The inventory_quantity to send, by the rules above."""
    if not visible:
        return 0
    if tracked:
        try:
            return max(int(float(quantity or 0)), 0)
        except (TypeError, ValueError):
            return 0
    return UNTRACKED_STOCK_QUANTITY if in_stock else 0


def visibility(visible: bool) -> str:
    return VISIBLE if visible else HIDDEN


def backorders(allowed: bool | None) -> str | None:
    if allowed is None:
        return None
    return "yes" if allowed else "no"


def text(value: object) -> str | None:
    """Platforms send "" (or whitespace) for unset text; that is None here."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


# Platform products that could not be used, as (platform id, reason): counted as failed, never fatal.
Skipped = list[tuple[str, str]]
ModelT = TypeVar("ModelT", bound=BaseModel)


class HasId(Protocol):
    id: str


IdentifiedT = TypeVar("IdentifiedT", bound=HasId)


def parse_products(raw: Sequence[Any], model: type[ModelT]) -> tuple[list[ModelT], Skipped]:
    """The platform's products (as `model`) that parse; each that does not is skipped with the reason."""
    parsed: list[ModelT] = []
    skipped: Skipped = []
    for item in raw:
        try:
            parsed.append(model.model_validate(item))
        except ValueError as error:
            skipped.append((str(item.get("id", "?")) if isinstance(item, dict) else "?", str(error)[:200]))
    return parsed, skipped


def build_products(
    models: Sequence[IdentifiedT], to_product: Callable[[IdentifiedT], Product]
) -> tuple[list[Product], Skipped]:
    """The canonical products; one that cannot be (a product with no title, say) is skipped with the reason,
    so one bad product does not stop a catalog of thousands."""
    products: list[Product] = []
    skipped: Skipped = []
    for model in models:
        try:
            products.append(to_product(model))
        except (ValidationError, ValueError) as error:
            skipped.append((model.id, f"unmappable: {str(error).splitlines()[0][:200]}"))
    return products, skipped


@dataclass(frozen=True)
class CatalogPage:
    products: list[Product]
    next_cursor: str | None
    # The catalog's size when the platform says (for progress only).
    total: int | None = None
    # Platform products that could not be mapped: (id, reason). They are counted as failed, not fatal.
    skipped: list[tuple[str, str]] = field(default_factory=list)


class CatalogSource(Protocol):
    platform: str

    def page(self, cursor: str | None) -> CatalogPage:
        """The page at `cursor` (None: the first one); `next_cursor` is None after the last page."""
        ...

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        """The products among `ids` that exist now; an id missing from the answer is gone (so is one the
        platform cannot have: see `numbered`)."""
        ...


@dataclass(frozen=True)
class RawProduct:
    """One product as the platform sent it, not parsed yet: its id ("" when it has none) and its fingerprint."""

    id: str
    fingerprint: str
    data: Any


@dataclass(frozen=True)
class RawCatalogPage:
    items: list[RawProduct]
    next_cursor: str | None
    total: int | None = None


@runtime_checkable
class FingerprintingCatalogSource(CatalogSource, Protocol):
    """A catalog reader that can hand out a page before parsing it, each product with its fingerprint, so that a
    sync parses and maps only the products whose fingerprint differs from the one recorded at their last write
    (a nightly re-run of 100,000 unchanged products parsed and mapped every one of them: issue 17)."""

    def raw_page(self, cursor: str | None) -> RawCatalogPage:
        """`page`, unparsed."""
        ...

    def to_products(self, items: Sequence[RawProduct]) -> tuple[list[Product], Skipped]:
        """What `page` makes of these items: the products, and those that cannot be used with the reason."""
        ...


@cache
def mapping_code_digest() -> str:
    """A digest of this package's code. It is part of every fingerprint, so that a release that maps products
    differently (in any module: the platform models, the canonical model, the Mailchimp mapping) maps every
    product again once; what that mapping leaves unchanged is still not written (the record's content hash)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprinted(raw: Sequence[Any], mapping_inputs: Sequence[str]) -> list[RawProduct]:
    """The platform's products with their fingerprints: a digest of the product's JSON (keys sorted), of
    `mapping_inputs` (the store's settings the mapping reads: currency, storefront) and of the mapping code.
    Equal fingerprints mean the same Mailchimp body, so an unchanged product costs a digest, not a parse."""
    context = "\n".join([mapping_code_digest(), *mapping_inputs]).encode("utf-8")
    items: list[RawProduct] = []
    for item in raw:
        product_id = str(item["id"]) if isinstance(item, dict) and item.get("id") is not None else ""
        data = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        digest = hashlib.sha256(context)
        digest.update(b"\n" + data.encode("utf-8"))
        items.append(RawProduct(id=product_id, fingerprint=digest.hexdigest()[:32], data=item))
    return items


def numbered(ids: Sequence[str]) -> list[str]:
    """The ids among `ids` that can name a product on Shopify, WooCommerce or BigCommerce, which all number
    their products. Any other id (the `custom-<line>` product of an order line that named no catalog
    product, say) names nothing there, so it is not asked for: an API may refuse a whole request for one."""
    return [product_id for product_id in ids if product_id.isascii() and product_id.isdigit()]


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
