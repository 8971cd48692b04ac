"""``Syndicate``: the actor system users create explicitly.

    async with Syndicate("app") as system:
        echo = await system.create_actor(Echo)
        print(await system.ask("hi", echo))

There is no default or global syndicate. Two syndicates never share state; two processes that
both say ``Syndicate("app")`` get different random ids (the name is only a label).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from spark.core._kernel import CLOSED, CLOSING, DELIVERED, NEW, OPEN
from spark.core._runtime import RUNNING
from spark.core._sentinel import DEFAULT, Default
from spark.core._tree import TreeKernel
from spark.core.actor import Actor
from spark.core.deadletters import DeadLetter, LateReply
from spark.core.diagnostics import RuntimeDiagnostics, collect
from spark.core.events import EventCallback, RuntimeEvent, Unsubscribe
from spark.core.exceptions import MessageDeliveryError, SyndicateError, UnsupportedBackendError
from spark.core.identity import ActorAddress, Envelope
from spark.core.inbox import Endpoint, Inbox
from spark.core.message import Message
from spark.core.messages import DeliveryResult
from spark.core.spec import ActorSpec

__all__ = ["CODECS", "TRANSPORTS", "Syndicate"]

TRANSPORTS: Final = ("tcp", "websocket")
CODECS: Final = ("cbor2", "trusted-pickle")


def _positive(name: str, value: Any, *, allow_none: bool = False, integer: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
        expected = "a positive int" if integer else "a positive number"
        raise ValueError(
            f"{name} must be {expected}{' or None' if allow_none else ''}, got {value!r}"
        )


class Syndicate(TreeKernel):
    """An actor system. See ``docs/actor_overview.md`` for a walkthrough.

    Options beyond the local runtime (``remote``, ``federation`` and their settings) are
    validated now and take effect when the remote layer is installed; asking for them without
    it fails at ``start()`` with :class:`UnsupportedBackendError`.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        syndicate_id: str | None = None,
        remote: bool = False,
        remote_host: str = "127.0.0.1",
        remote_port: int = 0,
        remote_transport: str = "tcp",
        transport_codec: str = "cbor2",
        transport_secret: str | bytes | None = None,
        tls: ssl.SSLContext | None = None,
        allow_unsafe_pickle: bool = False,
        federation: bool = False,
        federation_secret: str | bytes | None = None,
        system_capabilities: Mapping[str, Any] | None = None,
        journal: Any = None,
        owns_journal: bool = False,
        dead_letter_capacity: int = 1024,
        event_capacity: int = 2048,
        inbox_capacity: int = 10_000,
        default_ask_timeout: float | None = 5.0,
        stop_timeout: float = 5.0,
        trace_messages: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r}")
        if syndicate_id is None:
            syndicate_id = secrets.token_hex(8)
        elif not isinstance(syndicate_id, str) or not syndicate_id or "/" in syndicate_id:
            raise ValueError(
                f"syndicate_id must be a non-empty string without '/', got {syndicate_id!r}"
            )
        if remote_transport not in TRANSPORTS:
            raise UnsupportedBackendError(
                f"unknown remote_transport {remote_transport!r}; valid: {', '.join(TRANSPORTS)}"
            )
        if transport_codec not in CODECS:
            hint = ""
            if transport_codec == "pickle":
                hint = (
                    " ('pickle' was renamed 'trusted-pickle': it executes code from the wire, so"
                    " only use it between processes you trust)"
                )
            raise UnsupportedBackendError(
                f"unknown transport_codec {transport_codec!r}; valid: {', '.join(CODECS)}{hint}"
            )
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise TypeError(f"tls must be an ssl.SSLContext or None, got {tls!r}")
        if not isinstance(remote_port, int) or not 0 <= remote_port <= 65535:
            raise ValueError(f"remote_port must be an int in 0..65535, got {remote_port!r}")
        _positive("dead_letter_capacity", dead_letter_capacity, integer=True)
        _positive("event_capacity", event_capacity, integer=True)
        _positive("inbox_capacity", inbox_capacity, integer=True)
        _positive("default_ask_timeout", default_ask_timeout, allow_none=True)
        _positive("stop_timeout", stop_timeout)
        super().__init__(
            syndicate_id=syndicate_id,
            name=name,
            dead_letter_capacity=dead_letter_capacity,
            event_capacity=event_capacity,
            inbox_capacity=inbox_capacity,
            default_ask_timeout=default_ask_timeout,
            stop_timeout=stop_timeout,
            trace_messages=bool(trace_messages),
            logger=logger or logging.getLogger("spark"),
        )
        self.remote_options: dict[str, Any] = {
            "remote": remote,
            "host": remote_host,
            "port": remote_port,
            "transport": remote_transport,
            "codec": transport_codec,
            "secret": transport_secret,
            "tls": tls,
            "allow_unsafe_pickle": allow_unsafe_pickle,
            "federation": federation,
            "federation_secret": federation_secret,
            "capabilities": dict(system_capabilities or {}),
        }
        self.journal = journal
        self.owns_journal = owns_journal
        self._shutdown_done: asyncio.Future[None] | None = None
        self._inbox_address = self.inbox.address

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        state = {NEW: "new", OPEN: "running", CLOSING: "stopping", CLOSED: "stopped"}[self._state]
        return f"<Syndicate{label} {self.syndicate_id} {state} actors={len(self._cells)}>"

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == OPEN

    async def __aenter__(self) -> Syndicate:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def start(self) -> None:
        """Start the syndicate on the running event loop (idempotent)."""
        if self._state == OPEN:
            return
        if self._state != NEW:
            raise SyndicateError("a shut-down syndicate cannot be restarted; create a new one")
        if self.remote_options["remote"] or self.remote_options["federation"]:
            raise UnsupportedBackendError(
                "remote=True / federation=True need the spark.remote layer, which is not part of"
                " this release; run without them"
            )
        self._loop = asyncio.get_running_loop()
        self.started_at = self.clock()
        self._state = OPEN
        self._sending = True

    async def shutdown(self, drain: bool = False, timeout: float | None = None) -> None:
        """Stop every actor and release everything the syndicate owns (idempotent).

        With ``drain=True`` mailboxes are first allowed to empty (up to ``timeout`` seconds).
        Whatever is still queued then becomes a dead letter ("system is shut down"); pending
        asks fail with :class:`MessageDeliveryError`. Afterwards every send returns
        ``DeliveryResult(False, "system is shut down")``.
        """
        if self._state == NEW:
            self._state = CLOSED
            return
        if self._shutdown_done is not None:
            await asyncio.shield(self._shutdown_done)
            return
        self._shutdown_done = self.loop.create_future()
        try:
            if drain:
                drained = await self._drain(timeout)
                if not drained:
                    self.logger.warning("shutdown: mailboxes did not drain within %s s", timeout)
            self._state = CLOSING
            await self._stop_all()
            self._sending = False
            for inbox in list(self._inboxes.values()):
                self._close_inbox(inbox, "system is shut down")
            for slot in list(self._slots.values()):
                slot.fail(MessageDeliveryError(slot.envelope.target, "system is shut down"))
            await self._close_extensions()
            if self.owns_journal and self.journal is not None:
                await _maybe_await(getattr(self.journal, "close", None))
            tasks = [task for task in self._tasks if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.office.close()
        finally:
            self._sending = False
            self._state = CLOSED
            self._shutdown_done.set_result(None)

    # -- messaging -----------------------------------------------------------------------

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
        """Send ``message`` to ``target`` (an address, a registered name, or ``None`` for this
        syndicate's inbox). A reply to it (the handler's return value) lands in the inbox."""
        if (
            target.__class__ is ActorAddress
            and ttl is None
            and deadline is None
            and headers is None
            and self._sending
            and target.syndicate_id == self.syndicate_id
        ):
            # The hottest call of all, kept to the bone: a live local actor with an unbounded,
            # ungated, untraced mailbox gets the envelope appended right here.
            cell = self._cells.get(target.actor_id)
            if cell is not None:
                mailbox = cell.mailbox
                user = mailbox.user
                if (
                    user is not None
                    and cell.accepting
                    and not self.trace_messages
                    and (
                        not mailbox.checked
                        or (  # bounded, not full, no gate: the same quick append
                            mailbox.gate is None
                            and len(user) + mailbox.reserved < mailbox.max_size  # type: ignore[operator]
                        )
                    )
                ):
                    user.append(
                        Envelope(
                            message,
                            self._inbox_address,
                            target,
                            self._next_id(),
                            None,
                            None,
                            self.clock(),
                            None,
                            state,
                        )
                    )
                    if cell.task is None and cell.state == RUNNING:
                        cell.schedule()
                    return DELIVERED
        result = self._send(message, target, self.inbox.address, ttl, deadline, headers, state)
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
        """Send ``message`` and wait for the first reply.

        Raises :class:`ActorTimeout` after ``timeout`` seconds (default ``default_ask_timeout``,
        ``None`` waits forever), :class:`MessageDeliveryError` at once when the message cannot
        be delivered or the target stops, and :class:`ActorFailed` when the handler raises.
        """
        return await self._ask(
            message, target, self.inbox.address, timeout, ttl, deadline, headers, state
        )

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
        """Iterate over the replies to one message; ends after ``max_replies`` replies or when
        no reply arrives for ``timeout`` seconds."""
        return self._ask_stream(
            message, target, self.inbox.address, timeout, max_replies, ttl, deadline, headers
        )

    async def reply(self, message: Message, value: Any) -> DeliveryResult:
        """Answer a message read from the inbox (resolves its sender's ask, if it asked)."""
        return self._reply(message, value, self.inbox.address)

    async def receive(self, timeout: float | None = None) -> Message:
        """Next message from the syndicate inbox; ``ActorTimeout`` after ``timeout`` seconds."""
        return await self.inbox.get(timeout)

    async def listen(self, timeout: float | None = None) -> AsyncIterator[Message]:
        """Iterate over inbox messages until ``timeout`` passes with nothing new."""
        async with self.endpoint_for(self.inbox) as inbox:
            async for message in inbox.listen(timeout):
                yield message

    def endpoint(self) -> Endpoint:
        """A client endpoint with its own address and inbox (``async with system.endpoint()``)."""
        self._require_open()
        inbox = self._new_inbox(ActorAddress(self.syndicate_id, self._next_id()))
        self._inboxes[inbox.address.actor_id] = inbox
        return Endpoint(self, inbox)

    def endpoint_for(self, inbox: Inbox) -> _BorrowedEndpoint:
        return _BorrowedEndpoint(self, inbox)

    # -- actors --------------------------------------------------------------------------

    async def create_actor(
        self, actor_class: type[Actor], *args: Any, **kwargs: Any
    ) -> ActorAddress:
        """Create a top-level actor; returns once its ``pre_start`` succeeded."""
        return await self._create_from_spec(ActorSpec(actor_class, args, kwargs), None)

    async def create_actor_from_spec(
        self, spec: ActorSpec, *, placement: str = "local"
    ) -> ActorAddress:
        """Create a top-level actor from an :class:`ActorSpec`."""
        return await self._create_from_spec(spec, None, placement)

    async def stop(self, target: ActorAddress | str, reason: str = "actor stopped") -> None:
        """Stop ``target`` after its current message and wait until it has stopped.

        Idempotent: stopping an actor that is already gone does nothing.
        """
        await self._stop_address(target, reason)

    async def monitor(
        self, target: ActorAddress | str, watcher: ActorAddress | None = None
    ) -> None:
        """Deliver one ``ActorExited`` to ``watcher`` (default: this syndicate's inbox) when
        ``target`` stops; at once with reason ``"not found"`` if it is already gone."""
        self._monitor(target, self.inbox.address if watcher is None else watcher)

    async def demonitor(self, target: ActorAddress, watcher: ActorAddress | None = None) -> None:
        self._demonitor(target, self.inbox.address if watcher is None else watcher)

    async def link(self, first: ActorAddress, second: ActorAddress) -> None:
        """Link two actors: an abnormal exit of either stops the other (unless it traps exits)."""
        self._link(first, second)

    async def unlink(self, first: ActorAddress, second: ActorAddress) -> None:
        self._unlink(first, second)

    # -- observability -------------------------------------------------------------------

    @property
    def dead_letters(self) -> tuple[DeadLetter, ...]:
        """The most recent dead letters (at most ``dead_letter_capacity``), newest last."""
        return self.office.dead_letters

    @property
    def late_replies(self) -> tuple[LateReply, ...]:
        """Replies that arrived after their ask had finished, newest last."""
        return self.office.late_replies

    @property
    def events(self) -> tuple[RuntimeEvent, ...]:
        """The most recent runtime events (at most ``event_capacity``), newest last."""
        return self.bus.events

    def subscribe(
        self, callback: EventCallback, kinds: Iterable[str] | str | None = None
    ) -> Unsubscribe:
        """Call ``callback(event)`` for each runtime event (of ``kinds``, default all).

        Returns a function that unsubscribes. A callback that raises is unsubscribed and
        reported as a ``subscriber_failed`` event.
        """
        return self.bus.subscribe(callback, kinds)

    def diagnostics(self) -> RuntimeDiagnostics:
        """A snapshot of the syndicate and every actor."""
        return collect(self)

    def diagnostics_snapshot(self) -> dict[str, Any]:
        """JSON-serialisable diagnostics plus a human-readable ``status`` text."""
        snapshot = collect(self)
        data = snapshot.to_dict()
        data["transport_health"] = None
        data["members"] = None
        data["status"] = snapshot.format_status()
        return data


class _BorrowedEndpoint(Endpoint):
    """The syndicate's own inbox seen as an endpoint; closing it does not close the inbox."""

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def _maybe_await(function: Any) -> None:
    if function is None:
        return
    result = function()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
