"""One SQS batch of canonical events through an EventApplier, as cart_events and order_status run it:
partial batch failures (commerce_sync.aws.queue_records), so one bad record is retried or dead-lettered with its
reason without holding back its neighbours. `queue_handler` is the whole Lambda handler of such a
function: its services, appliers and dead-letter queue built once per container, on first use.

The records are applied on up to CONSUMER_LANES lanes at once (commerce_sync.processing.batch_lanes), each entity's
records one after another in the batch's order; each lane has its own applier and holds its own Mailchimp
connection slot. The batch's partial failure report names the records that failed, as applying them one after
another would have."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from commerce_sync.aws import thread_sessions
from commerce_sync.aws.event_bus import ClaimChecks, event_from_message
from commerce_sync.aws.observability import log_metrics, logger, tracer
from commerce_sync.aws.queue_records import QueueRecord, partial_batch_response, records_of
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.processing.batch_lanes import Lanes, groups_of
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.event_applier import EventApplier, Outcome
from commerce_sync.processing.services import Services

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
# The applier of each lane (lane 0 runs on the handler's own thread).
Appliers = Callable[[int], EventApplier]


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    appliers: Appliers,
    dead_letters: DeadLetters,
    claim_checks: ClaimChecks,
    lanes: Lanes | None = None,
) -> dict[str, Any]:
    records = records_of(event)
    # Each record read once, first (a claim check fetched once), to know which records may touch one entity.
    read: list[CanonicalEvent | Exception] = []
    scopes: list[tuple[str, Collection[str] | None]] = []
    for index, record in enumerate(records):
        try:
            canonical = event_from_message(record.json_body, claim_checks)
        except Exception as error:  # raised again where the record is applied, so dead-lettered as before
            read.append(error)
            scopes.append((f"unreadable#{index}", ()))
            continue
        read.append(canonical)
        scopes.append((canonical.store_id, appliers(0).ordering_tokens(canonical)))
    results: list[Outcome | Exception] = [RuntimeError("not applied")] * len(records)

    def apply_record(lane: int, index: int) -> None:
        applier = appliers(lane)
        # A lane's log keys are its own (Powertools keeps them per thread): a record never carries another's id.
        logger.thread_safe_clear_keys()

        def apply(record: QueueRecord) -> Outcome:
            canonical = read[index]
            if isinstance(canonical, Exception):
                raise canonical
            # Named on every line about this record, the dead letter's included: how an accepted delivery is
            # traced to its end (docs/outcomes.md).
            logger.thread_safe_append_keys(correlation_id=canonical.event_id, event_id=canonical.event_id)
            return applier.process(event=canonical, message=record.json_body)

        try:
            results[index] = dead_letters.handle(records[index], apply)
        except Exception as error:
            results[index] = error
        finally:
            logger.thread_safe_clear_keys()

    def lane_scope(lane: int) -> AbstractContextManager[None]:
        applier = appliers(lane)
        # Lets Idempotency expire an in-progress record when this invocation times out mid-record.
        applier.idempotency_config.register_lambda_context(context)
        # One Mailchimp connection slot per account and lane for the whole batch (accounts.budget).
        return applier.budget.per_invocation()

    def admit(lane: int, group: Sequence[int]) -> bool:
        """Another lane takes a group only if the account of its store has a connection free for it now."""
        read_first = read[group[0]]
        if isinstance(read_first, Exception):
            return False
        applier = appliers(lane)
        try:
            account = applier.account_of(read_first.store_id)
            return account is not None and applier.budget.try_holding(account, "live", applier.time_left())
        except Exception as refusal:  # a paused account, AWS out of reach: lane 0 meets it, and reports it
            logger.debug("lane not admitted", reason=type(refusal).__name__)
            return False

    try:
        (lanes or Lanes(1)).run(groups_of(scopes), apply_record, lane_scope, admit)
        # Every failed record is reported back (not raised), so SQS retries exactly those and redrives them.
        failed = [record for record, result in zip(records, results, strict=True) if isinstance(result, Exception)]
        return partial_batch_response(failed)
    finally:
        # Shared by the lanes' appliers: written once per invocation.
        appliers(0).activity.flush()


def queue_handler(build_applier: Callable[[Services], EventApplier]) -> Handler:
    """The Lambda handler of a function that applies one queue's canonical events with `build_applier`'s
    applier. Nothing is built at import: the local runner and the tests set the environment first."""

    @cache
    def services() -> Services:
        return Services.from_environment()

    @cache
    def lanes() -> Lanes:
        size = services().settings.consumer_lanes
        if size > 1:
            thread_sessions.install()
        return Lanes(size)

    built: dict[int, EventApplier] = {}

    def applier(lane: int) -> EventApplier:
        found = built.get(lane)
        if found is None:
            # Each lane applies with services of its own (its own kept writes, leases and connection slot).
            found = built[lane] = build_applier(services() if lane == 0 else services().for_lane())
        return found

    @cache
    def dead_letters() -> DeadLetters:
        return DeadLetters.from_environment()

    @logger.inject_lambda_context(clear_state=True)
    @log_metrics
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_batch(event, context, applier, dead_letters(), services().claim_checks, lanes())

    return lambda_handler
