"""Mailchimp's campaign parameters in the URL a shopper landed on: `mc_cid` (the campaign) and `mc_tc`
(the visit came through a tracked campaign link). Every platform adapter reads them the same way.

A landing site is whatever the shopper's browser sent: a malformed one (an unclosed IPv6 bracket, say)
carries no campaign, and never makes the order or cart it belongs to unusable.

The rule (`campaign_of`): a platform may record a visit in more than one place (Shopify: the order's
landing site and cart attributes; WooCommerce: its own order attribution and the Mailchimp plugin's
meta). Each place is a `Landing`, and they are given most trusted first. The campaign is the first
landing's own campaign id or, failing that, the `mc_cid` in its URL; the visit is tracked (`prec`) when
any landing says so or carries `mc_tc`; the landing site is the first URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

# Mailchimp's one tracking_code value: the order came through a tracked campaign link.
TRACKED: Literal["prec"] = "prec"


def query_value(url: str | None, name: str) -> str | None:
    """The first value of the query parameter `name` in `url`, or None (no URL, no such parameter, or a
    URL that cannot be parsed)."""
    if not url:
        return None
    try:
        values = parse_qs(urlsplit(url).query).get(name)
    except ValueError:
        return None
    return values[0] if values else None


@dataclass(frozen=True)
class Landing:
    """One record of the visit: the URL the shopper landed on, and what was kept beside it (a campaign id
    or an `mc_tc` taken from the link by a storefront script or a plugin)."""

    url: str | None = None
    campaign_id: str | None = None
    tracked: bool = False

    @property
    def campaign(self) -> str | None:
        return self.campaign_id or query_value(self.url, "mc_cid")

    @property
    def came_through_tracked_link(self) -> bool:
        return self.tracked or query_value(self.url, "mc_tc") is not None


@dataclass(frozen=True)
class Campaign:
    """What a Mailchimp order (or cart) says about the campaign behind it."""

    campaign_id: str | None = None
    tracking_code: Literal["prec"] | None = None
    landing_site: str | None = None


def campaign_of(*landings: Landing) -> Campaign:
    """The campaign fields of a visit recorded in `landings`, most trusted first (the module's rule)."""
    return Campaign(
        campaign_id=next((campaign for landing in landings if (campaign := landing.campaign)), None),
        tracking_code=TRACKED if any(landing.came_through_tracked_link for landing in landings) else None,
        landing_site=next((landing.url for landing in landings if landing.url), None),
    )
