"""Entity versions: strings whose order is time order, so a stale or out-of-order event never overwrites a
newer change (commerce_sync.aws.sync_state keeps the last one applied per entity). They are compared as plain
strings, code point by code point (Python's `<` and DynamoDB's condition on a string attribute agree on that),
and an event whose version is not greater than the one applied is stale.

Two changes within one tick of a source's clock (a whole-second `modified_at`) would share a version, and the
second would be skipped as stale. A canonical event may therefore carry a `sequence` as well: `with_sequence`
folds it into the version as `<version>#<sequence, zero-padded to 12 digits>`, which sorts after the bare version
and in sequence order among equal versions, and leaves every version without one comparing as it always did (no
stored version needs rewriting).

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
SEQUENCE_SEPARATOR = "#"
SEQUENCE_DIGITS = 12
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1
# A version is an Identifier of at most 255 characters, with its sequence folded in too.
MAX_VERSION_LENGTH = 255
MAX_VERSION_WITH_SEQUENCE = MAX_VERSION_LENGTH - len(SEQUENCE_SEPARATOR) - SEQUENCE_DIGITS


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


def with_sequence(version: str, sequence: int) -> str:
    """The version with a sequence folded in: fixed-width digits, so string order is sequence order, and the
    separator sorts below every digit and letter a version goes on with, so the bare version sorts first."""
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"a sequence is from 0 to {MAX_SEQUENCE}")
    if len(version) > MAX_VERSION_WITH_SEQUENCE:
        raise ValueError(f"an entity_version carrying a sequence is at most {MAX_VERSION_WITH_SEQUENCE} characters")
    return f"{version}{SEQUENCE_SEPARATOR}{sequence:0{SEQUENCE_DIGITS}d}"


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
