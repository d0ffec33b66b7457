"""Fixtures shared by the integration and end-to-end tests: the Mailchimp emulator, the local runner
(moto server, the template's resources, the HTTP API and the queue pollers) and registered stores.

Everything is real HTTP on 127.0.0.1. One runner per test process (pytest-xdist gives each worker its
own), so each test registers stores under ids of its own and never resets shared state.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from emulators.mailchimp import MailchimpEmulator
from local_runner import moto_replays, moto_transactions
from local_runner.runner import LocalRunner, RunnerConfig, free_port
from tests.harness import ACCOUNT_ID, API_KEY, MailchimpReader, RegisteredStore, register_store
from tests.log_scan import SCANNER

# Fast retries so a fault-injection test takes seconds; the policy (which errors retry) is unchanged.
FAST_RETRIES = {
    "MAILCHIMP_RETRIES": "3",
    "MAILCHIMP_BACKOFF_FACTOR": "0.01",
    "MAILCHIMP_READ_TIMEOUT": "2",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # Lets a test's import time out within seconds (the floor keeps it above any write's duration in AWS).
    "IMPORT_MIN_TIMEOUT_SECONDS": "1",
    # Tests change a store (disable, erase, another Mailchimp account) and send its next delivery at once; a warm
    # container would see the change only after the cache's 30 s (tests/e2e/test_aws_calls.py runs with it on).
    "STORE_CACHE_SECONDS": "0",
}


@pytest.fixture(scope="session")
def mailchimp() -> Iterator[MailchimpEmulator]:
    emulator = MailchimpEmulator(api_key=API_KEY, account_id=ACCOUNT_ID, host="127.0.0.1", port=0)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server of its own, for tests that need AWS without the local runner. Server mode, because the
    in-process mock patches botocore for the whole worker and would cut off the runner other tests use."""
    moto_transactions.install()
    moto_replays.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=(port := free_port()), verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def runner(mailchimp: MailchimpEmulator) -> Iterator[LocalRunner]:
    config = RunnerConfig(
        mailchimp_api_url=mailchimp.base_url,
        mailchimp_api_key=API_KEY,
        mailchimp_login_url=mailchimp.login_url,
        retry_delay_seconds=1,
        environment=FAST_RETRIES,
        # Each delivery is applied as soon as it is received, as with the window at 0: a test that sends one event
        # and waits for it does not wait out the template's batching window too. The window itself is tested in
        # tests/integration/test_local_runner_sqs_polling.py.
        parameter_overrides={"ConsumerBatchingWindowSeconds": "0"},
    )
    from commerce_sync.aws.observability import logger

    SCANNER.remember(API_KEY)
    # What the functions log through the whole session is scanned (tests/log_scan.py); a leak fails the run here.
    handler = logging.StreamHandler(SCANNER)  # type: ignore[arg-type]
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    try:
        with LocalRunner(config) as started, started.logs.capture(into=SCANNER):
            yield started
    finally:
        logging.getLogger(logger.service).removeHandler(handler)
    if SCANNER.findings:
        pytest.fail(SCANNER.report(), pytrace=False)


@pytest.fixture(autouse=True)
def _no_faults_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "mailchimp" in request.fixturenames:
        request.getfixturevalue("mailchimp").set_faults()


@pytest.fixture
def shopify_store(runner: LocalRunner) -> RegisteredStore:
    return register_store("shopify")


@pytest.fixture(scope="session")
def mailchimp_reader(mailchimp: MailchimpEmulator) -> MailchimpReader:
    return MailchimpReader(mailchimp.base_url)


@pytest.fixture
def captured_logs(runner: LocalRunner) -> Iterator[io.StringIO]:
    """Everything the functions log, as CloudWatch would receive it: the lines of the runner's containers,
    and what handlers invoked in this process (the operator CLI's local invocations) log through Powertools."""
    from commerce_sync.aws.observability import logger

    with runner.logs.capture() as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logger.registered_formatter)
        logging.getLogger(logger.service).addHandler(handler)
        try:
            yield stream
        finally:
            logging.getLogger(logger.service).removeHandler(handler)
