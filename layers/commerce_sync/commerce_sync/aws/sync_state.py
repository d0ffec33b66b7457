"""Per-entity sync state in DynamoDB: the last version applied to Mailchimp, so that a stale or
out-of-order event never overwrites a newer one.

Versions are strings that sort in time order (commerce_sync.canonical.versions); adapters produce them. A
stored version that is impossible (from the future, written before versions were bounded) is treated as
absent and overwritten.

While an event is applied (`deferring`), its writes are kept and made together when it ends: the writes to one
item merged into one UpdateItem, several items in one TransactWriteItems, instead of a request per `mark`. Its
reads come from the items read ahead when it started (commerce_sync.aws.read_ahead). A read of an item with a write
kept, or any other operation, makes the kept writes first, so nothing reads around them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from commerce_sync.aws.batch_items import get_many, transact_conditional
from commerce_sync.aws.observability import logger
from commerce_sync.aws.read_ahead import ItemKey, ReadAhead, key_of
from commerce_sync.canonical.versions import is_impossible

STATE_SORT_KEY = "state"
NEWER_CONDITION = "attribute_not_exists(applied_version) OR applied_version < :applied_version"
# An entity's lease (commerce_sync.aws.entity_locks): attributes of its state item.
LEASE_HOLDER = "lease_holder"
LEASE_UNTIL = "lease_until"
HELD_BY = f"{LEASE_HOLDER} = :lease_token"
LEASE_FREE_FOR = f"attribute_not_exists({LEASE_UNTIL}) OR {LEASE_UNTIL} < :lease_now OR {LEASE_HOLDER} = :lease_token"


class ReadOutdated(Exception):
    """An entity read before its lease was taken changed meanwhile, or another container holds its lease: nothing was
    written, and the event is applied again with the lease taken first (commerce_sync.aws.entity_locks)."""


def release_lease(table: Any, key: dict[str, str], token: str, delete: bool = False) -> None:
    """Gives an entity's lease back, unless another holder has taken it over since. `delete`: the item held nothing
    but the lease (taking it made the item) and nothing was written to it since, so it goes whole. No one else
    writes an item while its lease is held (writers that do not take it wait for it to be free: the conversion)."""
    try:
        if delete:
            table.delete_item(Key=key, ConditionExpression=HELD_BY, ExpressionAttributeValues={":lease_token": token})
            return
        table.update_item(
            Key=key,
            UpdateExpression=f"REMOVE {LEASE_HOLDER}, {LEASE_UNTIL}",
            ConditionExpression=HELD_BY,
            ExpressionAttributeValues={":lease_token": token},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def applied_version(item: dict[str, Any] | None) -> str:
    """The version an item records as applied; "" when none, or when the recorded one is impossible."""
    version = str((item or {}).get("applied_version", ""))
    return "" if is_impossible(version) else version


def _wall_clock() -> Decimal:
    return Decimal(str(round(datetime.now(UTC).timestamp(), 3)))


def entity_key(store_id: str, entity_type: str, entity_id: str) -> str:
    return f"{store_id}#{entity_type}#{entity_id}"


def state_key(store_id: str, entity_type: str, entity_id: str) -> dict[str, str]:
    return {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY}


# An item the read-ahead does not hold (None is an item held as absent).
_NOT_HELD: Any = object()


@dataclass
class _KeptWrite:
    """The writes kept for one item: SET values, ADD and DELETE of string-set members, and the version condition of
    a `record_applied` among them (with its version, should the condition fail)."""

    identity: tuple[str, str, str]
    # Set only with the version (record_applied's attributes).
    values: dict[str, Any] = field(default_factory=dict)
    # Set whatever the version (mark).
    marks: dict[str, Any] = field(default_factory=dict)
    additions: dict[str, set[str]] = field(default_factory=dict)
    removals: dict[str, set[str]] = field(default_factory=dict)
    version: str | None = None
    # The lease this write gives back (the holder's token).
    release: str | None = None
    # Written only while no one but this token holds the item's lease (write_kept_unless_leased).
    lease_free_for: str | None = None

    def applied_to(self, item: dict[str, Any] | None, key: dict[str, str]) -> dict[str, Any]:
        """`item` as these writes will leave it (the version's values only where its condition holds)."""
        result = {**key, **(item or {}), **self.marks}
        if self.version is not None and ("applied_version" not in result or result["applied_version"] < self.version):
            result.update(self.values)
        for name, members in self.additions.items():
            result[name] = set(result.get(name) or ()) | members
        for name, members in self.removals.items():
            remaining = set(result.get(name) or ()) - members
            if remaining:
                result[name] = remaining
            else:
                result.pop(name, None)
        return result

    def accepts(self, names: set[str], version: str | None) -> bool:
        """False when merging would change the meaning: an attribute written twice (a set added to and taken
        from, a value set again), or a second version."""
        touched = set(self.values) | set(self.marks) | set(self.additions) | set(self.removals)
        return not (touched & names) and not (version is not None and self.version is not None)


class SyncState:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._dynamodb = dynamodb or boto3.resource("dynamodb")
        self._table = self._dynamodb.Table(table_name)
        self.read_ahead = ReadAhead(self._dynamodb, table_name)
        # The writes of the event being applied, by item, in the order first written; None: written at once.
        self._kept: dict[ItemKey, _KeptWrite] | None = None
        # The items the event being applied has written so far (an item a lease made is deleted with the lease
        # only when nothing was written to it).
        self._written: set[ItemKey] = set()

    def _wrote(self, key: dict[str, Any]) -> None:
        """`key`'s item is being written: a read after this reads it again."""
        self.read_ahead.forget(key)
        if self._kept is not None:
            self._written.add(key_of(key))

    @property
    def table(self) -> Any:
        """The table (a boto3 Table resource): entity leases live beside the state they guard."""
        return self._table

    @property
    def dynamodb(self) -> Any:
        """The boto3 DynamoDB resource the table is read through (for batched reads of other items in it)."""
        return self._dynamodb

    def applied(self, store_id: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        key = state_key(store_id, entity_type, entity_id)
        kept = self._kept.get(key_of(key)) if self._kept else None
        if kept is not None:
            if self.read_ahead.holds(key):
                # The item as the kept writes will leave it (no request).
                return kept.applied_to(self.read_ahead.get(key, lambda: None), key)
            self.write_kept()
        item = self.read_ahead.get(key, lambda: self._table.get_item(Key=key, ConsistentRead=True).get("Item"))
        return dict(item) if item is not None else None

    # ---- one event's writes together ------------------------------------------------------------------

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Keeps the writes made in the body and makes them together at its end, whether it ends well or not (what
        was done in Mailchimp before a failure stays recorded)."""
        if self._kept is not None:
            yield
            return
        self._kept = {}
        try:
            yield
        except BaseException:
            try:
                self.write_kept()
            except Exception as error:  # the event's own failure is the one to report; it is retried whole
                logger.warning("sync state not recorded after a failure", error=f"{type(error).__name__}: {error}")
                self._kept = {}
            raise
        else:
            self.write_kept()
        finally:
            self._kept = None
            self._written = set()

    def write_kept(self) -> None:
        """Makes the kept writes: one UpdateItem for one item, one transaction for several. An item whose version
        condition fails is taken out of the transaction and then written as it would have been at once."""
        kept = list((self._kept or {}).items())
        if not kept:
            return
        if self._kept is not None:
            self._kept = {}
        for (pk, sk), _ in kept:
            self._wrote({"pk": pk, "sk": sk})
        if len(kept) == 1:
            self._write_one(kept[0][1])
            return
        by_name = {f"{pk}|{sk}": write for (pk, sk), write in kept}
        items = [
            (name, {"Update": {"TableName": self._table.name, **self._arguments_of(write)}})
            for name, write in by_name.items()
        ]
        for name in transact_conditional(self._table.meta.client, items):
            self._write_one(by_name[name])

    def keeps_writes(self) -> bool:
        """True while writes are kept that are not made yet."""
        return bool(self._kept)

    def keeps_write_to(self, key: dict[str, Any]) -> bool:
        """True while a write to the item at `key` is kept, not made yet."""
        return self._kept is not None and key_of(key) in self._kept

    def discard_kept(self) -> None:
        """Drops the kept writes unmade (an event that read outdated state, before it wrote anything anywhere)."""
        if self._kept is not None:
            self._kept = {}

    def write_kept_unless_leased(
        self, entity_keys: Sequence[str], token: str, claim: dict[str, Any] | None = None
    ) -> bool:
        """Makes the kept writes in one transaction that holds only while no one but `token` holds the lease of any of
        `entity_keys` (entity_key values; commerce_sync.aws.entity_locks), each of which has a kept write; False,
        writing nothing and keeping the writes, when one is held (or any condition fails). Whoever takes such a
        lease afterwards reads these writes, so they need not wait for it. `claim`: a transaction item taking another
        lease (EntityLocks.pending_claim, an item without kept writes), taken with these writes; ReadOutdated when
        its own condition fails."""
        kept = dict(self._kept or {})
        leased = [(pk, STATE_SORT_KEY) for pk in entity_keys]
        if not kept or any(key not in kept for key in leased) or len(kept) > 99:
            return False
        for key in leased:
            kept[key].lease_free_for = token
        items: list[Any] = [
            {"Update": {"TableName": self._table.name, **self._arguments_of(write)}} for write in kept.values()
        ]
        if claim is not None:
            items.append(claim)
        try:
            self._table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                if claim is not None and len(reasons) == len(items) and reasons[-1].get("Code") not in (None, "None"):
                    raise ReadOutdated("the entity changed, or its lease was taken, since it was read") from error
                return False
            raise
        finally:
            for key in leased:
                kept[key].lease_free_for = None
        for key, write in kept.items():
            item_key = {"pk": key[0], "sk": key[1]}
            before = self.read_ahead.get(item_key, lambda: None) if self.read_ahead.holds(item_key) else _NOT_HELD
            self._wrote(item_key)
            if before is not _NOT_HELD and write.release is None:
                # A transaction is all or nothing: the item is as these writes left it, and is not read again (an
                # order's purchase marks its shopper here, then writes the shopper again).
                self.read_ahead.remember(item_key, write.applied_to(before, item_key))
            if self._kept is not None:
                self._kept.pop(key, None)
        return True

    @staticmethod
    def _all_values(write: _KeptWrite) -> dict[str, Any]:
        return {**write.marks, **write.values}

    def _arguments_of(self, write: _KeptWrite) -> dict[str, Any]:
        conditions = []
        extra: dict[str, Any] = {}
        if write.version is not None:
            conditions.append(NEWER_CONDITION)
        if write.release is not None:
            conditions.append(HELD_BY)
            extra[":lease_token"] = write.release
        if write.lease_free_for is not None:
            conditions.append(LEASE_FREE_FOR)
            extra |= {":lease_token": write.lease_free_for, ":lease_now": _wall_clock()}
        condition = " AND ".join(f"({part})" for part in conditions) if len(conditions) > 1 else "".join(conditions)
        return _update_arguments(
            *write.identity,
            self._all_values(write),
            condition or None,
            extra or None,
            additions=write.additions,
            removals=write.removals,
            remove=[LEASE_HOLDER, LEASE_UNTIL] if write.release is not None else None,
        )

    def _write_one(self, write: _KeptWrite) -> None:
        """The item's writes as they would have been made at once: the version's (only if newer), and what was
        marked, added or taken whatever the version; then its lease given back (if still held)."""
        try:
            self._table.update_item(**self._arguments_of(write))
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException" or write.lease_free_for:
                raise
        plain = _KeptWrite(write.identity, write.values, write.marks, write.additions, write.removals, write.version)
        if write.version is None:
            self._table.update_item(**self._arguments_of(plain))
        elif not self._update_if(
            *write.identity, self._all_values(write), NEWER_CONDITION, write.additions, write.removals
        ):
            self._write_lost_version(plain)
        if write.release is not None:
            release_lease(self._table, state_key(*write.identity), write.release)

    def _write_lost_version(self, write: _KeptWrite) -> None:
        recorded = str((self._read_now(*write.identity) or {}).get("applied_version", ""))
        if is_impossible(recorded) and self._update_if(
            *write.identity,
            self._all_values(write),
            "applied_version = :recorded",
            write.additions,
            write.removals,
            extra_values={":recorded": recorded},
        ):
            return
        if write.marks or write.additions or write.removals:
            self._table.update_item(
                **_update_arguments(*write.identity, write.marks, additions=write.additions, removals=write.removals)
            )

    def release_leases(self, entity_keys: Sequence[str], token: str, made: Collection[str] = ()) -> None:
        """Makes the kept writes, giving each lease of `entity_keys` (entity_key values) back with its item's write
        where it has one, and alone otherwise; an item of `made` (made by taking its lease) that got no write goes
        whole, so a stale or skipped event leaves no item behind."""
        alone = []
        for pk in entity_keys:
            held = self._kept.get((pk, STATE_SORT_KEY)) if self._kept is not None else None
            if held is not None:
                held.release = token
            else:
                alone.append(pk)
        self.write_kept()
        for pk in reversed(alone):
            unwritten = (pk, STATE_SORT_KEY) not in self._written
            release_lease(self._table, {"pk": pk, "sk": STATE_SORT_KEY}, token, delete=pk in made and unwritten)
        for pk in entity_keys:
            self.read_ahead.forget({"pk": pk, "sk": STATE_SORT_KEY})

    def _read_now(self, store_id: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        key = state_key(store_id, entity_type, entity_id)
        item: dict[str, Any] | None = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return item

    def _keep(
        self,
        identity: tuple[str, str, str],
        values: dict[str, Any] | None = None,
        additions: dict[str, set[str]] | None = None,
        removals: dict[str, set[str]] | None = None,
        version: str | None = None,
    ) -> bool:
        """Keeps a write for the end of the event; False when none is being applied (the caller writes at once)."""
        if self._kept is None:
            return False
        key = key_of(state_key(*identity))
        values, additions, removals = values or {}, additions or {}, removals or {}
        names = set(values) | set(additions) | set(removals)
        held = self._kept.get(key)
        if held is not None and not held.accepts(names, version):
            self.write_kept()
            held = None
        if held is None:
            held = self._kept[key] = _KeptWrite(identity)
        if version is None:
            held.marks.update(values)
        else:
            held.values.update(values)
            held.version = version
        held.additions.update({name: set(members) for name, members in additions.items()})
        held.removals.update({name: set(members) for name, members in removals.items()})
        return True

    def is_stale(self, store_id: str, entity_type: str, entity_id: str, version: str) -> bool:
        """True when a version newer than `version` (or the same one) has already been applied."""
        item = self.applied(store_id, entity_type, entity_id)
        return bool(item) and applied_version(item) >= version

    def record_applied(self, store_id: str, entity_type: str, entity_id: str, version: str, **attributes: Any) -> bool:
        """Record `version` as applied unless a newer one already is; False when it lost that race.

        Other attributes of the item (a conversion mark, a remembered customer) are kept.
        """
        values = {"applied_version": version, "applied_at": datetime.now(UTC).isoformat(), **attributes}
        key = (store_id, entity_type, entity_id)
        if self._keep(key, values, version=version):
            # Recorded when the event ends; a version that loses then is written as below (write_kept).
            return True
        if self._update_if(*key, values, NEWER_CONDITION):
            return True
        # An impossible recorded version (written before versions were bounded) yields to a real one.
        recorded = str((self._read_now(*key) or {}).get("applied_version", ""))
        return is_impossible(recorded) and self._update_if(
            *key, values, "applied_version = :recorded", extra_values={":recorded": recorded}
        )

    def _update_if(
        self,
        store_id: str,
        entity_type: str,
        entity_id: str,
        values: dict[str, Any],
        condition: str,
        additions: dict[str, set[str]] | None = None,
        removals: dict[str, set[str]] | None = None,
        extra_values: dict[str, Any] | None = None,
    ) -> bool:
        """The conditional update; False when the condition did not hold."""
        arguments = _update_arguments(
            store_id, entity_type, entity_id, values, condition, extra_values, additions=additions, removals=removals
        )
        self._wrote(arguments["Key"])
        try:
            self._table.update_item(**arguments)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget_version(self, store_id: str, entity_type: str, entity_id: str, version: str) -> bool:
        """Take back `version` as applied (a write of it failed for good), unless a newer one was applied since;
        the next event or reconciliation of the entity then applies as if it were new. False when superseded."""
        self.write_kept()
        self._wrote(state_key(store_id, entity_type, entity_id))
        try:
            self._table.update_item(
                Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
                UpdateExpression="REMOVE applied_version",
                ConditionExpression="applied_version = :version",
                ExpressionAttributeValues={":version": version},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def writes_to(self, store_id: str, entity_type: str, entity_id: str) -> bool:
        """True when the event being applied has written the item, or keeps a write for it."""
        key = key_of(state_key(store_id, entity_type, entity_id))
        return key in self._written or (self._kept is not None and key in self._kept)

    def mark(self, store_id: str, entity_type: str, entity_id: str, **attributes: Any) -> None:
        """Set attributes whatever the applied version (a conversion mark is final)."""
        if not self._keep((store_id, entity_type, entity_id), attributes):
            self._update(store_id, entity_type, entity_id, attributes)

    def add_to_set(self, store_id: str, entity_type: str, entity_id: str, attribute: str, values: set[str]) -> None:
        if self._keep((store_id, entity_type, entity_id), additions={attribute: values}):
            return
        self._wrote(state_key(store_id, entity_type, entity_id))
        self._table.update_item(
            Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            UpdateExpression="ADD #attribute :values",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":values": set(values)},
        )

    def remove_from_set(
        self, store_id: str, entity_type: str, entity_id: str, attribute: str, values: set[str]
    ) -> None:
        if self._keep((store_id, entity_type, entity_id), removals={attribute: values}):
            return
        self._wrote(state_key(store_id, entity_type, entity_id))
        self._table.update_item(
            Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            UpdateExpression="DELETE #attribute :values",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":values": set(values)},
        )

    def _update(
        self,
        store_id: str,
        entity_type: str,
        entity_id: str,
        values: dict[str, Any],
        condition: str | None = None,
        extra_values: dict[str, Any] | None = None,
    ) -> None:
        self._wrote(state_key(store_id, entity_type, entity_id))
        self._table.update_item(**_update_arguments(store_id, entity_type, entity_id, values, condition, extra_values))

    # ---- many at once (a page of history) ------------------------------------------------------------

    def applied_many(self, store_id: str, entity_type: str, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`applied` of many entities of one type: batched consistent reads. Ids with nothing recorded are
        absent from the answer."""
        self.write_kept()
        by_key = {entity_key(store_id, entity_type, entity_id): entity_id for entity_id in entity_ids}
        keys = [{"pk": key, "sk": STATE_SORT_KEY} for key in by_key]
        return {by_key[item["pk"]]: item for item in get_many(self._dynamodb, self._table.name, keys)}

    def record_applied_many(
        self, store_id: str, entity_type: str, writes: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> set[str]:
        """`record_applied` of many `(entity id, version, attributes)`, in transactions; returns the ids that lost
        (a version as new or newer is recorded). Each id at most once."""
        self.write_kept()
        ids = [entity_id for entity_id, _, _ in writes]
        if len(set(ids)) != len(ids):
            raise ValueError("record_applied_many: an entity appears twice")
        now = datetime.now(UTC).isoformat()
        values_of = {
            entity_id: {"applied_version": version, "applied_at": now, **attributes}
            for entity_id, version, attributes in writes
        }
        items = [
            (
                entity_id,
                {
                    "Update": {
                        "TableName": self._table.name,
                        **_update_arguments(store_id, entity_type, entity_id, values, NEWER_CONDITION),
                    }
                },
            )
            for entity_id, values in values_of.items()
        ]
        failed = transact_conditional(self._table.meta.client, items)
        # A failed condition is usually a newer version; record_applied also lets a real version replace an
        # impossible one.
        asked = {entity_id: (version, attributes) for entity_id, version, attributes in writes}
        return {
            entity_id
            for entity_id in failed
            if not self.record_applied(store_id, entity_type, entity_id, asked[entity_id][0], **asked[entity_id][1])
        }

    def mark_many(self, store_id: str, marks: Sequence[tuple[str, str, dict[str, Any], dict[str, set[str]]]]) -> None:
        """`mark` and `add_to_set` of many `(entity type, entity id, attributes to set, sets to add to)`, whatever
        the applied version, in transactions; marks of one item are merged."""
        self.write_kept()
        merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, set[str]]]] = {}
        for entity_type, entity_id, values, additions in marks:
            held_values, held_additions = merged.setdefault((entity_type, entity_id), ({}, {}))
            held_values.update(values)
            for attribute, members in additions.items():
                held_additions.setdefault(attribute, set()).update(members)
        items = []
        for (entity_type, entity_id), (values, additions) in merged.items():
            arguments = _update_arguments(store_id, entity_type, entity_id, values, additions=additions)
            items.append((f"{entity_type}#{entity_id}", {"Update": {"TableName": self._table.name, **arguments}}))
        transact_conditional(self._table.meta.client, items)


