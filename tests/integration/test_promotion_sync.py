"""The promotions part of the catalog sync end to end through the product_sync function as Lambda runs it
(runner.invoke), against the platform emulators serving discounts, moto server for the sync state and the
Mailchimp emulator: what Mailchimp ends up holding, per platform; a second run without a change writes
nothing; one changed amount updates exactly that rule; deleted and expired rules and codes; batches for a rule
of many codes; the run's `what`; and an order's promos after its code was deleted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.discounts import price_rule, sample_price_rules
from emulators.woocommerce import WooCommerceEmulator
from local_runner.runner import LocalRunner
from tests.harness import API_KEY, MailchimpReader, RegisteredStore, register_store

FUNCTION = "ProductSyncFunction"
TOKEN = "shpat_promotions"


def sync(runner: LocalRunner, store_id: str, *what: str) -> dict[str, Any]:
    event: dict[str, Any] = {"action": "catalog_sync", "store_id": store_id}
    if what:
        event["what"] = list(what)
    return runner.invoke(FUNCTION, event)


def promo_writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str, str]]:
    """Every promo rule and code write Mailchimp ran for the store, direct or in a batch: (method, path, source)."""
    prefix = f"/3.0/ecommerce/stores/{store_id}/promo-rules"
    return [
        (r["method"], r["path"].removeprefix(prefix), r["source"])
        for r in mailchimp.requests
        if r["method"] in ("POST", "PATCH", "PUT", "DELETE") and r["path"].startswith(prefix)
    ]


def rules_in_mailchimp(reader: MailchimpReader, store_id: str) -> dict[str, dict[str, Any]]:
    """Every promo rule Mailchimp holds for the store, each with its codes (`codes`: code id -> code)."""
    answer = reader.get(f"/ecommerce/stores/{store_id}/promo-rules?count=1000")
    answer.raise_for_status()
    rules = {}
    for rule in answer.json()["promo_rules"]:
        codes = reader.get(f"/ecommerce/stores/{store_id}/promo-rules/{rule['id']}/promo-codes?count=1000").json()
        rules[rule["id"]] = {**rule, "codes": {code["id"]: code for code in codes["promo_codes"]}}
    return rules


# ---- Shopify ----------------------------------------------------------------------------------------------


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for rule, codes in sample_price_rules():
            emulator.put_price_rule(rule, codes)
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator) -> RegisteredStore:
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def test_shopify_rules_and_codes_land_as_mapped(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    result = sync(runner, store.store_id, "promotions")

    assert result["status"] == "done" and result["what"] == ["promotions"]
    promotions = result["promotions"]
    assert (promotions["rules_created"], promotions["codes_created"], promotions["rules_skipped"]) == (6, 7, 1)
    assert any("507" in reason and "buy X get Y" in reason for reason in promotions["skipped"])
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert {rule_id: (r["type"], r["amount"], r["target"]) for rule_id, r in rules.items()} == {
        "501": ("percentage", 0.15, "total"),
        "502": ("fixed", 10.0, "total"),
        "503": ("fixed", 2.0, "per_item"),
        "504": ("fixed", 0.0, "shipping"),
        "505": ("percentage", 0.2, "total"),
        "506": ("percentage", 0.25, "total"),
    }
    spring = rules["501"]
    assert (spring["title"], spring["description"], spring["enabled"]) == ("SPRING15", "15% off the order", True)
    assert spring["codes"]["5011"]["redemption_url"] == f"https://{store.identity}/discount/SPRING15"
    assert spring["codes"]["5011"]["usage_count"] == 4
    assert rules["504"]["description"] == "Free shipping"
    summer = rules["505"]
    assert (summer["starts_at"], summer["ends_at"]) == ("2030-06-01T00:00:00+00:00", "2030-08-31T23:59:59+00:00")
    assert {code["code"]: code["enabled"] for code in summer["codes"].values()} == {
        "SUMMER-A1": True,
        "SUMMER-B2": False,
    }
    winter = rules["506"]
    assert winter["enabled"] is False, "an expired rule is disabled, not dropped"
    assert winter["codes"]["5061"]["code"] == "WINTER25"


def test_a_second_run_without_changes_writes_nothing(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    sync(runner, store.store_id, "promotions")
    before = len(promo_writes(mailchimp, store.store_id))

    result = sync(runner, store.store_id, "promotions")

    promotions = result["promotions"]
    assert (promotions["rules_unchanged"], promotions["codes_unchanged"]) == (6, 7)
    assert promo_writes(mailchimp, store.store_id)[before:] == []
    assert result["mailchimp_requests"] == 0


def test_a_changed_amount_updates_exactly_that_rule(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    sync(runner, store.store_id, "promotions")
    before = len(promo_writes(mailchimp, store.store_id))
    shopify.put_price_rule(price_rule(502, "TENOFF", value_type="fixed_amount", value="-12.50"))

    result = sync(runner, store.store_id, "promotions")

    assert (result["promotions"]["rules_updated"], result["promotions"]["rules_unchanged"]) == (1, 5)
    assert promo_writes(mailchimp, store.store_id)[before:] == [("PATCH", "/502", "http")]
    rule = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/promo-rules/502")
    assert rule is not None and (rule["amount"], rule["description"]) == (12.5, "12.50 USD off the order")


def test_a_deleted_rule_and_a_deleted_code_leave_mailchimp(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    sync(runner, store.store_id, "promotions")
    before = len(promo_writes(mailchimp, store.store_id))
    shopify.delete_price_rule(503)
    shopify.delete_discount_code(5052)

    result = sync(runner, store.store_id, "promotions")

    assert (result["promotions"]["rules_deleted"], result["promotions"]["codes_deleted"]) == (1, 1)
    assert sorted(promo_writes(mailchimp, store.store_id)[before:]) == [
        ("DELETE", "/503", "http"),
        ("DELETE", "/505/promo-codes/5052", "http"),
    ]
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert "503" not in rules and list(rules["505"]["codes"]) == ["5051"]
    # Gone for good: the next run neither deletes nor writes again.
    third = sync(runner, store.store_id, "promotions")
    assert third["promotions"]["rules_deleted"] + third["promotions"]["codes_deleted"] == 0
    assert len(promo_writes(mailchimp, store.store_id)) == before + 2


def test_a_rule_of_many_single_use_codes_goes_through_batches(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_BATCH_SIZE", "50")
    monkeypatch.setenv("CATALOG_DIRECT_MAX", "5")
    monkeypatch.setenv("CATALOG_POLL_INITIAL_SECONDS", "0.05")
    shopify.page_size_cap = 40
    shopify.put_price_rule(
        price_rule(900, "WELCOME", value="-10.0", usage_limit=1),
        [{"id": 90000 + n, "code": f"WELCOME-{n:04d}"} for n in range(200)],
    )

    result = sync(runner, store.store_id, "promotions")

    assert result["promotions"]["codes_created"] == 207 and result["promotions"]["codes_failed"] == 0
    welcome = rules_in_mailchimp(mailchimp_reader, store.store_id)["900"]
    assert len(welcome["codes"]) == 200 and welcome["codes"]["90199"]["code"] == "WELCOME-0199"
    batch_writes = [w for w in promo_writes(mailchimp, store.store_id) if w[2] == "batch"]
    assert len(batch_writes) >= 200
    code_pages = [r for r in shopify.requests if r["path"].endswith("/price_rules/900/discount_codes.json")]
    assert len(code_pages) == 5, "the rules pass reads no code; the codes pass reads its 5 pages of 40 once"


def test_failed_batch_operations_are_written_again_directly(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from emulators.mailchimp.batch_faults import fail_batch_operations

    monkeypatch.setenv("CATALOG_DIRECT_MAX", "1")
    monkeypatch.setenv("CATALOG_POLL_INITIAL_SECONDS", "0.05")
    # Rule 502 is in Mailchimp already (another tool, or a record lost): the batch's POST meets "already exists".
    rule = {"id": "502", "description": "old", "amount": 1, "type": "fixed", "target": "total"}
    requests.post(
        f"{mailchimp.base_url}/ecommerce/stores/{store.store_id}/promo-rules",
        json=rule,
        auth=("t", API_KEY),
        timeout=10,
    ).raise_for_status()
    fault = fail_batch_operations(
        mailchimp, lambda op: "/promo-codes" in op["path"] and "5041" in op.get("body", ""), 500
    )
    try:
        result = sync(runner, store.store_id, "promotions")
    finally:
        fault.remove()

    promotions = result["promotions"]
    assert (promotions["rules_created"], promotions["codes_created"], promotions["codes_failed"]) == (6, 7, 0)
    direct = [(method, path) for method, path, source in promo_writes(mailchimp, store.store_id) if source == "http"]
    assert ("PATCH", "/502") in direct and ("POST", "/504/promo-codes") in direct
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert (rules["502"]["description"], rules["502"]["amount"]) == ("10.00 USD off the order", 10.0)
    assert rules["504"]["codes"]["5041"]["code"] == "SHIPFREE"


def test_a_run_out_of_time_continues_through_the_queue_without_writing_twice(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from commerce_sync.aws.settings import Settings
    from commerce_sync.catalog.state import CatalogState

    shopify.page_size_cap = 2
    monkeypatch.setenv("CATALOG_QUEUE_SLICE_SECONDS", "0")
    runner.client("sqs").send_message(
        QueueUrl=runner.queue_url("ProductSyncQueue"),
        MessageBody=json.dumps({"action": "catalog_sync", "store_id": store.store_id, "what": ["promotions"]}),
    )
    runner.wait_until_idle(timeout=60)

    state = CatalogState(Settings.from_environment().sync_state_table, boto3.resource("dynamodb"))
    summary = state.last_summary(store.store_id)
    assert summary is not None and summary["slices"] >= 6
    assert (summary["promotions"]["rules_created"], summary["promotions"]["codes_created"]) == (6, 7)
    writes = promo_writes(mailchimp, store.store_id)
    assert len(writes) == 13, "each rule and code written once, though read over 13 slices"
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert sum(len(rule["codes"]) for rule in rules.values()) == 7


def test_what_names_the_parts_of_a_run_and_a_canonical_store_skips_promotions(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    products_only = sync(runner, store.store_id, "products")
    assert products_only["what"] == ["products"] and products_only["promotions"] is None
    assert promo_writes(mailchimp, store.store_id) == []

    both = sync(runner, store.store_id)
    assert both["what"] == ["products", "promotions"] and both["promotions"]["rules_created"] == 6

    # A store commerce-sync cannot read (a canonical sender) sends its promotions as events instead.
    canonical = register_store("canonical")
    skipped = sync(runner, canonical.store_id, "promotions")
    assert skipped["status"] == "skipped" and "events" in skipped["reason"]


def test_an_orders_promos_keep_working_after_its_code_was_deleted(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    sync(runner, store.store_id, "promotions")
    path = f"{mailchimp.base_url}/ecommerce/stores/{store.store_id}"
    auth = ("test", API_KEY)
    requests.put(
        f"{path}/products/p1",
        json={"id": "p1", "title": "Socks", "variants": [{"id": "v1", "title": "Socks"}]},
        auth=auth,
        timeout=10,
    ).raise_for_status()
    order = {
        "id": "o1",
        "customer": {"id": "c1", "email_address": "shopper@example.com", "opt_in_status": False},
        "currency_code": "USD",
        "order_total": 17.0,
        "lines": [{"id": "l1", "product_id": "p1", "product_variant_id": "v1", "quantity": 1, "price": 20.0}],
        "promos": [{"code": "SPRING15", "amount_discounted": 3.0, "type": "percentage"}],
    }
    requests.post(f"{path}/orders", json=order, auth=auth, timeout=10).raise_for_status()
    shopify.delete_price_rule(501)

    sync(runner, store.store_id, "promotions")

    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/promo-rules/501") is None
    update = requests.patch(
        f"{path}/orders/o1", json={"financial_status": "refunded", "promos": order["promos"]}, auth=auth, timeout=10
    )
    assert update.status_code == 200, update.text
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/o1")
    assert held is not None and held["promos"][0]["code"] == "SPRING15"


def test_every_promo_body_sent_direct_or_in_a_batch_matches_the_spec(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checked with a validator of this test's own over the bundled spec subset, so a lenient emulator cannot hide
    a bad body: POSTs of rules and codes (in a batch), then PATCHes and DELETEs (direct)."""
    import re
    from pathlib import Path

    from jsonschema import Draft4Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    monkeypatch.setenv("CATALOG_DIRECT_MAX", "1")
    monkeypatch.setenv("CATALOG_POLL_INITIAL_SECONDS", "0.05")
    sync(runner, store.store_id, "promotions")
    monkeypatch.setenv("CATALOG_DIRECT_MAX", "50")
    shopify.put_price_rule(price_rule(502, "TENOFF", value_type="fixed_amount", value="-11.00"))
    shopify.put_price_rule(
        price_rule(501, "SPRING15", value="-15.0"), [{"id": 5011, "code": "SPRING15", "usage_count": 9}]
    )
    shopify.delete_price_rule(503)
    sync(runner, store.store_id, "promotions")

    spec_path = Path(__file__).resolve().parents[2] / "emulators" / "mailchimp" / "spec" / "ecommerce-subset.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    registry = Registry().with_resource("urn:spec", DRAFT4.create_resource(spec))
    operations = []
    for operation, reference in spec["x-request-body-schemas"].items():
        method, template = operation.split(" ", 1)
        pattern = re.compile("^/3.0" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
        operations.append((method, pattern, reference))
    prefix = f"/3.0/ecommerce/stores/{store.store_id}/promo-rules"
    sent = [r for r in mailchimp.requests if r["path"].startswith(prefix) and r["method"] in ("POST", "PATCH")]
    kinds = set()
    for request in sent:
        method, pattern, reference = next(
            o for o in operations if o[0] == request["method"] and o[1].match(request["path"])
        )
        validator = Draft4Validator({"$ref": "urn:spec" + reference}, registry=registry)
        problems = [error.message for error in validator.iter_errors(request["body"])]
        assert problems == [], f"{request['method']} {request['path']}: {problems}"
        kinds.add((request["method"], request["source"], "promo-codes" in request["path"]))
    assert kinds >= {
        ("POST", "batch", False),
        ("POST", "batch", True),
        ("PATCH", "http", False),
        ("PATCH", "http", True),
    }
    assert any(r["method"] == "DELETE" and r["path"] == f"{prefix}/503" for r in mailchimp.requests)


# ---- WooCommerce and BigCommerce ------------------------------------------------------------------------------


def test_woocommerce_coupons_each_a_rule_and_its_code(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    with WooCommerceEmulator("ck_promo", "cs_promo") as woo:
        woo.put_coupon({"id": 719, "code": "save10", "discount_type": "percent", "amount": "10"})
        woo.put_coupon({"id": 720, "code": "each2", "discount_type": "fixed_product", "amount": "2"})
        woo.put_coupon({"id": 721, "code": "shipfree", "free_shipping": True})
        woo.put_coupon({"id": 722, "code": "gone", "discount_type": "fixed_cart", "amount": "5"})
        woo.put_coupon(
            {
                "id": 723,
                "code": "old",
                "discount_type": "fixed_cart",
                "amount": "5",
                "date_expires_gmt": "2024-01-01T00:00:00",
            }
        )
        store = register_store(
            "woocommerce",
            identity=f"https://shop-{uuid.uuid4().hex[:8]}.example.com",
            platform_api_url=woo.base_url,
            platform_api_credentials={"consumer_key": "ck_promo", "consumer_secret": "cs_promo"},
        )
        first = sync(runner, store.store_id, "promotions")
        woo.delete_coupon(722)
        second = sync(runner, store.store_id, "promotions")

    assert (first["promotions"]["rules_created"], first["promotions"]["codes_created"]) == (5, 5)
    assert second["promotions"]["rules_deleted"] == 1 and second["promotions"]["rules_unchanged"] == 4
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert {rule_id: (r["type"], r["amount"], r["target"], r["enabled"]) for rule_id, r in rules.items()} == {
        "719": ("percentage", 0.1, "total", True),
        "720": ("fixed", 2.0, "per_item", True),
        "721": ("fixed", 0.0, "shipping", True),
        "723": ("fixed", 5.0, "total", False),
    }
    assert rules["719"]["codes"]["719"] == {
        **rules["719"]["codes"]["719"],
        "code": "save10",
        "redemption_url": store.identity,
    }


def test_bigcommerce_coupons_and_a_coupon_promotion(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    with BigCommerceEmulator(f"pr{uuid.uuid4().hex[:8]}", "bc-promo") as bc:
        bc.promotions.put_coupon(
            {"id": 1, "name": "Five off", "code": "FIVE", "type": "per_total_discount", "amount": "5"}
        )
        bc.promotions.put_coupon({"id": 2, "name": "Ship", "code": "SHIP", "type": "free_shipping"})
        bc.promotions.put_promotion(
            {
                "id": 11,
                "name": "Items",
                "rules": [{"action": {"cart_items": {"discount": {"percentage_amount": "15"}}}}],
            },
            codes=[{"id": 111, "code": "ITEMS-1"}, {"id": 112, "code": "ITEMS-2"}],
        )
        store = register_store(
            "bigcommerce",
            identity=bc.store_hash,
            platform_api_url=bc.base_url,
            platform_api_credentials={"access_token": "bc-promo"},
        )
        first = sync(runner, store.store_id, "promotions")
        bc.promotions.delete_code(11, 112)
        second = sync(runner, store.store_id, "promotions")

    assert (first["promotions"]["rules_created"], first["promotions"]["codes_created"]) == (3, 4)
    assert second["promotions"]["codes_deleted"] == 1
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert {rule_id: (r["type"], r["amount"], r["target"]) for rule_id, r in rules.items()} == {
        "1": ("fixed", 5.0, "total"),
        "2": ("fixed", 0.0, "shipping"),
        "promotion-11": ("percentage", 0.15, "per_item"),
    }
    assert list(rules["promotion-11"]["codes"]) == ["111"]
    assert rules["1"]["codes"]["1"]["redemption_url"] == f"https://store-{bc.store_hash}.mybigcommerce.com/cart.php"
    assert json.dumps(rules)  # what the reader answered is plain JSON


def test_a_lasting_refusal_is_dead_lettered_and_its_replay_writes_what_the_store_has_then(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from emulators.mailchimp import promos
    from emulators.mailchimp.problems import invalid_field
    from operator_cli import dead_letters
    from operator_cli import main as operator_main

    # Mailchimp judges rule 503's title, and code SUMMER-B2, unacceptable: a rule of its own we do not model,
    # so the refusal lasts (batch or direct alike) until the merchant changes the discount.
    check_rule, check_lengths = promos._check_rule, promos._check_lengths

    def refuse_socks(rule: dict[str, Any]) -> None:
        if rule.get("title") == "SOCKS2":
            raise invalid_field("title", "This title is not allowed.")
        check_rule(rule)

    def refuse_b2(item: dict[str, Any], limits: dict[str, int]) -> None:
        if item.get("code") == "SUMMER-B2":
            raise invalid_field("code", "This code is not allowed.")
        check_lengths(item, limits)

    monkeypatch.setattr(promos, "_check_rule", refuse_socks)
    monkeypatch.setattr(promos, "_check_lengths", refuse_b2)
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)

    result = sync(runner, store.store_id, "promotions")

    promotions = result["promotions"]
    assert (promotions["rules_dead_lettered"], promotions["codes_dead_lettered"]) == (1, 1), promotions
    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert "503" not in rules and "5052" not in rules["505"]["codes"]
    mine = [
        letter
        for letter in dead_letters.peek("product_sync")
        if json.loads(letter.body).get("store_id") == store.store_id
    ]
    bodies = sorted((json.loads(letter.body) for letter in mine), key=lambda body: body["rule_id"])
    assert bodies == [
        {"action": "sync_promotion", "store_id": store.store_id, "rule_id": "503"},
        {"action": "sync_promotion", "store_id": store.store_id, "rule_id": "505", "code_id": "5052"},
    ]
    assert all("not allowed" in letter.error_message for letter in mine)
    # A second run does not send the refused content again.
    before = len(promo_writes(mailchimp, store.store_id))
    again = sync(runner, store.store_id, "promotions")["promotions"]
    assert (again["rules_failed"], again["codes_failed"]) == (0, 0)
    assert promo_writes(mailchimp, store.store_id)[before:] == []

    # The merchant renames the rule and the code; Mailchimp accepts them now. The replay reads them afresh.
    rule, codes = next((r, c) for r, c in sample_price_rules() if r["id"] == 503)
    shopify.put_price_rule({**rule, "title": "SOCKS-TWO"}, codes)
    summer, summer_codes = next((r, c) for r, c in sample_price_rules() if r["id"] == 505)
    shopify.put_price_rule(summer, [c if c["id"] != 5052 else {**c, "code": "SUMMER-B3"} for c in summer_codes])
    assert operator_main.main(["dead-letters", "product_sync", "--replay"]) == 0
    runner.wait_until_idle(timeout=60)

    rules = rules_in_mailchimp(mailchimp_reader, store.store_id)
    assert rules["503"]["title"] == "SOCKS-TWO" and rules["503"]["codes"] == {}
    assert rules["505"]["codes"]["5052"]["code"] == "SUMMER-B3"
    assert not [
        letter
        for letter in dead_letters.peek("product_sync")
        if json.loads(letter.body).get("store_id") == store.store_id
    ], "nothing of this store is left in the dead-letter queue"
    # The rule's codes follow at the next run, which has nothing else to do.
    final = sync(runner, store.store_id, "promotions")["promotions"]
    assert (final["codes_created"], final["rules_updated"], final["codes_updated"]) == (1, 0, 0), final
    assert rules_in_mailchimp(mailchimp_reader, store.store_id)["503"]["codes"]["5031"]["code"] == "SOCKS2"
