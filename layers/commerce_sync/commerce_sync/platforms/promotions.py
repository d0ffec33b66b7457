"""What every platform's promotion reader shares: the `PromotionSource` interface and its pages.

A reader pages a store's discount rules behind an opaque cursor (one page in memory, whatever the store's size,
and a run can continue from any page in a fresh invocation). A platform whose rule and code are one thing
(a WooCommerce coupon, a BigCommerce v2 coupon) gives each rule with its code (`codes_complete`); one whose
rules have many codes (Shopify price rules, BigCommerce promotions) gives the rules alone, and their codes
page by page through `codes`, so a rule of 100,000 single-use codes is read a page at a time too.

Kinds Mailchimp has no rule for (buy X get Y, tiers, gifts) are not forced into one: the reader leaves them out
with a reason (`Unexpressible`), which the run's summary lists (docs/promotions.md has each platform's table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Protocol, TypeVar

from pydantic import ValidationError

from commerce_sync.canonical.model import Promotion, PromotionCode

T = TypeVar("T")
Built = TypeVar("Built")

# (platform id, reason) of what a page could not give: a kind Mailchimp cannot express, an unusable item.
Skipped = list[tuple[str, str]]


class PromotionsUnavailable(Exception):
    """The store's promotions cannot be read with what we have (no reader for its platform, no credentials)."""


class Unexpressible(ValueError):
    """A discount of a kind Mailchimp's promo rules cannot state honestly; the message says which and why."""


@dataclass(frozen=True)
class PromotionPage:
    # Each either with every code it has (`codes_complete`) or with none, its codes read through `codes`.
    promotions: list[Promotion]
    next_cursor: str | None
    skipped: Skipped = field(default_factory=list)


@dataclass(frozen=True)
class CodePage:
    codes: list[PromotionCode]
    next_cursor: str | None
    skipped: Skipped = field(default_factory=list)


class PromotionSource(Protocol):
    platform: str

    def page(self, cursor: str | None) -> PromotionPage:
        """The rules at `cursor` (None: the first page); `next_cursor` is None after the last page."""
        ...

    def codes(self, promotion_id: str, cursor: str | None) -> CodePage:
        """A page of the codes of a rule the pages gave without them."""
        ...

    def promotions_by_id(self, ids: Sequence[str]) -> list[Promotion]:
        """The rules among `ids` the store still has, in a form Mailchimp can hold (codes not read); an id
        missing from the answer is gone, or became a kind Mailchimp cannot express."""
        ...


def build_each(
    items: Sequence[T], identify: Callable[[T], str], build: Callable[[T], Built]
) -> tuple[list[Built], Skipped]:
    """`build` over `items`; an item it cannot build (Unexpressible, a value the canonical model refuses) is
    skipped with the reason, so one odd discount never stops a store of thousands."""
    built: list[Built] = []
    skipped: Skipped = []
    for item in items:
        try:
            built.append(build(item))
        except Unexpressible as reason:
            skipped.append((identify(item), str(reason)))
        except (ValidationError, ValueError) as error:
            skipped.append((identify(item), f"unusable: {str(error).splitlines()[0][:200]}"))
    return built, skipped


def percent_fraction(percent: object) -> str:
    """A platform's percent ("15", "15.5") as the fraction the canonical model takes ("0.15", "0.155")."""
    try:
        value = Decimal(str(percent)).copy_abs()
    except InvalidOperation as error:
        raise ValueError(f"not a percentage: {percent!r}") from error
    return f"{(value / 100).normalize():f}"
