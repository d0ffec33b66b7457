"""The promotions part of a catalog run: a store's discount rules and codes compared with what Mailchimp was last
given, page by page, resumable, under the catalog run's lock and in its checkpoint (`RunCheckpoint.promotions`).
docs/promotions.md is the long version.

Phases (`PromotionProgress.phase`), each resumable:
1. rules — read the rules a page at a time; each is mapped (mailchimp.promo_mapping), hashed and compared with
   its record: unchanged costs nothing but a blind "seen" mark, a change is collected and flushed (direct writes
   for a few, Mailchimp batches for many, as the catalog's products).
2. rule_batches — wait for every rule batch: a code can only be written under a rule Mailchimp has, and a batch
   runs its operations in no order, so no code goes out before its rule is settled.
3. codes — read the rules again, and the codes of each (inline, or page by page for a rule of thousands of
   single-use codes: one page in memory); compare and flush as for rules. The codes of a rule Mailchimp does not
   hold (its write was refused or failed) wait for the next run.
4. sweep_rules — the rules recorded but not seen this run are asked for by id (a page shifted by a deletion
   must not delete a live rule); those the store no longer has (or that became a kind Mailchimp cannot
   express) are deleted from Mailchimp, which deletes their codes with them. Then sweep_batches settles those.
5. sweep_codes — the codes recorded but not seen: a code of a deleted rule only loses its record; a code of a
   rule whose codes were all read this run is deleted from Mailchimp; one of a rule whose codes were not read
   (its rule failed) is left.
6. batches — wait for the batches in flight and read their results; a failed operation this invocation
   submitted is written again directly (POST and PATCH falling back to each other), one submitted by an
   earlier invocation has its record reset so the next run writes it again. A write Mailchimp refuses outright
   (4xx, in a batch and again directly) keeps its reason in the record and is dead-lettered as a
   `sync_promotion` request; replaying it (`resync`) reads the rule or code from the store again.
When the store answered no rule at all, nothing is deleted (an empty answer is likelier a fault than a store
that ended every promotion at once).

Mailchimp connections: the run's one (its MailchimpCalls and MailchimpBatches are shared with the products).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Promotion, PromotionCode
from commerce_sync.catalog.checkpoints import (
    BatchRecord,
    PromotionCounters,
    PromotionPhase,
    PromotionProgress,
    RunCheckpoint,
)
from commerce_sync.catalog.promotion_state import (
    CODE,
    RULE,
    SEEN,
    PromoRecord,
    PromotionState,
    code_key,
    rule_key,
)
from commerce_sync.catalog.promotion_writer import (
    OPERATION_KIND,
    PromoOutcome,
    PromotionWriter,
    PromoWrite,
    code_write,
    deletion,
    newer_recorded,
    rule_write,
    unchanged,
)
from commerce_sync.catalog.writer import CatalogDeadLetters, MailchimpCalls, now_version
from commerce_sync.mailchimp.batches import (
    BatchGone,
    BatchNotFinished,
    BatchResultsUnavailable,
    MailchimpBatches,
    OperationResult,
    parse_operation_id,
)
from commerce_sync.mailchimp.errors import MailchimpError, MailchimpNotFound
from commerce_sync.platforms.http import PlatformAuthError, PlatformNotFound
from commerce_sync.platforms.products import chunks
from commerce_sync.platforms.promotions import PromotionSource, PromotionsUnavailable

Target = Literal["rules", "codes"]
# Progress is saved at most this often between pages (each save is a checkpoint write and a lock renewal): a
# store of 10,000 small rules would otherwise save once a rule. A crash re-reads at most this much.
COMMIT_INTERVAL_SECONDS = 5.0
# Seen and codes-read marks are written in batches of about this many (they are blind writes, flushed before
# every save of the progress, so a saved position never passes an unwritten mark).
MARKS_BUFFER = 500


class SliceTuning(Protocol):
    """The catalog run's tuning that the promotions share (its CatalogConfig; read-only here)."""

    @property
    def batch_size(self) -> int: ...

    @property
    def max_batch_operations(self) -> int: ...

    @property
    def direct_max(self) -> int: ...

    @property
    def hurry_direct_max(self) -> int: ...

    @property
    def flush_interval_seconds(self) -> float: ...

    @property
    def max_outstanding_batches(self) -> int: ...

    @property
    def poll_initial_seconds(self) -> float: ...

    @property
    def poll_max_seconds(self) -> float: ...

    @property
    def batch_stale_seconds(self) -> float: ...

    @property
    def sweep_chunk(self) -> int: ...


