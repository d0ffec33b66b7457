"""Entity versions: strings whose order is time order, so a stale or out-of-order event never overwrites a
newer change (commerce_sync.aws.sync_state keeps the last one applied per entity).

A version from the future would block every genuine change of its entity for ever, so none is made:
`version_from_timestamp` refuses a time more than MAX_CLOCK_SKEW ahead of now or before 1970 (the edge
answers 400), and a time an unsigned source claims (a header) is used only through `claimed_time`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# How far ahead of our clock a platform's clock may run; anything further is not a real time.
MAX_CLOCK_SKEW = timedelta(hours=24)
# No store's change predates Unix time; an earlier date is an error or an attack.
EARLIEST_VERSION = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


class ImpossibleVersion(ValueError):
    """A change dated further in the future than any clock skew explains (or beyond the calendar)."""


def version_from_timestamp(value: datetime, now: datetime | None = None) -> str:
    """A fixed-width UTC timestamp, so that string order is time order. Refuses a time more than
    MAX_CLOCK_SKEW ahead of now: as a version it would outrank every genuine change."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError as error:
        raise ImpossibleVersion(f"{value.isoformat()} is outside the calendar") from error
    if utc > (now or datetime.now(UTC)) + MAX_CLOCK_SKEW:
        raise ImpossibleVersion(f"{utc.isoformat()} is more than {MAX_CLOCK_SKEW} in the future")
    if utc < EARLIEST_VERSION:
        # Also keeps the width fixed: strftime writes years below 1000 with fewer digits, which would sort
        # after every real version.
        raise ImpossibleVersion(f"{utc.isoformat()} is before {EARLIEST_VERSION.year}")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claimed_time(claimed: datetime | None, now: datetime | None = None) -> datetime:
    """When a change happened, by a source nothing signs (a delivery header, an unsigned body field): used
    only within MAX_CLOCK_SKEW before now and never after now; otherwise now. A forged far-future time can
    then neither outrank later genuine changes nor reorder anything by more than the skew."""
    current = now or datetime.now(UTC)
    if claimed is None:
        return current
    aware = claimed if claimed.tzinfo else claimed.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        return current
    return utc if current - MAX_CLOCK_SKEW <= utc <= current else current


def is_impossible(version: str, now: datetime | None = None) -> bool:
    """True for a timestamp version further ahead than any clock skew (counters and other versions are
    never judged: only timestamp-shaped ones can be dated)."""
    if not _TIMESTAMP_VERSION.match(version):
        return False
    ceiling = ((now or datetime.now(UTC)) + MAX_CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return version > ceiling


def version_number(version: str) -> int:
    """A version as a whole number, for ids that cannot carry its punctuation (history event ids, Mailchimp
    batch operation ids): a timestamp version is its microseconds since 1970, a counter is itself. Order is
    kept for either shape; any other string is refused (ValueError)."""
    if version.isdigit():
        return int(version)
    if _TIMESTAMP_VERSION.match(version):
        moment = datetime.strptime(version, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        delta = moment - EARLIEST_VERSION
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise ValueError(f"version {version[:40]!r} is neither a timestamp nor a counter")
