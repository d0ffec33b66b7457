"""An order that is history, written to a live Mailchimp store: without the statuses that fire its e-mails.

Mailchimp sends an order e-mail for the `financial_status` or `fulfillment_status` an order is created with or
changed to (the spec: these fields are what "trigger Order Notifications"), and a cancellation for
`cancelled_at_foreign`; only the store's `is_syncing` silences that, for every order of the store at once. So an
order written as history outside an import (processing.store_imports.HistoryMode.HISTORICAL) is written without
them: its lines, totals, customer, dates and campaign land, and what was left out is remembered in the order's
sync state (`withheld`). A later live change that brings the same value leaves it out again (Mailchimp would
take it for a change and send the e-mail); a different value is a real change, sent, and its e-mail fires. Written
in an open import (the flag on), the order is written whole and nothing stays withheld.

Plain functions: the statuses of a Mailchimp order body, and the body and the withheld statuses after a write.
"""

from __future__ import annotations

import json

from commerce_sync.mailchimp.models import McOrder
from commerce_sync.processing.store_imports import HistoryMode

# The order's sync-state attribute holding what Mailchimp was not sent (JSON; "" when nothing is withheld).
WITHHELD = "withheld"
CANCELLED = "cancelled"

Withheld = dict[str, str]


def statuses_of(order: McOrder) -> Withheld:
    """The order's notification-firing values: its two statuses and whether it is cancelled."""
    statuses = {"financial_status": order.financial_status, "fulfillment_status": order.fulfillment_status}
    found = {name: value for name, value in statuses.items() if value is not None}
    return found | ({CANCELLED: "true"} if order.cancelled_at_foreign else {})


def without(order: McOrder, names: set[str]) -> McOrder:
    """The body without the named statuses (left out, so Mailchimp keeps what it holds)."""
    changes = {("cancelled_at_foreign" if name == CANCELLED else name): None for name in names}
    return order.model_copy(update=changes)


def quiet(order: McOrder, withheld: Withheld, mode: HistoryMode) -> tuple[McOrder, Withheld]:
    """What to send for `order` written in `mode`, and what stays withheld afterwards."""
    statuses = statuses_of(order)
    if mode is HistoryMode.IMPORT:
        return order, {}
    if mode is HistoryMode.HISTORICAL:
        return without(order, set(statuses)), withheld | statuses
    same = {name for name, value in statuses.items() if withheld.get(name) == value}
    # A status the live order no longer carries stays withheld: nothing is sent for it either way.
    kept = {name: value for name, value in withheld.items() if name in same or name not in statuses}
    return without(order, same), kept


def withheld_of(state: dict[str, object]) -> Withheld:
    raw = str(state.get(WITHHELD) or "")
    return {str(name): str(value) for name, value in json.loads(raw).items()} if raw else {}


def withheld_value(withheld: Withheld) -> str:
    return json.dumps(withheld, sort_keys=True) if withheld else ""
