"""The modules whose pydantic models every cold start builds evaluate their annotations when a class is created: with
`from __future__ import annotations` pydantic compiles and evaluates each field's annotation string instead, 4-9 ms of
each function's cold start (docs/performance.md). A module given the import back would lose that unnoticed but for
this; its forward references are quoted instead."""

from __future__ import annotations

import ast

import pytest

from tests.paths import PROJECT

LAYER = PROJECT / "layers" / "commerce_sync" / "commerce_sync"
EAGER_ANNOTATIONS = [
    "aws/event_bus.py",
    "aws/store_registry.py",
    "canonical/model.py",
    "catalog/checkpoints.py",
    "consent/registration.py",
    "mailchimp/batches.py",
    "mailchimp/client.py",
    "mailchimp/models.py",
    "platforms/shopify/eventbridge.py",
    "segments/aggregate.py",
]


@pytest.mark.parametrize("module", EAGER_ANNOTATIONS)
def test_the_model_module_does_not_postpone_its_annotations(module: str) -> None:
    tree = ast.parse((LAYER / module).read_text())
    postponed = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
    ]
    assert not postponed, f"{module} postpones its annotations: pydantic then evaluates strings at every cold start"
