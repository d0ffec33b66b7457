"""Removing e-mail addresses from text that may reach a log or a dead-letter message (Mailchimp's own
error details quote the address: "<email> looks fake or invalid").

Deliberately wider than what the edge accepts (commerce_sync.canonical.emails): every run of
non-whitespace around an `@` is replaced, with whatever quotes, angle brackets or punctuation a hostile
address carries, so no accepted or refused form survives even in part. Text that merely holds an `@`
(`user@host`) is redacted too: a lost word in a log costs less than a leaked address.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@]*@[^\s@]+")


def redact_emails(text: str) -> str:
    return _EMAIL.sub("<email>", text)
