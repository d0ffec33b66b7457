"""Mailchimp batch operations (`POST /batches`): submit, poll, and read the results back.

The contract (../shared/mailchimp/NOTES.md §7) and what it means here:
- The body is `{"operations": [...]}`; each operation's `body` is a JSON *string*, not an object.
- `operation_id` is echoed in the results and is not checked for uniqueness. We give every operation
  `type:id:version` (see `operation_id`), so each result maps back to exactly one change of one entity.
- Operations run in no guaranteed order, so a batch must never hold two writes where one depends on the
  other (callers put at most one write per entity in a batch).
- Results are a gzipped tar of JSON files at `response_body_url`, each file an array of
  `{status_code, operation_id, response}`. The URL is valid for 10 minutes, but every `GET /batches/{id}`
  issues a fresh one and results stay downloadable for 7 days: an expired URL (403 from the storage host)
  is answered by asking for the status again, never by giving the results up.
- The download host is not Mailchimp's API (it is a pre-signed storage URL), so it is fetched with a plain
  session that never carries the API key, and it does not count against the 10-connection limit.

Results are streamed member by member from the archive, so reading a batch's results costs memory for one
file at a time, whatever the batch's size.
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from commerce_sync.mailchimp.client import MailchimpClient, check_path
from commerce_sync.mailchimp.errors import MailchimpError, MailchimpNotFound, problem_error
from commerce_sync.mailchimp.ids import api_path

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
FINISHED = "finished"
# How often an expired results URL is replaced by a fresh one before giving up for this attempt.
MAX_URL_REFRESHES = 3
DOWNLOAD_TIMEOUT = (3.05, 60.0)


def operation_id(kind: str, entity_id: str, version: str) -> str:
    """`type:id:version`. The id may itself hold ':' (canonical ids are free text); the version may not."""
    if ":" in kind or ":" in version:
        raise ValueError("the type and the version of an operation id cannot contain ':'")
    return f"{kind}:{entity_id}:{version}"


def parse_operation_id(value: str | None) -> tuple[str, str, str] | None:
    """(type, id, version) of an id made by `operation_id`; None for anything else."""
    if not value:
        return None
    kind, separator, rest = value.partition(":")
    entity_id, separator_2, version = rest.rpartition(":")
    if not (separator and separator_2 and kind and entity_id):
        return None
    return kind, entity_id, version


@dataclass(frozen=True)
class BatchOperation:
    method: Method
    path: str  # relative to /3.0, e.g. /ecommerce/stores/s1/products/p1
    operation_id: str
    body: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        operation: dict[str, Any] = {"method": self.method, "path": self.path, "operation_id": self.operation_id}
        if self.body is not None:
            operation["body"] = json.dumps(self.body, separators=(",", ":"))
        return operation


class BatchStatus(BaseModel):
    """`GET /batches/{id}` (and the answer to `POST /batches`), the fields we use."""

    # defer_build: built when a batch operation is first sent (catalog sync, backfill), not at import by the cart and
    # order functions, which import this module for its operation ids.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str
    status: str
    total_operations: int = 0
    finished_operations: int = 0
    errored_operations: int = 0
    submitted_at: str | None = None
    completed_at: str | None = None
    response_body_url: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == FINISHED


@dataclass(frozen=True)
class OperationResult:
    operation_id: str | None
    status_code: int
    response: str  # the JSON text of the operation's answer ("" for a 204)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def problem(self) -> tuple[str, str]:
        """(title, detail) of a failed operation's problem document, as far as it has them."""
        try:
            body = json.loads(self.response) if self.response else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return str(body.get("title") or f"HTTP {self.status_code}"), str(body.get("detail") or "")

    def error(self) -> MailchimpError | None:
        """The typed error a failed operation would have raised as a request (MailchimpAlreadyExists,
        MailchimpNotFound, ...); None when it succeeded."""
        if self.ok:
            return None
        try:
            body = json.loads(self.response) if self.response else {}
        except ValueError:
            body = {}
        return problem_error(self.status_code, body if isinstance(body, dict) else {})


class BatchGone(Exception):
    """Mailchimp no longer knows the batch (deleted, or older than its 7 days of results)."""


class BatchNotFinished(Exception):
    """The results were asked for before the batch finished."""


class BatchResultsUnavailable(Exception):
    """The results could not be downloaded now (the URL kept expiring, or the host failed); try later."""


class _UrlExpired(Exception):
    pass


