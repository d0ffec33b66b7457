"""`commerce-sync privacy …`: shoppers' privacy requests that come by mail, and the proof of each (docs/privacy.md).

- `privacy erase STORE (--email ADDRESS | --customer-id ID) [--order ID …] [--delete-member-permanently]
  [--reference TEXT]` puts a `customer.erased` event on the bus, the path every erasure takes (its queue retries
  it, and dead-letters it with the reason after the retries); `--wait` follows its audit line until it completes.
- `privacy audit [STORE] [--json]` lists the audit lines: each request's kind, store, when received and completed,
  what it removed, and whom it was about as a salted hash only.
- `privacy export STORE (--email ADDRESS | --customer-id ID) [--order ID …] [--reference TEXT] [--json FILE]` reads
  what is held about a shopper (commerce_sync.privacy.export: reads only, nothing goes on the bus) and prints it, or
  writes the JSON document to FILE (mode 0600), with an audit line; `privacy export STORE --request ID [--json FILE]`
  does the same with the export a data-request webhook kept (docs/privacy.md, "Data requests"). The export is personal
  data: it goes only where the operator asked, never to a log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from commerce_sync.aws.privacy_audit import PrivacyAudit
from commerce_sync.aws.privacy_exports import ExportBucketMissing
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import (
    CustomerDataRequest,
    CustomerErasure,
    EventType,
    MemberErasure,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.credentials import CredentialsError
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError
from commerce_sync.privacy.export import ShopperExport, ShopperExportDocument
from commerce_sync.privacy.subjects import audit_subject
from commerce_sync.processing.services import Services
from pydantic import ValidationError

from operator_cli.help_texts import example_options
from operator_cli.terminal import columns, print_table

WAIT_SECONDS = 120.0
COUNT_LABELS = {
    "sync_state_entries": "sync-state entries",
    "mailchimp_customers": "Mailchimp customers",
    "members": "audience members",
}


def add_commands(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="shoppers' privacy requests: erase, audit, export")
    actions = privacy.add_subparsers(dest="privacy_command", required=True)

    erase = actions.add_parser(
        "erase",
        help="erase a shopper of a store from Mailchimp and keep them erased",
        **example_options(
            "privacy erase my-shop --email jane.doe@example.com --wait",
            "privacy erase my-shop --customer-id 7712345678909 --order 5512345678901 --reference ticket-42 --json",
        ),
    )
    erase.add_argument("store_id", metavar="STORE")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the shopper's e-mail address")
    who.add_argument("--customer-id", help="the platform's customer id (every address it was written with)")
    erase.add_argument("--order", action="append", default=[], metavar="ID", help="an order to erase too (repeat)")
    erase.add_argument(
        "--delete-member-permanently",
        action="store_true",
        help="delete the audience member for good (default: the store's option, archive unless set)",
    )
    erase.add_argument("--reference", help="your reference for the request (a ticket number), kept in the audit")
    erase.add_argument("--wait", action="store_true", help="wait until the erasure is complete")
    erase.add_argument("--json", action="store_true", help="print the request (and with --wait its outcome) as JSON")
    erase.set_defaults(run=_erase)

    audit = actions.add_parser(
        "audit",
        help="the audit line of every privacy request (no personal data)",
        **example_options("privacy audit", "privacy audit my-shop --json"),
    )
    audit.add_argument("store_id", metavar="STORE", nargs="?")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(run=_audit)

    export = actions.add_parser(
        "export",
        help="what is held about a shopper of a store (sync state, Mailchimp), or the export a data request kept",
        **example_options(
            "privacy export my-shop --email jane.doe@example.com",
            "privacy export my-shop --customer-id 7712345678909 --json jane-doe.json",
        ),
    )
    export.add_argument("store_id", metavar="STORE")
    whom = export.add_mutually_exclusive_group(required=True)
    whom.add_argument("--email", help="the shopper's e-mail address")
    whom.add_argument("--customer-id", help="the platform's customer id (every address it was written with)")
    whom.add_argument("--request", metavar="ID", help="the export a data request kept (Shopify's data_request id)")
    export.add_argument("--order", action="append", default=[], metavar="ID", help="an order to include (repeat)")
    export.add_argument("--json", metavar="FILE", help="write the JSON document to FILE (mode 0600) instead")
    export.add_argument("--reference", help="your reference for the request (a ticket number), kept in the audit")
    export.set_defaults(run=_export)


def _refused(action: str, message: str) -> int:
    """A refusal before anything was done (exit code 2), naming the command."""
    print(f"commerce-sync privacy {action}: error: {message}", file=sys.stderr)
    return 2


def _no_store(store_id: str) -> str:
    return f"no store {store_id} is registered (`commerce-sync stores list` lists them)"


def _problem(error: ValidationError) -> str:
    """The first thing wrong with the request, named by the option that gives it (`--email: not an e-mail
    address`), without pydantic's wording (`Value error, ...`)."""
    problem = error.errors()[0]
    message = str(problem["msg"]).removeprefix("Value error, ")
    fields = [str(part) for part in problem["loc"]]
    return f"--{fields[0].replace('_', '-')}: {message}" if fields else message