class PromotionSync:
    """Builds a run's promotion slices for a store; the catalog run calls `run_slice` in its promotions phase."""

    def __init__(
        self,
        state: PromotionState,
        source_factory: Callable[[Store], PromotionSource],
        dead_letters: CatalogDeadLetters | None = None,
    ) -> None:
        self.state = state
        self._source_factory = source_factory
        self.dead_letters = dead_letters

    def run_slice(
        self,
        store: Store,
        checkpoint: RunCheckpoint,
        calls: MailchimpCalls,
        batches: MailchimpBatches,
        config: SliceTuning,
        commit: Callable[[], None],
        time_left: Callable[[], float],
        heartbeat: Callable[[], None],
    ) -> bool:
        """True when the promotions part is finished (or cannot be done for this store, with the reason)."""
        if checkpoint.promotions is None:
            checkpoint.promotions = PromotionProgress()
        progress = checkpoint.promotions
        if progress.phase in ("done", "skipped"):
            return True
        try:
            source = self._source_factory(store)
        except PromotionsUnavailable as reason:
            return _skip(progress, str(reason), commit)
        work = _PromotionSlice(
            store,
            source,
            self.state,
            progress,
            checkpoint.run_id,
            PromotionWriter(store, self.state, calls, self.dead_letters),
            batches,
            config,
            commit,
            time_left,
            heartbeat,
        )
        try:
            return work.run()
        except (PlatformAuthError, PlatformNotFound) as error:
            # A token without the discounts scope, a site without coupons: the products are still done.
            work.flush_and_commit()
            return _skip(progress, f"the store's promotions cannot be read: {error}", commit)

    def resync(self, store: Store, calls: MailchimpCalls, rule_id: str, code_id: str | None) -> dict[str, Any]:
        """A dead-lettered rule (`code_id` None) or code, read from the store again and written directly, even when
        its content is what Mailchimp refused before (the record's `failed`: the refusal may have been ours, or
        passing). Mailchimp's errors are raised. A rule gone from the store is deleted in Mailchimp; a replayed
        rule brings the codes a single-code platform lists with it, while the codes of a rule of many codes
        follow at the next promotions run (they may be 100,000, too many for one queue record)."""
        try:
            source = self._source_factory(store)
        except PromotionsUnavailable as reason:
            return {"rule_id": rule_id, "outcome": "skipped", "reason": str(reason)}
        writer = PromotionWriter(store, self.state, calls)
        version = now_version()
        found = next(iter(source.promotions_by_id([rule_id])), None)
        rule = self.state.record(store.store_id, rule_key(rule_id))
        if found is None:
            if rule is None or rule.removed:
                return {"rule_id": rule_id, "outcome": "gone"}
            writer.write(deletion(rule, version), condition="hash", raise_errors=True)
            return {"rule_id": rule_id, "outcome": "deleted"}
        outcomes: dict[str, str] = {}
        if rule is None or not rule.in_mailchimp or code_id is None:
            outcomes[rule_key(rule_id)] = self._resend(writer, rule_write(found, rule, store, version), rule)
            rule = self.state.record(store.store_id, rule_key(rule_id))
        since = rule.since if rule is not None else ""
        wanted = [code_id] if code_id is not None else [code.id for code in found.codes]
        for code in self._codes_named(source, found, set(wanted)):
            record = self.state.record(store.store_id, code_key(rule_id, code.id))
            outcomes[code_key(rule_id, code.id)] = self._resend(
                writer, code_write(rule_id, code, record, version, since), record, since
            )
        if code_id is not None and code_key(rule_id, code_id) not in outcomes:
            record = self.state.record(store.store_id, code_key(rule_id, code_id))
            gone = record is None or record.removed
            if not gone and record is not None:
                writer.write(deletion(record, version), condition="hash", raise_errors=True)
            outcomes[code_key(rule_id, code_id)] = "gone" if gone else "deleted"
        return {"rule_id": rule_id, "outcome": "synced", "written": outcomes}

    @staticmethod
    def _resend(writer: PromotionWriter, write: PromoWrite, record: PromoRecord | None, since: str = "") -> str:
        if unchanged(write, record, since) and record is not None and not record.failed:
            return "unchanged"
        outcome = writer.write(write, condition="hash", raise_errors=True)
        return write.kind if outcome is PromoOutcome.APPLIED else outcome.value

    @staticmethod
    def _codes_named(source: PromotionSource, promotion: Promotion, wanted: set[str]) -> Iterator[PromotionCode]:
        """The codes among `wanted`: those the rule came with, else paged from the store until all are found."""
        if promotion.codes_complete or not wanted:
            yield from (code for code in promotion.codes if code.id in wanted)
            return
        cursor: str | None = None
        while wanted:
            page = source.codes(promotion.id, cursor)
            for code in page.codes:
                if code.id in wanted:
                    wanted.discard(code.id)
                    yield code
            cursor = page.next_cursor
            if cursor is None:
                return


