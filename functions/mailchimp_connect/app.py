"""A merchant connects their own Mailchimp account to their store with OAuth 2 (docs/mailchimp-accounts.md):

- `GET /connect/mailchimp/{store_id}?invite=…`: the link `commerce-sync connect-mailchimp STORE` prints.
  Checks the invite, then 302 to Mailchimp's authorize page with a signed, expiring state.
- `GET /connect/mailchimp-callback?code=…&state=…`: where Mailchimp sends the merchant back. Checks and
  spends the state, exchanges the code, proves the account and keeps its token, resumes a paused account.

The merchant reads the answers in a browser, so they are short plain-text pages that say what happened and,
on a refusal, why and what to do. The domain is commerce_sync.accounts.oauth_connect.
"""

from __future__ import annotations

import os
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from commerce_sync.accounts.connections import AccountCheckFailed
from commerce_sync.accounts.oauth import CALLBACK_PATH, OAuthRefused
from commerce_sync.accounts.oauth_connect import OAuthConnector
from commerce_sync.aws.http_api import HttpApi, HttpRequest, HttpResponse
from commerce_sync.aws.observability import log_metrics, logger, metrics, tracer
from commerce_sync.processing.services import Services

if TYPE_CHECKING:
    # The handler's annotation only: imported at run time, it was 6 M instructions of cold start for nothing.
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = HttpApi()
TEXT = "text/plain; charset=utf-8"


@cache
def connector() -> OAuthConnector:
    return Services.from_environment().oauth_connector


def redirect_uri(request: HttpRequest) -> str:
    """Where Mailchimp sends the merchant back: MAILCHIMP_OAUTH_REDIRECT_URI (a custom domain), else this API's
    own callback route as the request reached it (API Gateway says https in X-Forwarded-Proto)."""
    configured = os.environ.get("MAILCHIMP_OAUTH_REDIRECT_URI")
    if configured:
        return configured
    scheme = request.headers.get("x-forwarded-proto", "https")
    return f"{scheme}://{request.domain_name}{CALLBACK_PATH}"


def page(status: HTTPStatus, text: str) -> HttpResponse:
    return HttpResponse(status.value, text + "\n", content_type=TEXT)


@app.route("GET /connect/mailchimp/{store_id}")
@tracer.capture_method
def begin(request: HttpRequest, store_id: str) -> HttpResponse:
    invite = request.query.get("invite") or ""
    if not invite:
        return page(HTTPStatus.BAD_REQUEST, "This link is incomplete (no invite). Ask for a new one.")
    location = connector().begin(store_id, invite, redirect_uri(request))
    return HttpResponse(HTTPStatus.FOUND.value, "", content_type=TEXT, headers={"Location": location})


@app.route(f"GET {CALLBACK_PATH}")
@tracer.capture_method
def finish(request: HttpRequest) -> HttpResponse:
    query = request.query
    error = query.get("error")
    if error:
        metrics.add_metric(name="MailchimpConnectDeclined", unit="Count", value=1)
        return page(HTTPStatus.BAD_REQUEST, f"Mailchimp did not connect the account ({error}). Nothing was changed.")
    code, state = query.get("code") or "", query.get("state") or ""
    if not code or not state:
        return page(HTTPStatus.BAD_REQUEST, "Mailchimp's answer is incomplete (code and state are needed).")
    connected = connector().finish(code, state, redirect_uri(request))
    account = connected.account
    lines = [f"Store {connected.store.store_id} now writes to Mailchimp account {account.account_name}."]
    if connected.resumed:
        lines.append(f"{connected.resumed} event(s) that waited for the account are being applied now.")
    return page(HTTPStatus.OK, " ".join(lines))


@app.exception_handler(OAuthRefused)
def _refused(request: HttpRequest, error: OAuthRefused) -> HttpResponse:
    metrics.add_metric(name="MailchimpConnectRefused", unit="Count", value=1)
    logger.info("Mailchimp connection refused", reason=str(error))
    return page(HTTPStatus.FORBIDDEN, f"The connection was refused: {error}. Nothing was changed.")


@app.exception_handler(AccountCheckFailed)
def _unusable(request: HttpRequest, error: AccountCheckFailed) -> HttpResponse:
    metrics.add_metric(name="MailchimpConnectRefused", unit="Count", value=1)
    logger.info("Mailchimp account refused for the store", reason=str(error))
    status = HTTPStatus.SERVICE_UNAVAILABLE if error.transient else HTTPStatus.BAD_REQUEST
    return page(status, f"The account cannot be connected: {error}. Nothing was changed.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event)
