"""Request-body validation against the shipped spec subset (Draft 4), plus the email check.

`spec/ecommerce-subset.json` maps `"METHOD path"` (its root `x-request-body-schemas`) to the `$ref` of the
request body schema. Bodies are validated with a Draft 4 validator that resolves `$ref`s inside that one
document. Schema failures become a 400 `Invalid Resource` problem whose `errors` read like Mailchimp's
("Required fields were not provided: currency_code", "Schema describes string, integer found instead").
`format` keywords (date-time and friends) are not checked: Mailchimp accepts many timestamp spellings.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from .problems import FieldError, invalid_resource

SPEC_PATH = Path(__file__).with_name("spec") / "ecommerce-subset.json"
SPEC_URI = "urn:mailchimp:ecommerce-subset"

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$"
)


# Addresses Mailchimp refuses although their syntax is fine. The emulator stands in for its judgement with
# a rule tests can rely on: the `.invalid` top-level domain (RFC 2606: "sure to be invalid"; WooCommerce
# writes `deleted@site.invalid` for erased shoppers).
FAKE_TOP_LEVEL_DOMAINS = frozenset({"invalid"})


def looks_like_email(value: str) -> bool:
    """The syntax Mailchimp accepts (dot-atom local part, no merge-tag syntax, ASCII domain labels), and
    not an address it judges fake (FAKE_TOP_LEVEL_DOMAINS)."""
    if len(value) > 254 or not _EMAIL.match(value) or "*|" in value or "|*" in value:
        return False
    domain = value.rsplit("@", 1)[1]
    if domain.rsplit(".", 1)[-1].lower() in FAKE_TOP_LEVEL_DOMAINS:
        return False
    return all(label and not label.startswith("-") and not label.endswith("-") for label in domain.split("."))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _field_path(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path)


def _field_errors(errors: list[ValidationError]) -> list[FieldError]:
    missing: dict[str, list[str]] = {}
    others: list[FieldError] = []
    for error in errors:
        where = _field_path(error)
        if error.validator == "required":
            present = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in present and name not in missing.setdefault(where, []):
                    missing[where].append(name)
        elif error.validator == "type":
            expected = error.validator_value
            expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
            others.append(
                FieldError(where, f"Schema describes {expected_text}, {_json_type(error.instance)} found instead")
            )
        elif error.validator == "enum":
            choices = ", ".join(str(choice) for choice in error.validator_value)
            others.append(FieldError(where, f"Value must be one of: {choices}"))
        elif error.validator == "maxLength":
            others.append(FieldError(where, f"Value must be at most {error.validator_value} characters long"))
        else:
            others.append(FieldError(where, error.message))
    required = [
        FieldError(where, "Required fields were not provided: " + ", ".join(names)) for where, names in missing.items()
    ]
    return required + others


class SpecValidator:
    """Looks up the body schema for `"METHOD /path/{template}"` and validates bodies against it."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        self.document: dict[str, Any] = json.loads(spec_path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.document, default_specification=DRAFT4)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, Draft4Validator] = {}

    @cached_property
    def body_schemas(self) -> dict[str, str]:
        return dict(self.document["x-request-body-schemas"])

    def has_schema(self, method: str, template: str) -> bool:
        return f"{method} {template}" in self.body_schemas

    def _validator(self, key: str) -> Draft4Validator | None:
        ref = self.body_schemas.get(key)
        if ref is None:
            return None
        if key not in self._validators:
            self._validators[key] = Draft4Validator({"$ref": SPEC_URI + ref}, registry=self._registry)
        return self._validators[key]

    def errors_for(self, method: str, template: str, body: Any) -> list[FieldError]:
        validator = self._validator(f"{method} {template}")
        if validator is None:
            return []
        return _field_errors(list(validator.iter_errors(body)))

    def validate(self, method: str, template: str, body: Any) -> None:
        """Raises a 400 `Invalid Resource` problem when `body` does not match the operation's schema."""
        errors = self.errors_for(method, template, body)
        if errors:
            raise invalid_resource(errors)

    def validate_schema(self, schema_name: str, value: Any, prefix: str = "") -> None:
        """Validates `value` against `#/components/schemas/<schema_name>` (used for nested bodies)."""
        validator = Draft4Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=self._registry)
        errors = _field_errors(list(validator.iter_errors(value)))
        if errors:
            if prefix:
                errors = [FieldError(f"{prefix}.{e.field}" if e.field else prefix, e.message) for e in errors]
            raise invalid_resource(errors)