def download_session() -> requests.Session:
    """A plain session for results downloads: GET retries on 5xx and connection errors, never auth."""
    session = requests.Session()
    retry = Retry(
        total=3,
        connect=3,
        read=3,
        status=3,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=(500, 502, 503, 504),
        backoff_factor=0.5,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class MailchimpBatches:
    """Batch operations through a MailchimpClient (its connection bound, retries and typed errors)."""

    def __init__(
        self,
        client: MailchimpClient,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DOWNLOAD_TIMEOUT,
    ) -> None:
        self._client = client
        self._session = session or download_session()
        self._timeout = timeout
        # API requests made (downloads are not API requests: they go to the storage host).
        self.requests = 0

    def submit(self, operations: Sequence[BatchOperation]) -> BatchStatus:
        if not operations:
            raise ValueError("a batch needs at least one operation")
        self.requests += 1
        for operation in operations:
            check_path(operation.path)
        answer = self._client.request("POST", api_path("batches"), {"operations": [op.wire() for op in operations]})
        return BatchStatus.model_validate(answer)

    def status(self, batch_id: str) -> BatchStatus | None:
        self.requests += 1
        try:
            return BatchStatus.model_validate(self._client.get(api_path("batches", batch_id)))
        except MailchimpNotFound:
            return None

    def delete(self, batch_id: str) -> None:
        """Stop a batch (its unread results are discarded); one already gone is fine."""
        self.requests += 1
        try:
            self._client.request("DELETE", api_path("batches", batch_id))
        except MailchimpNotFound:
            return

    def results(self, batch_id: str, status: BatchStatus | None = None) -> Iterator[OperationResult]:
        """Every operation's result of a finished batch.

        `status`: the batch's status just read by the caller, whose fresh URL is used instead of reading the
        status again (a request per batch saved: the nightly sync settles 200 batches at 100,000 products).
        An expired URL is replaced by a fresh one (a new status read) up to MAX_URL_REFRESHES times. If the
        download fails after some results were already yielded, the exception ends the iteration; reading
        again yields them again, so callers must apply results idempotently.
        """
        known = status
        for _ in range(MAX_URL_REFRESHES + 1):
            status, known = known or self.status(batch_id), None
            if status is None:
                raise BatchGone(f"Mailchimp no longer has batch {batch_id}")
            if not status.finished:
                raise BatchNotFinished(f"batch {batch_id} is {status.status}")
            if not status.response_body_url:
                raise BatchResultsUnavailable(f"batch {batch_id} finished without a results URL")
            try:
                yield from self._download(status.response_body_url)
                return
            except _UrlExpired:
                continue
        raise BatchResultsUnavailable(f"the results URL of batch {batch_id} kept expiring")

    def _download(self, url: str) -> Iterator[OperationResult]:
        try:
            response = self._session.get(url, stream=True, timeout=self._timeout)
        except requests.RequestException as error:
            raise BatchResultsUnavailable(f"downloading batch results failed: {type(error).__name__}") from error
        with response:
            if response.status_code in (401, 403):
                # A pre-signed URL past its 10 minutes answers 403 (AccessDenied / "Request has expired").
                raise _UrlExpired()
            if response.status_code >= 400:
                raise BatchResultsUnavailable(f"downloading batch results answered {response.status_code}")
            response.raw.decode_content = True
            # Imported here: only batch operations (catalog sync, backfill) read results; the cart and order functions
            # import this module for its operation ids and would load tarfile (and its compression modules) at init.
            import tarfile

            try:
                with tarfile.open(fileobj=response.raw, mode="r|gz") as archive:
                    for member in archive:
                        if not member.isfile():
                            continue
                        handle = archive.extractfile(member)
                        if handle is None:
                            continue
                        yield from _results_of(handle.read())
            except (tarfile.TarError, OSError, EOFError, requests.RequestException) as error:
                raise BatchResultsUnavailable(f"the batch results archive is unreadable: {error}") from error


def _results_of(data: bytes) -> Iterator[OperationResult]:
    try:
        items = json.loads(data)
    except ValueError as error:
        raise BatchResultsUnavailable("a batch results file is not JSON") from error
    if isinstance(items, dict):
        items = [items]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        response = item.get("response")
        yield OperationResult(
            operation_id=item.get("operation_id"),
            status_code=int(item.get("status_code") or 0),
            response=response if isinstance(response, str) else json.dumps(response or ""),
        )
