"""Runtime events: a bounded ring of recent events and synchronous subscribers.

Events describe lifecycle and failure (``actor_started``, ``dead_letter``, ...). Nothing here is
touched per message unless ``trace_messages=True``: the hot path only tests a boolean.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from spark.core.identity import ActorAddress

__all__ = ["EVENT_KINDS", "EventBus", "EventCallback", "RuntimeEvent", "Unsubscribe"]

EVENT_KINDS: Final[frozenset[str]] = frozenset(
    {
        "actor_started",
        "actor_stopped",
        "actor_restarted",
        "actor_failed",
        "lifecycle_hook_failed",
        "supervision_decision",
        "supervision_escalated",
        "mailbox_overflow",
        "dead_letter",
        "late_reply",
        "ask_timed_out",
        "ask_cancelled",
        "timer_fired",
        "subscriber_failed",
        "journal_appended",
        "journal_snapshot_saved",
        "journal_recovered",
        "peer_connected",
        "peer_disconnected",
        "handshake_failed",
        "frame_rejected",
        "member_joined",
        "member_suspect",
        "member_down",
        "member_left",
        "message_enqueued",
        "message_processed",
    }
)

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RuntimeEvent:
    """Something the runtime did or saw. ``timestamp`` is wall-clock seconds (``time.time()``)."""

    kind: str
    syndicate_id: str
    timestamp: float
    actor: ActorAddress | None = None
    message_id: int | None = None
    reason: str | None = None
    fields: Mapping[str, Any] = field(default_factory=lambda: _NO_FIELDS)


EventCallback = Callable[[RuntimeEvent], Any]
Unsubscribe = Callable[[], None]


class _Subscription:
    __slots__ = ("active", "callback", "kinds")

    def __init__(self, callback: EventCallback, kinds: frozenset[str] | None) -> None:
        self.callback = callback
        self.kinds = kinds
        self.active = True


class EventBus:
    """Bounded ring of recent events plus subscribers.

    A subscriber is called synchronously with each matching event. If it returns an awaitable,
    the awaitable is handed to ``spawn`` (the syndicate runs it as an owned task). A subscriber
    that raises is unsubscribed, logged and reported as a ``subscriber_failed`` event (after the
    other subscribers got the event that caused it); it never breaks the code that emitted the
    event. With no subscriber, an event costs one small allocation and a ring append; the runtime
    emits none per message unless tracing is on.
    """

    def __init__(
        self,
        syndicate_id: str,
        capacity: int,
        logger: logging.Logger,
        spawn: Callable[[Any], None],
    ) -> None:
        self._syndicate_id = syndicate_id
        self._ring: deque[RuntimeEvent] = deque(maxlen=capacity)
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._logger = logger
        self._spawn = spawn
        self.counts: dict[str, int] = {}

    @property
    def events(self) -> tuple[RuntimeEvent, ...]:
        """Recent events, oldest first (newest last)."""
        return tuple(self._ring)

    def subscribe(self, callback: EventCallback, kinds: Iterable[str] | None = None) -> Unsubscribe:
        if not callable(callback):
            raise TypeError(f"subscribe() needs a callable, got {callback!r}")
        wanted: frozenset[str] | None = None
        if kinds is not None:
            if isinstance(kinds, str):
                kinds = (kinds,)
            wanted = frozenset(kinds)
            unknown = wanted - EVENT_KINDS
            if unknown:
                raise ValueError(
                    f"unknown event kind(s) {sorted(unknown)}; valid kinds: {sorted(EVENT_KINDS)}"
                )
        subscription = _Subscription(callback, wanted)
        self._subscriptions = (*self._subscriptions, subscription)

        def unsubscribe() -> None:
            self._remove(subscription)

        return unsubscribe

    def _remove(self, subscription: _Subscription) -> None:
        subscription.active = False
        self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def emit(
        self,
        kind: str,
        actor: ActorAddress | None = None,
        message_id: int | None = None,
        reason: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> RuntimeEvent:
        event = RuntimeEvent(
            kind,
            self._syndicate_id,
            time.time(),
            actor,
            message_id,
            reason,
            _NO_FIELDS if fields is None else MappingProxyType(dict(fields)),
        )
        self._ring.append(event)
        counts = self.counts
        counts[kind] = counts.get(kind, 0) + 1
        failed: list[tuple[_Subscription, Exception]] | None = None
        for subscription in self._subscriptions:
            if subscription.active and (subscription.kinds is None or kind in subscription.kinds):
                error = self._deliver(subscription, event)
                if error is not None:
                    if failed is None:
                        failed = []
                    failed.append((subscription, error))
        if failed is not None:
            # Reported after every subscriber got this event, so none of them sees the
            # subscriber_failed report before the event that caused it.
            for subscription, error in failed:
                self._report_failure(subscription, error)
        return event

    def _deliver(self, subscription: _Subscription, event: RuntimeEvent) -> Exception | None:
        try:
            result = subscription.callback(event)
        except Exception as exc:
            self._remove(subscription)
            return exc
        if inspect.isawaitable(result):
            self._spawn(self._await_subscriber(subscription, result))
        return None

    async def _await_subscriber(self, subscription: _Subscription, awaitable: Any) -> None:
        if not subscription.active:
            # Unsubscribed (or failed) after this event was handed to it: do not run it.
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            return
        try:
            await awaitable
        except Exception as exc:
            self._subscriber_failed(subscription, exc)

    def _subscriber_failed(self, subscription: _Subscription, exc: Exception) -> None:
        if not subscription.active:
            return
        self._remove(subscription)
        self._report_failure(subscription, exc)

    def _report_failure(self, subscription: _Subscription, exc: Exception) -> None:
        self._logger.error(
            "event subscriber %r raised %r; it has been unsubscribed", subscription.callback, exc
        )
        self.emit(
            "subscriber_failed",
            reason=f"{type(exc).__name__}: {exc}",
            fields={"callback": repr(subscription.callback)},
        )
