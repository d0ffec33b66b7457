"""Domain errors that the handlers turn into HTTP answers (the status each maps to is noted)."""

from __future__ import annotations


class BadRequest(Exception):
    """400: the payload cannot be used; the message names the problem (and the field, when one)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class UnknownPlatform(Exception):
    """404: no adapter for the platform in the path."""


class UnknownStore(Exception):
    """404: the store is not in the registry (or is inactive)."""


class NotImplementedYet(Exception):
    """501: a topic or function the project has planned but not built yet."""


class PublishError(Exception):
    """503: the event bus did not take the events; the platform should deliver again."""
