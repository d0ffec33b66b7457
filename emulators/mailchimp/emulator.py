"""`MailchimpEmulator`: the Python handle on a running emulator (start/stop, faults, state, records).

emu = MailchimpEmulator(api_key="0123456789abcdef0123456789abcdef-us6", account_id="acc-1", port=0)
emu.start()
emu.base_url                                   # "http://127.0.0.1:PORT/3.0"
emu.state.stores["s1"].carts["c1"]             # plain dicts shaped like Mailchimp's GET responses
emu.set_faults(rate_429=0.1, latency_ms=50, seed=7)
emu.order_status_history("s1", "o1")           # [("pending", None), ("paid", None), ("paid", "shipped")]
emu.order_notifications("s1")                  # the order e-mails those changes send (none while syncing)
emu.stop()

Further accounts are full peers of the first (the primary): own data, batches and 10 connections.

emu.add_account("acc-2", api_key="fedcba9876543210fedcba9876543210-us19", dc="us19")
emu.state_of("acc-2").stores                   # what that account holds; emu.state stays the primary's
emu.in_flight_peaks()                          # {"acc-1": 3, "acc-2": 10}
emu.revoke("fedcba9876543210fedcba9876543210-us19")   # an API key, or an OAuth token

OAuth 2 (Mailchimp's login server is the emulator's root, `emu.login_url`):

emu.register_oauth_app("client-1", "secret-1", "https://app.test/callback")
emu.oauth_login_as("acc-2")                    # the merchant who will approve the app
# GET {login_url}/oauth2/authorize?... → 302 with a code; POST {login_url}/oauth2/token → a token of acc-2
emu.oauth_requests                             # what the login server saw, secrets masked
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator
from typing import Any

from emulators.loopback import LoopbackServer

from .faults import FaultSettings
from .holds import Hold, Matcher
from .list_webhooks import deliver
from .members import force_member_status
from .notifications import OrderNotification, notifications_of
from .oauth import DEFAULT_CODE_TTL_S
from .server import DEFAULT_API_KEY, EmulatorApp
from .state import Account, EmulatorState, JsonDict, OrderStatusEvent, RecordedRequest, subscriber_hash


class MailchimpEmulator(LoopbackServer):
    """A stateful Mailchimp Marketing API v3 (e-commerce subset) on 127.0.0.1, in a background thread."""

    def __init__(
        self,
        api_key: str | Iterable[str] = DEFAULT_API_KEY,
        account_id: str = "acc-1",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        account_name: str = "Commerce Sync Emulator",
        account_email: str = "owner@example.com",
        login_id: str | None = None,
        max_concurrent: int = 10,
        batch_start_delay_s: float = 0.0,
        batch_op_delay_s: float = 0.0,
        batch_results_per_file: int = 1,
        batch_url_ttl_s: float = 600.0,
        account_dc: str = "us6",
        oauth_code_ttl_s: float = DEFAULT_CODE_TTL_S,
    ) -> None:
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        account = Account(
            account_id=account_id,
            account_name=account_name,
            email=account_email,
            login_id=login_id or f"login-{account_id}",
            dc=account_dc,
        )
        self.host = host
        self.port = port
        self.app = EmulatorApp(
            keys,
            account,
            max_concurrent=max_concurrent,
            batch_start_delay_s=batch_start_delay_s,
            batch_op_delay_s=batch_op_delay_s,
            batch_results_per_file=batch_results_per_file,
            batch_url_ttl_s=batch_url_ttl_s,
            oauth_code_ttl_s=oauth_code_ttl_s,
        )

    def wsgi_app(self) -> Any:
        return self.app

    def _after_start(self) -> None:
        self.app.public_root = self.root_url
        self.app.start_workers()

    def _before_stop(self) -> None:
        self.app.stop_workers()

    @property
    def base_url(self) -> str:
        """What `MAILCHIMP_API_URL` should be set to."""
        return f"{self.root_url}/3.0"

    @property
    def admin_url(self) -> str:
        return f"{self.root_url}/_emulator"

    @property
    def login_url(self) -> str:
        """What `MAILCHIMP_LOGIN_URL` should be set to (for `https://login.mailchimp.com`): the root, where
        `/oauth2/authorize`, `/oauth2/token` and `/oauth2/metadata` are served."""
        return self.root_url

    # ----- state and records --------------------------------------------------------------------------------

    @property
    def state(self) -> EmulatorState:
        """The primary account's live data (and the emulator-wide request log). Hold `state.lock` while
        reading if requests may be running, or use `snapshot()`."""
        return self.app.state

    def state_of(self, account_id: str) -> EmulatorState:
        """An account's live data; `UnknownAccount` (a `LookupError`) if there is no such account. The request
        log is emulator-wide and stays in `state.requests`: another account's `requests` stays empty."""
        return self.app.account(account_id).state

    def snapshot(self, account_id: str | None = None) -> JsonDict:
        """A deep JSON copy of an account's data, the primary's by default (what `GET /_emulator/state`
        returns, minus faults)."""
        return self.app.account(account_id).state.to_json()

    @property
    def requests(self) -> list[JsonDict]:
        """Every `/3.0` request received (source "http") and every batch operation run (source "batch"), for
        every account.

        Each is a dict: method, path (with the `/3.0` prefix), status, body (parsed JSON or None), query,
        source, request_id, fault (None, "429", "500", "timeout", "500_committed", "outage", "403_html" or
        "concurrency"), at,
        operation_id (batch operations only), account_id (the credential's account; None without a valid
        one). The login server's requests are in `oauth_requests`.
        """
        with self.state.lock:
            return [entry.to_json() for entry in self.state.requests]

    @property
    def recorded_requests(self) -> list[RecordedRequest]:
        """The same records as `requests`, as frozen dataclasses."""
        with self.state.lock:
            return list(self.state.requests)

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    def order_status_history(
        self, store_id: str, order_id: str, *, account_id: str | None = None
    ) -> list[tuple[str | None, str | None]]:
        """`(financial_status, fulfillment_status)` as created and after each PATCH that changed them."""
        events = self.order_status_events(store_id, order_id, account_id=account_id)
        return [event.statuses for event in events]

    def order_status_events(
        self, store_id: str, order_id: str, *, account_id: str | None = None
    ) -> list[OrderStatusEvent]:
        """The same history with `cancelled`, `store_is_syncing`, `source` and the time of each change."""
        state = self.app.account(account_id).state
        with state.lock:
            return list(state.order_events.get((store_id, order_id), []))

    def order_notifications(
        self, store_id: str, order_id: str | None = None, *, account_id: str | None = None
    ) -> list[OrderNotification]:
        """The order e-mails Mailchimp sends for the store's orders (or one order), derived from their status
        histories (emulators/mailchimp/notifications.py): none for a change written while the store was syncing,
        nor for an order written without a status."""
        state = self.app.account(account_id).state
        with state.lock:
            histories = {
                order: list(events)
                for (store, order), events in state.order_events.items()
                if store == store_id and order_id in (None, order)
            }
        return [sent for order, events in histories.items() for sent in notifications_of(store_id, order, events)]

    def member(self, list_id: str, email: str, *, account_id: str | None = None) -> JsonDict | None:
        state = self.app.account(account_id).state
        with state.lock:
            audience = state.lists.get(list_id)
            member = audience.members.get(subscriber_hash(email)) if audience else None
            return dict(member) if member else None

    def wait_for_batches(self, timeout: float = 10.0) -> bool:
        """Blocks until every account's submitted batches have finished; False on timeout."""
        return self.app.wait_for_batches(timeout)

    @property
    def oauth_requests(self) -> list[JsonDict]:
        """Every request to the login server (`/oauth2/...`): method, path, status, params (the query or form,
        with client secrets, codes and tokens masked to their last 4 characters), client_id, account_id,
        outcome ("code", "access_denied", "login_page", "bad_request", "token", "invalid_client",
        "invalid_grant", "unsupported_grant_type", "invalid_request", "metadata", "invalid_token", "not_found"), at,
        source ("oauth")."""
        return [record.to_json() for record in self.app.oauth.records]

    # ----- configuration ------------------------------------------------------------------------------------

    def set_faults(
        self,
        rate_429: float = 0.0,
        rate_500: float = 0.0,
        rate_timeout: float = 0.0,
        rate_403_html: float = 0.0,
        latency_ms: int = 0,
        seed: int = 1,
        timeout_s: float = 10.0,
        timeout_commits: bool = False,
        rate_500_committed: float = 0.0,
    ) -> FaultSettings:
        """Replaces the fault settings (all zero = no faults) and re-seeds the random choice. An outage under way
        (`start_outage`) goes on."""
        settings = FaultSettings(
            rate_429=rate_429,
            rate_500=rate_500,
            rate_timeout=rate_timeout,
            rate_403_html=rate_403_html,
            latency_ms=latency_ms,
            seed=seed,
            timeout_s=timeout_s,
            timeout_commits=timeout_commits,
            rate_500_committed=rate_500_committed,
        )
        self.app.faults.configure(settings)
        return settings

    def start_outage(self, seconds: float) -> None:
        """Every `/3.0` request of every account is answered 503 (nothing processed) for `seconds` from now:
        Mailchimp down as a whole. Recorded with fault "outage"."""
        self.app.faults.start_outage(seconds)

    def end_outage(self) -> None:
        self.app.faults.end_outage()

    @property
    def in_outage(self) -> bool:
        return self.app.faults.in_outage

    @property
    def faults(self) -> FaultSettings:
        return self.app.faults.settings

    @contextlib.contextmanager
    def hold(self, matches: Matcher, limit: int | None = None, *, account_id: str | None = None) -> Iterator[Hold]:
        """Requests for which `matches(method, api_path, json_body)` is true (the first `limit` of them)
        wait inside the API, counted as in flight (for their account), until the hold is released or the
        block ends. With `account_id`, only that account's requests are held."""
        hold = Hold(matches, limit, account_id=account_id)
        self.app.holds.add(hold)
        try:
            yield hold
        finally:
            self.app.holds.remove(hold)

    @property
    def peak_in_flight(self) -> int:
        """The most API requests in flight at once for the primary account since `reset_peak_in_flight`
        (or the start)."""
        return self.app.limiter.peak

    def peak_in_flight_of(self, account_id: str) -> int:
        """The same for one account."""
        return self.app.account(account_id).limiter.peak

    def in_flight_peaks(self) -> dict[str, int]:
        """Every account's peak, by account id."""
        return {account.account_id: account.limiter.peak for account in self.app.all_accounts()}

    def reset_peak_in_flight(self) -> None:
        """Resets every account's peak (to what is in flight now)."""
        for account in self.app.all_accounts():
            account.limiter.reset_peak()

    def add_campaign(self, campaign_id: str, *, account_id: str | None = None) -> None:
        state = self.app.account(account_id).state
        with state.lock:
            state.campaigns.add(campaign_id)

    # ----- accounts and credentials -------------------------------------------------------------------------

    @property
    def primary_account_id(self) -> str:
        return self.app.primary_id

    @property
    def account_ids(self) -> list[str]:
        """Every account the emulator serves, the primary first."""
        return [account.account_id for account in self.app.all_accounts()]

    def add_account(
        self,
        account_id: str,
        api_key: str | None = None,
        *,
        account_name: str | None = None,
        account_email: str | None = None,
        login_id: str | None = None,
        dc: str = "us6",
    ) -> None:
        """Another Mailchimp account, a full peer of the primary: its own data, campaigns, members, batches
        and `max_concurrent` connections. Idempotent: an existing account keeps its settings, and `api_key`
        (if given) is accepted for it either way. `dc` is what the OAuth metadata endpoint reports."""
        self.app.add_account(
            account_id, api_key, account_name=account_name, email=account_email, login_id=login_id, dc=dc
        )

    def add_api_key(self, api_key: str, account_id: str | None = None) -> None:
        """Accept `api_key` for `account_id` (the primary by default; the account is created when new).
        `GET /` names the key's account, and its API calls see that account's own data."""
        self.app.add_account(account_id or self.app.primary_id, api_key)

    def revoke(self, credential: str) -> bool:
        """Ends an API key or OAuth token: API calls with it get 401 "API Key Invalid" (even one already in
        flight, when it reaches authentication) and the metadata endpoint `{"error": "invalid_token"}`.
        True if it was a known credential."""
        return self.app.revoke(credential)

    def revoke_api_key(self, api_key: str) -> None:
        self.app.revoke(api_key)

    # ----- OAuth 2 (the login server) -----------------------------------------------------------------------

    def register_oauth_app(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """An app registered at Mailchimp (re-registering a client_id replaces it)."""
        self.app.oauth.register_app(client_id, client_secret, redirect_uri)

    def rotate_oauth_client_secret(self, client_id: str, new_secret: str) -> None:
        """The old secret gets 401 `invalid_client` at the token endpoint from now on."""
        self.app.oauth.rotate_client_secret(client_id, new_secret)

    def oauth_login_as(self, account_id: str, approve: bool = True) -> None:
        """The merchant logged in at the login server: the next authorize requests are answered for
        `account_id` (a code), or declined (`error=access_denied`) with `approve=False`. It stays so until
        changed, `oauth_logout()` or `reset()`."""
        self.app.oauth.login_as(account_id, approve)

    def oauth_logout(self) -> None:
        """Nobody logged in: authorize answers the login page (200, no redirect)."""
        self.app.oauth.login_as(None)

    def set_oauth_code_ttl(self, seconds: float) -> None:
        """How long an authorization code stays valid from now on (30 s by default)."""
        self.app.oauth.code_ttl_s = seconds

    def issue_oauth_token(self, account_id: str) -> str:
        """A token of `account_id` without the authorize/token exchange, for tests that only need one."""
        return self.app.oauth.issue_token(account_id)

    def delete_audience(self, list_id: str, *, account_id: str | None = None) -> None:
        """As if the audience were deleted in Mailchimp: `GET /lists/{list_id}` answers 404 and no store can
        be created for it. Every other list id still exists."""
        state = self.app.account(account_id).state
        with state.lock:
            state.deleted_audiences.add(list_id)

    def set_member_status(
        self, list_id: str, email: str, status: str, *, source: str = "user", account_id: str | None = None
    ) -> JsonDict:
        """Sets a member's status as the contact (`source` "user") or the account's admin ("admin") would in
        Mailchimp (e.g. "unsubscribed"); creates it if new. The list's audience webhooks hear of it."""
        state = self.app.account(account_id).state
        with state.lock:
            return dict(force_member_status(state, list_id, email, status, source))

    def list_webhooks(self, list_id: str, *, account_id: str | None = None) -> list[JsonDict]:
        """The audience webhooks registered on the list (`id`, `url`, `events`, `sources`)."""
        state = self.app.account(account_id).state
        with state.lock:
            return [copy.deepcopy(hook) for hook in state.audience(list_id).webhooks.values()]

    def deliver_audience_webhook(
        self, list_id: str, event_type: str, data: JsonDict, *, source: str = "user", account_id: str | None = None
    ) -> int:
        """Sends an audience webhook event as Mailchimp would (`data` is its `data[...]`), to the list's matching
        webhooks; how many. For events no member change makes here."""
        return deliver(self.app.account(account_id).state, list_id, event_type, source, data)

    def webhook_deliveries(self, *, account_id: str | None = None) -> list[JsonDict]:
        """Every audience webhook delivery made: `list_id`, `webhook_id`, `type`, `body` (the form), `status`
        (0: no answer) and `response` (its text)."""
        state = self.app.account(account_id).state
        with state.lock:
            return [dict(each) for each in state.webhook_deliveries]

    def wait_for_webhook_deliveries(
        self, count: int, timeout: float = 10.0, *, list_id: str | None = None, account_id: str | None = None
    ) -> list[JsonDict]:
        """The deliveries (to `list_id`'s webhooks only, when given) once at least `count` were made; TimeoutError
        if they are not within `timeout`."""
        state = self.app.account(account_id).state

        def made() -> list[JsonDict]:
            return [dict(each) for each in state.webhook_deliveries if list_id is None or each["list_id"] == list_id]

        with state.deliveries_changed:
            if not state.deliveries_changed.wait_for(lambda: len(made()) >= count, timeout):
                raise TimeoutError(f"{len(made())} audience webhook deliveries, not {count}")
            return made()

    def reset(self) -> None:
        """Clears every account's data, campaigns and batches, the request logs, pending OAuth codes and the
        simulated login, and the faults. Accounts, keys, tokens, OAuth apps and settings stay."""
        self.app.reset()

    def __repr__(self) -> str:
        running = "running" if self._server is not None else "stopped"
        return f"MailchimpEmulator({self.base_url}, {running})"