def _skip(progress: PromotionProgress, reason: str, commit: Callable[[], None]) -> bool:
    logger.warning("promotions skipped", reason=reason)
    progress.phase, progress.reason = "skipped", reason
    commit()
    return True


def emit_metrics(progress: PromotionProgress | None) -> None:
    if progress is None:
        return
    counters = progress.counters
    for target in ("rules", "codes"):
        for name in ("created", "updated", "deleted", "failed", "skipped"):
            value = getattr(counters, f"{target}_{name}")
            metrics.add_metric(name=f"CatalogPromo{target.title()}{name.title()}", unit="Count", value=value)


class _PromotionSlice:
    """One invocation's share of a run's promotions (the module docstring has the phases)."""

    def __init__(
        self,
        store: Store,
        source: PromotionSource,
        state: PromotionState,
        progress: PromotionProgress,
        run_id: str,
        writer: PromotionWriter,
        batches: MailchimpBatches,
        config: SliceTuning,
        commit: Callable[[], None],
        time_left: Callable[[], float],
        heartbeat: Callable[[], None],
    ) -> None:
        self.store = store
        self.source = source
        self.state = state
        self.progress = progress
        self.run_id = run_id
        self.writer = writer
        self.batches = batches
        self.config = config
        self._save = commit
        self.time_left = time_left
        self.heartbeat = heartbeat
        self.pending: dict[str, PromoWrite] = {}
        self.pending_since: float | None = None
        self.outstanding: list[BatchRecord] = []
        # The writes of the batches this invocation submitted, by batch key: a failed operation is written again
        # from here (at most max_outstanding_batches x max_batch_operations writes are held).
        self.inflight: dict[str, dict[str, PromoWrite]] = {}
        self.delta = PromotionCounters()
        # Where the current phase is, in memory; committed only once nothing read is still unflushed.
        self.cursor = progress.cursor
        self.rule_index = progress.rule_index
        self.code_rule = progress.code_rule
        self.code_cursor = progress.code_cursor
        self.sweep_after = progress.sweep_after
        self.last_commit = time.monotonic()
        self.seen_marks: list[str] = []
        self.read_marks: list[str] = []

    @property
    def store_id(self) -> str:
        return self.store.store_id

    @property
    def started_ms(self) -> int:
        return int(self.progress.started_at * 1000)

    # ---- phases -------------------------------------------------------------------------------------------

    def run(self) -> bool:
        self._recover()
        steps: list[tuple[PromotionPhase, Callable[[], bool], PromotionPhase]] = [
            ("rules", self._rules, "rule_batches"),
            ("rule_batches", self._settle_all, "codes"),
            ("codes", self._codes, "sweep_rules"),
            ("sweep_rules", self._sweep_rules, "sweep_batches"),
            ("sweep_batches", self._settle_all, "sweep_codes"),
            ("sweep_codes", self._sweep_codes, "batches"),
            ("batches", self._settle_all, "done"),
        ]
        for phase, step, following in steps:
            if self.progress.phase != phase:
                continue
            if not step():
                self.flush_and_commit()
                return False
            self._reset_position()
            self._commit(phase=following)
        if self.progress.phase == "done":
            logger.info("promotions synced", **self.progress.summary())
        return self.progress.phase == "done"

    def _reset_position(self) -> None:
        self.cursor, self.rule_index, self.code_rule, self.code_cursor, self.sweep_after = None, 0, None, None, None

    def _rules(self) -> bool:
        first = True
        while True:
            if not first and self.time_left() <= 0:
                return False
            first = False
            fetched = now_version()
            page = self.source.page(self.cursor)
            self._skipped("rule", page.skipped, "rules_skipped")
            self._compare_rules(page.promotions, fetched)
            self.cursor = page.next_cursor
            if self.cursor is None:
                self._flush()
                return True
            self._maybe_flush()
            if not self.pending:
                self._commit()

    def _codes(self) -> bool:
        while True:
            fetched = now_version()
            page = self.source.page(self.cursor)
            rules = page.promotions
            start = self._resume_index(rules)
            records = self.state.records(self.store_id, [rule_key(promotion.id) for promotion in rules[start:]])
            for index in range(start, len(rules)):
                promotion = rules[index]
                self.rule_index, self.code_rule = index, promotion.id
                record = records.get(rule_key(promotion.id))
                if record is None or not record.in_mailchimp:
                    self._skip_codes(promotion, record)
                elif not self._codes_of(promotion, fetched, record.since):
                    return False
                self.rule_index, self.code_rule, self.code_cursor = index + 1, None, None
                self._maybe_flush()
                self._commit_if_due()
                if self.time_left() <= 0:
                    return False
            self.cursor, self.rule_index, self.code_rule, self.code_cursor = page.next_cursor, 0, None, None
            if self.cursor is None:
                self._flush()
                return True
            self._maybe_flush()
            if not self.pending:
                self._commit()
            if self.time_left() <= 0:
                return False

    def _resume_index(self, rules: Sequence[Promotion]) -> int:
        """Where to go on in a page read again: the rule being worked on, found by its id; a page that shifted
        starts that rule's codes over."""
        if self.code_rule is None:
            return min(self.rule_index, len(rules))
        ids = [promotion.id for promotion in rules]
        if self.rule_index < len(rules) and ids[self.rule_index] == self.code_rule:
            return self.rule_index
        self.code_cursor = None
        return ids.index(self.code_rule) if self.code_rule in ids else min(self.rule_index, len(rules))

    def _codes_of(self, promotion: Promotion, fetched: str, since: str) -> bool:
        """Compare every code of one rule, a page at a time; False when the slice ran out of time in it. `since`:
        the rule's present life began then (its record's); older code records are of codes Mailchimp deleted."""
        if promotion.codes_complete:
            self._compare_codes(promotion.id, promotion.codes, fetched, since)
            self._codes_read(promotion.id)
            return True
        while True:
            page = self.source.codes(promotion.id, self.code_cursor)
            self._skipped("code", page.skipped, "codes_skipped")
            self._compare_codes(promotion.id, page.codes, fetched, since)
            self.code_cursor = page.next_cursor
            if self.code_cursor is None:
                self._codes_read(promotion.id)
                return True
            self._maybe_flush()
            self._commit_if_due()
            self.heartbeat()
            if self.time_left() <= 0:
                return False

    def _skip_codes(self, promotion: Promotion, record: PromoRecord | None) -> None:
        why = "its rule was never written" if record is None else (record.failed or "its rule's write did not settle")
        self.progress.note_skipped("codes of rule", promotion.id, f"not written: {why}")
        self.delta.codes_skipped += len(promotion.codes)

    def _sweep_rules(self) -> bool:
        if not self._anything_seen():
            return True
        seen = self.state.marks(self.store_id, SEEN + RULE, self.sweep_after)
        candidates: list[PromoRecord] = []
        for record in self.state.iter_records(self.store_id, RULE, self.sweep_after):
            self.sweep_after = record.rule_id
            if record.removed or seen.at(record.rule_id) >= self.started_ms:
                continue
            candidates.append(record)
            if len(candidates) >= self.config.sweep_chunk:
                self._retire_rules(candidates)
                candidates = []
                self._maybe_flush()
                if not self.pending:
                    self._commit()
                if self.time_left() <= 0:
                    return False
        if candidates:
            self._retire_rules(candidates)
        self._flush()
        return True

    def _retire_rules(self, candidates: Sequence[PromoRecord]) -> None:
        present = self.source.promotions_by_id([record.rule_id for record in candidates])
        if present:
            logger.info("rules missed by paging are still in the store", count=len(present))
            self._compare_rules(present, now_version())
        still = {promotion.id for promotion in present}
        for record in candidates:
            if record.rule_id not in still:
                self._add(deletion(record, now_version()))

    def _sweep_codes(self) -> bool:
        if not self._anything_seen():
            return True
        seen = self.state.marks(self.store_id, SEEN + CODE, self.sweep_after)
        rules: dict[str, tuple[PromoRecord | None, int]] = {}
        orphans: list[str] = []
        for examined, record in enumerate(self.state.iter_records(self.store_id, CODE, self.sweep_after), 1):
            self.sweep_after = record.key.removeprefix(CODE)
            if not record.removed and seen.at(self.sweep_after) < self.started_ms:
                rule_record, codes_read = rules.get(record.rule_id) or self._rule_status(rules, record.rule_id)
                if rule_record is None or rule_record.removed:
                    orphans.append(record.key)  # Mailchimp deleted it with its rule
                elif codes_read >= self.started_ms:
                    self._add(deletion(record, now_version()))
            if examined % self.config.sweep_chunk == 0:
                self.state.delete_records(self.store_id, orphans)
                orphans = []
                self._maybe_flush()
                if not self.pending:
                    self._commit()
                if self.time_left() <= 0:
                    return False
        self.state.delete_records(self.store_id, orphans)
        self._flush()
        return True

    def _rule_status(
        self, cache: dict[str, tuple[PromoRecord | None, int]], rule_id: str
    ) -> tuple[PromoRecord | None, int]:
        """A rule's record and when its codes were last all read; looked up only for codes not seen."""
        if len(cache) > 1000:
            cache.clear()  # codes come grouped by rule: an evicted rule is not met again
        status = (
            self.state.record(self.store_id, rule_key(rule_id)),
            self.state.codes_read_at(self.store_id, rule_id),
        )
        cache[rule_id] = status
        return status

    def _anything_seen(self) -> bool:
        if self.progress.counters.rules_seen + self.delta.rules_seen:
            return True
        logger.warning("the store answered no promotion; nothing is deleted this run")
        return False

    # ---- comparing ----------------------------------------------------------------------------------------

    def _skipped(self, what: str, skipped: Sequence[tuple[str, str]], counter: str) -> None:
        for item_id, reason in skipped:
            setattr(self.delta, counter, getattr(self.delta, counter) + 1)
            self.progress.note_skipped(what, item_id, reason)
            logger.info("promotion left out", what=what, id=item_id, reason=reason)

    def _compare_rules(self, promotions: Sequence[Promotion], fetched: str) -> None:
        if not promotions:
            return
        keys = [rule_key(promotion.id) for promotion in promotions]
        records = self.state.records(self.store_id, keys)
        self._seen(keys)
        for promotion in promotions:
            self.delta.rules_seen += 1
            record = records.get(rule_key(promotion.id))
            write = rule_write(promotion, record, self.store, fetched)
            if newer_recorded(record, fetched) or unchanged(write, record):
                self.delta.rules_unchanged += 1
                continue
            self._add(write)

    def _compare_codes(self, rule_id: str, codes: Sequence[PromotionCode], fetched: str, since: str) -> None:
        if not codes:
            return
        keys = [code_key(rule_id, code.id) for code in codes]
        records = self.state.records(self.store_id, keys)
        self._seen(keys)
        for code in codes:
            self.delta.codes_seen += 1
            record = records.get(code_key(rule_id, code.id))
            write = code_write(rule_id, code, record, fetched, since)
            if newer_recorded(record, fetched) or unchanged(write, record, since):
                self.delta.codes_unchanged += 1
                continue
            self._add(write)

    def _seen(self, keys: Sequence[str]) -> None:
        self.seen_marks.extend(keys)
        if len(self.seen_marks) >= MARKS_BUFFER:
            self._write_marks()

    def _codes_read(self, rule_id: str) -> None:
        self.read_marks.append(rule_id)
        if len(self.read_marks) >= MARKS_BUFFER:
            self._write_marks()

    def _write_marks(self) -> None:
        now = time.time()
        if self.seen_marks:
            self.state.mark_seen(self.store_id, self.seen_marks, now)
            self.seen_marks = []
        if self.read_marks:
            self.state.mark_codes_read(self.store_id, self.read_marks, now)
            self.read_marks = []

    def _add(self, write: PromoWrite) -> None:
        self.pending[write.key] = write
        if self.pending_since is None:
            self.pending_since = time.monotonic()

    # ---- writing ------------------------------------------------------------------------------------------

    def _bump(self, write_key: str, name: str, by: int = 1) -> None:
        target: Target = "rules" if write_key.startswith(RULE) else "codes"
        field = f"{target}_{name}"
        setattr(self.delta, field, getattr(self.delta, field) + by)

    def _count(self, write: PromoWrite, outcome: PromoOutcome) -> None:
        if outcome is PromoOutcome.APPLIED:
            self._bump(write.key, write.kind)
        elif outcome is PromoOutcome.CONFLICT:
            self._bump(write.key, "unchanged")
        else:
            self._bump(write.key, "failed")
            if outcome is PromoOutcome.DEAD_LETTERED:
                self._bump(write.key, "dead_lettered")
                self.progress.note_skipped("refused", write.key, "Mailchimp refused it; dead-lettered with the reason")
            elif outcome is PromoOutcome.REFUSED:
                self.progress.note_skipped("refused", write.key, "Mailchimp refused it (logged with the reason)")

    def _maybe_flush(self) -> None:
        full = len(self.pending) >= self.config.batch_size
        due = self.pending_since is not None and (
            time.monotonic() - self.pending_since >= self.config.flush_interval_seconds
        )
        if full or due:
            self._flush()

    def _flush(self, hurry: bool = False) -> None:
        writes = list(self.pending.values())
        self.pending.clear()
        self.pending_since = None
        if not writes:
            return
        if len(writes) <= (self.config.hurry_direct_max if hurry else self.config.direct_max):
            for write in writes:
                self._count(write, self.writer.write(write, condition="hash", raise_errors=False))
            return
        for part in chunks(writes, self.config.max_batch_operations):
            self._submit(list(part))

    def flush_and_commit(self) -> None:
        """Before the slice ends early: nothing read stays unwritten, and the position is saved."""
        self._flush(hurry=True)
        self._commit()

    def _submit(self, writes: list[PromoWrite]) -> None:
        # Backpressure: a few batches in flight; the oldest is waited for before another goes.
        while len(self.outstanding) >= self.config.max_outstanding_batches and self.time_left() > 0:
            if not self._settle(self.outstanding[0], wait=True):
                break
        record = BatchRecord(
            key=uuid.uuid4().hex,
            run_id=self.run_id,
            ops={write.key: (write.record.hash, write.kind) for write in writes},
        )
        # Written first: whatever happens next, this record says which rules and codes may be in flight.
        self.state.put_batch(self.store_id, record)
        conflicts = self.state.put_records(self.store_id, [(write.record, write.read_hash) for write in writes])
        if conflicts:
            writes = [write for write in writes if write.key not in conflicts]
            record.ops = {key: op for key, op in record.ops.items() if key not in conflicts}
            if not writes:
                self.state.delete_batch(self.store_id, record.key)
                return
            self.state.put_batch(self.store_id, record)
        try:
            status = self.batches.submit([write.operation(self.store_id) for write in writes])
        except MailchimpError:
            self._lost(record, "the batch could not be submitted")
            raise
        record.mailchimp_id, record.status = status.id, "submitted"
        self.state.put_batch(self.store_id, record)
        self.outstanding.append(record)
        self.inflight[record.key] = {write.key: write for write in writes}
        for write in writes:
            self._bump(write.key, write.kind)
        logger.info("promotion batch submitted", batch_id=status.id, operations=len(writes))

    # ---- batches in flight --------------------------------------------------------------------------------

    def _recover(self) -> None:
        for record in self.state.open_batches(self.store_id):
            if record.status == "submitting" or not record.mailchimp_id:
                self._lost(record, "interrupted while being submitted")
            else:
                self.outstanding.append(record)

    def _settle_all(self) -> bool:
        while self.outstanding:
            if not self._settle(self.outstanding[0], wait=True):
                return False
        return True

    def _settle(self, record: BatchRecord, wait: bool) -> bool:
        interval = self.config.poll_initial_seconds
        while True:
            status = self.batches.status(str(record.mailchimp_id))
            if status is None:
                self._lost(record, "Mailchimp no longer has the batch")
                return True
            if status.finished and self._apply_results(record):
                return True
            if time.time() - record.submitted_at > self.config.batch_stale_seconds:
                self.batches.delete(str(record.mailchimp_id))
                self._lost(record, f"the batch was still {status.status} after hours")
                return True
            if not wait or self.time_left() <= 0:
                return False
            time.sleep(min(interval, max(self.time_left(), 0.0)))
            interval = min(interval * 1.5, self.config.poll_max_seconds)
            self.heartbeat()

    def _apply_results(self, record: BatchRecord) -> bool:
        failed: dict[str, OperationResult] = {}
        succeeded: set[str] = set()
        try:
            for result in self.batches.results(str(record.mailchimp_id)):
                parsed = parse_operation_id(result.operation_id)
                if parsed is None or parsed[0] != OPERATION_KIND or parsed[1] not in record.ops:
                    continue
                key = parsed[1]
                gone_already = result.status_code == 404 and record.ops[key][1] == "deleted"
                if result.ok or gone_already:
                    succeeded.add(key)
                    failed.pop(key, None)
                else:
                    failed[key] = result
        except BatchGone:
            self._lost(record, "Mailchimp no longer has the batch")
            return True
        except (BatchResultsUnavailable, BatchNotFinished) as error:
            logger.warning("batch results not readable yet", batch_id=record.mailchimp_id, reason=str(error))
            return False
        mine = record.run_id == self.run_id
        writes = self.inflight.pop(record.key, {})
        retry: list[PromoWrite] = []
        for key in [key for key in record.ops if key not in succeeded]:
            written_hash, kind = record.ops[key]
            if mine:
                self._bump(key, kind, -1)
            if key in writes:
                retry.append(writes[key])
                continue
            self._reset(key, written_hash, kind, failed.get(key))
            if mine:
                self._bump(key, "failed")
        self.state.delete_batch(self.store_id, record.key)
        self.outstanding = [other for other in self.outstanding if other.key != record.key]
        metrics.add_metric(name="CatalogPromoBatchOperationsFailed", unit="Count", value=len(failed))
        logger.info(
            "promotion batch settled", batch_id=record.mailchimp_id, succeeded=len(succeeded), failed=len(failed)
        )
        self._retry(retry)
        return True

    def _retry(self, writes: Sequence[PromoWrite]) -> None:
        """Failed operations of this invocation's batches, as direct writes (POST and PATCH falling back to each
        other), built on the record as it is now."""
        if not writes:
            return
        current = self.state.records(self.store_id, [write.key for write in writes])
        for write in writes:
            held = current.get(write.key)
            again = replace(write, read_hash=held.hash if held is not None else None)
            self._count(again, self.writer.write(again, condition="hash", raise_errors=False))

    def _reset(self, key: str, written_hash: str, kind: str, result: OperationResult | None) -> None:
        """Nothing is known of this write: the next run sends it again. A PATCH that met no resource loses its
        record, so the next run POSTs it."""
        error = result.error() if result is not None else None
        if kind == "updated" and isinstance(error, MailchimpNotFound):
            self.state.delete_records(self.store_id, [key])
        else:
            self.state.forget_hash(self.store_id, key, written_hash)

    def _lost(self, record: BatchRecord, why: str) -> None:
        mine = record.run_id == self.run_id and record.status == "submitted"
        for key, (written_hash, kind) in record.ops.items():
            self.state.forget_hash(self.store_id, key, written_hash)
            if mine:
                self._bump(key, kind, -1)
                self._bump(key, "failed")
        self.state.delete_batch(self.store_id, record.key)
        self.inflight.pop(record.key, None)
        self.outstanding = [other for other in self.outstanding if other.key != record.key]
        metrics.add_metric(name="CatalogPromoBatchesLost", unit="Count", value=1)
        logger.warning("promotion batch lost; its writes go again next run", batch=record.key, why=why)

    # ---- checkpoint ---------------------------------------------------------------------------------------

    def _commit_if_due(self) -> None:
        if not self.pending and time.monotonic() - self.last_commit >= COMMIT_INTERVAL_SECONDS:
            self._commit()

    def _commit(self, phase: PromotionPhase | None = None) -> None:
        # Marks first: a saved position must never pass a mark not yet written (the sweep reads them).
        self._write_marks()
        self.last_commit = time.monotonic()
        progress = self.progress
        progress.counters.add(self.delta)
        self.delta = PromotionCounters()
        if phase is not None:
            progress.phase = phase
        progress.cursor, progress.rule_index = self.cursor, self.rule_index
        progress.code_rule, progress.code_cursor = self.code_rule, self.code_cursor
        progress.sweep_after = self.sweep_after
        self._save()
