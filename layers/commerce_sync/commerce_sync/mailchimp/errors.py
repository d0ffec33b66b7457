"""Mailchimp's error answers as typed exceptions: a problem+json document (or no answer at all) becomes the
class its handling depends on (not found, already exists, a product or campaign missing, compliance
state, an address it refuses, a bad key). Details are redacted: an error may be logged or dead-lettered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commerce_sync.canonical.redaction import redact_emails

RETRYABLE_STATUSES = frozenset({403, 429, 500, 502, 503, 504})


class MailchimpError(Exception):
    """An error answer from Mailchimp (or no answer at all), with the problem+json fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        field_errors: list[dict[str, str]] | None = None,
        instance: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        # Mailchimp quotes the address in some details; this error may be logged or dead-lettered.
        self.detail = redact_emails(detail)
        self.field_errors = [
            {key: redact_emails(str(value)) for key, value in item.items()} for item in field_errors or []
        ]
        self.instance = instance
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in self.field_errors)
        super().__init__(f"Mailchimp {status} {title}: {self.detail}" + (f" ({fields})" if fields else ""))

    @property
    def retryable(self) -> bool:
        """True when trying again later may succeed: throttling, server faults, no answer."""
        return self.status in RETRYABLE_STATUSES or self.status == 0


class MailchimpNotFound(MailchimpError):
    pass


class MailchimpAlreadyExists(MailchimpError):
    pass


class MailchimpProductMissing(MailchimpError):
    """A cart or order line names a product or variant that Mailchimp does not hold."""


class MailchimpCampaignMissing(MailchimpError):
    """The campaign_id is stale or from another audience; the resource is valid without it."""


class MailchimpComplianceState(MailchimpError):
    """The contact unsubscribed or was cleaned; it must not be re-subscribed, so never retried."""


class MailchimpAuthError(MailchimpError):
    pass


class MailchimpEmailRefused(MailchimpError):
    """Mailchimp judged the shopper's address fake or invalid: it will say so on every retry, and the
    platform cannot change what the shopper typed, so the event is skipped (counted), not dead-lettered."""


def _classify(error: MailchimpError) -> MailchimpError:
    detail = error.detail.lower()
    kind: type[MailchimpError] = MailchimpError
    if error.status == 404:
        kind = MailchimpNotFound
    elif error.status == 401:
        kind = MailchimpAuthError
    elif error.status == 400 and "already exists" in detail:
        kind = MailchimpAlreadyExists
    elif error.status == 400 and "product with the provided" in detail and "does not exist" in detail:
        kind = MailchimpProductMissing
    elif error.status == 400 and "campaign with the provided id does not exist" in detail:
        kind = MailchimpCampaignMissing
    elif error.status == 400 and "compliance state" in (error.title + error.detail).lower():
        kind = MailchimpComplianceState
    elif error.status == 400 and "looks fake or invalid" in " ".join(
        [detail, *(str(item.get("message", "")).lower() for item in error.field_errors)]
    ):
        kind = MailchimpEmailRefused
    if kind is MailchimpError:
        return error
    return kind(error.status, error.title, error.detail, error.field_errors, error.instance)


def problem_error(status: int, problem: Mapping[str, Any], reason: str = "") -> MailchimpError:
    """The typed error for a problem document, whether it answered a request or a batch operation."""
    errors = problem.get("errors")
    return _classify(
        MailchimpError(
            status=int(problem.get("status") or status),
            title=str(problem.get("title") or reason or f"HTTP {status}"),
            detail=str(problem.get("detail") or ""),
            field_errors=[item for item in errors if isinstance(item, dict)] if isinstance(errors, list) else [],
            instance=problem.get("instance"),
        )
    )
