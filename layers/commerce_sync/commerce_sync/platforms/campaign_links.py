"""Mailchimp's campaign parameters in the URL a shopper landed on: `mc_cid` (the campaign) and `mc_tc`
(the visit came through a tracked campaign link). Every platform adapter reads them the same way.

A landing site is whatever the shopper's browser sent: a malformed one (an unclosed IPv6 bracket, say)
carries no campaign, and never makes the order or cart it belongs to unusable.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


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
