"""Messages the runtime itself sends, and the small result types of sending.

All are frozen, slotted dataclasses so they are cheap, immutable and safe to share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spark.core.identity import ActorAddress

__all__ = [
    "ABNORMAL_EXIT",
    "NORMAL_EXIT",
    "ActorExited",
    "CancellationRequest",
    "ChildActorExited",
    "ChildActorRestarted",
    "DeliveryResult",
    "WakeupMessage",
]

#: ``exit_code`` of an actor that stopped because it was asked to (or the system shut down).
NORMAL_EXIT = 0
#: ``exit_code`` of an actor that stopped because something went wrong.
ABNORMAL_EXIT = 1


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What ``tell`` reports: the message was enqueued locally (or handed to a transport).

    It is not an end-to-end acknowledgement. ``reason`` is one of the fixed strings listed in
    ``docs/actor_semantics.md`` ("delivered", "target not found", "mailbox full", ...).
    """

    success: bool
    reason: str

    def __bool__(self) -> bool:
        return self.success


@dataclass(frozen=True, slots=True)
class ActorExited:
    """Sent once to each watcher (monitor) of an actor when it stops, and to linked actors that
    trap exits. ``exit_code`` is 0 for a normal stop, 1 otherwise."""

    actor: ActorAddress
    reason: str
    exit_code: int = NORMAL_EXIT


@dataclass(frozen=True, slots=True)
class ChildActorExited:
    """Notice to a parent that one of its children stopped."""

    child: ActorAddress
    reason: str
    exit_code: int = NORMAL_EXIT


@dataclass(frozen=True, slots=True)
class ChildActorRestarted:
    """Notice to a parent that one of its children was restarted by supervision."""

    child: ActorAddress
    old_incarnation: int
    new_incarnation: int
    reason: str


@dataclass(frozen=True, slots=True)
class WakeupMessage:
    """Delivered (as ``message.content``) when a timer fires."""

    payload: Any
    timer_id: str
    missed: int = 0


@dataclass(frozen=True, slots=True)
class CancellationRequest:
    """Sent best-effort to the target of an ask whose caller was cancelled."""

    correlation_id: int
