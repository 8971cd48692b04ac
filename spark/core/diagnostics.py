"""Point-in-time snapshots of a syndicate and its actors.

Snapshots are frozen values built on demand; keeping them costs the hot path nothing (the
counters they read are plain integers the run loop increments anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spark.core._asks import StreamSlot
from spark.core._runtime import RUNNING, STARTING, STOPPED, STOPPING
from spark.core.identity import ActorAddress

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.core._tree import TreeKernel

__all__ = ["ActorDiagnostics", "PendingAsk", "RuntimeDiagnostics", "collect"]

_STATE_NAMES = {STARTING: "starting", RUNNING: "running", STOPPING: "stopping", STOPPED: "stopped"}


@dataclass(frozen=True, slots=True)
class ActorDiagnostics:
    """One actor at the moment of the snapshot.

    ``mailbox_depth`` counts queued user messages (``control_depth`` the control lane),
    ``oldest_queued_age`` is the age in seconds (since it was sent) of the oldest queued user
    message, ``blocked_senders`` the senders waiting for space in a full ``block`` mailbox.
    ``mean_processing_time`` is the run loop's busy time divided by the messages it handled
    (processed + failed), in seconds; ``None`` before the first message and for actors with
    ``max_concurrency > 1`` (their handlers overlap, so busy time is not measured).
    """

    address: ActorAddress
    actor_class: str
    parent: ActorAddress | None
    children: tuple[ActorAddress, ...]
    names: tuple[str, ...]
    state: str
    busy: bool
    mailbox_depth: int
    mailbox_capacity: int | None
    overflow: str
    blocked_senders: int
    control_depth: int
    oldest_queued_age: float | None
    processed: int
    failures: int
    restarts: int
    mean_processing_time: float | None
    incarnation: int
    timers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": str(self.address),
            "actor_class": self.actor_class,
            "parent": None if self.parent is None else str(self.parent),
            "children": [str(child) for child in self.children],
            "names": list(self.names),
            "state": self.state,
            "busy": self.busy,
            "mailbox_depth": self.mailbox_depth,
            "mailbox_capacity": self.mailbox_capacity,
            "overflow": self.overflow,
            "blocked_senders": self.blocked_senders,
            "control_depth": self.control_depth,
            "oldest_queued_age": self.oldest_queued_age,
            "processed": self.processed,
            "failures": self.failures,
            "restarts": self.restarts,
            "mean_processing_time": self.mean_processing_time,
            "incarnation": self.incarnation,
            "timers": self.timers,
        }


@dataclass(frozen=True, slots=True)
class PendingAsk:
    """An edge of the wait-for graph: ``asker`` has been waiting ``age`` seconds on ``target``."""

    asker: ActorAddress | None
    target: ActorAddress | None
    age: float
    correlation_id: int
    stream: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "asker": None if self.asker is None else str(self.asker),
            "target": None if self.target is None else str(self.target),
            "age": self.age,
            "correlation_id": self.correlation_id,
            "stream": self.stream,
        }


@dataclass(frozen=True, slots=True)
class RuntimeDiagnostics:
    """The whole syndicate at the moment of the snapshot.

    ``dead_letters_by_reason`` counts every dead letter since start by reason category (the
    part of the reason before ``":"``); ``pending_asks`` lists who waits on whom and for how
    long (the edges of a wait-for graph); ``to_dict()`` is JSON-serialisable and
    ``format_status()`` renders it for humans.
    """

    syndicate_id: str
    name: str | None
    uptime: float
    actor_count: int
    dead_letter_count: int
    dead_letters_by_reason: Mapping[str, int]
    late_reply_count: int
    pending_asks: tuple[PendingAsk, ...]
    event_counts: Mapping[str, int]
    actors: tuple[ActorDiagnostics, ...]

    def actor(self, address: ActorAddress) -> ActorDiagnostics:
        """The entry of one actor; ``KeyError`` when it is not in the snapshot."""
        for entry in self.actors:
            if entry.address == address:
                return entry
        raise KeyError(address)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "syndicate_id": self.syndicate_id,
            "name": self.name,
            "uptime": self.uptime,
            "actor_count": self.actor_count,
            "dead_letter_count": self.dead_letter_count,
            "dead_letters_by_reason": dict(self.dead_letters_by_reason),
            "late_reply_count": self.late_reply_count,
            "pending_asks": [ask.to_dict() for ask in self.pending_asks],
            "event_counts": dict(self.event_counts),
            "actors": [actor.to_dict() for actor in self.actors],
        }

    def format_status(self) -> str:
        """A human-readable status report (in the spirit of OTP's ``format_status``)."""
        label = f" ({self.name})" if self.name else ""
        lines = [
            f"syndicate {self.syndicate_id}{label}: up {self.uptime:.1f} s,"
            f" {self.actor_count} actors, {self.dead_letter_count} dead letters,"
            f" {self.late_reply_count} late replies, {len(self.pending_asks)} pending asks",
        ]
        if self.dead_letters_by_reason:
            reasons = ", ".join(
                f"{reason}={count}" for reason, count in sorted(self.dead_letters_by_reason.items())
            )
            lines.append(f"  dead letters by reason: {reasons}")
        for ask in self.pending_asks:
            lines.append(f"  waiting: {ask.asker} -> {ask.target} for {ask.age:.3f} s")
        for entry in self.actors:
            age = "-" if entry.oldest_queued_age is None else f"{entry.oldest_queued_age:.3f}s"
            mean = (
                "-"
                if entry.mean_processing_time is None
                else f"{entry.mean_processing_time * 1e6:.1f}us"
            )
            capacity = (
                ""
                if entry.mailbox_capacity is None
                else f"/{entry.mailbox_capacity} {entry.overflow}"
            )
            blocked = f" blocked_senders={entry.blocked_senders}" if entry.blocked_senders else ""
            lines.append(
                f"  {entry.address} {entry.actor_class} [{entry.state}{', busy' if entry.busy else ''}]"
                f" inc={entry.incarnation} queue={entry.mailbox_depth}{capacity}{blocked}"
                f" oldest={age}"
                f" processed={entry.processed} failures={entry.failures}"
                f" restarts={entry.restarts} mean={mean}"
            )
        return "\n".join(lines)


def _actor_entry(cell: ActorCell, now: float) -> ActorDiagnostics:
    mailbox = cell.mailbox
    user = mailbox.user
    oldest = None if not user else max(now - user[0].enqueued_at, 0.0)
    state = _STATE_NAMES[cell.state]
    if cell.state == RUNNING and cell.suspended:
        state = "suspended"
    handled = cell.processed + cell.failures
    mean = None
    if handled and cell.max_concurrency == 1:
        mean = cell.busy_time / handled
    waiters = mailbox.space_waiters
    return ActorDiagnostics(
        address=cell.address,
        actor_class=type(cell.actor).__qualname__,
        parent=None if cell.parent is None else cell.parent.address,
        children=tuple(child.address for child in cell.children or ()),
        names=tuple(cell.names or ()),
        state=state,
        busy=cell.current is not None or bool(cell.inflight),
        mailbox_depth=mailbox.depth(),
        mailbox_capacity=mailbox.max_size,
        overflow=mailbox.overflow,
        blocked_senders=0 if not waiters else sum(1 for w in waiters if not w.done()),
        control_depth=0 if mailbox.control is None else len(mailbox.control),
        oldest_queued_age=oldest,
        processed=cell.processed,
        failures=cell.failures,
        restarts=cell.restarts,
        mean_processing_time=mean,
        incarnation=cell.incarnation,
        timers=cell.timer_count(),
    )


def collect(kernel: TreeKernel) -> RuntimeDiagnostics:
    now = kernel.clock()
    pending = tuple(
        PendingAsk(
            asker=slot.envelope.sender,
            target=slot.envelope.target,
            age=max(now - slot.envelope.enqueued_at, 0.0),
            correlation_id=correlation_id,
            stream=isinstance(slot, StreamSlot),
        )
        for correlation_id, slot in list(kernel._slots.items())
    )
    cells = sorted(kernel._cells.values(), key=lambda cell: cell.address.actor_id)
    return RuntimeDiagnostics(
        syndicate_id=kernel.syndicate_id,
        name=kernel.name,
        uptime=0.0 if not kernel.started_at else now - kernel.started_at,
        actor_count=len(cells),
        dead_letter_count=kernel.office.total,
        dead_letters_by_reason=dict(kernel.office.by_reason),
        late_reply_count=kernel.office.late_total,
        pending_asks=pending,
        event_counts=dict(kernel.bus.counts),
        actors=tuple(_actor_entry(cell, now) for cell in cells),
    )
