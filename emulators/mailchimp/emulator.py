"""`MailchimpEmulator`: the Python handle on a running emulator (start/stop, faults, state, records).

emu = MailchimpEmulator(api_key="0123456789abcdef0123456789abcdef-us6", account_id="acc-1", port=0)
emu.start()
emu.base_url                                   # "http://127.0.0.1:PORT/3.0"
emu.state.stores["s1"].carts["c1"]             # plain dicts shaped like Mailchimp's GET responses
emu.set_faults(rate_429=0.1, latency_ms=50, seed=7)
emu.order_status_history("s1", "o1")           # [("pending", None), ("paid", None), ("paid", "shipped")]
emu.stop()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from emulators.loopback import LoopbackServer

from .faults import FaultSettings
from .holds import Hold, Matcher
from .members import force_member_status
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
    ) -> None:
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        account = Account(
            account_id=account_id,
            account_name=account_name,
            email=account_email,
            login_id=login_id or f"login-{account_id}",
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
        )

    def wsgi_app(self) -> Any:
        return self.app

    def _after_start(self) -> None:
        self.app.public_root = self.root_url
        self.app.batches.start()

    def _before_stop(self) -> None:
        self.app.batches.stop()

    @property
    def base_url(self) -> str:
        """What `MAILCHIMP_API_URL` should be set to."""
        return f"{self.root_url}/3.0"

    @property
    def admin_url(self) -> str:
        return f"{self.root_url}/_emulator"

    # ----- state and records --------------------------------------------------------------------------------

    @property
    def state(self) -> EmulatorState:
        """The live data. Hold `state.lock` while reading if requests may be running, or use `snapshot()`."""
        return self.app.state

    def snapshot(self) -> JsonDict:
        """A deep JSON copy of everything (what `GET /_emulator/state` returns, minus faults)."""
        return self.app.state.to_json()

    @property
    def requests(self) -> list[JsonDict]:
        """Every `/3.0` request received (source "http") and every batch operation run (source "batch").

        Each is a dict: method, path (with the `/3.0` prefix), status, body (parsed JSON or None), query,
        source, request_id, fault (None, "429", "500", "timeout", "403_html" or "concurrency"), at,
        operation_id (batch operations only).
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

    def order_status_history(self, store_id: str, order_id: str) -> list[tuple[str | None, str | None]]:
        """`(financial_status, fulfillment_status)` as created and after each PATCH that changed them."""
        return [event.statuses for event in self.order_status_events(store_id, order_id)]

    def order_status_events(self, store_id: str, order_id: str) -> list[OrderStatusEvent]:
        """The same history with `cancelled`, `store_is_syncing`, `source` and the time of each change."""
        with self.state.lock:
            return list(self.state.order_events.get((store_id, order_id), []))

    def member(self, list_id: str, email: str) -> JsonDict | None:
        with self.state.lock:
            audience = self.state.lists.get(list_id)
            member = audience.members.get(subscriber_hash(email)) if audience else None
            return dict(member) if member else None

    def wait_for_batches(self, timeout: float = 10.0) -> bool:
        """Blocks until every submitted batch has finished; False on timeout."""
        return self.app.batches.wait_idle(timeout)

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
    ) -> FaultSettings:
        """Replaces the fault settings (all zero = no faults) and re-seeds the random choice."""
        settings = FaultSettings(
            rate_429=rate_429,
            rate_500=rate_500,
            rate_timeout=rate_timeout,
            rate_403_html=rate_403_html,
            latency_ms=latency_ms,
            seed=seed,
            timeout_s=timeout_s,
            timeout_commits=timeout_commits,
        )
        self.app.faults.configure(settings)
        return settings

    @property
    def faults(self) -> FaultSettings:
        return self.app.faults.settings

    @contextlib.contextmanager
    def hold(self, matches: Matcher, limit: int | None = None) -> Iterator[Hold]:
        """Requests for which `matches(method, api_path, json_body)` is true (the first `limit` of them)
        wait inside the API, counted as in flight, until the hold is released or the block ends."""
        hold = Hold(matches, limit)
        self.app.holds.add(hold)
        try:
            yield hold
        finally:
            self.app.holds.remove(hold)

    @property
    def peak_in_flight(self) -> int:
        """The most API requests in flight at once since `reset_peak_in_flight` (or the start)."""
        return self.app.limiter.peak

    def reset_peak_in_flight(self) -> None:
        self.app.limiter.reset_peak()

    def add_campaign(self, campaign_id: str) -> None:
        with self.state.lock:
            self.state.campaigns.add(campaign_id)

    def add_api_key(self, api_key: str, account_id: str | None = None) -> None:
        """Accept `api_key`. With an `account_id` other than the emulator's, the key belongs to that other
        account: `GET /` names it, and its API calls see that account's own (empty) data."""
        if account_id is not None and account_id != self.app.env.account.account_id:
            self.app.add_other_account_key(api_key, account_id)
            return
        self.app.api_keys.add(api_key)

    def revoke_api_key(self, api_key: str) -> None:
        self.app.api_keys.discard(api_key)
        self.app.key_accounts.pop(api_key, None)

    def delete_audience(self, list_id: str) -> None:
        """As if the audience were deleted in Mailchimp: `GET /lists/{list_id}` answers 404 and no store can
        be created for it. Every other list id still exists."""
        with self.state.lock:
            self.state.deleted_audiences.add(list_id)

    def set_member_status(self, list_id: str, email: str, status: str) -> JsonDict:
        """Sets a member's status as the contact would in Mailchimp (e.g. "unsubscribed"); creates it if new."""
        with self.state.lock:
            return dict(force_member_status(self.state, list_id, email, status))

    def reset(self) -> None:
        """Clears all data, campaigns, batches, the request log and the faults. Keys and settings stay."""
        self.app.reset()

    def __repr__(self) -> str:
        running = "running" if self._server is not None else "stopped"
        return f"MailchimpEmulator({self.base_url}, {running})"
