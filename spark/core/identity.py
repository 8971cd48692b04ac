"""Identities and the internal envelope.

``ActorAddress`` is the only way to reach an actor: a syndicate id plus an actor id that is never
reused inside that syndicate, so a stale address can never reach a newer actor. A supervised
restart keeps the address (the incarnation counter changes instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NewType

from spark.core.message import Message

__all__ = ["ActorAddress", "ActorId", "Dropped", "Envelope", "SyndicateId"]

SyndicateId = NewType("SyndicateId", str)
ActorId = NewType("ActorId", int)


@dataclass(frozen=True, slots=True, eq=False)
class ActorAddress:
    """Where an actor lives: ``(syndicate_id, actor_id)``. Hashable, comparable, picklable.

    Actor id ``0`` is the syndicate's own inbox; endpoints and actors get ids from one counter.
    """

    syndicate_id: str
    actor_id: int

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ActorAddress:
            return NotImplemented
        assert isinstance(other, ActorAddress)
        return self.actor_id == other.actor_id and self.syndicate_id == other.syndicate_id

    def __hash__(self) -> int:
        return hash((self.syndicate_id, self.actor_id))

    def __repr__(self) -> str:
        return f"ActorAddress({self.syndicate_id}/{self.actor_id})"

    def __str__(self) -> str:
        return f"{self.syndicate_id}/{self.actor_id}"


class Dropped(str):
    """The ``"dropped"`` outcome given to ``Envelope.on_done``, carrying why (``.reason``).

    It compares equal to ``"dropped"``, so ``outcome == "dropped"`` keeps working.
    """

    reason: str

    def __new__(cls, reason: str) -> Dropped:
        outcome = super().__new__(cls, "dropped")
        outcome.reason = reason
        return outcome


class Envelope(Message):
    """Internal: a message in flight. Not public API; fields may change between releases.

    An envelope *is* the :class:`Message` its receiver sees (one object per delivery instead of
    two), plus the routing facts the runtime needs. ``deadline`` and ``enqueued_at`` are
    ``time.monotonic()`` values; ``incarnation`` binds runtime-originated messages (timer wakeups)
    to the incarnation that scheduled them; ``on_done`` lets an extension (a pool, a durable
    timer) learn how the delivery ended: it is called once with ``"processed"``, ``"failed"`` or
    ``"dropped"`` (a :class:`Dropped`, whose ``reason`` says why); for a drop it may return
    ``True`` to take the message back (it is then neither dead-lettered nor does its ask fail).
    """

    __slots__ = ("deadline", "enqueued_at", "incarnation", "on_done", "target")

    target: ActorAddress | None
    deadline: float | None
    enqueued_at: float
    incarnation: int | None
    on_done: Callable[[Envelope, str], bool | None] | None

    def __init__(
        self,
        content: Any,
        sender: ActorAddress | None,
        target: ActorAddress | None,
        id: int,
        correlation_id: int | None,
        deadline: float | None,
        enqueued_at: float,
        metadata: dict[str, Any] | None = None,
        state: Any = None,
    ) -> None:
        self.content = content
        self.sender = sender
        self.target = target
        self.id = id
        self.correlation_id = correlation_id
        self.deadline = deadline
        self.enqueued_at = enqueued_at
        self._metadata = metadata
        self.state = state
        self.incarnation = None
        self.on_done = None

    def __repr__(self) -> str:
        return (
            f"Envelope(content={self.content!r}, sender={self.sender!r}, target={self.target!r},"
            f" id={self.id}, correlation_id={self.correlation_id})"
        )
