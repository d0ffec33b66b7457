"""MailchimpBatches against the Mailchimp emulator: the wire format, results read back from the tar.gz by
operation_id, failed operations, an expired results URL replaced by a fresh one, a batch that is gone."""

from __future__ import annotations

import time
import uuid

import pytest
from commerce_sync.mailchimp.batches import (
    BatchGone,
    BatchNotFinished,
    BatchOperation,
    MailchimpBatches,
    operation_id,
    parse_operation_id,
)
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy
from commerce_sync.mailchimp.errors import MailchimpAlreadyExists, MailchimpNotFound

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import (
    expire_batch_downloads,
    fail_batch_operations,
    hold_batches,
    shuffle_batch_operations,
)
from tests.harness import API_KEY


@pytest.fixture
def batches(mailchimp: MailchimpEmulator) -> MailchimpBatches:
    client = MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=RetryPolicy(total=1))
    return MailchimpBatches(client)


@pytest.fixture
def store_id(batches: MailchimpBatches) -> str:
    store = f"batch-{uuid.uuid4().hex[:8]}"
    batches._client.request(
        "POST", "/ecommerce/stores", {"id": store, "list_id": "list-b", "name": "Batch", "currency_code": "USD"}
    )
    return store


def product_op(store_id: str, product_id: str, version: str = "v1") -> BatchOperation:
    body = {"id": product_id, "title": f"P {product_id}", "variants": [{"id": f"{product_id}-1", "title": "One"}]}
    return BatchOperation(
        "PUT", f"/ecommerce/stores/{store_id}/products/{product_id}", operation_id("product", product_id, version), body
    )


def test_results_map_back_by_operation_id_including_failures(
    batches: MailchimpBatches, mailchimp: MailchimpEmulator, store_id: str
) -> None:
    fault = fail_batch_operations(mailchimp, lambda op: op["path"].endswith("/p2"), status=400)
    try:
        submitted = batches.submit([product_op(store_id, pid) for pid in ("p1", "p2", "p3")])
        assert mailchimp.wait_for_batches(10)
        results = {parse_operation_id(r.operation_id)[1]: r for r in batches.results(submitted.id)}
    finally:
        fault.remove()

    assert submitted.status == "pending" and submitted.total_operations == 3
    assert {pid: r.status_code for pid, r in results.items()} == {"p1": 200, "p2": 400, "p3": 200}
    assert results["p2"].problem()[0] == "Invalid Resource"
    assert batches.status(submitted.id).errored_operations == 1
    posted = [r for r in mailchimp.requests if r["path"] == "/3.0/batches" and r["method"] == "POST"][-1]
    assert all(isinstance(op["body"], str) for op in posted["body"]["operations"])


def test_an_expired_results_url_is_replaced_by_a_fresh_one(
    batches: MailchimpBatches, mailchimp: MailchimpEmulator, store_id: str
) -> None:
    submitted = batches.submit([product_op(store_id, "e1")])
    assert mailchimp.wait_for_batches(10)
    expired = expire_batch_downloads(mailchimp, count=2)
    try:
        results = list(batches.results(submitted.id))
    finally:
        expired.remove()

    assert len(expired.failed) == 2 and [r.status_code for r in results] == [200]


def test_results_before_the_end_and_of_a_deleted_batch() -> None:
    # An emulator of its own whose batches wait before they start, so "not finished yet" is certain.
    with MailchimpEmulator(api_key=API_KEY, batch_start_delay_s=0.5) as slow:
        batches = MailchimpBatches(MailchimpClient(api_key=API_KEY, base_url=slow.base_url, retry=RetryPolicy(total=1)))
        store = {"id": "slow", "list_id": "list-b", "name": "Slow", "currency_code": "USD"}
        batches._client.request("POST", "/ecommerce/stores", store)
        submitted = batches.submit([product_op("slow", "d1")])

        with pytest.raises(BatchNotFinished):
            list(batches.results(submitted.id))
        assert slow.wait_for_batches(10)
        batches.delete(submitted.id)

        assert batches.status(submitted.id) is None
        with pytest.raises(BatchGone):
            list(batches.results(submitted.id))


def test_operation_ids_carry_type_id_and_version() -> None:
    assert operation_id("product", "a:b", "h1") == "product:a:b:h1"
    assert parse_operation_id("product:a:b:h1") == ("product", "a:b", "h1")
    assert parse_operation_id("nonsense") is None and parse_operation_id(None) is None
    with pytest.raises(ValueError):
        operation_id("product", "p", "v:1")


def test_a_failed_operation_carries_the_error_its_request_would_have_raised(
    batches: MailchimpBatches, mailchimp: MailchimpEmulator, store_id: str
) -> None:
    existing = product_op(store_id, "x1")
    batches._client.request("PUT", existing.path, existing.body)
    create = BatchOperation(
        "POST", f"/ecommerce/stores/{store_id}/products", operation_id("product", "x1", "post"), existing.body
    )
    orphan = BatchOperation(
        "POST",
        f"/ecommerce/stores/{store_id}/products/nowhere/variants",
        operation_id("variant", "nowhere", "post"),
        {"id": "v", "title": "V"},
    )
    submitted = batches.submit([create, orphan, product_op(store_id, "x2")])
    assert mailchimp.wait_for_batches(10)

    errors = {parse_operation_id(r.operation_id)[1]: r.error() for r in batches.results(submitted.id)}

    assert isinstance(errors["x1"], MailchimpAlreadyExists)
    assert isinstance(errors["nowhere"], MailchimpNotFound)
    assert errors["x2"] is None


def test_shuffled_operations_run_out_of_submitted_order(
    batches: MailchimpBatches, mailchimp: MailchimpEmulator, store_id: str
) -> None:
    operations = [product_op(store_id, f"s{n}") for n in range(20)]
    shuffled = shuffle_batch_operations(mailchimp, seed=3)
    try:
        submitted = batches.submit(operations)
        assert mailchimp.wait_for_batches(10)
    finally:
        shuffled.remove()

    ran = [r["operation_id"] for r in mailchimp.requests if r["source"] == "batch" and store_id in r["path"]]
    assert sorted(ran) == sorted(op.operation_id for op in operations)
    assert ran != [op.operation_id for op in operations]
    assert {r.operation_id for r in batches.results(submitted.id)} == set(ran)


def test_a_held_batch_does_not_finish_until_released(
    batches: MailchimpBatches, mailchimp: MailchimpEmulator, store_id: str
) -> None:
    held = hold_batches(mailchimp)
    try:
        submitted = batches.submit([product_op(store_id, "h1")])
        time.sleep(0.3)
        assert not batches.status(submitted.id).finished
    finally:
        held.remove()

    assert mailchimp.wait_for_batches(10)
    assert batches.status(submitted.id).finished