def _update_arguments(
    store_id: str,
    entity_type: str,
    entity_id: str,
    values: dict[str, Any],
    condition: str | None = None,
    extra_values: dict[str, Any] | None = None,
    additions: dict[str, set[str]] | None = None,
    removals: dict[str, set[str]] | None = None,
    remove: Sequence[str] | None = None,
) -> dict[str, Any]:
    """An UpdateItem's arguments: SET `values`, ADD `additions` and DELETE `removals` (string sets), REMOVE the
    attributes `remove`, under `condition`."""
    names = {f"#{name}": name for name in values}
    expression_values = {f":{name}": value for name, value in values.items()} | (extra_values or {})
    clauses = []
    if values:
        clauses.append("SET " + ", ".join(f"#{name} = :{name}" for name in values))
    if additions:
        names |= {f"#add{index}": name for index, name in enumerate(additions)}
        expression_values |= {f":add{index}": set(members) for index, members in enumerate(additions.values())}
        clauses.append("ADD " + ", ".join(f"#add{index} :add{index}" for index in range(len(additions))))
    if removals:
        names |= {f"#del{index}": name for index, name in enumerate(removals)}
        expression_values |= {f":del{index}": set(members) for index, members in enumerate(removals.values())}
        clauses.append("DELETE " + ", ".join(f"#del{index} :del{index}" for index in range(len(removals))))
    if remove:
        clauses.append("REMOVE " + ", ".join(remove))
    arguments: dict[str, Any] = {
        "Key": {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
        "UpdateExpression": " ".join(clauses),
    }
    # DynamoDB refuses an empty map of names or values.
    if names:
        arguments["ExpressionAttributeNames"] = names
    if expression_values:
        arguments["ExpressionAttributeValues"] = expression_values
    if condition:
        arguments["ConditionExpression"] = condition
    return arguments
