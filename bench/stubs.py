"""Stand-ins at the client boundary for the benchmarks: AWS SDK clients/resources and a requests transport.

Only the network side is replaced: everything above the boto3 client (or resource) and above requests'
transport adapter is the project's and Powertools' real code. Every call is counted in a `CallLog`, so a
benchmark can print how many AWS and Mailchimp calls one event costs.

The stubs keep state where the code under test depends on it (DynamoDB condition expressions decide
idempotency and sync-state outcomes), and refuse a call shape they do not understand rather than guess,
so a change in how Powertools or the layer calls AWS shows up here instead of silently benchmarking a
different path.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import requests
from botocore.exceptions import ClientError
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class CallLog:
    """Counts calls by a label such as `dynamodb.GetItem sync-state` or `mailchimp PUT customer`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, label: str) -> None:
        self.counts[label] += 1

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)

    def since(self, before: Counter[str]) -> Counter[str]:
        return Counter({label: n - before.get(label, 0) for label, n in self.counts.items() if n != before.get(label)})


def conditional_check_failed(operation: str, item: dict[str, Any] | None = None) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    if item is not None:
        response["Item"] = item
    return ClientError(response, operation)  # type: ignore[arg-type]


class _Events:
    """`client.meta.events`: Powertools registers a user-agent hook on it; nothing here emits events."""

    def register(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Meta:
    def __init__(self) -> None:
        self.events = _Events()
        # A table's resource client (set by StubDynamoDBResource).
        self.client: Any = None


_CLAUSE = re.compile(r"\b(SET|ADD|DELETE|REMOVE)\s+")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IF_NOT_EXISTS = re.compile(r"^if_not_exists\(\s*(\S+?)\s*,\s*(:\w+)\s*\)$")


def _attribute(token: str, names: Mapping[str, str], expression: str) -> str:
    """`#name` through ExpressionAttributeNames, or a plain attribute name; a path or anything else is refused."""
    if token.startswith("#"):
        return names[token]
    if not _IDENTIFIER.fullmatch(token):
        raise NotImplementedError(f"stub handles plain attribute names only: {token!r} in {expression!r}")
    return token


def _actions(body: str) -> list[str]:
    """A clause's comma-separated actions, commas inside a function's parentheses kept."""
    actions, depth, current = [], 0, ""
    for character in body:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            actions.append(current.strip())
            current = ""
        else:
            current += character
    return [*actions, current.strip()] if current.strip() else actions


def apply_update(item: dict[str, Any], expression: str, names: Mapping[str, str], values: Mapping[str, Any]) -> None:
    """Apply a resource-API UpdateExpression (python values) to `item` in place, as DynamoDB would:
    SET `a = :a` or `a = if_not_exists(a, :a)`, ADD `a :v` (set union, or number increment), DELETE `a :v`
    (set difference; an emptied set attribute disappears), REMOVE `a` (`a`: `#name` or a plain name).
    Anything richer (other functions, arithmetic, paths) is refused."""
    parts = _CLAUSE.split(expression.strip())
    if parts[0].strip():
        raise NotImplementedError(f"stub cannot parse {expression!r}")
    for clause, body in zip(parts[1::2], parts[2::2], strict=True):
        for action in _actions(body):
            if clause == "SET":
                target, equals, value = (token.strip() for token in action.partition("="))
                attribute = _attribute(target, names, expression)
                fallback = _IF_NOT_EXISTS.match(value)
                if fallback:
                    if attribute not in item:
                        item[attribute] = values[fallback.group(2)]
                    if _attribute(fallback.group(1), names, expression) != attribute:
                        raise NotImplementedError(f"stub handles if_not_exists of the target only: {action!r}")
                elif equals and value.startswith(":"):
                    item[attribute] = values[value]
                else:
                    raise NotImplementedError(f"stub handles SET a = :value or if_not_exists(a, :value): {action!r}")
            elif clause == "REMOVE":
                item.pop(_attribute(action, names, expression), None)
            else:
                name, value = action.split()
                attribute, operand = _attribute(name, names, expression), values[value]
                current = item.get(attribute)
                if clause == "ADD" and isinstance(operand, set | frozenset):
                    item[attribute] = set(current or ()) | operand
                elif clause == "ADD":
                    item[attribute] = (current or 0) + operand
                else:
                    remaining = set(current or ()) - set(operand)
                    if remaining:
                        item[attribute] = remaining
                    else:
                        item.pop(attribute, None)


def _set_assignments(update_expression: str) -> list[tuple[str, str]]:
    """`SET #a = :a, #b = :b` as [("#a", ":a"), ...]; any other clause is refused."""
    if not update_expression.startswith("SET "):
        raise NotImplementedError(f"stub handles SET updates only: {update_expression!r}")
    pairs = []
    for assignment in update_expression[4:].split(","):
        name, _, value = assignment.partition("=")
        pairs.append((name.strip(), value.strip()))
    return pairs


# ---- DynamoDB, resource API (StoreRegistry, SyncState) --------------------------------------------------


_COMPARISON = re.compile(r"^(\S+)\s*(<=|>=|<>|<|>|=)\s*(\S+)$")
_FUNCTION = re.compile(r"^(attribute_exists|attribute_not_exists)\((\S+)\)$")
_MISSING = object()


def condition_holds(
    item: Mapping[str, Any] | None,
    expression: str,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Evaluate a resource-API ConditionExpression (python values) against `item` (None: no item), as DynamoDB
    would: terms `attribute_exists(a)`, `attribute_not_exists(a)` and `a <op> b` (=, <>, <, <=, >, >=; operands
    `#name`, `:value` or a plain attribute name), joined by AND / OR (AND binds tighter), grouped by parentheses.
    A comparison with a missing attribute or between different types is false. Anything else is refused."""
    names, values, current = names or {}, values or {}, item or {}

    def operand(token: str) -> Any:
        if token.startswith(":"):
            return values[token]
        if token.startswith("#"):
            return current.get(names[token], _MISSING)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            raise NotImplementedError(f"stub does not evaluate the operand {token!r} in {expression!r}")
        return current.get(token, _MISSING)

    def term(text: str) -> bool:
        text = text.strip()
        function = _FUNCTION.match(text)
        if function:
            name = names[function.group(2)] if function.group(2).startswith("#") else function.group(2)
            return (name in current) == (function.group(1) == "attribute_exists")
        comparison = _COMPARISON.match(text)
        if not comparison:
            raise NotImplementedError(f"stub does not evaluate {text!r} in {expression!r}")
        left, operator, right = operand(comparison.group(1)), comparison.group(2), operand(comparison.group(3))
        if left is _MISSING or right is _MISSING:
            return False
        numbers = (int, float, Decimal)
        if not (type(left) is type(right) or (isinstance(left, numbers) and isinstance(right, numbers))):
            return operator == "<>"
        return {
            "=": left == right,
            "<>": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[operator]

    def group(text: str) -> bool:
        """OR of ANDs of terms, a term being a parenthesised group of its own."""
        text = text.strip()
        if text.startswith("(") and _closing(text, 0) == len(text) - 1:
            return group(text[1:-1])
        return any(
            all(factor(part) for part in _top_level(alternative, "AND")) for alternative in _top_level(text, "OR")
        )

    def factor(text: str) -> bool:
        text = text.strip()
        if text.startswith("(") and _closing(text, 0) == len(text) - 1:
            return group(text[1:-1])
        return term(text)

    return group(expression)


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis that closes the one at `start`."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise NotImplementedError(f"stub: unbalanced parentheses in {text!r}")


def _top_level(text: str, operator: str) -> list[str]:
    """`text` split on ` OPERATOR ` outside parentheses."""
    parts, depth, start = [], 0, 0
    separator = f" {operator} "
    index = 0
    while index < len(text):
        character = text[index]
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    return [*parts, text[start:]]


class StubTable:
    """A boto3 `dynamodb.Table` over a dict, keyed by the item's key attributes. Condition expressions are
    evaluated by `condition_holds` (a failed one raises ConditionalCheckFailedException); an expression
    it does not understand raises NotImplementedError."""

    def __init__(self, name: str, key_names: tuple[str, ...], calls: CallLog, label: str) -> None:
        self.name = name
        self.key_names = key_names
        self.items: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._calls = calls
        self._label = label
        self.meta = _Meta()
        self._indexes: dict[str, str] = {}
        # The items of each partition key value: a Query reads its partition, not the whole table (the table
        # grows with every event a bench sends, and a scan per Query made the figures grow with it).
        self._partitions: dict[Any, dict[tuple[Any, ...], dict[str, Any]]] = {}

    def _store(self, item: dict[str, Any]) -> None:
        key = self._key(item)
        self.items[key] = item
        self._partitions.setdefault(key[0], {})[key] = item

    def add_index(self, index_name: str, attribute: str) -> None:
        self._indexes[index_name] = attribute

    def _key(self, key: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(key[name] for name in self.key_names)

    def _check(
        self,
        operation: str,
        current: dict[str, Any] | None,
        condition: str | None,
        names: dict[str, str] | None,
        values: dict[str, Any] | None,
    ) -> None:
        if condition is not None and not condition_holds(current, condition, names, values):
            raise conditional_check_failed(operation)

    def put_item(
        self,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._calls.add(f"dynamodb.PutItem {self._label}")
        current = self.items.get(self._key(Item))
        self._check("PutItem", current, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        self._store(dict(Item))
        return {}

    def delete_item(
        self,
        Key: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._calls.add(f"dynamodb.DeleteItem {self._label}")
        current = self.items.get(self._key(Key))
        self._check("DeleteItem", current, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        removed = self.items.pop(self._key(Key), None)
        if removed is not None:
            self._partitions[self._key(Key)[0]].pop(self._key(Key), None)
        return {}

    def get_item(self, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        self._calls.add(f"dynamodb.GetItem {self._label}")
        item = self.items.get(self._key(Key))
        return {"Item": dict(item)} if item is not None else {}

    def query(
        self,
        KeyConditionExpression: Any,
        IndexName: str | None = None,
        Limit: int | None = None,
        ConsistentRead: bool = False,
        ScanIndexForward: bool = True,
        ExclusiveStartKey: dict[str, Any] | None = None,
        ProjectionExpression: str | None = None,
    ) -> dict[str, Any]:
        """A Query of the table (partition key = value, and optionally sort key =, begins_with or between) or of
        an index registered with add_index (its attribute = value), in sort-key order, one page (Limit)."""
        self._calls.add(f"dynamodb.Query {self._label}")
        expression = KeyConditionExpression.get_expression()
        parts = list(expression["values"]) if expression["operator"] == "AND" else [KeyConditionExpression]
        partition_condition, *sort_conditions = (part.get_expression() for part in parts)
        partition_attribute = self._indexes[IndexName] if IndexName is not None else self.key_names[0]
        if partition_condition["operator"] != "=" or partition_condition["values"][0].name != partition_attribute:
            raise NotImplementedError(f"stub query needs {partition_attribute} = value first")
        wanted = partition_condition["values"][1]
        if IndexName is None:
            found = list(self._partitions.get(wanted, {}).values())
        else:
            found = [item for item in self.items.values() if item.get(partition_attribute) == wanted]
        sort_attribute = self.key_names[1] if IndexName is None and len(self.key_names) > 1 else None
        for condition in sort_conditions:
            operator, (attribute, *operands) = condition["operator"], condition["values"]
            if attribute.name != sort_attribute:
                raise NotImplementedError(f"stub query conditions the sort key {sort_attribute} only")
            if operator == "=":
                found = [item for item in found if item[attribute.name] == operands[0]]
            elif operator == "begins_with":
                found = [item for item in found if str(item[attribute.name]).startswith(operands[0])]
            elif operator == "BETWEEN":
                found = [item for item in found if operands[0] <= item[attribute.name] <= operands[1]]
            else:
                raise NotImplementedError(f"stub query does not handle the sort key operator {operator!r}")
        if sort_attribute is not None:
            found.sort(key=lambda item: item[sort_attribute], reverse=not ScanIndexForward)
            if ExclusiveStartKey is not None:
                start = ExclusiveStartKey[sort_attribute]
                found = [item for item in found if (item[sort_attribute] > start) == ScanIndexForward]
        elif ExclusiveStartKey is not None:
            raise NotImplementedError("stub index query does not page")
        page = found[:Limit] if Limit else found
        answer: dict[str, Any] = {"Items": [self._project(item, ProjectionExpression) for item in page]}
        answer["Count"] = answer["ScannedCount"] = len(page)
        if Limit and len(found) > Limit:
            answer["LastEvaluatedKey"] = {name: page[-1][name] for name in self.key_names}
        return answer

    @staticmethod
    def _project(item: dict[str, Any], projection: str | None) -> dict[str, Any]:
        if projection is None:
            return dict(item)
        wanted = [name.strip() for name in projection.split(",")]
        if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in wanted):
            raise NotImplementedError(f"stub projects plain attribute names only: {projection!r}")
        return {name: item[name] for name in wanted if name in item}

    def update_item(
        self,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ConditionExpression: str | None = None,
        ReturnValues: str = "NONE",
    ) -> dict[str, Any]:
        self._calls.add(f"dynamodb.UpdateItem {self._label}")
        if ReturnValues not in ("NONE", "ALL_NEW"):
            raise NotImplementedError(f"stub update_item returns NONE or ALL_NEW, not {ReturnValues}")
        item = self.apply(
            Key, UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues, ConditionExpression
        )
        return {"Attributes": dict(item)} if ReturnValues == "ALL_NEW" else {}

    def apply(
        self,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ConditionExpression: str | None = None,
    ) -> dict[str, Any]:
        """An UpdateItem's effect, uncounted (update_item's and a transaction's)."""
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        current = self.items.get(self._key(Key))
        self._check("UpdateItem", current, ConditionExpression, names, values)
        item = current if current is not None else dict(Key)
        apply_update(item, UpdateExpression, names, values)
        self._store(item)
        return item

    def holds(self, key: dict[str, Any], condition: str, names: Any, values: Any) -> bool:
        return condition_holds(self.items.get(self._key(key)), condition, names, values)


class _TransactionCanceled(ClientError):
    pass


class StubResourceClient:
    """`table.meta.client` of the resource: TransactWriteItems of Update and ConditionCheck items (python values, as
    the resource's client takes them), all or nothing, with DynamoDB's cancellation reasons."""

    def __init__(self, tables: Mapping[str, StubTable]) -> None:
        self._tables = dict(tables)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        first = next(iter(TransactItems[0].values()))
        self._tables[first["TableName"]]._calls.add(
            f"dynamodb.TransactWriteItems {self._tables[first['TableName']]._label}"
        )
        reasons = []
        for entry in TransactItems:
            ((kind, operation),) = entry.items()
            if kind not in ("Update", "ConditionCheck"):
                raise NotImplementedError(f"stub transactions hold Update and ConditionCheck items, not {kind}")
            condition = operation.get("ConditionExpression")
            table = self._tables[operation["TableName"]]
            held = condition is None or table.holds(
                operation["Key"],
                condition,
                operation.get("ExpressionAttributeNames"),
                operation.get("ExpressionAttributeValues"),
            )
            reasons.append({"Code": "None"} if held else {"Code": "ConditionalCheckFailed"})
        if any(reason["Code"] != "None" for reason in reasons):
            raise _TransactionCanceled(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        for entry in TransactItems:
            ((kind, operation),) = entry.items()
            if kind == "Update":
                self._tables[operation["TableName"]].apply(
                    operation["Key"],
                    operation["UpdateExpression"],
                    operation.get("ExpressionAttributeNames"),
                    operation.get("ExpressionAttributeValues"),
                )
        return {}


class StubDynamoDBResource:
    """`boto3.resource("dynamodb")`: `Table(name)` returns the registered StubTable, whose `meta.client` is the
    resource's (transactions)."""

    def __init__(self, tables: Mapping[str, StubTable]) -> None:
        self._tables = dict(tables)
        client = StubResourceClient(self._tables)
        for table in self._tables.values():
            table.meta.client = client

    def Table(self, name: str) -> StubTable:
        return self._tables[name]

    def batch_get_item(self, RequestItems: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Every key answered at once (no UnprocessedKeys), one call per table as DynamoDB bills it."""
        responses: dict[str, list[dict[str, Any]]] = {}
        for name, request in RequestItems.items():
            unknown = set(request) - {"Keys", "ConsistentRead"}
            if unknown:
                raise NotImplementedError(f"stub batch_get_item does not handle {sorted(unknown)}")
            table = self._tables[name]
            table._calls.add(f"dynamodb.BatchGetItem {table._label}")
            found = (table.items.get(table._key(key)) for key in request["Keys"])
            responses[name] = [dict(item) for item in found if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}


# ---- DynamoDB, client API (Powertools idempotency) --------------------------------------------------


class StubDynamoDBClient:
    """The low-level `dynamodb` client calls of Powertools' DynamoDBPersistenceLayer, over a dict.

    put_item evaluates Powertools' own condition (key absent, or expired, or in progress past its
    in-progress expiry) and fails like DynamoDB does, with the old item when ALL_OLD is asked for.
    """

    IDEMPOTENCY_CONDITION = (
        "attribute_not_exists(#id) OR #expiry < :now OR "
        "(#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
    )

    def __init__(self, calls: CallLog, label: str = "idempotency") -> None:
        self.meta = _Meta()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._calls = calls
        self._label = label

    @staticmethod
    def _key(key: Mapping[str, Mapping[str, str]]) -> str:
        if len(key) != 1:
            raise NotImplementedError("stub handles a single-attribute key (no sort key configured)")
        ((attribute_value,),) = (tuple(value.values()) for value in key.values())
        return attribute_value

    def _table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(name, {})

    def put_item(
        self,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str,
        ExpressionAttributeNames: dict[str, str],
        ExpressionAttributeValues: dict[str, Any],
        ReturnValuesOnConditionCheckFailure: str | None = None,
    ) -> dict[str, Any]:
        self._calls.add(f"dynamodb.PutItem {self._label}")
        if ConditionExpression != self.IDEMPOTENCY_CONDITION:
            raise NotImplementedError(f"stub does not evaluate {ConditionExpression!r}")
        names, values = ExpressionAttributeNames, ExpressionAttributeValues
        table = self._table(TableName)
        key = Item[names["#id"]]["S"]
        old = table.get(key)
        if old is not None:
            expired = int(old[names["#expiry"]]["N"]) < int(values[":now"]["N"])
            in_progress_expired = (
                old[names["#status"]]["S"] == values[":inprogress"]["S"]
                and names["#in_progress_expiry"] in old
                and int(old[names["#in_progress_expiry"]]["N"]) < int(values[":now_in_millis"]["N"])
            )
            if not (expired or in_progress_expired):
                raise conditional_check_failed(
                    "PutItem", dict(old) if ReturnValuesOnConditionCheckFailure == "ALL_OLD" else None
                )
        table[key] = dict(Item)
        return {}

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        self._calls.add(f"dynamodb.GetItem {self._label}")
        item = self._table(TableName).get(self._key(Key))
        return {"Item": dict(item)} if item is not None else {}

    def update_item(
        self,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: dict[str, str],
        ExpressionAttributeValues: dict[str, Any],
    ) -> dict[str, Any]:
        self._calls.add(f"dynamodb.UpdateItem {self._label}")
        table = self._table(TableName)
        key = self._key(Key)
        item = table.get(key) or dict(Key)
        for name, value in _set_assignments(UpdateExpression):
            item[ExpressionAttributeNames[name]] = ExpressionAttributeValues[value]
        table[key] = item
        return {}

    def delete_item(self, TableName: str, Key: dict[str, Any]) -> dict[str, Any]:
        self._calls.add(f"dynamodb.DeleteItem {self._label}")
        self._table(TableName).pop(self._key(Key), None)
        return {}


# ---- Secrets Manager, EventBridge ----------------------------------------------------------------------


class _ResourceNotFoundException(ClientError):
    """What botocore raises as `client.exceptions.ResourceNotFoundException` (a ClientError subclass)."""


class StubSecretsManagerClient:
    """Secrets with one version each, labelled AWSCURRENT (no rotation under way): GetSecretValue by
    stage and/or version id, and DescribeSecret with the stage map and no tags. Any other stage is
    ResourceNotFoundException, as Secrets Manager answers."""

    class exceptions:
        ResourceNotFoundException = _ResourceNotFoundException

    def __init__(self, secrets: Mapping[str, dict[str, Any]], calls: CallLog) -> None:
        self.meta = _Meta()
        self._secrets = {name: json.dumps(value) for name, value in secrets.items()}
        self._calls = calls

    @staticmethod
    def _version_id(secret_id: str) -> str:
        return "v1-" + secret_id.rsplit(":", 1)[-1].replace("/", "-")

    def _not_found(self, operation: str, secret_id: str) -> ClientError:
        response: dict[str, Any] = {
            "Error": {"Code": "ResourceNotFoundException", "Message": f"Secrets Manager can't find {secret_id}"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return _ResourceNotFoundException(response, operation)  # type: ignore[arg-type]

    def get_secret_value(
        self, SecretId: str, VersionStage: str | None = None, VersionId: str | None = None
    ) -> dict[str, Any]:
        self._calls.add("secretsmanager.GetSecretValue")
        if (
            SecretId not in self._secrets
            or VersionStage not in (None, "AWSCURRENT")
            or VersionId not in (None, self._version_id(SecretId))
        ):
            raise self._not_found("GetSecretValue", SecretId)
        return {
            "ARN": SecretId,
            "Name": SecretId,
            "VersionId": self._version_id(SecretId),
            "SecretString": self._secrets[SecretId],
            "VersionStages": ["AWSCURRENT"],
        }

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        self._calls.add("secretsmanager.DescribeSecret")
        if SecretId not in self._secrets:
            raise self._not_found("DescribeSecret", SecretId)
        return {
            "ARN": SecretId,
            "Name": SecretId,
            "VersionIdsToStages": {self._version_id(SecretId): ["AWSCURRENT"]},
            "Tags": [],
        }


class StubEventsClient:
    """EventBridge put_events that accepts every entry and keeps it (the bench replays them downstream)."""

    def __init__(self, calls: CallLog) -> None:
        self.meta = _Meta()
        self.entries: list[dict[str, Any]] = []
        self._calls = calls
        self._sequence = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self._calls.add("events.PutEvents")
        self.entries.extend(Entries)
        results = []
        for _ in Entries:
            self._sequence += 1
            results.append({"EventId": f"00000000-0000-0000-0000-{self._sequence:012d}"})
        return {"FailedEntryCount": 0, "Entries": results}


class FakeLambdaContext:
    """What Idempotency asks of the Lambda context the cart_events handler registers."""

    function_name = "commerce-sync-CartEventsFunction"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def __init__(self, remaining_millis: int = 25_000) -> None:
        self._remaining = remaining_millis

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


# ---- Mailchimp: a requests transport adapter -------------------------------------------------------------

_ID = r"[^/?]+"
MAILCHIMP_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("customer", re.compile(rf"/ecommerce/stores/{_ID}/customers/{_ID}$")),
    ("cart", re.compile(rf"/ecommerce/stores/{_ID}/carts/{_ID}$")),
    ("carts", re.compile(rf"/ecommerce/stores/{_ID}/carts$")),
    ("product variant", re.compile(rf"/ecommerce/stores/{_ID}/products/{_ID}/variants/{_ID}$")),
    ("product", re.compile(rf"/ecommerce/stores/{_ID}/products/{_ID}$")),
    ("member", re.compile(rf"/lists/{_ID}/members/{_ID}$")),
)


def mailchimp_kind(path: str) -> str:
    path = path.split("/3.0", 1)[-1]
    return next((kind for kind, pattern in MAILCHIMP_ROUTES if pattern.search(path)), path)


class StubMailchimpAdapter(BaseAdapter):
    """Answers every request with a canned 200 JSON body, as real `requests.Response` objects, and opens
    no socket. `responses` maps "METHOD kind" (e.g. "PUT customer") to the JSON bytes returned; an
    unmapped call gets `{}` and still counts, so a new call pattern is visible in the counts."""

    def __init__(self, responses: Mapping[str, bytes], calls: CallLog) -> None:
        super().__init__()
        self._responses = dict(responses)
        self._calls = calls
        self._served = 0

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        label = f"{request.method} {mailchimp_kind(request.path_url.split('?', 1)[0])}"
        self._calls.add(f"mailchimp {label}")
        self._served += 1
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.headers = CaseInsensitiveDict(
            {
                "Content-Type": "application/json; charset=utf-8",
                "X-Request-Id": f"bench-{self._served:08d}",
                "Connection": "keep-alive",
            }
        )
        response._content = self._responses.get(label, b"{}")
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.connection = self
        response.elapsed = timedelta(0)
        return response

    def close(self) -> None:
        return None


def mount_stub_transport(session: requests.Session, adapter: BaseAdapter) -> None:
    """Replace the session's transports (and with them urllib3's pool and retries) by `adapter`."""
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def canned_mailchimp_responses(store_id: str) -> dict[str, bytes]:
    """Plausible bodies for the calls a cart sync makes (sizes like Mailchimp's, `_links` included)."""

    def links(path: str) -> list[dict[str, str]]:
        base = f"https://us6.api.mailchimp.com/3.0{path}"
        return [
            {"rel": rel, "href": base, "method": method, "targetSchema": f"{base}/schema.json"}
            for rel, method in (("self", "GET"), ("parent", "GET"), ("update", "PATCH"), ("delete", "DELETE"))
        ]

    address = {
        "address1": "42 Harbour Street",
        "address2": "Apt 3",
        "city": "Portland",
        "province": "Maine",
        "province_code": "ME",
        "postal_code": "04101",
        "country": "United States",
        "country_code": "US",
    }
    customer = {
        "id": "7712345678909",
        "email_address": "jane.doe@example.com",
        "opt_in_status": True,
        "company": "",
        "first_name": "Jane",
        "last_name": "Doe",
        "orders_count": 0,
        "total_spent": 0,
        "address": address,
        "created_at": "2025-03-14T13:15:37+00:00",
        "updated_at": "2025-03-14T13:18:02+00:00",
        "_links": links(f"/ecommerce/stores/{store_id}/customers/7712345678909"),
    }
    lines = [
        {
            "id": f"line-{n}",
            "product_id": f"88213345{n}",
            "product_title": title,
            "product_variant_id": f"4601122334{n}",
            "product_variant_title": variant,
            "image_url": "",
            "quantity": quantity,
            "price": price,
            "_links": links(f"/ecommerce/stores/{store_id}/carts/cart/lines/line-{n}"),
        }
        for n, (title, variant, quantity, price) in enumerate(
            (("Trail Running Socks", "M / Blue", 2, 39.98), ("Merino Beanie", "Charcoal", 1, 19.99))
        )
    ]
    cart = {
        "id": "cart",
        "customer": {key: value for key, value in customer.items() if key != "_links"},
        "campaign_id": "3f8a1b2c4d",
        "checkout_url": "https://demo-shop.myshopify.com/checkouts/ac/recover",
        "currency_code": "USD",
        "order_total": 63.57,
        "tax_total": 3.6,
        "lines": lines,
        "created_at": "2025-03-14T13:12:44+00:00",
        "updated_at": "2025-03-14T13:18:02+00:00",
        "_links": links(f"/ecommerce/stores/{store_id}/carts/cart"),
    }
    bodies = {"PUT customer": customer, "PATCH cart": cart, "POST carts": cart}
    return {label: json.dumps(body).encode() for label, body in bodies.items()}


# ---- Mailchimp with resources that exist or not (orders and carts) ----------------------------------------

MAILCHIMP_ORDER_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("order", re.compile(rf"/ecommerce/stores/{_ID}/orders/{_ID}$")),
    ("orders", re.compile(rf"/ecommerce/stores/{_ID}/orders$")),
)
PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"
ERROR_DOCS_URL = "https://mailchimp.com/developer/marketing/docs/errors/"


def mailchimp_resource_kind(path: str) -> str:
    """`mailchimp_kind`, knowing orders too ("order" for /orders/{id}, "orders" for the collection)."""
    trimmed = path.split("/3.0", 1)[-1]
    kind = next((kind for kind, pattern in MAILCHIMP_ORDER_ROUTES if pattern.search(trimmed)), None)
    return kind or mailchimp_kind(path)


class StubMailchimpResourceAdapter(BaseAdapter):
    """A requests transport that answers like Mailchimp for carts and orders that exist or not, and opens
    no socket. It keeps the ids of the carts and orders Mailchimp holds:

    - PATCH an order or a cart it does not hold: 404 problem+json (what sends upsert_order to the POST);
    - POST orders / carts: 200 and the id is held from then on; an id already held is 400 "already exists";
    - DELETE a cart or an order: 204 when held (and no longer held), else 404;
    - anything else: 200 with the canned body for "METHOD kind" (or `{}`), as StubMailchimpAdapter.

    Every call counts in the CallLog under `mailchimp METHOD kind`, and a 4xx answer also under
    `mailchimp METHOD kind -> 404` (or 400), so the printed counts show which branch each upsert took.
    """

    HELD = {"cart": "carts", "order": "orders"}

    def __init__(self, responses: Mapping[str, bytes], calls: CallLog) -> None:
        super().__init__()
        self._responses = dict(responses)
        self._calls = calls
        self._served = 0
        self.carts: set[str] = set()
        self.orders: set[str] = set()

    def _held(self, collection: str) -> set[str]:
        return self.carts if collection == "carts" else self.orders

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        path = request.path_url.split("?", 1)[0]
        kind = mailchimp_resource_kind(path)
        label = f"{request.method} {kind}"
        self._calls.add(f"mailchimp {label}")
        status, body = 200, self._responses.get(label, b"{}")
        if kind in self.HELD:
            held = self._held(self.HELD[kind])
            resource_id = path.rsplit("/", 1)[-1]
            if resource_id not in held:
                status, body = 404, b""
            elif request.method == "DELETE":
                held.discard(resource_id)
                status, body = 204, b""
        elif kind in self.HELD.values() and request.method == "POST":
            held = self._held(kind)
            resource_id = str(json.loads(request.body or b"{}")["id"])
            if resource_id in held:
                status, body = 400, b""
            else:
                held.add(resource_id)
        if status >= 400:
            self._calls.add(f"mailchimp {label} -> {status}")
        return self._response(request, status, body, kind)

    def _response(self, request: requests.PreparedRequest, status: int, body: bytes, kind: str) -> requests.Response:
        self._served += 1
        request_id = f"bench-{self._served:08d}"
        response = requests.Response()
        response.status_code = status
        content_type = "application/json; charset=utf-8"
        if status == 404:
            response.reason = "Not Found"
            body = _problem(404, "Resource Not Found", "The requested resource could not be found.", request_id)
            content_type = PROBLEM_CONTENT_TYPE
        elif status == 400:
            response.reason = "Bad Request"
            thing = "An order" if kind == "orders" else "A cart"
            detail = (
                f"We were unable to process the request. {thing} with the provided ID already exists in the account."
            )
            body = _problem(400, "Bad Request", detail, request_id)
            content_type = PROBLEM_CONTENT_TYPE
        else:
            response.reason = "No Content" if status == 204 else "OK"
        headers = {"X-Request-Id": request_id, "Connection": "keep-alive"}
        if status != 204:
            headers["Content-Type"] = content_type
        response.headers = CaseInsensitiveDict(headers)
        response._content = body
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.connection = self
        response.elapsed = timedelta(0)
        return response

    def close(self) -> None:
        return None


def _problem(status: int, title: str, detail: str, instance: str) -> bytes:
    """A Mailchimp problem document (the emulator's and the API's shape)."""
    return json.dumps(
        {"type": ERROR_DOCS_URL, "title": title, "status": status, "detail": detail, "instance": instance}
    ).encode()


def canned_mailchimp_order_responses(store_id: str) -> dict[str, bytes]:
    """`canned_mailchimp_responses` plus plausible bodies for an order's PATCH and POST (Mailchimp answers
    both with the whole order, its customer, lines and `_links`)."""
    responses = canned_mailchimp_responses(store_id)
    customer = json.loads(responses["PUT customer"])
    base = f"https://us6.api.mailchimp.com/3.0/ecommerce/stores/{store_id}/orders/5512345678901"
    links = [
        {"rel": rel, "href": base, "method": method, "targetSchema": f"{base}/schema.json"}
        for rel, method in (("self", "GET"), ("parent", "GET"), ("update", "PATCH"), ("delete", "DELETE"))
    ]
    address = {**customer["address"], "name": "Jane Doe", "phone": "+1 555-010-4242", "company": ""}
    lines = [
        {
            "id": f"1357924680{n}",
            "product_id": product_id,
            "product_title": title,
            "product_variant_id": variant_id,
            "product_variant_title": variant,
            "image_url": "",
            "quantity": quantity,
            "price": price,
            "discount": discount,
            "_links": links,
        }
        for n, (product_id, variant_id, title, variant, quantity, price, discount) in enumerate(
            (
                ("8821334556733", "46011223344573", "Trail Running Socks", "M / Blue", 2, 19.99, 0),
                ("8821334622269", "46011223410109", "Merino Beanie", "Charcoal", 1, 19.99, 5),
            ),
            start=1,
        )
    ]
    order = {
        "id": "5512345678901",
        "customer": {key: value for key, value in customer.items() if key != "_links"},
        "store_id": store_id,
        "campaign_id": "3f8a1b2c4d",
        "landing_site": "/products/trail-running-socks?mc_cid=3f8a1b2c4d&mc_eid=5e6f7a8b9c&mc_tc=prec",
        "financial_status": "pending",
        "fulfillment_status": "",
        "currency_code": "USD",
        "order_total": 66.57,
        "order_url": "https://demo-shop.myshopify.com/70885409065/orders/9f8e7d6c5b4a/authenticate?key=abc123",
        "discount_total": 5,
        "tax_total": 3.6,
        "shipping_total": 8,
        "tracking_code": "prec",
        "processed_at_foreign": "2025-03-14T13:31:09+00:00",
        "cancelled_at_foreign": "",
        "updated_at_foreign": "2025-03-14T13:31:12+00:00",
        "shipping_address": address,
        "billing_address": address,
        "promos": [{"code": "WELCOME5", "amount_discounted": 5, "type": "fixed"}],
        "lines": lines,
        "outreach": {"id": "3f8a1b2c4d", "name": "Spring restock", "type": "regular", "published_time": ""},
        "tracking_number": "",
        "tracking_carrier": "",
        "tracking_url": "",
        "_links": links,
    }
    encoded = json.dumps(order).encode()
    responses.update({"PATCH order": encoded, "POST orders": encoded})
    return responses
