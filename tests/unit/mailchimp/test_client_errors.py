"""commerce_sync.mailchimp.client without the network: problem classification, retryability, base URL."""

from __future__ import annotations

import pytest
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.mailchimp.client import base_url_for_key
from commerce_sync.mailchimp.errors import (
    MailchimpAlreadyExists,
    MailchimpAuthError,
    MailchimpCampaignMissing,
    MailchimpComplianceState,
    MailchimpError,
    MailchimpNotFound,
    MailchimpProductMissing,
    _classify,
)

ORDER_EXISTS = "We were unable to process the request. An order with the provided ID already exists in the account."
PRODUCT_EXISTS = "We were unable to process the request. A product with the provided ID already exists in the account."
PRODUCT_MISSING = "A product with the provided ID does not exist in the account for this list."
VARIANT_MISSING = "A product with the provided variant ID does not exist in the account for this list."
CAMPAIGN_MISSING = "A campaign with the provided ID does not exist in the account for this list."


def problem(status: int, title: str, detail: str = "") -> MailchimpError:
    return MailchimpError(
        status,
        title,
        detail,
        field_errors=[{"field": "lines", "message": "bad"}],
        instance="5a3a6b0e-6f0d-4a1e-9d0b-0b7c2f1e9a11",
    )


@pytest.mark.parametrize(
    ("status", "title", "detail", "kind"),
    [
        (404, "Resource Not Found", "The requested resource could not be found.", MailchimpNotFound),
        (
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            MailchimpAuthError,
        ),
        (401, "APIKeyMissing", "Your request did not include an API key.", MailchimpAuthError),
        (400, "Bad Request", ORDER_EXISTS, MailchimpAlreadyExists),
        (400, "Bad Request", PRODUCT_EXISTS, MailchimpAlreadyExists),
        (400, "Bad Request", PRODUCT_MISSING, MailchimpProductMissing),
        (400, "Bad Request", VARIANT_MISSING, MailchimpProductMissing),
        (400, "Bad Request", CAMPAIGN_MISSING, MailchimpCampaignMissing),
        (
            400,
            "Member In Compliance State",
            "jane@example.com is in a compliance state due to unsubscribe.",
            MailchimpComplianceState,
        ),
        (400, "Member In Compliance State", "", MailchimpComplianceState),
        (400, "Bad Request", ORDER_EXISTS.upper(), MailchimpAlreadyExists),
    ],
)
def test_classify(status: int, title: str, detail: str, kind: type[MailchimpError]) -> None:
    classified = _classify(problem(status, title, detail))
    assert type(classified) is kind
    assert isinstance(classified, MailchimpError)
    # the problem fields are carried over
    assert classified.status == status
    assert classified.title == title
    assert classified.detail == redact_emails(detail)  # details quoting an address never carry it on
    assert classified.field_errors == [{"field": "lines", "message": "bad"}]
    assert classified.instance == "5a3a6b0e-6f0d-4a1e-9d0b-0b7c2f1e9a11"
    assert str(classified) == str(problem(status, title, detail))
    assert "@" not in str(classified)


def test_addresses_in_details_and_field_errors_are_redacted() -> None:
    error = MailchimpError(
        400,
        "Invalid Resource",
        "Jane.Doe@Example.com looks fake or invalid, please enter a real email address.",
        [{"field": "email_address", "message": "Jane.Doe@Example.com looks fake or invalid"}],
    )
    assert "Jane.Doe" not in str(error)
    assert error.detail == "<email> looks fake or invalid, please enter a real email address."
    assert error.field_errors == [{"field": "email_address", "message": "<email> looks fake or invalid"}]


@pytest.mark.parametrize(
    ("status", "title", "detail"),
    [
        (400, "Invalid Resource", "The resource submitted could not be validated."),
        (400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."),
        (403, "Forbidden", "You don't have permission to access this resource."),
        (405, "Method Not Allowed", "The requested method and resource are not compatible."),
        (429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
        (500, "Internal Server Error", "An unexpected internal error has occurred."),
        (500, "Internal Server Error", ORDER_EXISTS),  # "already exists" means something only on a 400
        (0, "Timeout", "POST /ecommerce/stores/s1/carts timed out after retries"),
    ],
)
def test_other_problems_stay_generic(status: int, title: str, detail: str) -> None:
    error = problem(status, title, detail)
    classified = _classify(error)
    assert type(classified) is MailchimpError
    assert classified is error


def test_message_names_status_title_detail_and_fields() -> None:
    message = str(problem(400, "Invalid Resource", "The resource submitted could not be validated."))
    assert message == ("Mailchimp 400 Invalid Resource: The resource submitted could not be validated. (lines: bad)")
    assert str(MailchimpError(404, "Resource Not Found")) == "Mailchimp 404 Resource Not Found: "


@pytest.mark.parametrize("status", [0, 429, 500, 502, 503, 504])
def test_retryable(status: int) -> None:
    assert MailchimpError(status, "x").retryable
    assert _classify(MailchimpError(status, "x")).retryable


@pytest.mark.parametrize("status", [400, 401, 404, 405, 422])
def test_not_retryable(status: int) -> None:
    assert not MailchimpError(status, "x").retryable


@pytest.mark.parametrize(
    "detail", [ORDER_EXISTS, PRODUCT_MISSING, VARIANT_MISSING, CAMPAIGN_MISSING, "in a compliance state"]
)
def test_classified_400s_are_not_retryable(detail: str) -> None:
    title = "Member In Compliance State" if "compliance" in detail else "Bad Request"
    classified = _classify(MailchimpError(400, title, detail))
    assert type(classified) is not MailchimpError
    assert not classified.retryable


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("0123456789abcdef0123456789abcdef-us6", "https://us6.api.mailchimp.com/3.0"),
        ("0123456789abcdef0123456789abcdef-us21", "https://us21.api.mailchimp.com/3.0"),
        ("some-dashed-key-us1", "https://us1.api.mailchimp.com/3.0"),
    ],
)
def test_base_url_for_key(key: str, url: str) -> None:
    assert base_url_for_key(key) == url


@pytest.mark.parametrize(
    "key",
    [
        "0123456789abcdef0123456789abcdef",
        "",
        "0123456789abcdef0123456789abcdef-",
        "0123456789abcdef-us6.evil.example/x",
        "0123456789abcdef-us6/",
    ],
)
def test_base_url_for_key_without_a_datacenter_suffix(key: str) -> None:
    with pytest.raises(ValueError, match="datacenter"):
        base_url_for_key(key)
