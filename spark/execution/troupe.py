"""``Troupe``: one address in front of a pool of worker actors built from one spec.

    troupe = await system.create_actor(Troupe, ActorSpec(Resize, execution="process",
                                                         stateless=True), max_count=4)
    thumbnail = await system.ask(image, troupe)

Messages are queued in the Troupe and handed to its workers (children created from the spec, in
any execution mode) by ``routing``; the Troupe grows up to ``max_count`` workers under load and,
after ``idle_timeout`` seconds without work, trims back to ``idle_count``. Work is passed on
with ``forward``, so a worker's reply goes straight to the original sender. Work whose worker
exits mid-way is re-dispatched (at most ``max_redeliveries`` times); work whose ask is over
before a worker is free is dead-lettered, not run. ``max_pending`` bounds the queue: beyond it
a send is refused with ``"troupe full"``.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from spark.core.actor import Actor
from spark.core.exceptions import InvalidActorSpecError
from spark.core.identity import ActorAddress, Envelope
from spark.core.message import Message
from spark.core.spec import ActorSpec
from spark.core.supervision import SupervisorStrategy
from spark.execution._protocol import DispatchHook, DoorStash, dump_payload, pickle_refusal
from spark.execution.messages import (
    UNCHANGED,
    GetTroupeStatus,
    Routing,
    TroupeStatus,
    UpdateTroupeSettings,
    check_settings,
)

if TYPE_CHECKING:
    from spark.core.syndicate import Syndicate

__all__ = ["TROUPE_FULL", "Troupe"]

#: Refusal reason of a send to a Troupe whose queue is at ``max_pending``.
TROUPE_FULL: Final = "troupe full"
#: Dead-letter reason of queued work whose asker stopped waiting before a worker was free.
ASK_OVER: Final = "ask timed out or cancelled"


class _Pump:
    """Internal wake-up: work finished (or came back), so the queue may move on."""

    __slots__ = ()


class _Trim:
    """Internal wake-up: surplus workers may have idled long enough to be stopped."""

    __slots__ = ()


_PUMP: Final = _Pump()
_TRIM: Final = _Trim()
_OWN_MESSAGES: Final = frozenset({_Pump, _Trim, GetTroupeStatus, UpdateTroupeSettings})


class _Member:
    """One worker as the Troupe sees it."""

    __slots__ = ("address", "jobs", "last_active", "retiring")

    def __init__(self, address: ActorAddress, now: float) -> None:
        self.address = address
        self.jobs: set[_Job] = set()
        self.last_active = now
        self.retiring = False


class _Job(DispatchHook):
    """One message on its way through the Troupe; it is also the forward's ``on_done``."""

    __slots__ = ("attempts", "early", "member", "message", "troupe")

    def __init__(self, troupe: Troupe, message: Envelope, payload: bytes | None) -> None:
        super().__init__()
        self.troupe = troupe
        self.message = message
        self.pickled_payload = payload
        self.member: _Member | None = None
        self.attempts = 0
        self.early: str | None = None

    def __call__(self, envelope: Envelope, outcome: str) -> bool:
        return self.troupe._finished(self, outcome)

    def redispatch(self, envelope: Envelope, reason: str) -> bool:
        return self.troupe._take_back(self)


