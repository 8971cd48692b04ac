"""Mailboxes: a control lane served first and a user lane bounded by a :class:`MailboxPolicy`.

The runtime touches the lanes directly on the hot path (one ``deque.append`` per message); this
module holds the policy, the overflow decision and the waiting room of ``block`` senders.
Lanes are allocated lazily and released when an actor goes idle, so an idle actor owns no deque.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from spark.core.exceptions import InvalidActorSpecError

if TYPE_CHECKING:
    from spark.core.identity import Envelope

__all__ = ["OVERFLOW_POLICIES", "Mailbox", "MailboxOverflow", "MailboxPolicy"]

MailboxOverflow = Literal["reject", "drop_newest", "drop_oldest", "dead_letter", "block"]
OVERFLOW_POLICIES: Final = ("reject", "drop_newest", "drop_oldest", "dead_letter", "block")


@dataclass(frozen=True, slots=True)
class MailboxPolicy:
    """How many user messages an actor may have queued and what happens beyond that.

    ``max_size=None`` is unbounded. With a bound, ``overflow`` picks one of five behaviours:

    * ``reject`` - the send fails with ``"mailbox full"`` and the message is dead-lettered;
    * ``drop_newest`` - the send reports success, the new message is dead-lettered
      (``"dropped newest"``);
    * ``drop_oldest`` - the oldest queued message is dead-lettered (``"dropped oldest"``) and the
      new one is enqueued;
    * ``dead_letter`` - the new message goes to dead letters and the send fails with
      ``"mailbox full (dead-lettered)"``;
    * ``block`` - the sender waits for space up to ``block_timeout`` seconds (forever when
      ``None``), then behaves like ``reject``. An actor sending to its own full mailbox is
      rejected at once instead of waiting for itself.

    The control lane (stop requests, child and monitor notices) is never bounded.
    """

    max_size: int | None = None
    overflow: MailboxOverflow = "reject"
    block_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.max_size is not None and (
            not isinstance(self.max_size, int) or isinstance(self.max_size, bool)
        ):
            raise InvalidActorSpecError(
                f"MailboxPolicy.max_size must be a positive int or None, got {self.max_size!r}"
            )
        if self.max_size is not None and self.max_size < 1:
            raise InvalidActorSpecError(
                f"MailboxPolicy.max_size must be >= 1 (or None for unbounded), got {self.max_size}"
            )
        if self.overflow not in OVERFLOW_POLICIES:
            raise InvalidActorSpecError(
                f"MailboxPolicy.overflow={self.overflow!r} is not one of {', '.join(OVERFLOW_POLICIES)}"
            )
        if self.block_timeout is not None:
            if self.overflow != "block":
                raise InvalidActorSpecError(
                    "MailboxPolicy.block_timeout only applies to overflow='block'"
                    f" (got overflow={self.overflow!r})"
                )
            timeout = self.block_timeout
            if (
                not isinstance(timeout, int | float)
                or isinstance(timeout, bool)
                or math.isnan(timeout)
                or timeout < 0
            ):
                raise InvalidActorSpecError(
                    "MailboxPolicy.block_timeout must be a number of seconds >= 0 (or None to"
                    f" wait as long as it takes), got {timeout!r}"
                )

    @classmethod
    def unbounded(cls) -> MailboxPolicy:
        """The default: no bound on queued user messages."""
        return cls()

    @classmethod
    def bounded(
        cls,
        max_size: int,
        overflow: MailboxOverflow = "reject",
        block_timeout: float | None = None,
    ) -> MailboxPolicy:
        """A mailbox holding at most ``max_size`` user messages."""
        return cls(max_size=max_size, overflow=overflow, block_timeout=block_timeout)


class Mailbox:
    """The two lanes of one actor plus the senders blocked on its bound.

    Blocked senders (``overflow="block"``) wait in FIFO order. A dequeue hands the freed slot to
    the longest-waiting sender by *reserving* it (``reserved``): until that sender has run and
    enqueued, the slot counts as taken, so a newcomer cannot barge in and the woken sender never
    finds the mailbox full again.
    """

    __slots__ = (
        "block_timeout",
        "checked",
        "control",
        "gate",
        "max_size",
        "overflow",
        "reserved",
        "space_waiters",
        "user",
    )

    def __init__(self, policy: MailboxPolicy) -> None:
        self.user: deque[Envelope] | None = None
        self.control: deque[object] | None = None
        self.max_size = policy.max_size
        self.overflow = policy.overflow
        self.block_timeout = policy.block_timeout
        self.space_waiters: deque[asyncio.Future[None]] | None = None
        self.reserved = 0
        self.gate: Callable[[Envelope], str | None] | None = None
        # False for the common unbounded, ungated mailbox: the hot path then skips every check.
        self.checked = self.max_size is not None

    def set_gate(self, gate: Callable[[Envelope], str | None] | None) -> None:
        """Install an admission check: it returns a refusal reason, or ``None`` to accept."""
        self.gate = gate
        self.checked = self.max_size is not None or gate is not None

    def depth(self) -> int:
        """Number of queued user messages."""
        user = self.user
        return 0 if user is None else len(user)

    def is_full(self) -> bool:
        """Whether a new user message would overflow (slots handed to woken senders count)."""
        max_size = self.max_size
        return max_size is not None and self.depth() + self.reserved >= max_size

    def put_control(self, item: object) -> None:
        control = self.control
        if control is None:
            control = self.control = deque()
        control.append(item)

    def append_user(self, envelope: Envelope) -> None:
        user = self.user
        if user is None:
            user = self.user = deque()
        user.append(envelope)

    async def wait_for_space(self, timeout: float | None) -> bool:
        """Wait (FIFO among blocked senders) until a slot is handed to us; False on timeout.

        ``True`` means the caller now owns one reserved slot and must use it (or give it up)
        before its next ``await``: the reservation is released here, the caller appends.
        """
        waiters = self.space_waiters
        if waiters is None:
            waiters = self.space_waiters = deque()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            if timeout is None:
                await waiter
            else:
                async with asyncio.timeout(timeout):
                    await waiter
        except TimeoutError:
            if not _handed_over(waiter):
                return False
            # The slot was handed over just as the timeout fired: take it anyway.
        except BaseException:
            if _handed_over(waiter):
                # Cancelled after a slot was handed to us: pass it on, do not leak it.
                self.reserved -= 1
                self.wake_space_waiter()
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in waiters:
                waiters.remove(waiter)
        self.reserved -= 1
        return True

    def wake_space_waiter(self) -> None:
        """Called after a dequeue: hand every free slot to the longest-waiting blocked senders."""
        waiters = self.space_waiters
        if not waiters or self.max_size is None:
            return
        free = self.max_size - self.depth() - self.reserved
        while free > 0 and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self.reserved += 1
                free -= 1

    def release_all_waiters(self) -> None:
        """The actor is going away: blocked senders stop waiting (their send then fails)."""
        waiters = self.space_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self.reserved += 1


def _handed_over(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled()
