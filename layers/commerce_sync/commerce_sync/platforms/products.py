"""The product catalog: reading each platform's catalog page by page, and the rules every platform shares.

- `sources`: `CatalogSource` (one page at a time behind an opaque cursor; products by id) and
  `source_for(store, credentials)`; the platform modules (`shopify`, `woocommerce`, `bigcommerce`) hold
  each platform's product models, its mapping into the canonical `Product`, and its API reader. The
  webhook adapters use the same mapping, so a product looks the same whether it came from the nightly
  sync or from a webhook.
- `state`: what the sync-state table remembers about the catalog (a content hash per product, the run's
  checkpoint, batches in flight, run summaries).
- `writer`: the one place products are written to Mailchimp directly (real-time events, small change
  sets, retries), with the state recorded only after Mailchimp accepted the write.
- `product_events`: product.updated / product.deleted from the queue.

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

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

from commerce_sync.canonical.model import Product
from commerce_sync.mailchimp.mapping import HIDDEN, VISIBLE

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


def build_product(build: Callable[[], Product]) -> Product | str:
    """The canonical product, or the reason the platform's product cannot become one (a product with no
    title, say): one bad product is reported and skipped, it does not stop a catalog of thousands."""
    try:
        return build()
    except (ValidationError, ValueError) as error:
        return f"unmappable: {str(error).splitlines()[0][:200]}"
