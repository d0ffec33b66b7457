"""Which e-mail addresses commerce-sync accepts: the ones Mailchimp accepts, so that an address it would
refuse is stopped at the edge (a 400 for the canonical route, a skipped entity for a platform webhook)
instead of failing every retry and paging someone from the dead-letter queue.

The rule (after trimming and lower-casing):
- at most 254 characters, ASCII only (Mailchimp refuses internationalised domains and local parts);
- one `@`; a local part of 1-64 characters, dot-separated runs of letters, digits and
  ``!#$%&'*+/=?^_`{}~-`` (RFC 5322's dot-atom, so no quoted local parts, spaces, `<`, `>`, `"`, `(`, `)`,
  `,`, `;`, `:`), and no `|`, so Mailchimp's merge-tag syntax (`*|FNAME|*`) can never appear;
- a domain of at least two dot-separated labels of letters, digits and inner hyphens (1-63 each), the last
  one alphabetic and at least two letters long.

Mailchimp also refuses some well-formed addresses it judges fake ("looks fake or invalid"); only Mailchimp
can tell those, so they still reach it, and its refusal is recorded without retrying.
"""

from __future__ import annotations

import hashlib
import re

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"^(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[a-z]{{2,63}})$")


def email_problem(address: str) -> str | None:
    """Why Mailchimp would refuse `address` (already trimmed and lower-cased), or None. The reason never
    quotes the address: it may reach a log or an HTTP answer."""
    if len(address) > MAX_EMAIL_LENGTH:
        return f"an e-mail address has at most {MAX_EMAIL_LENGTH} characters"
    if not address.isascii():
        return "Mailchimp accepts only ASCII e-mail addresses"
    match = _EMAIL.match(address)
    if match is None:
        return "not an e-mail address Mailchimp accepts"
    if len(match.group("local")) > MAX_LOCAL_PART_LENGTH:
        return f"the part before @ has at most {MAX_LOCAL_PART_LENGTH} characters"
    return None


def normalise_email(value: str) -> str:
    return value.strip().lower()


def subscriber_hash(email: str) -> str:
    """Mailchimp's key for an address (its audience member's subscriber hash, and our Mailchimp customer id): the
    MD5 of the trimmed, lower-cased address."""
    return hashlib.md5(normalise_email(email).encode(), usedforsecurity=False).hexdigest()
