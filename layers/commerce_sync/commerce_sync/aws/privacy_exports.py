"""Where a data request's export is kept until the operator sends it to the merchant (docs/privacy.md, "Data
requests"): the claim-check bucket, under `privacy-exports/<store id>/<request id>.json`.

That bucket already is what an export needs: private, encrypted by default (SSE-S3), TLS only, and every object
expires 45 days after its last write, longer than the 30 days Shopify gives a merchant to answer. The cart_events
function may only put objects under this prefix; the operator reads them with `commerce-sync privacy export STORE
--request ID`. Both parts of the key are percent-encoded, so no id can name an object of another store.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

import boto3
from botocore.exceptions import ClientError

EXPORT_PREFIX = "privacy-exports/"


class ExportBucketMissing(Exception):
    """No bucket is configured (CLAIM_CHECK_BUCKET): an export can be neither kept nor read."""


def export_key(store_id: str, request_id: str) -> str:
    return f"{EXPORT_PREFIX}{quote(store_id, safe='')}/{quote(request_id, safe='')}.json"


class PrivacyExports:
    def __init__(self, bucket: str | None, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def _bucket(self) -> str:
        if not self.bucket:
            raise ExportBucketMissing("no bucket for privacy exports is configured (CLAIM_CHECK_BUCKET)")
        return self.bucket

    def put(self, store_id: str, request_id: str, body: bytes) -> str:
        """Keeps `body` (the export's JSON) and returns its key; a retried request overwrites its own object. The
        bucket's default encryption applies; any failure propagates, so the queue retries the request."""
        key = export_key(store_id, request_id)
        self.client.put_object(
            Bucket=self._bucket(),
            Key=key,
            Body=body,
            ContentType="application/json",
            # S3 refuses the upload if the bytes it received are not the ones hashed here.
            ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode("ascii"),
        )
        return key

    def get(self, store_id: str, request_id: str) -> bytes | None:
        """The kept export of a request; None when there is none (never made, or expired)."""
        try:
            body: bytes = self.client.get_object(Bucket=self._bucket(), Key=export_key(store_id, request_id))[
                "Body"
            ].read()
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) in {"NoSuchKey", "404"}:
                return None
            raise
        return body
