"""``PersistentActor``: an actor whose state is rebuilt from a journal.

State changes are recorded as events: ``await self.persist(event)`` appends the event to the
journal and, once it is durable, calls ``apply_event(event)``. When the actor starts - and after
every supervised restart - it first recovers: the latest snapshot goes to ``apply_snapshot``,
then every later event to ``apply_event``, then ``on_recovered()`` runs, then ``pre_start``.

    class Counter(PersistentActor):
        def __init__(self, persistence_id: str) -> None:
            super().__init__(persistence_id)
            self.total = 0

        def apply_event(self, event: int) -> None:
            self.total += event

        async def process(self, message: Message) -> int:
            await self.persist(message.content)
            return self.total

The syndicate needs a journal: ``Syndicate(journal=SQLiteJournal("app.db"), owns_journal=True)``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable
from typing import Any, Final

from spark.core.actor import Actor, MissedTickPolicy
from spark.core.exceptions import InvalidActorSpecError, PersistenceError
from spark.persistence._durable import DurableTimers
from spark.persistence._registry import REGISTRY_KEY, PersistenceRegistry
from spark.persistence.journal import Journal, validate_persistence_id
from spark.persistence.timers import TimerId

__all__ = ["RECOVERY_PAGE", "PersistentActor"]

#: Events read per journal call during recovery (bounds memory for long histories).
RECOVERY_PAGE: Final = 1000


async def _call(function: Any, *args: Any) -> None:
    result = function(*args)
    if result is not None and inspect.isawaitable(result):
        await result


class PersistentActor(Actor):
    """Base class of actors whose state survives restarts and crashes (see module docs).

    * ``persistence_id`` - the identity of the stored history; one live actor per id and
      syndicate (a second one is refused with ``ActorAlreadyExists``).
    * ``retain_events=False`` - delete the events a snapshot covers when it is saved.
    * ``snapshot_every=N`` - save a snapshot automatically after every ``N`` events (needs
      ``snapshot_state`` and ``apply_snapshot``). A failing automatic snapshot does not fail
      the ``persist`` that triggered it: it is logged and tried again ``N`` events later.
    """

    _persistence_id: str | None = None  # class default: detects a missing super().__init__()

    def __init__(
        self,
        persistence_id: str,
        *,
        retain_events: bool = True,
        snapshot_every: int | None = None,
    ) -> None:
        self._persistence_id = validate_persistence_id(persistence_id)
        if snapshot_every is not None and (
            not isinstance(snapshot_every, int)
            or isinstance(snapshot_every, bool)
            or snapshot_every < 1
        ):
            raise ValueError(f"snapshot_every must be an int >= 1 or None, got {snapshot_every!r}")
        if snapshot_every is not None:
            missing = [
                name
                for name in ("snapshot_state", "apply_snapshot")
                if getattr(type(self), name) is getattr(PersistentActor, name)
            ]
            if missing:
                raise TypeError(
                    f"{type(self).__qualname__} sets snapshot_every={snapshot_every} but does not"
                    f" implement {' and '.join(missing)}(); implement them or drop snapshot_every"
                )
        self._retain_events = bool(retain_events)
        self._snapshot_every = snapshot_every
        self._snapshot_retry_at = 0  # after a failed automatic snapshot: when to try again
        self._sequence = 0
        self._snapshot_sequence = 0
        self._journal: Journal | None = None
        self._durable: DurableTimers | None = None
        # The registry that let this instance own its id; kept so the release after a kill
        # (which runs once the cell is already detached) still finds it.
        self._registry: PersistenceRegistry | None = None
        self._recovering = False
        # (first, last) sequences of appends cancelled before the journal answered: stored or
        # not, nobody knows yet; the next write of this instance finds out (see _settle).
        self._unsettled: list[tuple[int, int]] = []

    # -- what subclasses implement -----------------------------------------------------------

    def apply_event(self, event: Any) -> Any:
        """Change the state for one event (live after ``persist`` and during replay).

        Must only change in-memory state: it runs again for every stored event on each recovery.
        May be ``async``.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement apply_event(event)")

    def snapshot_state(self) -> Any:
        """Return the state to store in a snapshot (serialized at once by the journal)."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must implement snapshot_state() to save snapshots"
        )

    def apply_snapshot(self, state: Any) -> Any:
        """Restore the state from a snapshot (before the later events are replayed)."""
        raise NotImplementedError(
            f"{type(self).__qualname__} has a stored snapshot but does not implement"
            " apply_snapshot(state)"
        )

    def on_recovered(self) -> Any:
        """Called after recovery, before ``pre_start``. May be ``async``."""
        return None

    # -- state of the history ----------------------------------------------------------------

    @property
    def persistence_id(self) -> str:
        return self._require_id()

    @property
    def last_sequence(self) -> int:
        """Sequence number of the last persisted event (0 before the first).

        Inside ``apply_event`` it is the sequence number of the event being applied, live and
        during replay alike (when ``persist`` calls are awaited one at a time).
        """
        return self._sequence

    @property
    def snapshot_sequence(self) -> int:
        """Sequence number covered by the latest snapshot this actor saved or recovered."""
        return self._snapshot_sequence

    @property
    def recovering(self) -> bool:
        """True while the stored history is being replayed (inside apply_snapshot/apply_event)."""
        return self._recovering

    @property
    def journal(self) -> Journal:
        """The journal this actor recovered from."""
        return self._live_journal()

    def _require_id(self) -> str:
        persistence_id = self._persistence_id
        if persistence_id is None:
            raise PersistenceError(
                f"{type(self).__qualname__}.__init__ must call"
                " super().__init__(persistence_id) of PersistentActor"
            )
        return persistence_id

    def _live_journal(self) -> Journal:
        journal = self._journal
        if journal is None or self._recovering:
            raise PersistenceError(
                f"{type(self).__qualname__} {self._persistence_id!r} is not recovered yet:"
                " persist, snapshots and durable timers work from on_recovered() on, never"
                " inside apply_event() or apply_snapshot()"
            )
        return journal

    # -- persisting --------------------------------------------------------------------------

    async def persist(self, event: Any) -> int:
        """Append ``event``; once it is durable, apply it. Returns its sequence number.

        Raises :class:`PersistenceError` if it could not be stored (nothing was applied).

        If the call is cancelled before it returns (a timeout around it, a cancelled task, the
        actor being killed), the event was not applied and may or may not end up stored. The
        next ``persist``, ``persist_all``, ``save_snapshot`` or ``delete_events_to`` of this
        actor first asks the journal: an event that was stored is applied then, as a recovery
        would; one that was not gives its sequence number back.
        """
        journal = self._live_journal()
        if self._unsettled:
            await self._settle(journal)
        sequence = self._sequence + 1
        self._sequence = sequence
        try:
            await journal.append(self._persistence_id, sequence, (event,))  # type: ignore[arg-type]
        except BaseException as error:
            self._append_failed(sequence, sequence, error)
            raise
        result = self.apply_event(event)
        if result is not None and inspect.isawaitable(result):
            await result
        self._after_append(sequence, 1)
        if self._snapshot_every is not None:
            await self._automatic_snapshot(sequence, self._snapshot_every)
        return sequence

    async def persist_all(self, events: Iterable[Any]) -> int:
        """Append several events atomically (all or none), then apply them in order.

        Returns the sequence number of the last one (the current one if ``events`` is empty).
        """
        journal = self._live_journal()
        batch = list(events)
        if self._unsettled:
            await self._settle(journal)
        if not batch:
            return self._sequence
        first = self._sequence + 1
        last = first + len(batch) - 1
        self._sequence = last
        try:
            await journal.append(self._persistence_id, first, batch)  # type: ignore[arg-type]
        except BaseException as error:
            self._append_failed(first, last, error)
            raise
        for offset, event in enumerate(batch):
            self._sequence = first + offset  # what last_sequence says inside apply_event
            result = self.apply_event(event)
            if result is not None and inspect.isawaitable(result):
                await result
        self._sequence = max(self._sequence, last)
        self._after_append(last, len(batch))
        if self._snapshot_every is not None:
            await self._automatic_snapshot(last, self._snapshot_every)
        return last

    def _append_failed(self, first: int, last: int, error: BaseException) -> None:
        if self._sequence == last:
            self._sequence = first - 1  # not applied; the numbers are free unless stored
        if not isinstance(error, Exception):
            # Cancelled while the journal may still commit the events: their fate is unknown.
            self._unsettled.append((first, last))

    async def _settle(self, journal: Journal) -> None:
        """Learn what became of cancelled appends. The journal takes operations in call order,
        so a read issued now sees them if they were stored; apply those, as a recovery would."""
        persistence_id = self._require_id()
        while self._unsettled:
            first, last = self._unsettled[0]
            stored = await journal.read_events(persistence_id, first - 1, last - first + 1)
            del self._unsettled[0]
            for item in stored:
                self._sequence = max(self._sequence, item.sequence)
                await _call(self.apply_event, item.event)

    async def _automatic_snapshot(self, sequence: int, every: int) -> None:
        if sequence - self._snapshot_sequence < every or sequence < self._snapshot_retry_at:
            return
        try:
            await self.save_snapshot()
        except Exception as error:
            # The event is stored and applied: failing persist now would invite a retry that
            # stores it twice. The events stay in the journal; try again ``every`` events later.
            self._snapshot_retry_at = sequence + every
            self._cell().kernel.logger.error(
                "automatic snapshot of %s %r at sequence %d failed (the events are kept; next"
                " attempt after %d more events): %s",
                type(self).__qualname__,
                self._persistence_id,
                sequence,
                every,
                error,
                exc_info=error,
            )

    def _after_append(self, sequence: int, count: int) -> None:
        kernel = self._cell().kernel
        if kernel.trace_messages:  # one event per append only when tracing is on
            kernel.bus.emit(
                "journal_appended",
                self._cell().address,
                fields={
                    "persistence_id": self._persistence_id,
                    "sequence": sequence,
                    "events": count,
                },
            )

    async def save_snapshot(self) -> int:
        """Store ``snapshot_state()`` as of the last persisted event; returns that sequence.

        With ``retain_events=False`` the events it covers are deleted afterwards.
        """
        journal = self._live_journal()
        persistence_id = self._require_id()
        if self._unsettled:
            await self._settle(journal)  # the state must include every stored event
        sequence = self._sequence
        await journal.save_snapshot(persistence_id, sequence, self.snapshot_state())
        self._snapshot_sequence = max(self._snapshot_sequence, sequence)
        deleted = 0
        if not self._retain_events:
            deleted = await journal.delete_events_to(persistence_id, sequence)
        cell = self._cell()
        cell.kernel.bus.emit(
            "journal_snapshot_saved",
            cell.address,
            fields={
                "persistence_id": persistence_id,
                "sequence": sequence,
                "events_deleted": deleted,
            },
        )
        return sequence

    async def delete_events_to(self, sequence: int) -> int:
        """Delete stored events up to ``sequence`` (inclusive); returns how many were deleted.

        Recovery then starts from the snapshot, so only what the latest snapshot covers may be
        deleted (``sequence <= snapshot_sequence``); anything more raises ``ValueError``.
        """
        journal = self._live_journal()
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise ValueError(f"sequence must be an int >= 0, got {sequence!r}")
        if self._unsettled:
            await self._settle(journal)
        if sequence > self._sequence:
            raise ValueError(
                f"cannot delete events up to {sequence}: the last persisted event is"
                f" {self._sequence}"
            )
        if sequence > self._snapshot_sequence:
            raise ValueError(
                f"cannot delete events up to {sequence}: the latest snapshot covers events up to"
                f" {self._snapshot_sequence} only, so recovery would lose the events after it;"
                " await self.save_snapshot() first"
            )
        return await journal.delete_events_to(self._require_id(), sequence)

    # -- timers ------------------------------------------------------------------------------

    def schedule_after(
        self,
        delay: float,
        payload: Any = None,
        *,
        durable: bool = False,
        timer_id: str | None = None,
    ) -> TimerId:
        """Deliver ``WakeupMessage(payload, timer_id)`` after ``delay`` seconds.

        ``durable=True`` stores the timer in the journal: it survives restarts and crashes and
        is delivered at least once. Await the result to wait until it is stored.
        """
        if durable:
            return self._durable_timers().schedule(delay, payload, timer_id, None, "skip")
        return TimerId(super().schedule_after(delay, payload, timer_id=timer_id))

    def schedule_every(
        self,
        interval: float,
        payload: Any = None,
        *,
        durable: bool = False,
        timer_id: str | None = None,
        missed: MissedTickPolicy = "skip",
    ) -> TimerId:
        """Deliver a ``WakeupMessage`` every ``interval`` seconds until cancelled.

        For a durable timer ``missed`` also decides what happens to ticks that fell due while
        the actor was down: ``skip`` fires once and reschedules from now, ``coalesce`` fires once
        with ``missed`` set to the number of skipped ticks, ``catch_up`` fires once per tick (at
        most 1000 at a time).
        """
        if durable:
            return self._durable_timers().schedule(interval, payload, timer_id, interval, missed)
        return TimerId(super().schedule_every(interval, payload, timer_id=timer_id, missed=missed))

    async def cancel_durable_timer(self, timer_id: str) -> bool:
        """Cancel a durable timer and wait until its row is deleted; returns whether it existed.

        (``cancel_timer`` cancels at once too, but deletes the row in the background.)
        """
        deletion = self._durable_timers().cancel(timer_id)
        if deletion is None:
            return False
        await deletion
        return True

    def _durable_timers(self) -> DurableTimers:
        self._live_journal()
        durable = self._durable
        assert durable is not None
        return durable

    def _spark_schedule_durable(
        self,
        delay: float,
        payload: Any,
        timer_id: str | None,
        interval: float | None,
        missed: MissedTickPolicy,
    ) -> str:
        return self._durable_timers().schedule(delay, payload, timer_id, interval, missed)

    def _spark_cancel_durable(self, timer_id: str) -> bool:
        durable = self._durable
        return durable is not None and durable.cancel(timer_id) is not None

    # -- lifecycle (runtime extension points) ------------------------------------------------

    async def _spark_before_start(self) -> None:
        persistence_id = self._require_id()
        cell = self._cell()
        if cell.max_concurrency != 1:
            raise InvalidActorSpecError(
                f"{type(self).__qualname__} {persistence_id!r} must process one message at a"
                f" time; remove max_concurrency={cell.max_concurrency} from its spec"
            )
        kernel = cell.kernel
        journal = getattr(kernel, "journal", None)
        if journal is None:
            raise PersistenceError(
                f"{type(self).__qualname__} {persistence_id!r} needs a journal, but the"
                " syndicate has none: create it with"
                " Syndicate(journal=SQLiteJournal('app.db'), owns_journal=True)"
                " (from spark.persistence), or InMemoryJournal() in tests"
            )
        registry = self._registry = kernel.extension(REGISTRY_KEY, PersistenceRegistry)
        previous = registry.claim(persistence_id, cell, self)
        if previous is not None and previous is not self:
            previous._spark_retire()
        await self._recover(journal, persistence_id)

    async def _recover(self, journal: Journal, persistence_id: str) -> None:
        started = time.perf_counter()
        self._recovering = True
        try:
            snapshot = await journal.load_snapshot(persistence_id)
            sequence = 0
            if snapshot is not None:
                sequence = self._sequence = snapshot.sequence
                await self._replay(self.apply_snapshot, snapshot.state, "the snapshot")
            snapshot_sequence = sequence
            replayed = 0
            while True:
                page = await journal.read_events(persistence_id, sequence, RECOVERY_PAGE)
                for item in page:
                    sequence = self._sequence = item.sequence
                    await self._replay(self.apply_event, item.event, f"event {item.sequence}")
                replayed += len(page)
                if len(page) < RECOVERY_PAGE:
                    break
            highest = await journal.highest_sequence(persistence_id)
            timers = await journal.list_timers(persistence_id)
        finally:
            self._recovering = False
        self._sequence = max(sequence, highest)
        self._snapshot_sequence = snapshot_sequence
        self._journal = journal
        cell = self._cell()
        durable = DurableTimers(self, cell, journal, persistence_id)
        durable.recover(timers)
        self._durable = durable
        try:
            await _call(self.on_recovered)
        except BaseException:
            durable.retire()
            raise
        cell.kernel.bus.emit(
            "journal_recovered",
            cell.address,
            fields={
                "persistence_id": persistence_id,
                "snapshot_sequence": snapshot_sequence,
                "events_replayed": replayed,
                "sequence": self._sequence,
                "timers": len(timers),
                "incarnation": cell.incarnation,
                "duration": time.perf_counter() - started,
            },
        )

    async def _replay(self, apply: Any, value: Any, what: str) -> None:
        try:
            await _call(apply, value)
        except NotImplementedError:
            raise
        except Exception as error:
            raise PersistenceError(
                f"recovery of {type(self).__qualname__} {self._persistence_id!r} failed:"
                f" {apply.__name__} raised {error!r} on {what}"
            ) from error

    async def _spark_after_stop(self) -> None:
        # The core runs this however the actor ends (orderly stop, kill, failed pre_start).
        self._spark_retire()
        registry, self._registry = self._registry, None
        if registry is not None and self._persistence_id is not None:
            registry.release(self._persistence_id, self)

    def _spark_retire(self) -> None:
        """This instance stopped or was replaced: its durable timers stop firing (rows stay)."""
        durable = self._durable
        if durable is not None:
            durable.retire()
