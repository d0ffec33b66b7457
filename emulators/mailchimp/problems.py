"""Mailchimp-style errors: `application/problem+json` bodies and the exception that carries them.

Every error the emulator returns on `/3.0` (except the deliberate Akamai-style HTML 403 and the gateway
timeout page from fault injection) is a problem document `{type, title, status, detail, instance}`, where
`instance` is the request's UUID, also sent as the `X-Request-Id` header. `Invalid Resource` problems add
`errors: [{field, message}]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"
ERROR_DOCS_URL = "https://mailchimp.com/developer/marketing/docs/errors/"

VALIDATION_DETAIL = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
NOT_FOUND_DETAIL = "The requested resource could not be found."
UNABLE_TO_PROCESS = "We were unable to process the request."


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ApiProblem(Exception):
    """Raised anywhere below the router; turned into a problem+json response."""

    status: int
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.title}: {self.detail}")

    def to_json(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERROR_DOCS_URL,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = [error.to_json() for error in self.errors]
        return body


def bad_request(detail: str) -> ApiProblem:
    return ApiProblem(400, "Bad Request", detail)


def already_exists(thing: str) -> ApiProblem:
    """`thing` carries its article, e.g. "An order" or "A product"."""
    return bad_request(f"{UNABLE_TO_PROCESS} {thing} with the provided ID already exists in the account.")


def invalid_resource(errors: list[FieldError], detail: str = VALIDATION_DETAIL) -> ApiProblem:
    return ApiProblem(400, "Invalid Resource", detail, errors=errors)


def invalid_field(field_name: str, message: str) -> ApiProblem:
    """A server-side (not schema) validation failure: the message is also the detail."""
    return invalid_resource([FieldError(field_name, message)], detail=message)


def json_parse_error() -> ApiProblem:
    return ApiProblem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.")


def not_found() -> ApiProblem:
    return ApiProblem(404, "Resource Not Found", NOT_FOUND_DETAIL)


def method_not_allowed(allowed: list[str]) -> ApiProblem:
    return ApiProblem(
        405,
        "Method Not Allowed",
        "The requested method and resource are not compatible. See the Allow header for this "
        "resource's available methods.",
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def api_key_missing() -> ApiProblem:
    return ApiProblem(
        401,
        "APIKeyMissing",
        "Your request did not include an API key.",
    )


def api_key_invalid() -> ApiProblem:
    return ApiProblem(
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )


def too_many_requests(limit: int) -> ApiProblem:
    return ApiProblem(
        429,
        "Too Many Requests",
        f"You have exceeded the limit of {limit} simultaneous connections.",
    )


def internal_error() -> ApiProblem:
    return ApiProblem(
        500,
        "Internal Server Error",
        "An unexpected internal error has occurred. Please contact Support for more information.",
    )


def service_unavailable() -> ApiProblem:
    """What every request gets during an outage (`faults.FAULT_OUTAGE`)."""
    return ApiProblem(
        503,
        "Service Unavailable",
        "The service is temporarily unavailable. Please try again later.",
    )
