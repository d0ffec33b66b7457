"""E-commerce customers, including the customer embedded in cart and order bodies.

- A new customer needs `email_address` ("An email address is required to create a customer.") and a
  real-looking one ("<email> looks fake or invalid, please enter a real email address.").
- `email_address` is immutable: a PUT/PATCH (or an embedded customer) naming another email is a 400.
- Each write applies the opt-in rules to the store's audience (`members.apply_customer_opt_in`).
- An embedded customer whose id is already known is kept as it is (only the email is checked).
"""

from __future__ import annotations

import copy
from typing import Any

from .context import Call, Route, lookup
from .members import apply_customer_opt_in, check_email
from .paging import page
from .problems import already_exists, invalid_field
from .state import EmulatorState, JsonDict, Store, now_iso

CUSTOMERS = "/ecommerce/stores/{store_id}/customers"
CUSTOMER = CUSTOMERS + "/{customer_id}"
WRITABLE_FIELDS = ("sms_phone_number", "opt_in_status", "company", "first_name", "last_name", "address")
EMAIL_REQUIRED = "An email address is required to create a customer."


def customer_view(store: Store, customer: JsonDict) -> JsonDict:
    """The customer as Mailchimp returns it, with `orders_count` and `total_spent` computed."""
    orders = store.orders_of(customer["id"])
    view = copy.deepcopy(customer)
    view["orders_count"] = len(orders)
    view["total_spent"] = round(sum(float(order.get("order_total", 0)) for order in orders), 2)
    return view


def check_new_customer(body: JsonDict) -> None:
    email = body.get("email_address")
    if not email:
        raise invalid_field("email_address", EMAIL_REQUIRED)
    check_email(email)


def check_email_unchanged(customer: JsonDict, body: JsonDict) -> None:
    email = body.get("email_address")
    if email is not None and str(email).strip().lower() != customer["email_address"].strip().lower():
        raise invalid_field("email_address", "The email address of an existing customer cannot be changed.")


def create_customer(state: EmulatorState, store: Store, body: JsonDict) -> JsonDict:
    check_new_customer(body)
    stamp = now_iso()
    customer: JsonDict = {"id": body["id"], "email_address": body["email_address"], "opt_in_status": False}
    customer.update({name: copy.deepcopy(body[name]) for name in WRITABLE_FIELDS if name in body})
    customer["created_at"] = customer["updated_at"] = stamp
    store.customers[customer["id"]] = customer
    apply_customer_opt_in(state, store.list_id, customer["email_address"], customer["opt_in_status"], customer)
    return customer


def update_customer(state: EmulatorState, store: Store, customer: JsonDict, body: JsonDict) -> JsonDict:
    check_email_unchanged(customer, body)
    customer.update({name: copy.deepcopy(body[name]) for name in WRITABLE_FIELDS if name in body})
    customer["updated_at"] = now_iso()
    if "opt_in_status" in body:
        apply_customer_opt_in(state, store.list_id, customer["email_address"], bool(body["opt_in_status"]), customer)
    return customer


def check_embedded_customer(store: Store, embedded: JsonDict) -> None:
    """The checks of `embedded_customer`, without changing anything."""
    existing = store.customers.get(embedded["id"])
    if existing is None:
        check_new_customer(embedded)
    else:
        check_email_unchanged(existing, embedded)


def embedded_customer(state: EmulatorState, store: Store, embedded: JsonDict) -> JsonDict:
    """The customer of a cart/order POST: created when new, otherwise kept as it is."""
    check_embedded_customer(store, embedded)
    existing = store.customers.get(embedded["id"])
    if existing is not None:
        return existing
    return create_customer(state, store, embedded)


def list_customers(call: Call) -> Any:
    store = call.store()
    customers = list(store.customers.values())
    email = call.query.get("email_address")
    if email:
        customers = [c for c in customers if c["email_address"].lower() == email.strip().lower()]
    views = [customer_view(store, customer) for customer in customers]
    return page(call.query, "customers", views, store_id=store.id)


def get_customer(call: Call) -> Any:
    store = call.store()
    return customer_view(store, lookup(store.customers, call.args["customer_id"]))


def post_customer(call: Call) -> Any:
    store = call.store()
    if call.json["id"] in store.customers:
        raise already_exists("A customer")
    return customer_view(store, create_customer(call.state, store, call.json))


def put_customer(call: Call) -> Any:
    store = call.store()
    customer_id = call.args["customer_id"]
    body = call.json
    if body.get("id", customer_id) != customer_id:
        raise invalid_field("id", "The customer id in the body does not match the id in the URL.")
    existing = store.customers.get(customer_id)
    if existing is None:
        return customer_view(store, create_customer(call.state, store, {**body, "id": customer_id}))
    return customer_view(store, update_customer(call.state, store, existing, body))


def patch_customer(call: Call) -> Any:
    store = call.store()
    customer = lookup(store.customers, call.args["customer_id"])
    return customer_view(store, update_customer(call.state, store, customer, call.json))


def delete_customer(call: Call) -> Any:
    store = call.store()
    lookup(store.customers, call.args["customer_id"])
    del store.customers[call.args["customer_id"]]
    return None


ROUTES = [
    Route("GET", CUSTOMERS, list_customers),
    Route("POST", CUSTOMERS, post_customer),
    Route("GET", CUSTOMER, get_customer),
    Route("PUT", CUSTOMER, put_customer),
    Route("PATCH", CUSTOMER, patch_customer),
    Route("DELETE", CUSTOMER, delete_customer),
]
