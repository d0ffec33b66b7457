"""The product sync handler names the actions of the modules it imports on first use (catalog run, promotions,
history, segments) by value, so its cold start does not import them: the values must stay those modules' own."""

from __future__ import annotations

from commerce_sync.catalog.promotion_events import PROMOTION_EVENTS
from commerce_sync.catalog.run import CATALOG_SYNC
from commerce_sync.history.backfill import BACKFILL
from commerce_sync.history.batches import PUBLISH_EVENT
from commerce_sync.history.reconcile import RECONCILE
from commerce_sync.segments.nightly import SEGMENT_PASS, SEGMENT_TAGS

from local_runner.functions import load_handler_module
from tests.paths import PROJECT


def test_the_handlers_action_names_are_the_deferred_modules_own() -> None:
    app = load_handler_module(PROJECT / "functions" / "product_sync", "app", "product_sync_actions_test")
    assert (app.BACKFILL, app.PUBLISH_EVENT, app.RECONCILE) == (BACKFILL, PUBLISH_EVENT, RECONCILE)
    assert (app.SEGMENT_PASS, app.SEGMENT_TAGS) == (SEGMENT_PASS, SEGMENT_TAGS)
    assert app.CATALOG_SYNC == CATALOG_SYNC
    assert app.PROMOTION_EVENTS == PROMOTION_EVENTS