def _erase(arguments: argparse.Namespace) -> int:
    return erase(
        arguments.store_id,
        email=arguments.email,
        customer_id=arguments.customer_id,
        order_ids=arguments.order,
        permanently=arguments.delete_member_permanently,
        reference=arguments.reference,
        wait=arguments.wait,
        as_json=arguments.json,
    )


def _audit(arguments: argparse.Namespace) -> int:
    return audit(arguments.store_id, arguments.json)


def _export(arguments: argparse.Namespace) -> int:
    if arguments.request is not None:
        if arguments.order or arguments.reference:
            print(
                "commerce-sync privacy export: error: --order and --reference go with --email or --customer-id, not "
                "--request",
                file=sys.stderr,
            )
            return 2
        return export_kept(arguments.store_id, arguments.request, json_file=arguments.json)
    return export(
        arguments.store_id,
        email=arguments.email,
        customer_id=arguments.customer_id,
        order_ids=arguments.order,
        json_file=arguments.json,
        reference=arguments.reference,
    )


def erase(
    store_id: str,
    *,
    email: str | None,
    customer_id: str | None,
    order_ids: list[str],
    permanently: bool,
    reference: str | None,
    wait: bool,
    out: TextIO | None = None,
    as_json: bool = False,
) -> int:
    out = out or sys.stdout
    services = Services(Settings.from_environment())
    store = services.registry.get(store_id)
    if store is None:
        return _refused("erase", _no_store(store_id))
    request_id = reference or f"cli-{uuid.uuid4().hex[:12]}"
    try:
        erasure = CustomerErasure(
            email=email,
            customer_id=customer_id,
            order_ids=tuple(order_ids),
            member=MemberErasure.DELETE_PERMANENT if permanently else None,
            request_id=request_id,
            request_kind="cli erase",
        )
    except ValidationError as error:
        return _refused("erase", _problem(error))
    now = datetime.now(UTC)
    # Never the address: an entity id reaches logs.
    entity_id = customer_id or subscriber_hash(str(email))
    event = make_event(
        event_type=EventType.CUSTOMER_ERASED,
        event_id=f"privacy:{request_id}:{uuid.uuid4().hex[:8]}",
        store_id=store.store_id,
        platform=store.platform,
        entity=erasure,
        entity_id=entity_id,
        entity_version=version_from_timestamp(now),
        occurred_at=now,
    )
    services.publisher.publish([event])
    requested = {"store_id": store.store_id, "request_id": request_id, "event_id": event.event_id}
    if not as_json:
        print(f"erasure requested for store {store.store_id}: request {request_id} (event {event.event_id})", file=out)
    if not wait:
        if as_json:
            print(json.dumps({**requested, "status": "requested"}, indent=2), file=out)
        else:
            print(f"follow it with: commerce-sync privacy audit {store.store_id}", file=out)
        return 0
    line = _wait_for(PrivacyAudit(services.sync_state.table), store.store_id, request_id)
    if line is None:
        if as_json:
            print(json.dumps({**requested, "status": "not_complete"}, indent=2), file=out)
        else:
            print(
                f"not complete after {WAIT_SECONDS:.0f} s; see commerce-sync privacy audit {store.store_id}", file=out
            )
        return 1
    if as_json:
        outcome = {"status": "erased", "completed_at": line.get("completed_at"), "outcome": line.get("outcome", {})}
        print(json.dumps({**requested, **outcome}, default=str, indent=2), file=out)
        return 0
    print(f"erased: {json.dumps(line.get('outcome', {}), default=str, sort_keys=True)}", file=out)
    return 0


