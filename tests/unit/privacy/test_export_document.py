"""The export's plain-JSON view of sync-state items, and the file `privacy export --json` writes."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path

from commerce_sync.aws.privacy_exports import export_key
from commerce_sync.privacy.export import ExportLookup, ShopperExportDocument, plain, state_entry

from operator_cli.privacy import write_private


def test_dynamodb_values_become_plain_json() -> None:
    item = {"count": Decimal("3"), "amount": Decimal("19.99"), "ids": {"b", "a"}, "nested": [{"n": Decimal("1")}]}
    assert json.loads(json.dumps(plain(item))) == {"count": 3, "amount": 19.99, "ids": ["a", "b"], "nested": [{"n": 1}]}


def test_a_state_entry_shows_stored_documents_as_documents_and_drops_the_table_keys() -> None:
    order = {"id": "o-1", "customer": {"email": "ada@example.com"}}
    item = {"pk": "s#order#o-1", "sk": "state", "order": json.dumps(order), "withheld": "", "sent": True}
    entry = state_entry("order", "o-1", item)
    assert entry.attributes == {"order": order, "sent": True, "withheld": ""}
    not_json = state_entry("cart", "k-1", {"customer": "{not json"})
    assert not_json.attributes == {"customer": "{not json"}, "kept as stored when it is not a document"


def test_an_empty_export_holds_nothing_and_counts_zero() -> None:
    document = ShopperExportDocument(store_id="s", generated_at="now", looked_up=ExportLookup(email="a@example.com"))
    assert not document.holds_anything()
    assert set(document.counts().values()) == {0}


def test_export_keys_cannot_leave_their_store_folder() -> None:
    assert export_key("my-shop", "9999") == "privacy-exports/my-shop/9999.json"
    assert export_key("a/b", "../c") == "privacy-exports/a%2Fb/..%2Fc.json"


def test_the_written_file_is_its_owners_alone_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, b'{"new": true}')
    assert path.read_bytes() == b'{"new": true}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
