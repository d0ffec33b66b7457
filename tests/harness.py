"""Test harness pieces used by fixtures and tests alike: registering stores, reading Mailchimp."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store

from emulators.shopify import ShopifyEmulator
from operator_cli.stores import NewStore, add_store, generate_webhook_secret
from tests.log_scan import SCANNER

API_KEY = "0123456789abcdef0123456789abcdef-us6"
ACCOUNT_ID = "test-account"


@dataclass
class RegisteredStore:
    store: Store
    webhook_secret: str

    @property
    def store_id(self) -> str:
        return self.store.store_id

    @property
    def identity(self) -> str:
        return self.store.identity


def register_store(
    platform: str, list_id: str = "list-e2e", identity: str | None = None, **options: Any
) -> RegisteredStore:
    """A store with fresh ids; `options` are NewStore fields (platform_api_url, currency_code, ...)."""
    suffix = uuid.uuid4().hex[:10]
    store_id = f"{platform[:4]}-{suffix}"
    default_identity = {"shopify": f"shop-{suffix}.myshopify.com", "canonical": store_id}.get(
        platform, f"store-{suffix}"
    )
    secret = options.pop("webhook_secret", None) or generate_webhook_secret()
    SCANNER.remember(secret)
    for value in (options.get("platform_api_credentials") or {}).values():
        SCANNER.remember(str(value))
    # Unchecked: most tests' platforms are not running, or are stand-ins without the check's endpoint (the
    # checks have tests of their own, tests/e2e/test_store_credentials.py).
    store = add_store(
        Settings.from_environment(),
        NewStore(
            store_id=store_id,
            platform=platform,
            identity=identity or default_identity,
            name=f"Test store {suffix}",
            list_id=list_id,
            currency_code=options.pop("currency_code", "USD"),
            webhook_secret=secret,
            **options,
        ),
        check=False,
    ).store
    return RegisteredStore(store=store, webhook_secret=secret)


def platform_store(platform: str, identity: str, url: str | None = None, version: str | None = None) -> Store:
    """A store built in memory, registered nowhere: for tests of where its platform API fields lead."""
    return Store(
        store_id=f"{platform[:4]}-in-memory",
        platform=platform,
        identity=identity,
        name="In-memory store",
        list_id="list-in-memory",
        currency_code="USD",
        secret_id=f"commerce-sync/stores/{platform[:4]}-in-memory",
        platform_api_url=url,
        platform_api_version=version,
    )


def local_aws(service: str, endpoint: str, *, resource: bool = False) -> Any:
    """A boto3 client (or resource) for moto server at `endpoint`, with throwaway credentials."""
    factory = boto3.resource if resource else boto3.client
    return factory(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def moto_lambda_function(endpoint: str, name: str, region: str = "us-east-1") -> str:
    """A function in moto server's Lambda that accepts invocations and runs nothing (moto's Lambda without Docker, as
    the rotation CLI's local stub uses it): what a deployed stack's function is to the operator CLI in a test, which
    then plays the Lambda service itself and runs what was invoked. Returns its name."""
    answer = requests.post(f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    answer.raise_for_status()
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=region)
    lambdas = boto3.client("lambda", endpoint_url=endpoint, region_name=region)
    assume = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = {"Version": "2012-10-17", "Statement": [assume]}
    role_arn = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("stand_in.py", "def handler(event, context):\n    return None\n")
    lambdas.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="stand_in.handler",
        Code={"ZipFile": package.getvalue()},
    )
    return name


def new_sync_state_table(endpoint: str) -> tuple[Any, str]:
    """A fresh table shaped like the template's SyncStateTable (pk, sk, the segments index) in moto server:
    (resource, name)."""
    dynamodb = local_aws("dynamodb", endpoint, resource=True)
    name = f"sync-state-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "segment_shard", "AttributeType": "S"},
            {"AttributeName": "segment_customer", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "segments-index",
                "KeySchema": [
                    {"AttributeName": "segment_shard", "KeyType": "HASH"},
                    {"AttributeName": "segment_customer", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["aggregate", "revision", "written_tags", "skipped"],
                },
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb, name


def mailchimp_customer_id(email: str) -> str:
    """The id commerce-sync gives a shopper in Mailchimp: the MD5 of the trimmed, lower-cased address
    (docs/carts-and-customers.md), computed here independently of the code under test."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


class MailchimpReader:
    """Reads what Mailchimp holds through its own HTTP API, as any client would."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self._base_url}{path}", auth=("test", API_KEY), timeout=10)

    def resource(self, path: str) -> dict[str, Any] | None:
        response = self.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()


# ---- a Shopify stand-in's history pages, watched and held ---------------------------------------------------

HISTORY_PAGES = ("/customers.json", "/orders.json")


def on_page_reads(shopify: ShopifyEmulator, react: Callable[[int], None]) -> None:
    """`react(n)` at the platform's n-th page read (of orders or customers, from 1), before it answers."""
    reads = {"n": 0}
    lock = threading.Lock()

    def rule(path: str, query: dict[str, str]) -> int | None:
        if path.endswith(HISTORY_PAGES):
            with lock:
                reads["n"] += 1
                n = reads["n"]
            react(n)
        return None

    shopify.fail_when(rule)


class PageGate:
    """Holds the platform's answer to the n-th page read until released: the run is then mid-way, between two
    commits, for as long as the test needs."""

    def __init__(self, shopify: ShopifyEmulator, nth: int) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()
        self._nth = nth
        on_page_reads(shopify, self._hold)

    def _hold(self, n: int) -> None:
        if n == self._nth:
            self.reached.set()
            self.released.wait(timeout=60)
