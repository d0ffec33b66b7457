"""The soak's own parts, without the runner: the scenario is a pure function of seed and size with the shares of
duplicates and overtaking changes it promises, and the comparison sees each kind of wrong Mailchimp state."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from emulators.mailchimp.state import OrderStatusEvent
from tests.soak.comparison import compare_store, customer_id
from tests.soak.scenario import SoakSettings, StoreTruth, build


def test_the_same_seed_and_size_give_the_same_scenario_and_another_seed_another() -> None:
    first, again = build(SoakSettings(deliveries=400, seed=5)), build(SoakSettings(deliveries=400, seed=5))
    other = build(SoakSettings(deliveries=400, seed=6))

    assert first == again
    assert first.schedule != other.schedule


def test_the_schedule_has_the_promised_duplicates_and_overtaking_changes() -> None:
    scenario = build(SoakSettings(deliveries=1200, seed=3))
    schedule = scenario.schedule

    assert len(schedule) == 1200
    assert {send.delivery for send in schedule} == set(range(len(scenario.deliveries))), "every delivery sent"
    duplicates = [send for send in schedule if send.duplicate]
    assert len(duplicates) == 1200 - len(scenario.deliveries) == round(0.2 * len(scenario.deliveries))
    first_sent = {}
    for position, send in enumerate(schedule):
        first_sent.setdefault(send.delivery, position)
        if send.duplicate:
            assert first_sent[send.delivery] < position, "a duplicate comes after the first send"
    overtaking = [send.delivery for send in schedule if send.out_of_order]
    assert len(overtaking) == round(0.1 * len(scenario.deliveries))
    for number in overtaking:
        assert first_sent[number] < first_sent[number - 1], "the later change arrives before the earlier one"
        assert scenario.deliveries[number].entity_id == scenario.deliveries[number - 1].entity_id
    platforms = Counter(delivery.store.platform for delivery in scenario.deliveries)
    assert set(platforms) == {"shopify", "woocommerce", "bigcommerce"}
    kinds = Counter(delivery.kind for delivery in scenario.deliveries)
    assert set(kinds) == {"order", "cart", "customer", "product", "promotion"}


def held_as_truth(truth: StoreTruth) -> tuple[dict[str, Any], dict[str, list[OrderStatusEvent]]]:
    """What Mailchimp would hold were everything right, and each order's history straight to its status."""
    orders = {
        order_id: {
            "financial_status": order.financial_status,
            "fulfillment_status": order.fulfillment_status,
            "order_total": float(order.order_total),
            "lines": [{"quantity": quantity, "price": float(price)} for quantity, price in order.lines],
            "customer": {"email_address": order.email},
        }
        for order_id, order in truth.orders.items()
    }
    carts = {cart_id: {"lines": [{"quantity": q} for q in cart.quantities]} for cart_id, cart in truth.carts.items()}
    customers = {
        customer_id(email): {"email_address": email, "first_name": c.first_name, "last_name": c.last_name}
        for email, c in truth.customers.items()
    }
    held = {
        "orders": orders,
        "carts": carts,
        "customers": customers,
        "products": {product_id: {"title": title} for product_id, title in truth.products.items()},
        "promo_rules": {rule_id: {"amount": float(amount)} for rule_id, amount in truth.promotions.items()},
    }
    histories = {
        order_id: [OrderStatusEvent(order.financial_status, order.fulfillment_status, False, False, "PATCH", "t")]
        for order_id, order in truth.orders.items()
    }
    return held, histories


def a_store_truth() -> StoreTruth:
    scenario = build(SoakSettings(deliveries=600, seed=2))
    return next(truth for truth in scenario.truth.values() if truth.orders and truth.carts and truth.converted_carts)


def test_the_truth_itself_compares_clean_and_each_kind_of_wrong_state_is_a_mismatch() -> None:
    truth = a_store_truth()
    held, histories = held_as_truth(truth)
    assert compare_store("s", truth, held, histories) == []

    order_id = next(iter(truth.orders))
    cart_id = next(iter(truth.carts))
    converted = truth.converted_carts[0]
    email = next(iter(truth.customers))
    wrong = copy.deepcopy(held)
    wrong["orders"][order_id]["order_total"] += 1
    wrong["orders"]["999"] = wrong["orders"][order_id]
    wrong["carts"][converted] = wrong["carts"][cart_id]
    del wrong["carts"][cart_id]
    wrong["customers"]["0" * 32] = dict(wrong["customers"][customer_id(email)])
    back = {
        **histories,
        order_id: [
            OrderStatusEvent("paid", "shipped", False, False, "PATCH", "t1"),
            OrderStatusEvent("paid", None, False, False, "PATCH", "t2"),
        ],
    }

    found = {(m.entity, m.field) for m in compare_store("s", truth, wrong, back)}

    assert (f"order {order_id}", "order_total") in found
    assert ("order 999", "present") in found
    assert (f"cart {cart_id}", "present") in found
    assert (f"cart {converted}", "present after its purchase") in found
    assert (f"customer {customer_id(email)}", "customers with this address") in found
    assert (f"customer {'0' * 32}", "id") in found
    assert (f"order {order_id}", "status history moves forward") in found
