"""Domain errors that the handlers turn into HTTP answers (the status each maps to is noted)."""

from __future__ import annotations


class BadRequest(Exception):
    """400: the payload cannot be used; the message names the problem (and the field, when one)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class EntityRefused(BadRequest):
    """400 on the canonical route; for a platform webhook the entity is skipped (200) with this reason:
    the value is well-formed but Mailchimp would refuse it (an e-mail address, a number out of range), and
    a platform answered 400 would only deliver the same payload again, or disable the webhook."""


class ImportConflict(Exception):
    """409: the store's import is not in the state the request needs (another one is open, or the one named was
    already finished); the message says which import is and until when."""


class BodyTooLarge(Exception):
    """413: the request body is over the receiver's cap (the message says the cap)."""


class UnknownPlatform(Exception):
    """404: no adapter for the platform in the path."""


class UnknownStore(Exception):
    """404: the store is not in the registry (or is inactive)."""


class NotImplementedYet(Exception):
    """501: a topic or function the project has planned but not built yet."""


class PublishError(Exception):
    """503: the event bus did not take the events; the platform should deliver again."""
