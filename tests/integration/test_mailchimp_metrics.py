"""What the Mailchimp client counts (docs/operations.md, the dashboard's Mailchimp widgets), against the emulator:
each call's latency, and every 429, 5xx and 401 answer, compared with the answers the emulator says it gave."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from commerce_sync.aws.metric_names import (
    MAILCHIMP_LATENCY,
    MAILCHIMP_SERVER_ERRORS,
    MAILCHIMP_THROTTLED,
    MAILCHIMP_UNAUTHORIZED,
    Metric,
)
from commerce_sync.aws.observability import metrics
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError, MailchimpNotFound

from emulators.mailchimp import MailchimpEmulator
from tests.harness import API_KEY

FAST = RetryPolicy(total=4, backoff_factor=0.001, backoff_jitter=0.0)


@pytest.fixture(autouse=True)
def _fresh_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The process-wide buffer a Lambda invocation flushes at its end; here each test reads what it added, with
    # metrics on as in Lambda (another test's in-process invocation may have left them switched off).
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def client(mailchimp: MailchimpEmulator) -> MailchimpClient:
    return MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=FAST, read_timeout=2.0)


def values(metric: Metric) -> list[float]:
    return list(metrics.metric_set.get(metric.name, {}).get("Value", []))


def counted(metric: Metric) -> int:
    return int(sum(values(metric)))


def unknown_store_path() -> str:
    """A path of this test's own (the emulator's log is shared with the runner's containers): Mailchimp has no
    such store, so an answer that is not a fault is a 404."""
    return f"/ecommerce/stores/metrics-{uuid.uuid4().hex[:10]}"


def answers(mailchimp: MailchimpEmulator, path: str) -> list[int]:
    return [int(r["status"]) for r in mailchimp.requests if r["path"].endswith(path)]


def test_each_call_records_its_latency_in_milliseconds(client: MailchimpClient, mailchimp: MailchimpEmulator) -> None:
    mailchimp.set_faults(latency_ms=80)
    client.ping()
    client.ping()

    latencies = values(MAILCHIMP_LATENCY)
    assert len(latencies) == 2
    assert all(80 <= latency < 5000 for latency in latencies)
    assert metrics.metric_set[MAILCHIMP_LATENCY.name]["Unit"] == "Milliseconds"


def test_throttling_the_retries_absorb_is_counted_answer_by_answer(
    client: MailchimpClient, mailchimp: MailchimpEmulator
) -> None:
    mailchimp.set_faults(rate_429=0.5, seed=11)
    paths = [unknown_store_path() for _ in range(8)]
    ended = []
    for path in paths:
        try:
            client.request("GET", path)
        except MailchimpNotFound:
            ended.append("404")
        except MailchimpError as error:
            ended.append(str(error.status))

    throttled = sum(answers(mailchimp, path).count(429) for path in paths)
    assert "404" in ended, "some calls got through once their retries outlasted the throttling"
    assert throttled > ended.count("429"), "some 429s were absorbed by the retries"
    assert counted(MAILCHIMP_THROTTLED) == throttled
    assert counted(MAILCHIMP_SERVER_ERRORS) == 0
    # One latency per call, however many attempts it took.
    assert len(values(MAILCHIMP_LATENCY)) == len(paths)


def test_server_errors_are_counted_up_to_the_last_attempt(
    client: MailchimpClient, mailchimp: MailchimpEmulator
) -> None:
    mailchimp.set_faults(rate_500=1.0)
    path = unknown_store_path()
    with pytest.raises(MailchimpError) as raised:
        client.request("GET", path)

    assert raised.value.status == 500
    assert answers(mailchimp, path) == [500] * (FAST.total + 1)
    assert counted(MAILCHIMP_SERVER_ERRORS) == FAST.total + 1
    assert counted(MAILCHIMP_THROTTLED) == 0


def test_a_refused_key_is_counted_once_and_nothing_else_is(mailchimp: MailchimpEmulator) -> None:
    refused = MailchimpClient(api_key="ffffffffffffffffffffffffffffffff-us6", base_url=mailchimp.base_url, retry=FAST)
    with pytest.raises(MailchimpAuthError):
        refused.ping()

    assert counted(MAILCHIMP_UNAUTHORIZED) == 1
    assert counted(MAILCHIMP_THROTTLED) == counted(MAILCHIMP_SERVER_ERRORS) == 0


def test_a_call_that_succeeds_counts_no_refusal(client: MailchimpClient) -> None:
    client.ping()
    assert len(values(MAILCHIMP_LATENCY)) == 1
    assert MAILCHIMP_UNAUTHORIZED.name not in metrics.metric_set
    assert MAILCHIMP_THROTTLED.name not in metrics.metric_set
