"""What Mailchimp (the emulator's state and its records) holds against the scenario's ground truth, and the run's
report. Every difference is a mismatch naming the store, the entity and the field."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.state import OrderStatusEvent
from tests.soak.driver import FaultPlan, RunFigures
from tests.soak.scenario import Scenario, StoreTruth

# How far along an order's statuses are: a notification status never goes back down these.
FINANCIAL_RANK = {None: 0, "pending": 1, "paid": 2, "refunded": 3, "cancelled": 3}
FULFILLMENT_RANK = {None: 0, "shipped": 1}


class Mismatch(BaseModel):
    store: str
    entity: str  # "order 1000000012", "cart cart00000007", ...
    field: str
    expected: Any
    actual: Any

    def line(self) -> str:
        return f"{self.store} {self.entity} {self.field}: expected {self.expected!r}, held {self.actual!r}"


def customer_id(email: str) -> str:
    """Mailchimp's customer id for a shopper (docs/carts-and-customers.md), computed independently."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def amount(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def compare_store(
    store: str, truth: StoreTruth, held: dict[str, Any], histories: dict[str, list[OrderStatusEvent]]
) -> list[Mismatch]:
    found: list[Mismatch] = []

    def differ(entity: str, field: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            found.append(Mismatch(store=store, entity=entity, field=field, expected=expected, actual=actual))

    orders = held.get("orders", {})
    for order_id, expected in truth.orders.items():
        entity = f"order {order_id}"
        order = orders.get(order_id)
        if order is None:
            differ(entity, "present", True, False)
            continue
        differ(entity, "financial_status", expected.financial_status, order.get("financial_status"))
        differ(entity, "fulfillment_status", expected.fulfillment_status, order.get("fulfillment_status") or None)
        differ(entity, "order_total", expected.order_total, amount(order.get("order_total")))
        lines = sorted((line["quantity"], amount(line["price"])) for line in order.get("lines", []))
        differ(entity, "lines (quantity, price)", expected.lines, lines)
        differ(entity, "customer email", expected.email, (order.get("customer") or {}).get("email_address"))
        differ(entity, "status history moves forward", [], backwards(histories.get(order_id, [])))
    for order_id in sorted(set(orders) - set(truth.orders)):
        differ(f"order {order_id}", "present", False, True)

    carts = held.get("carts", {})
    for cart_id, expected_cart in truth.carts.items():
        cart = carts.get(cart_id)
        if cart is None:
            differ(f"cart {cart_id}", "present", True, False)
            continue
        differ(
            f"cart {cart_id}",
            "line quantities",
            expected_cart.quantities,
            sorted(line["quantity"] for line in cart["lines"]),
        )
    for cart_id in truth.converted_carts:
        differ(f"cart {cart_id}", "present after its purchase", False, cart_id in carts)
    for cart_id in sorted(set(carts) - set(truth.carts) - set(truth.converted_carts)):
        differ(f"cart {cart_id}", "present", False, True)

    customers = held.get("customers", {})
    emails: Counter[str] = Counter(str(customer.get("email_address", "")).lower() for customer in customers.values())
    for email, count in emails.items():
        differ(f"customer {customer_id(email)}", "customers with this address", 1, count)
    for held_id, customer in customers.items():
        differ(f"customer {held_id}", "id", customer_id(str(customer.get("email_address", ""))), held_id)
    for email, expected_customer in truth.customers.items():
        entity = f"customer {customer_id(email)}"
        customer = customers.get(customer_id(email))
        if customer is None:
            differ(entity, "present", True, False)
            continue
        if expected_customer.first_name is not None:
            differ(entity, "first_name", expected_customer.first_name, customer.get("first_name"))
            differ(entity, "last_name", expected_customer.last_name, customer.get("last_name"))
    # Customers the truth does not name: Mailchimp holds a shopper nobody in the scenario is.
    for email in sorted(set(emails) - set(truth.customers) - set(truth.optional_customers)):
        differ(f"customer {customer_id(email)}", "present", False, True)

    products = held.get("products", {})
    for product_id, title in truth.products.items():
        product = products.get(product_id)
        differ(f"product {product_id}", "title", title, product.get("title") if product else None)

    rules = held.get("promo_rules", {})
    for rule_id, expected_amount in truth.promotions.items():
        rule = rules.get(rule_id)
        differ(f"promo rule {rule_id}", "amount", expected_amount, Decimal(str(rule["amount"])) if rule else None)
    return found


def backwards(events: list[OrderStatusEvent]) -> list[str]:
    """Each change of the order's statuses that went back (a later notification status followed by an earlier
    one), and each notification status written twice, as `before -> after`."""
    found: list[str] = []
    for before, after in itertools.pairwise(events):
        went_back = FINANCIAL_RANK.get(after.financial_status, 0) < FINANCIAL_RANK.get(before.financial_status, 0)
        unshipped = FULFILLMENT_RANK.get(after.fulfillment_status, 0) < FULFILLMENT_RANK.get(
            before.fulfillment_status, 0
        )
        if went_back or unshipped:
            found.append(f"{before.statuses} -> {after.statuses}")
    return found


def compare(scenario: Scenario, store_ids: dict[str, str], mailchimp: MailchimpEmulator) -> list[Mismatch]:
    """Every mismatch of every store (store_ids: StoreKey.name -> the registered store id)."""
    snapshot = mailchimp.snapshot()
    found: list[Mismatch] = []
    for name, truth in scenario.truth.items():
        store_id = store_ids[name]
        held = snapshot["stores"].get(store_id, {})
        histories = {order_id: mailchimp.order_status_events(store_id, order_id) for order_id in held.get("orders", {})}
        found += compare_store(name, truth, held, histories)
        notifications = Counter((n.order_id, n.kind) for n in mailchimp.order_notifications(store_id))
        for (order_id, kind), count in sorted(notifications.items()):
            if count > 1:
                found.append(
                    Mismatch(store=name, entity=f"order {order_id}", field=f"{kind} e-mails", expected=1, actual=count)
                )
    return found


class SoakReport(BaseModel):
    seed: int
    deliveries: int
    deliveries_by_platform_and_kind: dict[str, int]
    duplicates: int
    out_of_order: int
    webhook_answers: dict[str, int]
    refused_deliveries: list[str]
    faults: FaultPlan
    mailchimp_calls: int
    mailchimp_calls_by_method: dict[str, int]
    calls_answered_with_faults: dict[str, int]  # fault kind -> calls (these are what the functions retried)
    calls_answered_with_errors: dict[str, int]  # HTTP status >= 400 -> calls
    sqs_redeliveries: dict[str, int]  # records that failed and were received again (or dead-lettered), by queue
    dead_lettered: dict[str, int]
    dead_letter_reasons: dict[str, int]
    replayed: dict[str, int]
    left_dead_lettered: dict[str, int]
    expected_entities: dict[str, int]
    mismatches: list[str]
    seconds: dict[str, float]

    def text(self) -> str:
        rows = [
            f"soak: seed {self.seed}, {self.deliveries} deliveries ({self.duplicates} duplicates, "
            f"{self.out_of_order} out of order)",
            "deliveries by platform/kind: "
            + ", ".join(f"{k} {v}" for k, v in self.deliveries_by_platform_and_kind.items()),
            f"webhook answers: {self.webhook_answers}",
            f"mailchimp calls: {self.mailchimp_calls} {self.mailchimp_calls_by_method}",
            f"answered with faults (retried): {self.calls_answered_with_faults}",
            f"answered with errors: {self.calls_answered_with_errors}",
            f"SQS redeliveries (records failed, received again): {self.sqs_redeliveries}",
            f"dead-lettered: {self.dead_lettered} by reason {self.dead_letter_reasons}",
            f"replayed (commerce-sync dead-letters FN --store STORE --replay): {self.replayed}",
            f"left dead-lettered after the replay: {self.left_dead_lettered}",
            f"expected entities: {self.expected_entities}",
            f"seconds: {self.seconds}",
            f"mismatches: {len(self.mismatches)}",
            *(f"  {line}" for line in self.mismatches),
        ]
        return "\n".join(rows)


def report(
    scenario: Scenario,
    figures: RunFigures,
    faults: FaultPlan,
    mailchimp: MailchimpEmulator,
    store_ids: dict[str, str],
    mismatches: list[Mismatch],
) -> SoakReport:
    records = mailchimp.recorded_requests[figures.first_request :]
    prefixes = tuple(f"/3.0/ecommerce/stores/{store_id}" for store_id in store_ids.values())
    ours = [record for record in records if record.path.startswith(prefixes) or "/lists/" in record.path]
    expected = Counter[str]()
    for truth in scenario.truth.values():
        expected["orders"] += len(truth.orders)
        expected["abandoned carts"] += len(truth.carts)
        expected["converted carts"] += len(truth.converted_carts)
        expected["customers"] += len(truth.customers)
        expected["products"] += len(truth.products)
        expected["promotions"] += len(truth.promotions)
    return SoakReport(
        seed=scenario.settings.seed,
        deliveries=len(scenario.schedule),
        deliveries_by_platform_and_kind=scenario.counts(),
        duplicates=sum(send.duplicate for send in scenario.schedule),
        out_of_order=sum(send.out_of_order for send in scenario.schedule),
        webhook_answers=figures.answers,
        refused_deliveries=figures.refused,
        faults=faults,
        mailchimp_calls=len(ours),
        mailchimp_calls_by_method=dict(Counter(record.method for record in ours)),
        calls_answered_with_faults=dict(Counter(record.fault for record in ours if record.fault)),
        calls_answered_with_errors=dict(Counter(str(record.status) for record in ours if record.status >= 400)),
        sqs_redeliveries=figures.sqs_redeliveries,
        dead_lettered=figures.dead_lettered,
        dead_letter_reasons=figures.dead_letter_reasons,
        replayed=figures.replayed,
        left_dead_lettered=figures.left_dead_lettered,
        expected_entities=dict(expected),
        mismatches=[mismatch.line() for mismatch in mismatches],
        seconds={
            "sending": figures.send_seconds,
            "draining": figures.drain_seconds,
            "replay and second drain": figures.replay_seconds,
            "wall": figures.wall_seconds,
        },
    )