def _wait_for(audit_lines: PrivacyAudit, store_id: str, request_id: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for line in audit_lines.lines(store_id):
            if line.get("request_id") == request_id and line.get("completed_at"):
                return line
        time.sleep(1.0)
    return None


def audit(store_id: str | None, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    services = Services(Settings.from_environment())
    lines = list(PrivacyAudit(services.sync_state.table).lines(store_id))
    if as_json:
        print(json.dumps(lines, default=str, indent=2), file=out)
        return 0
    rows = [
        (
            str(line.get("received_at")),
            str(line.get("store_id")),
            str(line.get("kind")),
            str(line.get("request_id")),
            f"{str(line.get('subject', ''))[:20]}…",
            str(line.get("completed_at") or "not completed"),
            json.dumps(line.get("outcome", {}), default=str, sort_keys=True),
        )
        for line in lines
    ]
    if rows:
        print_table(columns(rows, "RECEIVED", "STORE", "KIND", "REQUEST", "SUBJECT", "COMPLETED", "OUTCOME"), out)
    print(f"{len(lines)} privacy request(s)", file=out)
    return 0


# ---- export ----------------------------------------------------------------------------------------------------


def export(
    store_id: str,
    *,
    email: str | None,
    customer_id: str | None,
    order_ids: list[str],
    json_file: str | None,
    reference: str | None = None,
    out: TextIO | None = None,
) -> int:
    """An export made now, for a request that came another way (by mail): it has its audit line like any."""
    out = out or sys.stdout
    services = Services(Settings.from_environment())
    store = services.registry.get(store_id)
    if store is None:
        return _refused("export", _no_store(store_id))
    try:
        request = CustomerDataRequest(
            email=email,
            customer_id=customer_id,
            order_ids=tuple(order_ids),
            request_id=reference or f"cli-{uuid.uuid4().hex[:12]}",
            request_kind="cli export",
        )
    except ValidationError as error:
        return _refused("export", _problem(error))
    subject = audit_subject(services.tombstones, store.store_id, request.email, request.customer_id)
    line = services.privacy_audit.received(
        store.store_id, "cli export", str(request.request_id), subject, datetime.now(UTC).isoformat()
    )
    try:
        document = ShopperExport(services.sync_state).collect(store, request, mailchimp=_mailchimp_of(services, store))
    except (MailchimpError, CredentialsError) as error:
        print(
            f"commerce-sync privacy export: error: Mailchimp could not be read for store {store.store_id}: {error} "
            f"(nothing was exported; try again, or check its Mailchimp key with `commerce-sync stores show "
            f"{store.store_id}`)",
            file=sys.stderr,
        )
        return 1
    code = _deliver(document, json_file, None, out)
    if code == 0:
        # Where it went stays out: a file's name can name the shopper.
        delivered = "written to a file" if json_file else "printed"
        services.privacy_audit.completed(line, {"delivered": delivered, **document.counts()})
    return code


def export_kept(store_id: str, request_id: str, *, json_file: str | None, out: TextIO | None = None) -> int:
    """The export a data-request webhook kept in the bucket, as it was made."""
    out = out or sys.stdout
    services = Services(Settings.from_environment())
    if services.registry.get(store_id) is None:
        return _refused("export", _no_store(store_id))
    try:
        body = services.privacy_exports.get(store_id, request_id)
    except ExportBucketMissing:
        return _refused("export", "CLAIM_CHECK_BUCKET is not set (give --stack NAME, or --env-file .local/runner.env)")
    except (ClientError, BotoCoreError) as error:
        print(
            f"commerce-sync privacy export: error: the export bucket could not be read: {error} (check that --stack or "
            "--env-file names the deployment that received the request)",
            file=sys.stderr,
        )
        return 1
    if body is None:
        print(
            f"no export of request {request_id} is kept for store {store_id}: the request has not been applied yet "
            f"(see commerce-sync privacy audit {store_id}), or its export expired (kept 45 days)",
            file=sys.stderr,
        )
        return 1
    try:
        document = ShopperExportDocument.model_validate_json(body)
    except ValidationError as error:
        print(
            f"error: the kept export of request {request_id} is not an export: {error.error_count()} problem(s)",
            file=sys.stderr,
        )
        return 1
    return _deliver(document, json_file, body, out)


def _mailchimp_of(services: Services, store: Store) -> Callable[[Callable[[MailchimpClient], Any]], Any]:
    """Runs a read on the store's client, reading its key again once after a 401 (a key rotated meanwhile)."""

    def run(read: Callable[[MailchimpClient], Any]) -> Any:
        try:
            return read(services.mailchimp(store))
        except MailchimpAuthError:
            return read(services.mailchimp(store, refresh_key=True))

    return run


def _deliver(document: ShopperExportDocument, json_file: str | None, body: bytes | None, out: TextIO) -> int:
    """Prints the export, or writes it to `json_file` (`body` when given: a kept export's bytes, unchanged)."""
    if json_file is None:
        print_export(document, out)
        return 0
    path = Path(json_file)
    try:
        write_private(path, body if body is not None else document.model_dump_json(indent=2).encode())
    except OSError as error:
        print(
            f"commerce-sync privacy export: error: {path} could not be written: {error.strerror} (give --json a file "
            "in a directory you can write to)",
            file=sys.stderr,
        )
        return 1
    what = ", ".join(f"{COUNT_LABELS.get(name, name)} {count}" for name, count in document.counts().items())
    held = "" if document.holds_anything() else " (nothing is held about this shopper)"
    print(f"export of store {document.store_id} written to {path.resolve()} (mode 0600): {what}{held}", file=out)
    return 0


def write_private(path: Path, data: bytes) -> None:
    """Writes a file only its owner can read: an export is personal data."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # A file that existed keeps its mode through O_CREAT: narrowed here before anything is written.
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            descriptor = -1
            file.write(data)
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def print_export(document: ShopperExportDocument, out: TextIO) -> None:
    looked_up = document.looked_up
    print(f"store {document.store_id}: what is held about the shopper, read {document.generated_at}", file=out)
    if document.request_id:
        print(f"request {document.request_id} ({document.request_kind})", file=out)
    print(
        f"looked up: e-mail {looked_up.email or '-'}, customer id {looked_up.customer_id or '-'}, "
        f"orders named {', '.join(looked_up.order_ids) or '-'}; "
        f"Mailchimp customer ids {', '.join(looked_up.mailchimp_customer_ids) or '-'}",
        file=out,
    )
    if not document.holds_anything():
        print("nothing is held about this shopper", file=out)
        return
    sections: list[tuple[str, list[Any]]] = [
        ("our sync state", [entry.model_dump() for entry in document.sync_state]),
        ("Mailchimp customers", document.mailchimp.customers),
        ("Mailchimp orders", document.mailchimp.orders),
        ("Mailchimp carts", document.mailchimp.carts),
        ("Mailchimp audience members", document.mailchimp.members),
    ]
    for title, records in sections:
        print(f"\n{title} ({len(records)})", file=out)
        for record in records:
            text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, default=str)
            print("\n".join("  " + line for line in text.splitlines()), file=out)