class Troupe(Actor):
    """A pool actor: one address, up to ``max_count`` workers built from ``worker_spec``.

    * ``worker_spec`` - an :class:`ActorSpec` (or an actor class) for the workers, any execution
      mode; it must not have a ``name`` (there are several workers).
    * ``max_count`` - most workers at once (default 8).
    * ``idle_count`` - workers kept when idle, started with the Troupe (default
      ``min(2, max_count)``).
    * ``max_pending`` - most messages waiting for a worker; ``None`` (default) is unbounded.
    * ``routing`` - ``"least_busy"`` (default: an idle worker, else a new one, else the least
      loaded) or ``"round_robin"``.
    * ``idle_timeout`` - seconds a surplus worker may idle before it is stopped (default 30).
    * ``max_redeliveries`` - how often one message is re-dispatched after its worker exited
      mid-work (default 3).

    Ask it :class:`GetTroupeStatus` for a :class:`TroupeStatus`; send
    :class:`UpdateTroupeSettings` to change settings while it runs.
    """

    _spark_gated = True
    _system: Syndicate  # set in pre_start
    #: Workers that fail are restarted in place (stateless workers lose nothing by it).
    supervisor_strategy = SupervisorStrategy.restart()

    def __init__(
        self,
        worker_spec: ActorSpec | type[Actor],
        max_count: int = 8,
        idle_count: int | None = None,
        max_pending: int | None = None,
        routing: Routing = "least_busy",
        *,
        idle_timeout: float = 30.0,
        max_redeliveries: int = 3,
    ) -> None:
        if isinstance(worker_spec, type) and issubclass(worker_spec, Actor):
            worker_spec = ActorSpec(worker_spec)
        if not isinstance(worker_spec, ActorSpec):
            raise TypeError(
                f"Troupe needs an ActorSpec (or an Actor subclass) for its workers, got"
                f" {worker_spec!r}"
            )
        if worker_spec.name is not None:
            raise InvalidActorSpecError(
                f"the worker spec of a Troupe must not have a name (got {worker_spec.name!r}):"
                " the Troupe creates several workers from it. Register a name for the Troupe"
                " instead"
            )
        check_settings(max_count, None, max_pending, routing, idle_timeout)
        if idle_count is None:
            idle_count = min(2, max_count)
        check_settings(max_count, idle_count, UNCHANGED, None, None)
        if (
            not isinstance(max_redeliveries, int)
            or isinstance(max_redeliveries, bool)
            or max_redeliveries < 0
        ):
            raise ValueError(f"max_redeliveries must be an int >= 0, got {max_redeliveries!r}")
        self._spec = worker_spec
        self._capacity = worker_spec.max_concurrency
        self._pickle_payloads = worker_spec.execution == "process"
        self._max_count = max_count
        self._idle_count = idle_count
        self._max_pending = max_pending
        self._routing: Routing = routing
        self._idle_timeout = float(idle_timeout)
        self._max_redeliveries = max_redeliveries
        self._members: dict[ActorAddress, _Member] = {}
        self._pending: deque[_Job] = deque()
        self._prepickled = DoorStash()
        self._in_flight = 0
        self._forwarding: _Job | None = None
        self._pump_posted = False
        self._trim_handle: TimerHandle | None = None
        self._closed = False
        self._next_turn = 0
        self._dispatched = 0
        self._completed = 0
        self._failed = 0
        self._redispatched = 0
        self._lost = 0
        self._refused = 0

    def __repr__(self) -> str:
        return (
            f"<Troupe of {self._spec.actor_class.__qualname__} workers={len(self._members)}"
            f" in_flight={self._in_flight} pending={len(self._pending)}>"
        )

    # -- the door (runs on the sender's side, before the message is queued) --------------

    def _spark_admit(self, envelope: Envelope) -> str | None:
        if envelope.content.__class__ in _OWN_MESSAGES:
            return None
        max_pending = self._max_pending
        if max_pending is not None:
            free = max(0, self._max_count * self._capacity - self._in_flight)
            if self._waiting() >= free + max_pending:
                self._refused += 1
                return TROUPE_FULL
        if self._pickle_payloads:
            try:
                self._prepickled.put(envelope, dump_payload(envelope))
            except Exception as error:
                return pickle_refusal(self._spec.actor_class.__qualname__, error)
        return None

    def _waiting(self) -> int:
        """Messages accepted but not handed to a worker (queued here or still in the mailbox)."""
        cell = self._spark_cell
        queued = 0 if cell is None else cell.mailbox.depth()
        return len(self._pending) + queued

    # -- lifecycle -----------------------------------------------------------------------

    async def pre_start(self) -> None:
        self._system = self.system  # still reachable after the cell is gone (see _close)
        # Start the idle workers now: a broken worker spec fails create_actor(Troupe, ...).
        for _ in range(self._idle_count):
            address = await self.create_actor_from_spec(self._spec)
            self._members[address] = _Member(address, self._now())

    async def post_stop(self) -> None:
        self._close("system is shut down" if self.system.closing else "actor stopped")

    async def pre_restart(self, error: BaseException) -> None:
        self._close("troupe restarted")

    async def _spark_after_stop(self) -> None:
        # Also runs after a kill, which skips post_stop: queued work must not vanish silently.
        if not self._closed:
            self._close("system is shut down" if self._system.closing else "actor stopped")

    def _close(self, reason: str) -> None:
        self._closed = True
        self._cancel_trim()
        system = self._system
        while self._pending:
            system._dead_letter(self._pending.popleft().message, reason)
        self._prepickled.clear()

    async def on_child_exited(self, child: ActorAddress, reason: str) -> None:
        member = self._members.pop(child, None)
        if member is None or self._closed:
            return  # a worker we stopped ourselves, or we are going away
        for job in list(member.jobs):  # normally already reported through on_done
            self._detach(job)
            if self._can_retry(job):
                self._requeue(job)
            else:
                self._lost += 1
        if len(self._members) < self._idle_count:
            await self._grow()
        await self._dispatch()

    # -- messages ------------------------------------------------------------------------

    async def process(self, message: Message) -> Any:
        content = message.content
        kind = content.__class__
        if kind is _Pump:
            self._pump_posted = False
            await self._retire_idle()
            await self._dispatch()
            return None
        if kind is GetTroupeStatus:
            return self.status()
        if kind is UpdateTroupeSettings:
            return await self._update(message, content)
        if kind is _Trim:
            self._trim_handle = None
            await self._trim()
            return None
        assert isinstance(message, Envelope)
        cell = self._spark_cell
        payload = self._prepickled.take(message, None if cell is None else cell.mailbox.user)
        self._pending.append(_Job(self, message, payload))
        await self._dispatch()
        return None

    def status(self) -> TroupeStatus:
        """The current :class:`TroupeStatus` (what :class:`GetTroupeStatus` replies)."""
        members = self._members.values()
        busy = sum(1 for member in members if member.jobs)
        return TroupeStatus(
            workers=len(self._members),
            busy=busy,
            idle=len(self._members) - busy,
            in_flight=self._in_flight,
            pending=self._waiting(),
            max_count=self._max_count,
            idle_count=self._idle_count,
            max_pending=self._max_pending,
            routing=self._routing,
            idle_timeout=self._idle_timeout,
            dispatched=self._dispatched,
            completed=self._completed,
            failed=self._failed,
            redispatched=self._redispatched,
            lost=self._lost,
            refused=self._refused,
            worker_addresses=tuple(self._members),
        )

    async def _update(self, message: Message, update: UpdateTroupeSettings) -> TroupeStatus | None:
        max_count = self._max_count if update.max_count is UNCHANGED else update.max_count
        idle_count = self._idle_count if update.idle_count is UNCHANGED else update.idle_count
        max_pending = self._max_pending if update.max_pending is UNCHANGED else update.max_pending
        routing = self._routing if update.routing is UNCHANGED else update.routing
        timeout = self._idle_timeout if update.idle_timeout is UNCHANGED else update.idle_timeout
        try:
            check_settings(max_count, idle_count, max_pending, routing, timeout)
        except (TypeError, ValueError) as error:
            # Fail the ask with the error, keep the pool running as it was.
            if isinstance(message, Envelope):
                self.system._fail_slot(message, error)
                self.system._dead_letter(message, f"invalid troupe settings: {error}")
            return None
        self._max_count = max_count
        self._idle_count = idle_count
        self._max_pending = max_pending
        self._routing = routing
        if timeout != self._idle_timeout:
            self._cancel_trim()
        self._idle_timeout = float(timeout)
        while len(self._members) < idle_count and await self._grow() is not None:
            pass  # a higher idle_count is a floor, as at start: start the missing workers
        surplus = len(self._members) - max_count
        if surplus > 0:
            # Idle workers leave first (longest idle first), then the least loaded busy ones,
            # which finish what they hold.
            order = sorted(self._members.values(), key=lambda m: (len(m.jobs), m.last_active))
            for member in order[:surplus]:
                member.retiring = True
            await self._retire_idle()
        await self._dispatch()
        return self.status()

    # -- dispatching ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while self._pending and not self._closed:
            member = await self._choose()
            # Checked once a worker is free, not on every wake-up of a full Troupe.
            if member is None or not self._drop_unanswerable():
                break
            await self._send(self._pending.popleft(), member)
        self._schedule_trim()

    def _drop_unanswerable(self) -> bool:
        """Dead-letter queued work nobody can use any more; whether work is left to send.

        The core removes a cancelled ask's message from a mailbox, but here it already left
        the mailbox for the Troupe's own queue, and a timed-out ask leaves its message queued
        everywhere: without this, a backlog of abandoned asks would hold the workers while
        live asks wait behind it.
        """
        pending = self._pending
        while pending:
            reason = self._unanswerable(pending[0].message)
            if reason is None:
                return True
            self._lost += 1
            self._system._dead_letter(pending.popleft().message, reason)
        return False

    async def _choose(self) -> _Member | None:
        capacity = self._capacity
        local_cell = self.system._local_cell
        available = [
            member
            for member in self._members.values()
            if not member.retiring
            and len(member.jobs) < capacity
            and _accepting(local_cell(member.address))
        ]
        can_grow = len(self._members) < self._max_count
        if self._routing == "round_robin":
            if available:
                turn = self._next_turn % len(available)
                self._next_turn = turn + 1
                return available[turn]
            return await self._grow() if can_grow else None
        idle = [member for member in available if not member.jobs]
        if idle:
            return max(idle, key=lambda member: member.last_active)  # hottest idle worker
        if can_grow:
            member = await self._grow()
            if member is not None:
                return member
        if available:
            return min(available, key=lambda member: len(member.jobs))
        return None

    async def _grow(self) -> _Member | None:
        try:
            address = await self.create_actor_from_spec(self._spec)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.system.logger.warning(
                "Troupe %s could not start a worker: %r", self.address, error
            )
            if not self._members:
                # Nobody could ever take the queued work: fail it now rather than at timeout.
                reason = f"troupe could not start a worker: {type(error).__name__}: {error}"
                while self._pending:
                    self.system._dead_letter(self._pending.popleft().message, reason)
            return None
        member = self._members[address] = _Member(address, self._now())
        return member

    async def _send(self, job: _Job, member: _Member) -> None:
        job.member = member
        job.early = None
        member.jobs.add(job)
        member.last_active = self._now()
        self._in_flight += 1
        self._dispatched += 1
        self._forwarding = job
        try:
            result = await self.system._forward(job.message, member.address, self._cell(), job)
        finally:
            self._forwarding = None
        if not result.success or job.early is not None:
            # Refused or dropped on the way in: the runtime dead-lettered it and failed the ask.
            self._detach(job)
            self._lost += 1

    def _finished(self, job: _Job, outcome: str) -> bool:
        """``on_done`` of a dispatched message: the worker processed, failed or dropped it.

        Returns ``True`` when a dropped message was taken back for another worker, so the
        runtime neither dead-letters it nor fails its ask.
        """
        if self._forwarding is job:
            job.early = outcome
            return False
        member = self._detach(job)
        taken_back = False
        if outcome == "processed":
            self._completed += 1
        elif outcome == "failed":
            self._failed += 1
        elif self._can_retry(job):
            self._requeue(job)
            taken_back = True
        else:
            self._lost += 1
        self._poke(member is not None and member.retiring and not member.jobs)
        return taken_back

    def _take_back(self, job: _Job) -> bool:
        """A worker process died under ``job``; re-dispatch it if it may still be answered."""
        if self._forwarding is job or not self._can_retry(job):
            return False
        self._detach(job)
        self._requeue(job)
        self._poke(False)
        return True

    def _detach(self, job: _Job) -> _Member | None:
        member = job.member
        if member is not None:
            job.member = None
            member.jobs.discard(job)
            member.last_active = self._now()
            self._in_flight -= 1
        return member

    def _can_retry(self, job: _Job) -> bool:
        if self._closed or job.attempts >= self._max_redeliveries:
            return False
        return self._unanswerable(job.message) is None

    def _unanswerable(self, message: Envelope) -> str | None:
        """Why handling ``message`` now would be wasted (expired, its ask is over), or None."""
        if message.deadline is not None and message.deadline <= self._now():
            return "message expired"
        correlation_id = message.correlation_id
        if correlation_id is None:
            return None  # a tell: its reply goes to the sender's inbox whenever it comes
        sender = message.sender
        if sender is None or sender.syndicate_id != self._system.syndicate_id:
            return None  # a remote asker: only its own syndicate knows whether it still waits
        slot = self._system._slots.get(correlation_id)
        if slot is None or not slot.open:
            return ASK_OVER
        return None

    def _requeue(self, job: _Job) -> None:
        job.attempts += 1
        self._redispatched += 1
        self._pending.appendleft(job)

    def _poke(self, retire: bool) -> None:
        """Make the run loop look at the queue again (at most one wake-up in flight)."""
        if self._pump_posted or self._closed or not (self._pending or retire):
            return
        self._pump_posted = self._post_self(_PUMP)

    def _post_self(self, content: _Pump | _Trim) -> bool:
        """Queue an internal wake-up behind the work already queued (the user lane)."""
        cell = self._spark_cell
        if cell is None or not cell.accepting or self._closed:
            return False
        kernel = cell.kernel
        envelope = Envelope(
            content, None, cell.address, kernel._next_id(), None, None, kernel.clock()
        )
        envelope.incarnation = cell.incarnation
        return kernel._deliver(cell, envelope, cell).success

    # -- shrinking -----------------------------------------------------------------------

    async def _retire_idle(self) -> None:
        for member in list(self._members.values()):
            if member.retiring and not member.jobs:
                await self._stop_member(member, "troupe shrank")

    async def _stop_member(self, member: _Member, reason: str) -> None:
        self._members.pop(member.address, None)
        await self.system.stop(member.address, reason)

    def _schedule_trim(self) -> None:
        # A loop timer of our own (cancelled in _close) that posts _TRIM to our mailbox.
        if self._trim_handle is not None or self._closed:
            return
        if len(self._members) <= self._idle_count:
            return
        now = self._now()
        idle = [m.last_active for m in self._members.values() if not m.jobs and not m.retiring]
        delay = self._idle_timeout if not idle else min(idle) + self._idle_timeout - now
        self._trim_handle = self.system.loop.call_later(max(delay, 0.001), self._trim_due)

    def _trim_due(self) -> None:
        if not self._post_self(_TRIM):
            self._trim_handle = None

    def _cancel_trim(self) -> None:
        handle, self._trim_handle = self._trim_handle, None
        if handle is not None:
            handle.cancel()

    async def _trim(self) -> None:
        surplus = len(self._members) - self._idle_count
        if surplus > 0:
            now = self._now()
            idle = sorted(
                (m for m in self._members.values() if not m.jobs and not m.retiring),
                key=lambda member: member.last_active,
            )
            for member in idle[:surplus]:
                if now - member.last_active >= self._idle_timeout:
                    await self._stop_member(member, "idle worker trimmed")
        self._schedule_trim()

    # -- small helpers -------------------------------------------------------------------

    def _now(self) -> float:
        return self.system.clock()


def _accepting(cell: Any) -> bool:
    return cell is not None and bool(cell.accepting)
