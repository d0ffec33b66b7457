"""The deliberate skips: outcomes where a queue consumer applied an event by writing nothing to Mailchimp,
on purpose. Each is logged with its reason and the event's id, and counted (`{prefix}_{outcome}`), so
that an accepted delivery always ends in a Mailchimp write, one of these, or a dead letter
(docs/outcomes.md). An outcome not listed here is a write (synced, emptied, converted, deleted, …).

The reasons are fixed texts, never a payload's values: a log line must not carry a shopper's address.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from commerce_sync.aws.metric_names import EVENT_OUTCOMES
from commerce_sync.aws.observability import logger, metrics, tally

_counting = threading.Lock()

SKIP_REASONS: Mapping[str, str] = {
    "duplicate": "the same event (same id) was already applied; its outcome is logged under the same id",
    "stale": "a newer change of the entity was already applied",
    "unchanged": "the change leaves what Mailchimp holds as it is",
    "skipped_converted": "the cart was purchased; no later cart event may bring it back",
    "skipped_predates_purchase": "the shopper purchased after this version of the cart",
    "waiting_for_email": "the cart has no shopper e-mail yet; it is kept and sent once an event brings one",
    "skipped_no_lines": (
        "the cart has no line Mailchimp can hold (it is empty, or holds only lines that name no catalog "
        "product, such as custom items and gift certificates) and was never written: nothing to write or delete"
    ),
    "no_email": "the customer has no e-mail address, which Mailchimp needs",
    "skipped_email_refused": "Mailchimp refuses the shopper's address",
    "not_an_order_yet": "the order has no financial status yet (a draft); it is kept until it has one",
    "already_removed": "the product was already removed from Mailchimp",
    "not_in_mailchimp": "the product was never in Mailchimp; a marker keeps older updates from adding it",
    "skipped_historical_cart": (
        "the cart is history (historical, or part of an import): its only use in Mailchimp would be an "
        "abandoned-cart e-mail for a past cart"
    ),
    "import_still_applying": (
        "events of the import are still being applied; the consumer that applies the last of them closes it "
        "(or its timeout does)"
    ),
    "import_not_open": "the import named is not the store's open one (closed already, or replaced)",
    "erased_shopper": (
        "the shopper was erased (docs/privacy.md): a change of theirs dated before the erasure is never written again"
    ),
    "store_erased": "the store was erased whole (store.erased, Shopify's shop/redact): nothing of it is written",
    "already_erased": "the store's erasure was done already",
    "erasure_predates_store": (
        "the erasure is dated before the store was registered: it was of an earlier store under this id"
    ),
}


# Not a skip and not a write yet: the event waits, kept, for its store's Mailchimp account to be reconnected,
# and is then applied (commerce_sync.accounts.health).
WAITING_REASONS: Mapping[str, str] = {
    "parked": (
        "Mailchimp refuses the credentials of the store's account (revoked or wrong); the event is parked "
        "until the account is reconnected, then applied"
    ),
}


def record_outcome(metric_prefix: str, event_type: str, event_id: str, outcome: Mapping[str, Any]) -> None:
    """Counts the outcome (a metric per outcome: low cardinality) and logs it with the event id; a
    deliberate skip also with `deliberate_skip` and its reason."""
    name = str(outcome["outcome"])
    # A consumer's lanes record outcomes at once (processing.batch_lanes), and Powertools' metric set is not
    # guarded (it flushes itself at 100 metrics).
    with _counting:
        metrics.add_metric(name=f"{metric_prefix}_{name}", unit="Count", value=1)
        # The same count with the outcome as a dimension: one dashboard search shows a function's every outcome,
        # including outcomes added later, which the per-outcome names above cannot give.
        # Printed once per invocation and outcome (aws.observability.tally), not once per event.
        tally(EVENT_OUTCOMES, outcome=name)
    details = {key: value for key, value in outcome.items() if key != "outcome"}
    reason = SKIP_REASONS.get(name)
    if reason is not None:
        details.update(deliberate_skip=True, reason=reason)
    elif name in WAITING_REASONS:
        details.update(waiting=True, reason=WAITING_REASONS[name])
    logger.info(f"{event_type} {name}", outcome=name, event_id=event_id, **details)
