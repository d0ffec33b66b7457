"""Reading a store's platform API credentials from standard input or from prompts, never from arguments
(they would stay in shell history and in the process list).

On standard input, any of:
- a JSON object: `{"consumer_key": "ck_…", "consumer_secret": "cs_…"}`;
- `name=value` lines (blank lines and `#` comments skipped, one pair of quotes around a value removed);
- for a platform that takes one value (Shopify's and BigCommerce's access token), that value alone.

The fields each platform takes come from its API module (`PlatformConnection.fields`). A message about bad
input names lines and known field names only, never a value, nor a name that was not recognised (a value
pasted on the wrong side of `=` must not be echoed).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable

from commerce_sync.platforms.connection import PlatformConnection
from commerce_sync.platforms.registry import connection_for

QUOTES = ("'", '"')


class CredentialsInputError(Exception):
    """The credentials given cannot be used as they are (the message names no value)."""


def connection_of(platform: str) -> PlatformConnection:
    connection = connection_for(platform)
    if connection is None:
        raise CredentialsInputError(f"a {platform} store has no platform API, so it takes no credentials")
    return connection


def parse_credentials(text: str, connection: PlatformConnection) -> dict[str, str]:
    """The credentials in `text` (module docstring), complete for the platform."""
    fields = connection.field_names
    stripped = text.strip()
    if not stripped:
        raise CredentialsInputError(f"no credentials were given; {_takes(connection)}")
    if stripped.startswith(("{", "[")):
        given = _from_json(stripped)
    else:
        lines = [line.strip() for line in stripped.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        alone = len(fields) == 1 and len(lines) == 1 and lines[0].partition("=")[0].strip() != fields[0]
        given = {fields[0]: _unquoted(lines[0])} if alone else _from_lines(lines, connection)
    return _complete(given, connection)


def prompt_credentials(connection: PlatformConnection, ask: Callable[[str], str] | None = None) -> dict[str, str]:
    """Asks for each field (input hidden)."""
    ask = ask or getpass.getpass
    given: dict[str, str] = {}
    for field in connection.fields:
        try:
            given[field.name] = ask(f"{field.label} (not shown): ").strip()
        except EOFError:  # a prompt without a terminal, its input closed
            given[field.name] = ""
    return _complete(given, connection)


def _from_json(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except ValueError as error:
        # JSONDecodeError's message names a position, not the text.
        raise CredentialsInputError(f"the credentials are not valid JSON ({error})") from error
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise CredentialsInputError("the credentials must be a JSON object of strings")
    return value


def _from_lines(lines: list[str], connection: PlatformConnection) -> dict[str, str]:
    given: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator:
            raise CredentialsInputError(f"line {number} of the credentials is not name=value")
        if name not in connection.field_names:
            raise CredentialsInputError(
                f"line {number} names a field (not shown) that {connection.platform} does not take; "
                + _takes(connection)
            )
        if name in given:
            raise CredentialsInputError(f"{name} is given twice")
        given[name] = _unquoted(value.strip())
    return given


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in QUOTES:
        return value[1:-1]
    return value


def _complete(given: dict[str, str], connection: PlatformConnection) -> dict[str, str]:
    fields = connection.field_names
    unknown = [name for name in given if name not in fields]
    if unknown:
        raise CredentialsInputError(
            f"{len(unknown)} field(s) (names not shown) that {connection.platform} does not take; {_takes(connection)}"
        )
    missing = [name for name in fields if not given.get(name)]
    if missing:
        raise CredentialsInputError(f"missing or empty: {', '.join(missing)}; {_takes(connection)}")
    return {name: given[name] for name in fields}


def _takes(connection: PlatformConnection) -> str:
    return f"{connection.platform} takes {', '.join(connection.field_names)}"
