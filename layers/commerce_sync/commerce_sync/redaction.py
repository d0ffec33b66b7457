"""Removing e-mail addresses from text that may reach a log or a dead-letter message (Mailchimp's own
error details quote the address: "<email> looks fake or invalid")."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^@\s\"'<>(),;:]+@[^@\s\"'<>(),;:]+\.[A-Za-z0-9-]+")


def redact_emails(text: str) -> str:
    return _EMAIL.sub("<email>", text)
