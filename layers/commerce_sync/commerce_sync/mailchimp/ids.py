"""The one rule for ids that reach Mailchimp, and the one way a Mailchimp path is built from them.

Entity ids (cart, customer, order, product, variant, line) come from payloads, so they are hostile until
checked. Two layers keep one store's id from reaching another store's data:

- **At the edge** (commerce_sync.canonical.ids, enforced by the canonical model's `EntityId` type): an id
  is 1-255 printable characters with none of `/`, `\\`, `?`, `#`, `%` and no `..`, so it can never carry
  path syntax, whatever a later layer does with it. A payload that breaks the rule gets a 400 naming it.
- **At the client** (`api_path`): every path is built from segments, each percent-encoded on its own; an
  empty, `.` or `..` segment, or one with control characters, is refused before any request. The HTTP
  stack collapses dot segments and decodes `%2F`, so encoding alone in one place would not be enough.

Mailchimp documents a 50-character limit for customer ids and none for the others; real platform ids
can be longer (Shopify line keys, and cart tokens "of any length"). `to_mailchimp_id` keeps ids of up
to 50 characters as they are and turns a longer one into `h-` plus 40 hex digits of its SHA-256, the
same way on every path and in every body, so the mapping is stable and idempotent.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator

from commerce_sync.canonical.ids import entity_id_problem

MAX_MAILCHIMP_ID = 50
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")  # RFC 3986 unreserved: the same before and after quote()
_HASHED_PREFIX = "h-"


def to_mailchimp_id(value: str) -> str:
    """The id Mailchimp holds for an entity id: itself up to 50 characters, else a stable digest."""
    if len(value) <= MAX_MAILCHIMP_ID:
        return value
    return _HASHED_PREFIX + hashlib.sha256(value.encode()).hexdigest()[:40]


def _checked_mailchimp_id(value: str) -> str:
    problem = entity_id_problem(value)
    if problem:
        raise ValueError(f"not a usable Mailchimp id: {problem}")
    return to_mailchimp_id(value)


# An id in an outbound Mailchimp body: checked again (defence in depth) and shortened like every path.
MailchimpId = Annotated[str, AfterValidator(_checked_mailchimp_id)]


class UnsafePathSegment(ValueError):
    """A path segment that could change which resource a request reaches (a bug or a hostile id)."""


def api_path(*segments: str) -> str:
    """`/a/b/c` from segments, each percent-encoded alone (`/` included), so no segment can add,
    remove or climb a level. Refuses empty, `.` and `..` segments and control characters."""
    encoded = []
    for segment in segments:
        if not isinstance(segment, str) or segment in ("", ".", ".."):
            raise UnsafePathSegment(f"unusable path segment {segment!r}")
        if _UNRESERVED.fullmatch(segment):
            encoded.append(segment)  # nothing to encode (most ids): skips quote()'s per-character work
            continue
        if not segment.isprintable():
            raise UnsafePathSegment("a path segment holds control characters")
        encoded.append(quote(segment, safe=""))
    return "/" + "/".join(encoded)


def store_path(store_id: str, *segments: str) -> str:
    """`/ecommerce/stores/{store}/…` where every entity id segment goes through `to_mailchimp_id`: the
    caller passes the ids it knows (canonical ones) and gets the path Mailchimp's copy lives at.

    `segments` alternate collection names and ids (`"carts", cart_id`), so ids are always in odd places.
    """
    parts = ["ecommerce", "stores", store_id]
    for index, segment in enumerate(segments):
        parts.append(to_mailchimp_id(segment) if index % 2 else segment)
    return api_path(*parts)
