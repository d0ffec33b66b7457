"""docs/canonical-events.md documents every field the canonical models accept, as the models have it: each
model's table (its heading names the class) lists exactly the model's fields, says which are required, and
gives a type that matches the field's (a nested model by name, arrays with `[]`, every allowed value of an
enum). A field added to a model without its row, or a row left behind, fails here."""

from __future__ import annotations

import re
import types
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from commerce_sync.canonical import model
from commerce_sync.canonical.model import DATA_MODELS, CanonicalEvent, CanonicalModel
from pydantic import BaseModel

DOC = Path(__file__).resolve().parents[3] / "docs" / "canonical-events.md"
HEADING = re.compile(r"^#{2,3} .*\(`(?P<model>[A-Za-z]+)`\)\s*$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def documented_tables() -> dict[str, dict[str, tuple[str, str, str]]]:
    """model name -> field -> (type, required, meaning), from the tables under the headings naming a model."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current: str | None = None
    for line in DOC.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            current = heading["model"]
            tables[current] = {}
            continue
        if line.startswith("#"):
            current = None
        if current is None or not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in UNESCAPED_PIPE.split(line.strip().strip("|"))]
        name, kind, required, meaning = cells
        tables[current][name.strip("`")] = (kind, required, meaning)
    return tables


def models_in_the_format() -> dict[str, type[BaseModel]]:
    """Every model an event can carry, found by walking the envelope's data models and their fields."""
    found: dict[str, type[BaseModel]] = {}
    waiting: list[type[BaseModel]] = [CanonicalEvent, *DATA_MODELS.values()]
    while waiting:
        cls = waiting.pop()
        if cls.__name__ in found:
            continue
        found[cls.__name__] = cls
        for field in cls.model_fields.values():
            waiting += [nested for nested in _models_named(field.annotation) if nested.__name__ not in found]
    return found


def _models_named(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, CanonicalModel):
        return [annotation]
    return [nested for argument in get_args(annotation) for nested in _models_named(argument)]


def expected_type(annotation: Any) -> list[str]:
    """What the type cell must say: tokens that must all appear in it."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        (inner,) = [argument for argument in get_args(annotation) if argument is not type(None)]
        return expected_type(inner)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        validators = {getattr(getattr(item, "func", None), "__name__", "") for item in metadata}
        if "_entity_id" in validators:
            return ["id"]
        if "_normalise_email" in validators:
            return ["e-mail"]
        if any(getattr(item, "to_upper", False) for item in metadata):
            return ["currency"]
        return expected_type(base)
    if origin is tuple:
        return [f"{token}[]" for token in expected_type(get_args(annotation)[0])]
    if origin is Literal:
        return [f"`{value}`" for value in get_args(annotation)]
    if origin is dict:
        return ["object"]
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return [f"`{member.value}`" for member in annotation]
        if issubclass(annotation, BaseModel):
            return [annotation.__name__]
        for python, token in ((bool, "bool"), (int, "integer"), (Decimal, "money"), (datetime, "timestamp")):
            if issubclass(annotation, python):
                return [token]
        if issubclass(annotation, str):
            return ["string"]
    raise AssertionError(f"no documented type for {annotation!r}: add one to this test and to the page")


MODELS = models_in_the_format()


def test_every_model_of_the_format_has_a_table_and_every_table_a_model() -> None:
    assert set(documented_tables()) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_documented_fields_are_the_models_with_their_types_and_whether_required(name: str) -> None:
    cls = MODELS[name]
    table = documented_tables()[name]

    assert list(table) == list(cls.model_fields), "the rows name the model's fields, in its order"
    for field_name, field in cls.model_fields.items():
        kind, required, meaning = table[field_name]
        assert required == ("yes" if field.is_required() else "no"), field_name
        assert meaning, f"{name}.{field_name} has no meaning"
        # Pydantic keeps a field's own Annotated metadata (an EntityId's validator) apart from its annotation.
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        for token in expected_type(annotation):
            assert token in kind, f"{name}.{field_name}: the type {kind!r} does not say {token!r}"


def test_product_currency_code_is_among_the_documented_fields() -> None:
    # The field the issue found accepted and undocumented.
    assert "currency_code" in documented_tables()["Product"]
    assert model.Product.model_fields["currency_code"]
