"""Which order notifications Mailchimp sends, derived from an order's status history (`state.order_events`).

Mailchimp's order notifications are triggered by the statuses an order is written with (the spec's
`financial_status` and `fulfillment_status`: "Use this parameter to trigger Order Notifications"; which value
sends which e-mail as Mailchimp staff stated it, shared/research/peers.md): an order created with a status, or
changed to a status it did not have, sends that status's e-mail. Nothing is sent for a change written while the
store's `is_syncing` is true ("Pausing store automations", shared/mailchimp/NOTES.md §6), nor for an order
written without a status. Cancelling through `cancelled_at_foreign` is counted as the cancellation e-mail too:
Mailchimp does not document that it is not, and a test that holds is then the stricter one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import JsonDict, OrderStatusEvent

# financial_status values and the e-mail each one sends (the values Mailchimp documents, and their synonyms).
FINANCIAL_NOTIFICATIONS = {
    "pending": "order_confirmation",
    "authorized": "order_confirmation",
    "paid": "order_invoice",
    "partially_paid": "order_invoice",
    "refunded": "refund_confirmation",
    "partially_refunded": "refund_confirmation",
    "cancelled": "cancellation_confirmation",
    "canceled": "cancellation_confirmation",
    "voided": "cancellation_confirmation",
}
SHIPPING_STATUSES = frozenset({"shipped", "partially_shipped", "partial", "fulfilled"})
CANCELLATION = "cancellation_confirmation"
SHIPPING = "shipping_confirmation"


@dataclass(frozen=True)
class OrderNotification:
    """One e-mail Mailchimp sends the order's customer: its kind and the status change that sent it."""

    store_id: str
    order_id: str
    kind: str
    at: str

    def to_json(self) -> JsonDict:
        return {"store_id": self.store_id, "order_id": self.order_id, "kind": self.kind, "at": self.at}


def notifications_of(store_id: str, order_id: str, events: list[OrderStatusEvent]) -> list[OrderNotification]:
    """The e-mails the order's status history sends, in order."""
    sent: list[OrderNotification] = []
    before: OrderStatusEvent | None = None
    for event in events:
        if not event.store_is_syncing:
            for kind in _kinds(before, event):
                sent.append(OrderNotification(store_id, order_id, kind, event.at))
        before = event
    return sent


def _kinds(before: OrderStatusEvent | None, event: OrderStatusEvent) -> list[str]:
    kinds: list[str] = []
    financial = FINANCIAL_NOTIFICATIONS.get(event.financial_status or "")
    if financial and (before is None or before.financial_status != event.financial_status):
        kinds.append(financial)
    if event.cancelled and (before is None or not before.cancelled) and financial != CANCELLATION:
        kinds.append(CANCELLATION)
    shipped = event.fulfillment_status in SHIPPING_STATUSES
    if shipped and (before is None or before.fulfillment_status not in SHIPPING_STATUSES):
        kinds.append(SHIPPING)
    return kinds
