"""What a handler's import must not load: each was measured as cold-start time for nothing (docs/performance.md) and
would come back unnoticed with one import line but for this. The probe imports the handler as Lambda does (its
directory and the layer on the path) in a fresh interpreter and lists which of the modules got loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.paths import PROJECT

POWERTOOLS_BATCH = "aws_lambda_powertools.utilities.batch"
POWERTOOLS_EVENT_HANDLER = "aws_lambda_powertools.event_handler"
# Some forty event classes, loaded whole by any one of them (Powertools Batch's base module, SecretsManagerEvent).
POWERTOOLS_EVENT_CLASSES = "aws_lambda_powertools.utilities.data_classes"

# Only stores whose rules turn segments on use them (docs/segments.md).
SEGMENTS = ["commerce_sync.segments.aggregate", "commerce_sync.segments.tags"]

# Only lines whose product Mailchimp lacks use them (before the first catalog sync, mostly).
LINE_PRODUCTS = ["commerce_sync.carts.line_products", "commerce_sync.mailchimp.batches"]

NOT_LOADED = {
    "cart_events": [POWERTOOLS_BATCH, POWERTOOLS_EVENT_CLASSES, *SEGMENTS, *LINE_PRODUCTS],
    "order_status": [POWERTOOLS_BATCH, POWERTOOLS_EVENT_CLASSES, *SEGMENTS, *LINE_PRODUCTS],
    # A product event reads the catalog run only to read a product again after losing its lease, and none of a run's
    # records; promotions have events of their own.
    "product_sync": [
        POWERTOOLS_BATCH,
        POWERTOOLS_EVENT_CLASSES,
        "commerce_sync.catalog.run",
        "commerce_sync.catalog.checkpoints",
        "commerce_sync.catalog.promotion_events",
        "commerce_sync.catalog.promotion_writer",
    ],
    "key_rotation": [POWERTOOLS_EVENT_CLASSES],
    # Every resolver and every event class (commerce_sync.aws.http_api says why).
    "webhooks": [POWERTOOLS_EVENT_HANDLER, POWERTOOLS_EVENT_CLASSES],
    # Parked bus messages are put back as they were: no canonical event is read (commerce_sync.aws.bus_entries).
    "mailchimp_connect": [POWERTOOLS_EVENT_HANDLER, POWERTOOLS_EVENT_CLASSES, "commerce_sync.canonical.model"],
}


def loaded_by_import(function: str, modules: list[str]) -> list[str]:
    task_root = PROJECT / "functions" / function
    path = os.pathsep.join([str(task_root), str(PROJECT / "layers" / "commerce_sync")])
    probe = f"import json, sys, app; print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=task_root,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(answer.stdout))


@pytest.mark.parametrize("function", sorted(NOT_LOADED))
def test_the_handlers_import_leaves_these_modules_unloaded(function: str) -> None:
    assert loaded_by_import(function, NOT_LOADED[function]) == []


def test_the_probe_sees_a_loaded_module() -> None:
    """The probe itself can tell: what every handler loads is reported."""
    assert loaded_by_import("order_status", ["commerce_sync.aws.observability"]) == ["commerce_sync.aws.observability"]
