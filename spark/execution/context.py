"""What user code may do inside a thread or process worker.

``process()`` of a ``thread``/``process`` actor runs off the event loop, so the usual actor
helpers (async, loop-bound) cannot work there. Spark offers what can work — returning a reply,
and :func:`worker_context` for a synchronous ``tell``/``reply`` — and refuses the rest at once
with :class:`~spark.execution.errors.WorkerRestrictionError` (never a silent coroutine that is
not awaited, never a hang). ``self.address``, ``self.parent`` and ``self.syndicate_id`` stay
readable.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, Literal, NoReturn, Protocol

from spark.core.actor import Actor
from spark.core.exceptions import SparkException
from spark.core.identity import ActorAddress
from spark.core.message import Message
from spark.core.messages import DeliveryResult
from spark.execution.errors import WorkerRestrictionError

__all__ = [
    "Channel",
    "ThreadChannel",
    "WorkerContext",
    "WorkerMode",
    "WorkerView",
    "bind_context",
    "refuse_awaitable",
    "restrict",
    "worker_context",
]

WorkerMode = Literal["thread", "process"]
Target = ActorAddress | str | None

_ASK_HINT = (
    "An ask would hold this worker while it waits; return a value instead, or tell() the"
    " request and let an in-process actor collect the answer."
)
_TREE_HINT = "Create and watch actors from an in-process actor (a Troupe pools workers for you)."
_TIMER_HINT = "Timers need the event loop; schedule them from an in-process actor."

#: Actor helpers refused in a worker, with what to do instead.
_RESTRICTED: Final[dict[str, str]] = {
    "tell": "Use spark.execution.worker_context().tell(message, target), which is synchronous.",
    "reply": (
        "Return the value from process(), or use"
        " spark.execution.worker_context().reply(message, value)."
    ),
    "ask": _ASK_HINT,
    "ask_stream": _ASK_HINT,
    "forward": "Return a value, or use spark.execution.worker_context().tell(...).",
    "create_actor": _TREE_HINT,
    "create_actor_from_spec": _TREE_HINT,
    "stop": "Stop the actor from outside with system.stop(address).",
    "monitor": _TREE_HINT,
    "demonitor": _TREE_HINT,
    "link": _TREE_HINT,
    "unlink": _TREE_HINT,
    "schedule_after": _TIMER_HINT,
    "schedule_every": _TIMER_HINT,
    "cancel_timer": _TIMER_HINT,
}


class Channel(Protocol):
    """How a worker reaches the runtime (a thread hops onto the loop, a process uses its pipe)."""

    def tell(self, content: Any, target: Target) -> DeliveryResult: ...

    def reply(self, message: Message, value: Any) -> DeliveryResult: ...


class WorkerContext:
    """The runtime as seen from inside a worker; get it with :func:`worker_context`.

    ``mode`` is ``"thread"`` or ``"process"``; ``address`` is the actor's address; ``message``
    is the message being handled (``None`` in ``pre_start``/``post_stop``). Both methods block
    the worker (never the event loop) until the runtime took the message. A process worker runs
    ``post_stop`` after the actors are gone, so sending from there raises.
    """

    __slots__ = ("_channel", "address", "message", "mode")

    def __init__(
        self, mode: WorkerMode, address: ActorAddress, message: Message | None, channel: Channel
    ) -> None:
        self.mode = mode
        self.address = address
        self.message = message
        self._channel = channel

    def __repr__(self) -> str:
        return f"WorkerContext(mode={self.mode!r}, address={self.address!r})"

    def tell(self, message: Any, target: Target = None) -> DeliveryResult:
        """Send ``message`` to ``target`` (an address, a registered name, or ``None`` for the
        syndicate inbox) with this actor as the sender. Returns the :class:`DeliveryResult`."""
        if target is not None and not isinstance(target, ActorAddress | str):
            raise TypeError(
                f"target must be an ActorAddress, a registered name or None, got {target!r}"
            )
        return self._channel.tell(message, target)

    def reply(self, message: Message, value: Any) -> DeliveryResult:
        """Reply to ``message`` now (the return value of ``process()`` would be a late reply)."""
        if not isinstance(message, Message):
            raise TypeError(f"reply() needs the Message being handled, got {message!r}")
        return self._channel.reply(message, value)


_current: ContextVar[WorkerContext | None] = ContextVar("spark_worker_context", default=None)


def worker_context() -> WorkerContext:
    """The :class:`WorkerContext` of the thread/process worker running the caller.

    Raises :class:`~spark.core.exceptions.SparkException` outside a worker (in-process actors
    use their own async helpers: ``await self.tell(...)``).
    """
    context = _current.get()
    if context is None:
        raise SparkException(
            "worker_context() only works inside process(), pre_start() or post_stop() of an"
            " actor running with execution='thread' or execution='process'; in-process actors"
            " use their own helpers (await self.tell(...))"
        )
    return context


def bind_context(context: WorkerContext | None) -> Callable[[], None]:
    """Make ``context`` current in this thread; returns the function that undoes it."""
    token = _current.set(context)
    return lambda: _current.reset(token)


class _Ref:
    __slots__ = ("address",)

    def __init__(self, address: ActorAddress) -> None:
        self.address = address


class _LoopOnly:
    """Stands in for the syndicate inside a worker: every attribute but the id is refused."""

    __slots__ = ("_mode", "syndicate_id")

    def __init__(self, syndicate_id: str, mode: WorkerMode) -> None:
        self.syndicate_id = syndicate_id
        self._mode = mode

    def __getattr__(self, name: str) -> NoReturn:
        raise WorkerRestrictionError(
            f"self.system.{name}",
            self._mode,
            "The syndicate lives on the event loop; use spark.execution.worker_context() to"
            " tell or reply.",
        )


class WorkerView:
    """What ``Actor._cell()`` returns inside a worker: identities only, nothing loop-bound."""

    __slots__ = ("_parent", "address", "incarnation", "kernel", "mode")

    def __init__(
        self,
        mode: WorkerMode,
        syndicate_id: str,
        address: ActorAddress,
        parent: ActorAddress | None,
        incarnation: int,
    ) -> None:
        self.mode = mode
        self.kernel = _LoopOnly(syndicate_id, mode)
        self.address = address
        self._parent = None if parent is None else _Ref(parent)
        self.incarnation = incarnation

    def point_at(
        self, address: ActorAddress, parent: ActorAddress | None, incarnation: int
    ) -> None:
        """Re-aim the view (a process worker serves several actors built from one recipe)."""
        self.address = address
        self._parent = None if parent is None else _Ref(parent)
        self.incarnation = incarnation

    @property
    def parent(self) -> _Ref | None:
        return self._parent

    @property
    def children(self) -> NoReturn:
        raise WorkerRestrictionError(
            "self.children", self.mode, "A worker has no children. " + _TREE_HINT
        )

    def timers(self) -> NoReturn:
        raise WorkerRestrictionError("timers", self.mode, _TIMER_HINT)


def _refuser(helper: str, mode: WorkerMode, hint: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise WorkerRestrictionError(helper, mode, hint)

    return refuse


def restrict(instance: Actor, view: WorkerView) -> None:
    """Install the worker view on ``instance``: loop-bound helpers raise, identities work.

    Only helpers the user's class inherited from :class:`Actor` are replaced; a method the
    class defines itself under the same name is left alone.
    """
    cls = type(instance)
    namespace = instance.__dict__
    for name, hint in _RESTRICTED.items():
        if getattr(cls, name, None) is getattr(Actor, name):
            namespace[name] = _refuser(f"self.{name}()", view.mode, hint)
    namespace["_cell"] = lambda: view


class ThreadChannel:
    """A thread worker's way to the runtime: the actor's own helpers, run on the loop."""

    __slots__ = ("_actor", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, actor: Actor) -> None:
        self._loop = loop
        self._actor = actor  # the in-process proxy: its helpers send as the actor's address

    def tell(self, content: Any, target: Target) -> DeliveryResult:
        coroutine = self._actor.tell(content, target)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def reply(self, message: Message, value: Any) -> DeliveryResult:
        coroutine = self._actor.reply(message, value)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


def refuse_awaitable(result: Any, where: str, mode: WorkerMode) -> None:
    """Worker code must be synchronous: an awaitable result would never run, so refuse it."""
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # no "never awaited" warning on top of the error
        raise WorkerRestrictionError(
            f"an awaitable returned by {where}",
            mode,
            "Worker code runs off the event loop: define it with a plain def.",
        )
