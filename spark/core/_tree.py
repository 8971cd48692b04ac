"""The actor tree: creating and stopping actors, monitors, links and extensions."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import random
from collections.abc import Callable
from typing import Any, Final, TypeVar

from spark.core import _lifecycle
from spark.core._asking import AskingKernel
from spark.core._kernel import CLOSING, OPEN
from spark.core._runtime import RUNNING, STARTING, STOPPED, ActorCell
from spark.core.actor import Actor
from spark.core.exceptions import (
    ActorAlreadyExists,
    ActorNotFound,
    PlacementError,
    SyndicateError,
    UnsupportedBackendError,
)
from spark.core.identity import ActorAddress, Envelope
from spark.core.inbox import Inbox
from spark.core.messages import ABNORMAL_EXIT, NORMAL_EXIT, ActorExited
from spark.core.spec import ActorSpec

__all__ = ["EXECUTION_BACKENDS", "TreeKernel"]

T = TypeVar("T")

#: Where the non-inprocess execution modes live. The core refers to them by name only; the
#: backend object turns a thread/process spec into an in-process proxy spec (``adapt``).
EXECUTION_BACKENDS: Final = {
    "thread": ("spark.execution.backends", "ThreadBackend"),
    "process": ("spark.execution.backends", "ProcessBackend"),
}


def _runs_inside(cell: ActorCell) -> bool:
    """Whether the current task is the run loop of ``cell`` or of one of its descendants."""
    current = asyncio.current_task()
    if current is None:
        return False
    pending = [cell]
    while pending:
        candidate = pending.pop()
        if candidate.task is current or (candidate.inflight and current in candidate.inflight):
            return True
        if candidate.children:
            pending.extend(candidate.children)
    return False


class TreeKernel(AskingKernel):
    """Kernel plus the operations that change the actor tree."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rng = random.Random()
        self._extensions: dict[str, Any] = {}

    @property
    def closing(self) -> bool:
        return self._state >= CLOSING

    def _require_open(self) -> None:
        if self._state != OPEN:
            if self._state < OPEN:
                raise SyndicateError("the syndicate is not started; use 'async with' or start()")
            raise SyndicateError("the syndicate is shut down")

    # -- names ---------------------------------------------------------------------------

    def register_name(self, name: str, address: ActorAddress) -> None:
        """Make ``address`` reachable as ``name`` (until the actor stops)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a name must be a non-empty string, got {name!r}")
        if not isinstance(address, ActorAddress):
            raise TypeError(f"register_name needs an ActorAddress, got {address!r}")
        current = self._names.get(name)
        if current is not None and current != address:
            raise ActorAlreadyExists(
                f"the name {name!r} is already registered to {current!r}; unregister it first"
                " or pick another name"
            )
        cell = self._local_cell(address)
        if address.syndicate_id == self.syndicate_id:
            if cell is None or cell.state == STOPPED:
                raise ActorNotFound(f"cannot register {name!r}: no live actor at {address!r}")
            cell.add_name(name)
        self._names[name] = address

    def unregister_name(self, name: str) -> None:
        address = self._names.pop(name, None)
        cell = self._local_cell(address)
        if cell is not None:
            cell.discard_name(name)

    def resolve_name(self, name: str) -> ActorAddress:
        """The address registered under ``name``; raises ``ActorNotFound`` when there is none."""
        address = self._names.get(name)
        if address is None:
            known = ", ".join(sorted(self._names)[:10]) or "none"
            raise ActorNotFound(f"no actor is registered as {name!r} (registered: {known})")
        return address

    # -- inboxes -------------------------------------------------------------------------

    def _close_inbox(self, inbox: Inbox, reason: str) -> None:
        if inbox.closed:
            return
        self._inboxes.pop(inbox.address.actor_id, None)
        for envelope in inbox.close(reason):
            self._dead_letter(envelope, reason)

    # -- extensions ----------------------------------------------------------------------

    def extension(self, key: str, factory: Callable[[Any], T]) -> T:
        """Per-syndicate singleton resource (a thread pool, a registry, ...).

        Built by ``factory(syndicate)`` on first use and closed at shutdown (newest first) if it
        has an ``aclose()`` or ``close()`` method.
        """
        try:
            return self._extensions[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._extensions[key] = factory(self)
            return value

    async def _close_extensions(self) -> None:
        for key in reversed(list(self._extensions)):
            value = self._extensions.pop(key)
            closer = getattr(value, "aclose", None) or getattr(value, "close", None)
            if closer is None:
                continue
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.logger.exception("closing extension %r failed", key)

    def _execution_backend(self, mode: str) -> Any:
        try:
            module_name, class_name = EXECUTION_BACKENDS[mode]
        except KeyError:
            raise UnsupportedBackendError(
                f"unknown execution mode {mode!r}; valid: inprocess, {', '.join(EXECUTION_BACKENDS)}"
            ) from None

        def build(system: Any) -> Any:
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise UnsupportedBackendError(
                    f"execution={mode!r} needs the {module_name} module, which failed to import:"
                    f" {error}"
                ) from error
            return getattr(module, class_name)(system)

        return self.extension(f"execution:{mode}", build)

    # -- creating ------------------------------------------------------------------------

    async def _create_from_spec(
        self, spec: ActorSpec, parent: ActorCell | None, placement: str = "local"
    ) -> ActorAddress:
        if not isinstance(spec, ActorSpec):
            raise TypeError(f"create_actor_from_spec needs an ActorSpec, got {spec!r}")
        if placement != "local":
            raise PlacementError(
                f"placement={placement!r} needs federation, which this syndicate does not run;"
                " use placement='local'"
            )
        self._require_open()
        if parent is not None and parent.state not in (STARTING, RUNNING):
            raise SyndicateError(f"cannot create a child of {parent.address}: it is stopping")
        if spec.execution != "inprocess":
            spec = self._execution_backend(spec.execution).adapt(spec)
        name = spec.name
        if name is not None and name in self._names:
            raise ActorAlreadyExists(
                f"an actor named {name!r} already exists at {self._names[name]!r}"
            )
        address = ActorAddress(self.syndicate_id, self._next_id())
        cell = ActorCell(self, address, spec, parent)
        actor = spec.instantiate()
        if not isinstance(actor, Actor):
            raise TypeError(f"{spec.actor_class!r} did not build an Actor")
        cell.attach(actor)
        self._cells[address.actor_id] = cell
        if name is not None:
            self._names[name] = address
            cell.add_name(name)
        try:
            await actor._spark_before_start()
            cell.extended = actor
            result = actor.pre_start()
            if inspect.isawaitable(result):
                await result
        except BaseException as error:
            self._abort_start(cell, f"failed to start: {error!r}")
            raise
        if (
            cell.state != STARTING
            or self._state != OPEN
            or (parent is not None and parent.state != RUNNING and parent.state != STARTING)
        ):
            self._abort_start(cell, "failed to start: stopped while starting")
            raise SyndicateError(f"actor {address} was stopped while it was starting")
        cell.started_ok = True
        cell.state = RUNNING
        if parent is not None:
            parent.add_child(cell)
        else:
            self.top_level[cell] = None
        self.bus.emit("actor_started", address, fields={"class": type(actor).__qualname__})
        if cell.mailbox.user or cell.mailbox.control:
            cell.schedule()
        return address

    def _abort_start(self, cell: ActorCell, reason: str) -> None:
        """``pre_start`` failed: unregister without notifying a parent that never saw it."""
        for child in reversed(list(cell.children or ())):
            _lifecycle.kill(child, "parent failed to start")
        _lifecycle.finalize(cell, reason, ABNORMAL_EXIT, notify_parent=False)

    # -- stopping ------------------------------------------------------------------------

    async def _stop_address(self, target: ActorAddress | str, reason: str) -> None:
        cell = self._local_cell(target)
        if cell is None:
            return  # already stopped (stop is idempotent)
        await self._stop_cell(cell, reason, NORMAL_EXIT)

    async def _stop_cell(self, cell: ActorCell, reason: str, code: int) -> None:
        """Ask ``cell`` to stop after its current message; kill it if it takes too long."""
        if cell.state == STOPPED:
            return
        cell.post_control(_lifecycle.StopRequest(reason, code))
        if _runs_inside(cell):
            # Asked from the actor's own handler or from a descendant's: waiting would
            # deadlock (the stop waits for those very handlers). It completes after they return.
            return
        try:
            async with asyncio.timeout(self.stop_timeout):
                await cell.wait_stopped()
        except TimeoutError:
            _lifecycle.kill(cell, f"killed: did not stop within {self.stop_timeout:g} s")

    # -- monitors and links --------------------------------------------------------------

    def _monitor(self, target: ActorAddress | str, watcher: ActorAddress) -> None:
        if isinstance(target, str):
            resolved = self._names.get(target)
            if resolved is None:
                raise ActorNotFound(f"cannot monitor {target!r}: no actor has that name")
            target = resolved
        if not isinstance(target, ActorAddress):
            raise TypeError(f"monitor needs an ActorAddress, got {target!r}")
        cell = self._local_cell(target)
        if cell is None or cell.state == STOPPED:
            self._notify_exit(watcher, ActorExited(target, "not found", ABNORMAL_EXIT))
            return
        if cell.watchers is None:
            cell.watchers = set()
        cell.watchers.add(watcher)
        watcher_cell = self._local_cell(watcher)
        if watcher_cell is not None:
            if watcher_cell.monitoring is None:
                watcher_cell.monitoring = set()
            watcher_cell.monitoring.add(cell)

    def _demonitor(self, target: ActorAddress, watcher: ActorAddress) -> None:
        cell = self._local_cell(target)
        if cell is not None and cell.watchers:
            cell.watchers.discard(watcher)
        watcher_cell = self._local_cell(watcher)
        if watcher_cell is not None and watcher_cell.monitoring and cell is not None:
            watcher_cell.monitoring.discard(cell)

    def _notify_exit(self, watcher: ActorAddress, notice: ActorExited) -> None:
        envelope = Envelope(notice, None, watcher, self._next_id(), None, None, self.clock())
        cell = self._local_cell(watcher)
        if cell is not None:
            if cell.state != STOPPED:
                cell.post_control(envelope)
            return
        inbox = self._inboxes.get(watcher.actor_id)
        if inbox is not None and watcher.syndicate_id == self.syndicate_id:
            refusal = inbox.put(envelope)
            if refusal is not None:
                self._dead_letter(envelope, refusal)

    def _live_cell(self, address: ActorAddress, role: str) -> ActorCell:
        cell = self._local_cell(address)
        if cell is None or cell.state != RUNNING:
            raise ActorNotFound(f"cannot link: {role} {address!r} is not a live local actor")
        return cell

    def _link(self, first: ActorAddress, second: ActorAddress) -> None:
        a = self._live_cell(first, "actor")
        b = self._live_cell(second, "target")
        if a is b:
            raise ValueError(f"actor {first!r} cannot link to itself")
        if a.links is None:
            a.links = set()
        if b.links is None:
            b.links = set()
        a.links.add(b)
        b.links.add(a)

    def _unlink(self, first: ActorAddress, second: ActorAddress) -> None:
        a = self._local_cell(first)
        b = self._local_cell(second)
        if a is not None and b is not None:
            if a.links:
                a.links.discard(b)
            if b.links:
                b.links.discard(a)

    # -- shutdown ------------------------------------------------------------------------

    def _busy(self) -> bool:
        for cell in self._cells.values():
            if cell.task is not None or cell.mailbox.user or cell.mailbox.control:
                return True
        return False

    async def _drain(self, timeout: float | None) -> bool:
        """Wait until no actor has work queued or running. False if ``timeout`` passed first."""
        give_up = None if timeout is None else self.clock() + timeout
        while self._busy():
            if give_up is not None and self.clock() >= give_up:
                return False
            await asyncio.sleep(0.005)
        return True

    async def _stop_all(self) -> None:
        for cell in reversed(list(self.top_level)):
            await self._stop_cell(cell, "system is shut down", NORMAL_EXIT)
        for cell in list(self._cells.values()):  # started but never attached (aborted) cells
            _lifecycle.kill(cell, "system is shut down")
