"""Entity ids at the edge: what an id from a payload may hold before anything uses it.

An id (cart, customer, order, product, variant, line) is 1-255 printable characters with none of `/`,
`\\`, `?`, `#`, `%` and no `..`, so it can never carry path syntax, whatever a later layer does with it
(commerce_sync.mailchimp.ids builds Mailchimp paths from it). The canonical model's `EntityId` enforces
it; a payload that breaks it gets a 400 naming the field.
"""

from __future__ import annotations

import re

MAX_ENTITY_ID = 255
FORBIDDEN_ID_CHARACTERS = "/\\?#%"
# One C-speed scan per id: every entity id of every delivery passes here.
_FORBIDDEN = re.compile("[" + re.escape(FORBIDDEN_ID_CHARACTERS) + "]")
_PATH_SYNTAX = re.compile("[" + re.escape(FORBIDDEN_ID_CHARACTERS) + r"]|\.\.")


def entity_id_problem(value: str) -> str | None:
    """Why `value` cannot be an entity id, or None when it can."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ENTITY_ID:
        return f"must be at most {MAX_ENTITY_ID} characters"
    if _PATH_SYNTAX.search(value):
        return "must not contain /, \\, ?, # or %" if _FORBIDDEN.search(value) else "must not contain '..'"
    if value == ".":
        return "must not contain '..' or be '.'"
    if not value.isprintable():
        return "must be printable (no control or separator characters)"
    return None
