"""The metrics the dashboard and the alarms of template.yaml read, each named once, here.

The code emits them by these names and never by a literal of its own, so a rename here is a rename everywhere it
is emitted; tests/unit/test_dashboard.py then fails until the template reads the new name. It checks that every
metric a widget or an alarm reads is one of these, with the dimensions it is emitted with and a `service` whose
function can emit it, and that each of these is emitted somewhere. What each one means for an operator:
docs/operations.md.

Powertools puts a `service` dimension (the function's POWERTOOLS_SERVICE_NAME) on every metric; `dimensions`
lists the others a metric carries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    # Besides `service`. A metric with dimensions of its own is emitted apart (observability.count_by).
    dimensions: tuple[str, ...] = ()


# ---- the webhook receiver
# Every answer to a POST /webhooks/{platform}, by platform (a name the receiver knows, else UNKNOWN_PLATFORM) and
# HTTP status: 202 accepted, 200 ignored, 401 a signature refused, other 4xx refused, 503 to be delivered again.
WEBHOOK_DELIVERIES = Metric("WebhookDeliveries", ("platform", "status"))
UNKNOWN_PLATFORM = "unknown"

# ---- the queue consumers
# Every outcome of an applied event (processing.outcomes), by outcome: writes, deliberate skips, parked.
EVENT_OUTCOMES = Metric("EventOutcomes", ("outcome",))
# A record kept in the function's dead-letter queue with its reason.
DEAD_LETTERED = Metric("DeadLettered")

# ---- Mailchimp, as every function calling it sees it (mailchimp.client)
# Milliseconds per API call, retries and their waits included.
MAILCHIMP_LATENCY = Metric("MailchimpLatency")
# Answers, each attempt counted: 429 (throttled), 5xx (Mailchimp failing), 401 (credentials refused).
MAILCHIMP_THROTTLED = Metric("MailchimpThrottled")
MAILCHIMP_SERVER_ERRORS = Metric("MailchimpServerErrors")
MAILCHIMP_UNAUTHORIZED = Metric("MailchimpUnauthorized")
# An account paused because its credentials were refused again after a fresh read (accounts.health).
MAILCHIMP_ACCOUNT_PAUSED = Metric("MailchimpAccountPaused")

# ---- the nightly runs (product_sync)
# One value per store and catalog run, at its end: its sample count is the number of runs.
CATALOG_SYNC_DURATION = Metric("CatalogSyncDuration")
# The run's product counters (catalog.checkpoints.RunCounters) published at its end.
CATALOG_PRODUCT_COUNTERS = ("seen", "unchanged", "created", "updated", "removed", "failed")
CATALOG_PRODUCTS = {counter: Metric(f"CatalogProducts{counter.title()}") for counter in CATALOG_PRODUCT_COUNTERS}
# One value per store and reconciliation, at its end: repairs are webhooks that never arrived.
RECONCILIATION_REPAIRS = Metric("ReconciliationRepairs")
RECONCILIATION_FAILED = Metric("ReconciliationFailed")
# Store webhooks the reconciliation found disabled (re-enabled) or missing.
WEBHOOKS_REACTIVATED = Metric("WebhooksReactivated")
WEBHOOKS_MISSING = Metric("WebhooksMissing")
