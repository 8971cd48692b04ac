"""Bounded mailboxes: the five overflow policies, the block waiting room, the control lane."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spark import (
    Actor,
    ActorExited,
    ActorSpec,
    InvalidActorSpecError,
    MailboxFull,
    MailboxPolicy,
    MessageDeliveryError,
    Syndicate,
)
from spark.core.identity import Envelope
from spark.core.mailbox import Mailbox
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import Holder, held_actor, kinds, reasons

# -- the policy value ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_size": 0},
        {"max_size": -1},
        {"max_size": True},
        {"max_size": 2.5},
        {"max_size": 2, "overflow": "drop"},
        {"max_size": 2, "overflow": "reject", "block_timeout": 1.0},
        {"max_size": 2, "overflow": "block", "block_timeout": -1},
        {"max_size": 2, "overflow": "block", "block_timeout": True},
        {"max_size": 2, "overflow": "block", "block_timeout": float("nan")},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidActorSpecError):
        MailboxPolicy(**kwargs)


def test_policy_constructors() -> None:
    assert MailboxPolicy.unbounded() == MailboxPolicy()
    assert MailboxPolicy().max_size is None
    bounded = MailboxPolicy.bounded(3, "block", block_timeout=0.5)
    assert (bounded.max_size, bounded.overflow, bounded.block_timeout) == (3, "block", 0.5)


def test_unbounded_mailbox_skips_every_check() -> None:
    assert Mailbox(MailboxPolicy()).checked is False
    assert Mailbox(MailboxPolicy(max_size=1)).checked is True


# -- reject / drop_newest / drop_oldest / dead_letter ----------------------------------------


async def test_reject_fails_the_send_and_dead_letters(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=2, overflow="reject"))
    assert (await system.tell(1, held.address)).success
    assert (await system.tell(2, held.address)).success
    result = await system.tell(3, held.address)
    assert (result.success, result.reason) == (False, "mailbox full")
    assert reasons(system) == ["mailbox full"]
    assert system.dead_letters[-1].envelope.content == 3
    with pytest.raises(MailboxFull) as caught:
        await system.ask(4, held.address)
    assert isinstance(caught.value, MessageDeliveryError)
    assert caught.value.reason == "mailbox full"
    assert not system._slots
    overflow = [event for event in system.events if event.kind == "mailbox_overflow"]
    assert [event.reason for event in overflow] == ["reject", "reject"]
    assert overflow[0].fields["max_size"] == 2
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", 1, 2])


async def test_drop_newest_reports_success_but_discards(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="drop_newest"))
    assert (await system.tell(1, held.address)).reason == "delivered"
    result = await system.tell(2, held.address)
    assert (result.success, result.reason) == (True, "dropped newest")
    assert reasons(system) == ["dropped newest"]
    assert system.dead_letters[0].envelope.content == 2
    # An ask whose message is dropped fails at once instead of waiting for its timeout.
    with pytest.raises(MessageDeliveryError) as caught:
        await system.ask(3, held.address, timeout=30)
    assert caught.value.reason == "dropped newest"
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", 1])
    assert system.diagnostics().actor(held.address).processed == 2


async def test_drop_oldest_evicts_the_head_and_enqueues(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=2, overflow="drop_oldest"))
    for value in (1, 2, 3, 4):
        result = await system.tell(value, held.address)
        assert (result.success, result.reason) == (True, "delivered")
    assert reasons(system) == ["dropped oldest", "dropped oldest"]
    assert [letter.envelope.content for letter in system.dead_letters] == [1, 2]
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", 3, 4])


async def test_drop_oldest_fails_the_evicted_ask_at_once(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="drop_oldest"))
    asking = asyncio.create_task(system.ask("first", held.address, timeout=30))
    await wait_until(lambda: system.diagnostics().actor(held.address).mailbox_depth == 1)
    assert (await system.tell("second", held.address)).success
    with pytest.raises(MessageDeliveryError) as caught:
        await asking
    assert caught.value.reason == "dropped oldest"
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", "second"])


async def test_dead_letter_policy_fails_with_its_own_reason(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="dead_letter"))
    assert (await system.tell(1, held.address)).success
    result = await system.tell(2, held.address)
    assert (result.success, result.reason) == (False, "mailbox full (dead-lettered)")
    assert reasons(system) == ["mailbox full (dead-lettered)"]
    with pytest.raises(MailboxFull) as caught:
        await system.ask(3, held.address)
    assert caught.value.reason == "mailbox full (dead-lettered)"
    assert system.diagnostics().dead_letters_by_reason == {"mailbox full (dead-lettered)": 2}
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", 1])


# -- block -----------------------------------------------------------------------------------


async def test_block_waits_for_space_in_fifo_order(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    assert (await system.tell("queued", held.address)).success
    senders = []
    for count, value in enumerate(("b1", "b2", "b3"), start=1):
        senders.append(asyncio.create_task(system.tell(value, held.address)))
        await wait_until(
            lambda n=count: system.diagnostics().actor(held.address).blocked_senders == n
        )
    assert not any(sender.done() for sender in senders)
    held.release.set()
    results = await asyncio.gather(*senders)
    assert all(result.reason == "delivered" for result in results)
    await wait_until(lambda: held.seen == ["hold", "queued", "b1", "b2", "b3"])
    assert system.dead_letters == ()
    assert "mailbox_overflow" in kinds(system)


async def test_block_mailbox_of_a_concurrent_actor(system: Syndicate) -> None:
    release = asyncio.Event()
    seen: list[Any] = []
    spec = ActorSpec(
        Holder,
        (release, seen),
        stateless=True,
        max_concurrency=2,
        mailbox_policy=MailboxPolicy(max_size=1, overflow="block"),
    )
    address = await system.create_actor_from_spec(spec)
    await system.tell("hold", address)
    await system.tell("hold", address)
    await wait_until(lambda: seen == ["hold", "hold"])
    await system.tell("queued", address)
    senders = [asyncio.create_task(system.tell(value, address)) for value in ("b1", "b2")]
    await wait_until(lambda: system.diagnostics().actor(address).blocked_senders == 2)
    release.set()
    assert all(result.success for result in await asyncio.gather(*senders))
    await wait_until(lambda: seen[2:] == ["queued", "b1", "b2"])


async def test_block_with_timeout_then_rejects(system: Syndicate) -> None:
    policy = MailboxPolicy(max_size=1, overflow="block", block_timeout=0.05)
    held = await held_actor(system, policy)
    assert (await system.tell(1, held.address)).success
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await system.tell(2, held.address)
    assert loop.time() - started >= 0.04
    assert (result.success, result.reason) == (False, "mailbox full")
    assert reasons(system) == ["mailbox full"]
    with pytest.raises(MailboxFull):
        await system.ask(3, held.address)
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", 1])


async def test_block_timeout_zero_rejects_at_once(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block", block_timeout=0))
    await system.tell(1, held.address)
    result = await system.tell(2, held.address)
    assert (result.success, result.reason) == (False, "mailbox full")
    held.release.set()


async def test_blocked_ask_is_bounded_by_its_timeout(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell(1, held.address)
    with pytest.raises(MailboxFull):
        await system.ask(2, held.address, timeout=0.05)
    assert not system._slots
    assert reasons(system) == ["mailbox full"]
    held.release.set()


async def test_blocked_ask_gets_its_reply_once_admitted(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell(1, held.address)
    asking = asyncio.create_task(system.ask("question", held.address, timeout=5))
    await wait_until(lambda: system.diagnostics().actor(held.address).blocked_senders == 1)
    held.release.set()
    assert await asking == "question"


async def test_cancelled_blocked_ask_leaves_no_slot_and_no_waiter(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell(1, held.address)
    asking = asyncio.create_task(system.ask("question", held.address, timeout=None))
    waiting = asyncio.create_task(system.tell("after", held.address))
    await wait_until(lambda: system.diagnostics().actor(held.address).blocked_senders == 2)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert not system._slots
    assert system.diagnostics().actor(held.address).blocked_senders == 1
    held.release.set()
    assert (await waiting).success
    await wait_until(lambda: held.seen == ["hold", 1, "after"])


async def test_blocked_sender_fails_when_the_actor_stops(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell(1, held.address)
    sender = asyncio.create_task(system.tell(2, held.address))
    await wait_until(lambda: system.diagnostics().actor(held.address).blocked_senders == 1)
    stopping = asyncio.create_task(system.stop(held.address))
    held.release.set()
    result = await sender
    assert (result.success, result.reason) == (False, "actor stopped")
    await stopping
    assert "actor stopped" in reasons(system)


async def test_blocked_sender_fails_at_shutdown() -> None:
    system = Syndicate("shutdown-block", stop_timeout=0.2)
    await system.start()
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell(1, held.address)
    sender = asyncio.create_task(system.tell(2, held.address))
    await wait_until(lambda: system.diagnostics().actor(held.address).blocked_senders == 1)
    await system.shutdown()
    result = await sender
    assert (result.success, result.reason) == (False, "system is shut down")
    assert reasons(system).count("system is shut down") == 2  # the queued one and the blocked one


class SelfSender(Actor):
    """Sends to itself while its mailbox is full; must be refused, never wait on itself."""

    def __init__(self, results: list[Any], release: asyncio.Event) -> None:
        self.results = results
        self.release = release

    async def process(self, message: Message) -> None:
        if message.content == "go":
            await self.release.wait()
            self.results.append(await self.tell("again", self.address))
            # The same send through the syndicate facade, still from this actor's handler.
            self.results.append(await self.system.tell("facade", self.address))


async def test_self_send_to_full_block_mailbox_is_rejected(system: Syndicate) -> None:
    results: list[Any] = []
    release = asyncio.Event()
    spec = ActorSpec(
        SelfSender,
        (results, release),
        mailbox_policy=MailboxPolicy(max_size=1, overflow="block"),
    )
    address = await system.create_actor_from_spec(spec)
    await system.tell("go", address)
    await wait_until(lambda: system.diagnostics().actor(address).busy)
    await system.tell("filler", address)
    release.set()
    await wait_until(lambda: len(results) == 2)
    assert [(result.success, result.reason) for result in results] == [
        (False, "mailbox full"),
        (False, "mailbox full"),
    ]


class Ticker(Actor):
    def __init__(self, armed: asyncio.Event, release: asyncio.Event) -> None:
        self.armed = armed
        self.release = release

    async def process(self, message: Message) -> None:
        if message.content == "hold":
            await self.armed.wait()
            self.schedule_after(0, "tick")
            await self.release.wait()


async def test_timer_into_full_block_mailbox_is_rejected_not_blocking(system: Syndicate) -> None:
    armed, release = asyncio.Event(), asyncio.Event()
    spec = ActorSpec(Ticker, (armed, release), mailbox_policy=MailboxPolicy(1, "block"))
    address = await system.create_actor_from_spec(spec)
    await system.tell("hold", address)
    await wait_until(lambda: system.diagnostics().actor(address).busy)
    await system.tell("filler", address)
    armed.set()  # the timer fires into the full mailbox; it is the actor's own send
    await wait_until(lambda: "mailbox full" in reasons(system))
    assert system.dead_letters[-1].envelope.content.payload == "tick"
    release.set()


# -- the control lane ------------------------------------------------------------------------


async def test_control_lane_is_not_bounded_and_is_served_first(system: Syndicate) -> None:
    watcher = await held_actor(system, MailboxPolicy(max_size=1, overflow="reject"))
    target = await held_actor(system, busy=False)
    await system.monitor(target.address, watcher=watcher.address)
    assert (await system.tell("user", watcher.address)).success
    assert not (await system.tell("refused", watcher.address)).success
    await system.stop(target.address)  # its ActorExited goes to the full watcher anyway
    watcher.release.set()
    await wait_until(lambda: len(watcher.seen) == 3)
    assert watcher.seen[0] == "hold"
    assert isinstance(watcher.seen[1], ActorExited)
    assert watcher.seen[2] == "user"


async def test_stop_reaches_an_actor_with_a_full_mailbox(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="reject"))
    await system.tell("queued", held.address)
    stopping = asyncio.create_task(system.stop(held.address))
    held.release.set()
    await stopping
    assert reasons(system) == ["actor stopped"]


# -- the waiting room, unit level ------------------------------------------------------------


def _envelope(content: Any) -> Envelope:
    return Envelope(content, None, None, 1, None, None, 0.0)


async def test_a_woken_sender_holds_a_reserved_slot() -> None:
    mailbox = Mailbox(MailboxPolicy(max_size=1, overflow="block"))
    mailbox.append_user(_envelope("a"))
    waiter = asyncio.create_task(mailbox.wait_for_space(None))
    await asyncio.sleep(0)
    assert mailbox.user is not None
    mailbox.user.popleft()
    mailbox.wake_space_waiter()
    # Freed and handed over: a newcomer must see the mailbox as full.
    assert mailbox.depth() == 0 and mailbox.is_full()
    assert await waiter is True
    assert mailbox.reserved == 0 and not mailbox.is_full()


async def test_a_cancelled_woken_sender_passes_its_slot_on() -> None:
    mailbox = Mailbox(MailboxPolicy(max_size=1, overflow="block"))
    mailbox.append_user(_envelope("a"))
    first = asyncio.create_task(mailbox.wait_for_space(None))
    second = asyncio.create_task(mailbox.wait_for_space(None))
    await asyncio.sleep(0)
    assert mailbox.user is not None
    mailbox.user.popleft()
    mailbox.wake_space_waiter()
    first.cancel()  # cancelled after the slot was handed to it, before it could run
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is True
    assert mailbox.reserved == 0
    assert mailbox.space_waiters == deque()


async def test_a_slot_handed_over_as_the_timeout_fires_is_still_taken() -> None:
    mailbox = Mailbox(MailboxPolicy(max_size=1, overflow="block"))
    mailbox.append_user(_envelope("a"))
    # With timeout 0 the timeout callback is queued before the waiter is resolved below, so
    # the waiting task is cancelled after the handover: it must keep the slot, not lose it.
    waiter = asyncio.create_task(mailbox.wait_for_space(0))
    await asyncio.sleep(0)
    assert mailbox.user is not None
    mailbox.user.popleft()
    mailbox.wake_space_waiter()
    assert await waiter is True
    assert mailbox.reserved == 0


async def test_waking_hands_out_every_free_slot() -> None:
    mailbox = Mailbox(MailboxPolicy(max_size=2, overflow="block"))
    waiters = [asyncio.create_task(mailbox.wait_for_space(None)) for _ in range(3)]
    await asyncio.sleep(0)
    mailbox.wake_space_waiter()
    assert mailbox.reserved == 2
    assert await waiters[0] and await waiters[1]
    assert not waiters[2].done()
    mailbox.release_all_waiters()
    assert await waiters[2] is True
    assert mailbox.reserved == 0


async def test_a_slot_freed_by_a_cancelled_ask_goes_to_a_blocked_sender(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    asking = asyncio.create_task(system.ask("cancel me", held.address, timeout=None))
    await wait_until(lambda: system.diagnostics().actor(held.address).mailbox_depth == 1)
    blocked = asyncio.create_task(system.tell("blocked", held.address))
    await wait_until(lambda: system.diagnostics().actor(held.address).blocked_senders == 1)
    asking.cancel()  # the queued ask is withdrawn: no dequeue frees its slot
    with pytest.raises(asyncio.CancelledError):
        await asking
    held.release.set()
    assert (await blocked).success
    await wait_until(lambda: held.seen == ["hold", "blocked"])
    assert reasons(system) == ["ask cancelled"]


# -- a model of the non-blocking policies ----------------------------------------------------


class Stepper(Actor):
    """Processes one message per permit, so the test decides when the mailbox drains."""

    def __init__(self, permits: asyncio.Semaphore, processed: list[int]) -> None:
        self.permits = permits
        self.processed = processed

    async def process(self, message: Message) -> None:
        await self.permits.acquire()
        self.processed.append(message.content)


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def _run_model(policy: str, max_size: int, operations: list[str]) -> None:
    async with Syndicate("model", stop_timeout=0.05) as system:
        permits = asyncio.Semaphore(0)
        processed: list[int] = []
        spec = ActorSpec(
            Stepper, (permits, processed), mailbox_policy=MailboxPolicy(max_size, policy)
        )
        address = await system.create_actor_from_spec(spec)
        queue: list[int] = []
        in_flight: list[int] = []
        expected_processed: list[int] = []
        expected_dead: list[int] = []
        sent = 0
        for operation in operations:
            if operation == "send":
                result = await system.tell(sent, address)
                if len(queue) >= max_size:
                    if policy == "drop_oldest":
                        expected_dead.append(queue.pop(0))
                        queue.append(sent)
                    else:
                        expected_dead.append(sent)
                    assert result.success == (policy in ("drop_newest", "drop_oldest"))
                else:
                    queue.append(sent)
                    assert result.reason == "delivered"
                sent += 1
            elif in_flight:
                expected_processed.append(in_flight.pop())
                permits.release()
            await _settle()
            if not in_flight and queue:
                in_flight.append(queue.pop(0))
            entry = system.diagnostics().actor(address)
            assert entry.mailbox_depth == len(queue) <= max_size
            assert processed == expected_processed
            assert [letter.envelope.content for letter in system.dead_letters] == expected_dead
        assert sent == len(processed) + len(expected_dead) + len(queue) + len(in_flight)
        for _ in range(len(queue) + len(in_flight)):
            permits.release()  # let the actor finish so the shutdown is quick


@settings(max_examples=100, deadline=None)
@given(
    policy=st.sampled_from(["reject", "drop_newest", "drop_oldest", "dead_letter"]),
    max_size=st.integers(min_value=1, max_value=4),
    operations=st.lists(st.sampled_from(["send", "send", "drain"]), max_size=25),
)
def test_bounded_mailboxes_follow_the_model(
    policy: str, max_size: int, operations: list[str]
) -> None:
    asyncio.run(_run_model(policy, max_size, operations))
