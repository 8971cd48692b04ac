"""The :class:`Actor` base class.

Subclass it and implement ``process(message)`` (sync or async). The return value, when not
``None``, is the reply to ``message.sender``. Helpers (``tell``, ``ask``, timers, children, ...)
are available once the runtime has started the actor; before that (e.g. in ``__init__``) they
raise :class:`~spark.core.exceptions.ActorNotStartedError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from spark.core._sentinel import DEFAULT, Default
from spark.core.exceptions import ActorNotStartedError, SparkException
from spark.core.identity import ActorAddress, Envelope
from spark.core.message import Message
from spark.core.messages import DeliveryResult

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.core.spec import ActorSpec
    from spark.core.supervision import SupervisorStrategy
    from spark.core.syndicate import Syndicate

__all__ = ["Actor", "MissedTickPolicy"]

MissedTickPolicy = Literal["skip", "coalesce", "catch_up"]


class Actor:
    """Base class of every actor.

    Class attributes:

    * ``supervisor_strategy`` - how this actor supervises children whose spec names none;
    * ``trap_exits`` - when ``True``, exits of linked actors arrive as
      :class:`~spark.core.messages.ActorExited` messages instead of stopping this actor.
    """

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = None
    trap_exits: ClassVar[bool] = False

    # Set by the runtime when it starts the instance; a class-level None means "not started".
    _spark_cell: ActorCell | None = None
    # Extensions that refuse messages at the door (a pool that is full) set this and override
    # _spark_admit; ordinary actors pay nothing for it.
    _spark_gated: ClassVar[bool] = False

    # -- what subclasses implement -----------------------------------------------------------

    def process(self, message: Message) -> Any:
        """Handle one message; a non-``None`` return value is the reply. May be ``async``."""
        raise NotImplementedError

    def pre_start(self) -> Any:
        """Called before the first message (also after every restart). May be ``async``."""
        return None

    def post_stop(self) -> Any:
        """Called once when the actor stops, after its children stopped. May be ``async``."""
        return None

    def pre_restart(self, error: BaseException) -> Any:
        """Called on the failed instance before it is replaced by a fresh one."""
        return None

    def on_child_exited(self, child: ActorAddress, reason: str) -> Any:
        """Called when one of this actor's children stopped (for any reason)."""
        return None

    def on_child_restarted(
        self, child: ActorAddress, old_incarnation: int, new_incarnation: int, reason: str
    ) -> Any:
        """Called when supervision restarted one of this actor's children."""
        return None

    # -- extension points (for spark's own packages, not for applications) -------------------

    def _spark_admit(self, envelope: Envelope) -> str | None:
        """Admission check run before a user message is enqueued (only when ``_spark_gated``).

        Return a refusal reason (the send then fails with it and the message is dead-lettered)
        or ``None`` to accept. Runs on the sender's side: it must be quick and never block.
        """
        return None

    async def _spark_before_start(self) -> None:
        """Runs before ``pre_start`` on start and on every restart (persistence recovers here)."""

    async def _spark_after_stop(self) -> None:
        """Runs after ``post_stop`` (persistence releases its identity here)."""

    def _spark_schedule_durable(
        self,
        delay: float,
        payload: Any,
        timer_id: str | None,
        interval: float | None,
        missed: MissedTickPolicy,
    ) -> str:
        raise SparkException(
            f"{type(self).__qualname__} asked for a durable timer, but durable timers need a"
            " spark.persistence.PersistentActor running in a syndicate with a journal"
        )

    def _spark_cancel_durable(self, timer_id: str) -> bool:
        return False

    # -- helpers -----------------------------------------------------------------------------

    def _cell(self) -> ActorCell:
        cell = self._spark_cell
        if cell is None:
            raise ActorNotStartedError(
                f"{type(self).__qualname__} is not started: actor helpers (address, tell, ask,"
                " timers, children) work from pre_start() on, not in __init__"
            )
        return cell

    @property
    def address(self) -> ActorAddress:
        """This actor's address."""
        return self._cell().address

    @property
    def parent(self) -> ActorAddress | None:
        """The parent's address (``None`` for a top-level actor)."""
        parent = self._cell().parent
        return None if parent is None else parent.address

    @property
    def children(self) -> tuple[ActorAddress, ...]:
        """Addresses of live children, oldest first."""
        return tuple(child.address for child in self._cell().children or ())

    @property
    def syndicate_id(self) -> str:
        """Id of the syndicate this actor lives in."""
        return self._cell().kernel.syndicate_id

    @property
    def incarnation(self) -> int:
        """0 for the first instance, +1 for every supervised restart."""
        return self._cell().incarnation

    @property
    def system(self) -> Syndicate:
        """The syndicate hosting this actor (for extensions; prefer the helpers below)."""
        return self._cell().kernel  # type: ignore[return-value]

    async def tell(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        *,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> DeliveryResult:
        """Send ``message`` to ``target`` (the syndicate inbox when omitted)."""
        cell = self._cell()
        result = cell.kernel._send(message, target, cell, ttl, deadline, headers, state)
        if isinstance(result, DeliveryResult):
            return result
        return await result

    async def ask(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        timeout: float | Default | None = DEFAULT,
        *,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> Any:
        """Send ``message`` and wait for the first reply (see ``Syndicate.ask``)."""
        cell = self._cell()
        return await cell.kernel._ask(message, target, cell, timeout, ttl, deadline, headers, state)

    def ask_stream(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        timeout: float | Default | None = DEFAULT,
        *,
        max_replies: int | None = None,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Any]:
        """Send ``message`` and iterate over replies (see ``Syndicate.ask_stream``)."""
        cell = self._cell()
        return cell.kernel._ask_stream(
            message, target, cell, timeout, max_replies, ttl, deadline, headers
        )

    async def reply(self, message: Message, value: Any) -> DeliveryResult:
        """Reply to ``message`` explicitly (``None`` is a valid reply; may be called repeatedly)."""
        cell = self._cell()
        return cell.kernel._reply(message, value, cell.address)

    async def forward(self, message: Message, target: ActorAddress | str) -> DeliveryResult:
        """Pass ``message`` on to ``target`` keeping its sender, correlation and deadline, so the
        target's reply goes straight to the original sender."""
        cell = self._cell()
        return await cell.kernel._forward(message, target, cell, None)

    async def create_actor(
        self, actor_class: type[Actor], *args: Any, **kwargs: Any
    ) -> ActorAddress:
        """Create a child actor; returns once its ``pre_start`` succeeded."""
        from spark.core.spec import ActorSpec

        return await self.create_actor_from_spec(ActorSpec(actor_class, args, kwargs))

    async def create_actor_from_spec(
        self, spec: ActorSpec, *, placement: str = "local"
    ) -> ActorAddress:
        """Create a child actor from a spec."""
        cell = self._cell()
        return await cell.kernel._create_from_spec(spec, cell, placement)

    async def stop(self, reason: str = "actor stopped") -> None:
        """Stop this actor (after the current message when called from its own handler)."""
        cell = self._cell()
        await cell.kernel._stop_address(cell.address, reason)

    async def monitor(self, target: ActorAddress) -> None:
        """Receive one :class:`~spark.core.messages.ActorExited` when ``target`` stops."""
        cell = self._cell()
        cell.kernel._monitor(target, cell.address)

    def demonitor(self, target: ActorAddress) -> None:
        """Stop monitoring ``target``."""
        cell = self._cell()
        cell.kernel._demonitor(target, cell.address)

    async def link(self, target: ActorAddress) -> None:
        """Link with ``target``: an abnormal exit of either stops the other (unless trapping)."""
        cell = self._cell()
        cell.kernel._link(cell.address, target)

    def unlink(self, target: ActorAddress) -> None:
        """Remove a link with ``target``."""
        cell = self._cell()
        cell.kernel._unlink(cell.address, target)

    def schedule_after(
        self,
        delay: float,
        payload: Any = None,
        *,
        durable: bool = False,
        timer_id: str | None = None,
    ) -> str:
        """Deliver ``WakeupMessage(payload, timer_id)`` to this actor after ``delay`` seconds.

        Returns the timer id (generated unless given; re-using an id replaces that timer).
        """
        if durable:
            return self._spark_schedule_durable(delay, payload, timer_id, None, "skip")
        return self._cell().timers().schedule(delay, payload, timer_id, None, "skip")

    def schedule_every(
        self,
        interval: float,
        payload: Any = None,
        *,
        durable: bool = False,
        timer_id: str | None = None,
        missed: MissedTickPolicy = "skip",
    ) -> str:
        """Deliver a ``WakeupMessage`` every ``interval`` seconds until cancelled.

        ``missed`` says what happens to ticks that fall due while an earlier wakeup is still
        queued: ``skip`` drops them, ``coalesce`` delivers one wakeup carrying the missed count,
        ``catch_up`` delivers every tick.
        """
        if durable:
            return self._spark_schedule_durable(interval, payload, timer_id, interval, missed)
        return self._cell().timers().schedule(interval, payload, timer_id, interval, missed)

    def cancel_timer(self, timer_id: str) -> bool:
        """Cancel a timer; returns whether it existed."""
        cancelled = self._spark_cancel_durable(timer_id)
        return self._cell().timers().cancel(timer_id) or cancelled
