"""`commerce-sync privacy …`: shoppers' privacy requests that come by mail, and the proof of each (docs/privacy.md).

- `privacy erase STORE (--email ADDRESS | --customer-id ID) [--order ID …] [--delete-member-permanently]
  [--reference TEXT]` puts a `customer.erased` event on the bus, the path every erasure takes (its queue retries
  it, and dead-letters it with the reason after the retries); `--wait` follows its audit line until it completes.
- `privacy audit [STORE] [--json]` lists the audit lines: each request's kind, store, when received and completed,
  what it removed, and whom it was about as a salted hash only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from commerce_sync.aws.privacy_audit import PrivacyAudit
from commerce_sync.aws.settings import Settings
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import CustomerErasure, EventType, MemberErasure, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.processing.services import Services
from pydantic import ValidationError

WAIT_SECONDS = 120.0


def add_commands(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="shoppers' privacy requests: erase, audit")
    actions = privacy.add_subparsers(dest="privacy_command", required=True)

    erase = actions.add_parser("erase", help="erase a shopper of a store from Mailchimp and keep them erased")
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
    erase.set_defaults(run=_erase)

    audit = actions.add_parser("audit", help="the audit line of every privacy request (no personal data)")
    audit.add_argument("store_id", metavar="STORE", nargs="?")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(run=_audit)


def _erase(arguments: argparse.Namespace) -> int:
    return erase(
        arguments.store_id,
        email=arguments.email,
        customer_id=arguments.customer_id,
        order_ids=arguments.order,
        permanently=arguments.delete_member_permanently,
        reference=arguments.reference,
        wait=arguments.wait,
    )


def _audit(arguments: argparse.Namespace) -> int:
    return audit(arguments.store_id, arguments.json)


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
) -> int:
    out = out or sys.stdout
    services = Services(Settings.from_environment())
    store = services.registry.get(store_id)
    if store is None:
        print(f"error: no store {store_id}", file=sys.stderr)
        return 2
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
        print(f"error: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
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
    print(f"erasure requested for store {store.store_id}: request {request_id} (event {event.event_id})", file=out)
    if not wait:
        print(f"follow it with: commerce-sync privacy audit {store.store_id}", file=out)
        return 0
    line = _wait_for(PrivacyAudit(services.sync_state.table), store.store_id, request_id)
    if line is None:
        print(f"not complete after {WAIT_SECONDS:.0f} s; see commerce-sync privacy audit {store.store_id}", file=out)
        return 1
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
    for line in lines:
        done = line.get("completed_at") or "not completed"
        outcome = json.dumps(line.get("outcome", {}), default=str, sort_keys=True)
        print(
            f"{line.get('received_at')}  {line.get('store_id')}  {line.get('kind')}  request {line.get('request_id')}"
            f"  subject {str(line.get('subject', ''))[:20]}…  completed {done}  {outcome}",
            file=out,
        )
    print(f"{len(lines)} privacy request(s)", file=out)
    return 0
