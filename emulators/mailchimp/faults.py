"""Fault injection for `/3.0` requests (never for `/_emulator` routes or batch operations).

Each request draws one number from a `random.Random(seed)`, so the same sequence of requests sees the same
faults. With rates r403, r429, r500, rtimeout the request gets, in that order of the cumulative ranges:
- `403_html`: a bare 403 with an Akamai-style HTML page (no JSON), as Mailchimp's CDN sends when it blocks;
- `429`: a problem+json "Too Many Requests";
- `500`: a problem+json "Internal Server Error";
- `timeout`: the server holds the connection (and its concurrency slot) for `timeout_s` seconds and then
  answers 504 with an HTML page. A client whose read timeout is below `timeout_s` sees a timeout. With
  `timeout_commits=True` the request is processed before the wait, as when Mailchimp did the work but the
  answer never arrived (the "duplicate order on retry" case);
- `500_committed`: the request is processed (its write lands) and then answered with the 500 problem, as when
  Mailchimp's edge fails after the backend did the work: a client that retries must not make a duplicate.
An outage (`FaultInjector.start_outage(seconds)`, `MailchimpEmulator.outage(seconds)`) makes every `/3.0` request
fail with `outage` (a 503 problem, nothing processed) until it ends, whatever the rates say.
`latency_ms` is added to every `/3.0` request (while it holds its concurrency slot).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

FAULT_403_HTML = "403_html"
FAULT_429 = "429"
FAULT_500 = "500"
FAULT_TIMEOUT = "timeout"
FAULT_500_COMMITTED = "500_committed"
FAULT_OUTAGE = "outage"

AKAMAI_403_HTML = """<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>

You don't have permission to access this resource on this server.<P>
Reference&#32;&#35;18&#46;6f6d2117&#46;1700000000&#46;1a2b3c4d
</BODY>
</HTML>
"""

GATEWAY_TIMEOUT_HTML = """<HTML><HEAD>
<TITLE>Gateway Timeout</TITLE>
</HEAD><BODY>
<H1>Gateway Timeout</H1>
The proxy server did not receive a timely response from the upstream server.<P>
Reference&#32;&#35;30&#46;6f6d2117&#46;1700000000&#46;5e6f7a8b
</BODY></HTML>
"""


@dataclass(frozen=True)
class FaultSettings:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_403_html: float = 0.0
    latency_ms: int = 0
    seed: int = 1
    timeout_s: float = 10.0
    timeout_commits: bool = False
    rate_500_committed: float = 0.0

    def __post_init__(self) -> None:
        rates = (self.rate_403_html, self.rate_429, self.rate_500, self.rate_timeout, self.rate_500_committed)
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fault rates must be between 0 and 1")
        if sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must add up to at most 1")
        if self.latency_ms < 0 or self.timeout_s <= 0:
            raise ValueError("latency_ms must be >= 0 and timeout_s > 0")

    @property
    def any_faults(self) -> bool:
        return any((self.rate_403_html, self.rate_429, self.rate_500, self.rate_timeout, self.rate_500_committed))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = settings or FaultSettings()
        self._rng = random.Random(self.settings.seed)
        # time.monotonic() until which every request fails (0: no outage); kept across `configure`, so changing
        # the rates mid-outage does not end it.
        self._outage_until = 0.0

    def start_outage(self, seconds: float) -> None:
        """Every request fails with `outage` for `seconds` from now (replacing any outage under way)."""
        if seconds <= 0:
            raise ValueError("an outage lasts more than 0 seconds")
        with self._lock:
            self._outage_until = time.monotonic() + seconds

    def end_outage(self) -> None:
        with self._lock:
            self._outage_until = 0.0

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return time.monotonic() < self._outage_until

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            if time.monotonic() < self._outage_until:
                return FAULT_OUTAGE
            settings = self.settings
            if not settings.any_faults:
                return None
            roll = self._rng.random()
        threshold = 0.0
        for kind, rate in (
            (FAULT_403_HTML, settings.rate_403_html),
            (FAULT_429, settings.rate_429),
            (FAULT_500, settings.rate_500),
            (FAULT_TIMEOUT, settings.rate_timeout),
            (FAULT_500_COMMITTED, settings.rate_500_committed),
        ):
            threshold += rate
            if roll < threshold:
                return kind
        return None
