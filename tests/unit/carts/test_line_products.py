"""Planning the products that lines name (distinct products and variants, the batch operations) and reading
a batch's results in any order, with plain objects."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from commerce_sync.canonical.model import Line
from commerce_sync.carts.line_products import (
    LineProductsPolicy,
    ProductsNotCreated,
    batch_operations,
    products_from_lines,
    settle,
)
from commerce_sync.mailchimp.batches import BatchOperation, OperationResult
from commerce_sync.mailchimp.ids import store_path, to_mailchimp_id
from commerce_sync.processing.dead_letters import is_permanent


def line(number: int, product: str, variant: str, **extra: Any) -> Line:
    return Line.model_validate(
        {
            "id": f"line-{number}",
            "product_id": product,
            "variant_id": variant,
            "product_title": f"Title of {product}",
            "variant_title": f"Title of {variant}",
            "quantity": 1,
            "price": "2.50",
            **extra,
        }
    )


def cart_lines() -> list[Line]:
    """Nine lines over three products: p1 with variants a, b; p2 with c; p3 with d, e; some repeated."""
    names = [("p1", "a"), ("p2", "c"), ("p1", "b"), ("p1", "a"), ("p3", "d"), ("p2", "c"), ("p3", "e")]
    names += [("p3", "d"), ("p1", "b")]
    return [line(number, product, variant) for number, (product, variant) in enumerate(names)]


def test_one_product_per_distinct_product_with_each_variant_once() -> None:
    lines = cart_lines()

    products = products_from_lines(lines)

    assert [product.id for product in products] == list(dict.fromkeys(item.product_id for item in lines))
    for product in products:
        named = [item.variant_id for item in lines if item.product_id == product.id]
        assert [variant.id for variant in product.variants] == list(dict.fromkeys(named))


def test_what_the_first_line_says_about_a_product_wins() -> None:
    first = line(1, "p1", "a", product_title="Socks", url="https://shop.example/socks")
    later = line(2, "p1", "b", product_title="Socks (renamed)", url="https://shop.example/other")

    (product,) = products_from_lines([first, later])

    assert product.title == first.product_title and product.url == first.url
    assert [variant.title for variant in product.variants] == [first.variant_title, later.variant_title]


def test_long_ids_become_the_digest_paths_and_bodies_use() -> None:
    long_product, long_variant = "p" * 60, "v" * 70

    (product,) = products_from_lines([line(1, long_product, long_variant)])

    assert product.id == to_mailchimp_id(long_product) != long_product
    assert product.variants[0].id == to_mailchimp_id(long_variant)


def test_the_batch_posts_each_product_with_its_variants_and_each_variant_alone() -> None:
    products = products_from_lines([*cart_lines(), line(99, "p 4:x", "v 9")])

    operations = batch_operations("s1", products)

    assert {operation.method for operation in operations} == {"POST"}
    product_posts = [op for op in operations if op.path == store_path("s1", "products")]
    assert [op.body["id"] for op in product_posts] == [product.id for product in products]
    for op, product in zip(product_posts, products, strict=True):
        assert [variant["id"] for variant in op.body["variants"]] == [variant.id for variant in product.variants]
    variant_posts = [op for op in operations if op not in product_posts]
    expected = [(product.id, variant.id) for product in products for variant in product.variants]
    assert [(op.path, op.body["id"]) for op in variant_posts] == [
        (store_path("s1", "products", product_id, "variants"), variant_id) for product_id, variant_id in expected
    ]
    assert "/products/p%204%3Ax/variants" in variant_posts[-1].path, "ids are percent-encoded in paths"
    assert len({op.operation_id for op in operations}) == len(operations)
    assert all(isinstance(json.loads(op.wire()["body"]), dict) for op in operations)


def answer(operation_id: str, status: int, detail: str = "") -> OperationResult:
    if status < 300:
        return OperationResult(operation_id, status, json.dumps({"id": "x"}))
    titles = {400: "Bad Request", 404: "Resource Not Found", 500: "Internal Server Error"}
    problem = {"type": "t", "title": titles[status], "status": status, "detail": detail, "instance": ""}
    return OperationResult(operation_id, status, json.dumps(problem))


ALREADY = "A product with the provided ID already exists in the account."


def results_for_new_products(operations: list[BatchOperation]) -> list[OperationResult]:
    """What Mailchimp answers, running the operations as submitted (products first), when none of the
    products existed: each product POST creates it, and each variant POST is then "already exists"."""
    return [
        answer(op.operation_id, 200) if op.path.endswith("/products") else answer(op.operation_id, 400, ALREADY)
        for op in operations
    ]


@pytest.mark.parametrize("seed", range(5))
def test_any_order_of_results_settles_the_same(seed: int) -> None:
    products = products_from_lines(cart_lines())
    operations = batch_operations("s1", products)
    order = random.Random(seed).sample(operations, len(operations))
    created: set[str] = set()
    results = []
    for op in order:
        if op.path.endswith("/products"):
            created.add(op.body["id"])
            results.append(answer(op.operation_id, 200))
        else:
            product_id = op.path.split("/")[-2]
            results.append(
                answer(op.operation_id, 400, ALREADY) if product_id in created else answer(op.operation_id, 404)
            )

    outcome = settle(products, results)

    assert outcome.failures == []
    assert outcome.created_products == {product.id for product in products}
    assert outcome.created_variants == sum(len(product.variants) for product in products)


def test_existing_products_only_count_the_variants_added() -> None:
    products = products_from_lines(cart_lines())
    operations = batch_operations("s1", products)
    results = [
        answer(op.operation_id, 400, ALREADY)
        if op.path.endswith("/products") or op.body["id"] == "a"
        else answer(op.operation_id, 200)
        for op in operations
    ]

    outcome = settle(products, results)

    assert outcome.failures == [] and outcome.created_products == set()
    assert outcome.created_variants == sum(len(product.variants) for product in products) - 1


def test_a_variant_whose_product_was_neither_created_nor_found_fails() -> None:
    products = products_from_lines(cart_lines())
    operations = batch_operations("s1", products)
    lonely = next(op for op in operations if op.body["id"] == "d")
    results = [
        answer(op.operation_id, 404) if op is lonely else answer(op.operation_id, 400, ALREADY) for op in operations
    ]

    outcome = settle(products, results)

    assert outcome.failures == ["variant d of product p3: the product is neither created nor found"]


def test_other_failures_and_missing_results_are_named() -> None:
    products = products_from_lines(cart_lines())
    operations = batch_operations("s1", products)
    broken, lost = operations[1], operations[-1]
    results = results_for_new_products(operations)
    results = [
        answer(broken.operation_id, 500, "An unexpected internal error has occurred.")
        if r.operation_id == broken.operation_id
        else r
        for r in results
        if r.operation_id != lost.operation_id
    ]

    outcome = settle(products, results)

    assert len(outcome.failures) == 2
    assert f"product {broken.body['id']}: Mailchimp 500 Internal Server Error" in outcome.failures[0]
    assert lost.operation_id in outcome.failures[1]


def test_the_wait_is_capped_and_leaves_the_reserve_of_the_invocation() -> None:
    policy = LineProductsPolicy(batch_wait_seconds=30, reserve_seconds=15)

    assert policy.wait_seconds(None) == 30
    assert policy.wait_seconds(59.5) == 30
    assert policy.wait_seconds(25) == 10
    assert policy.wait_seconds(5) == 0


def test_products_not_created_is_retried_before_it_is_dead_lettered() -> None:
    assert not is_permanent(ProductsNotCreated("batch b1 was still started after 30 s"))
