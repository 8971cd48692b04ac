"""Dead letters (ring, counts, rate-limited logging) and late replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorTimeout,
    DeadLetter,
    LateReply,
    MessageDeliveryError,
    Syndicate,
)
from spark.core.deadletters import MAX_REASON_CATEGORIES, DeadLetterOffice, reason_category
from spark.core.identity import Envelope
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import held_actor, kinds, reasons

NOWHERE = ActorAddress("nowhere", 1)


class Failing(Actor):
    def process(self, message: Message) -> None:
        raise KeyError(message.content)


async def test_a_dead_letter_carries_envelope_reason_and_time(system: Syndicate) -> None:
    unknown = ActorAddress(system.syndicate_id, 999_999)
    result = await system.tell("lost", unknown)
    assert (result.success, result.reason) == (False, "target not found")
    (letter,) = system.dead_letters
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "target not found"
    assert letter.envelope.content == "lost"
    assert letter.envelope.target == unknown
    assert letter.envelope.sender == system.inbox.address
    assert letter.timestamp > 0
    event = next(event for event in system.events if event.kind == "dead_letter")
    assert (event.actor, event.reason, event.message_id) == (
        unknown,
        "target not found",
        letter.envelope.id,
    )


async def test_fixed_reasons_for_unroutable_messages(system: Syndicate) -> None:
    assert (await system.tell("x", "no-such-name")).reason == "target not found"
    assert (await system.tell("x", NOWHERE)).reason == "remote route not found"
    with pytest.raises(TypeError):
        await system.tell("x", 42)  # type: ignore[arg-type]
    assert reasons(system) == ["target not found", "remote route not found"]


async def test_the_ring_keeps_the_newest_and_counts_everything() -> None:
    async with Syndicate("ring", dead_letter_capacity=3) as system:
        for value in range(5):
            await system.tell(value, NOWHERE)
        assert [letter.envelope.content for letter in system.dead_letters] == [2, 3, 4]
        diagnostics = system.diagnostics()
        assert diagnostics.dead_letter_count == 5
        assert diagnostics.dead_letters_by_reason == {"remote route not found": 5}


async def test_counts_group_reasons_by_stable_category(system: Syndicate) -> None:
    failing = await system.create_actor(Failing)
    await system.tell("a", failing)
    await wait_until(lambda: system.diagnostics().actor_count == 0)
    assert reason_category("handler failed: KeyError('a')") == "handler failed"
    assert reason_category("mailbox full (dead-lettered)") == "mailbox full (dead-lettered)"
    by_reason = system.diagnostics().dead_letters_by_reason
    assert by_reason == {"handler failed": 1}
    assert reasons(system) == ["handler failed: KeyError('a')"]


async def test_a_dead_letter_fails_the_ask_waiting_on_it(system: Syndicate) -> None:
    held = await held_actor(system)
    asking = asyncio.create_task(system.ask("queued", held.address, timeout=30))
    await wait_until(lambda: system.diagnostics().actor(held.address).mailbox_depth == 1)
    stopping = asyncio.create_task(system.stop(held.address))
    held.release.set()
    with pytest.raises(MessageDeliveryError) as caught:
        await asking
    assert caught.value.reason == "actor stopped"
    await stopping
    assert reasons(system) == ["actor stopped"]


def _envelope(content: Any = None) -> Envelope:
    return Envelope(content, None, None, 1, None, None, 0.0)


def test_reason_categories_are_bounded() -> None:
    office = DeadLetterOffice(8, logging.getLogger("spark.test"))
    for number in range(MAX_REASON_CATEGORIES + 10):
        office.record(_envelope(), f"refused {number}")
    assert len(office.by_reason) == MAX_REASON_CATEGORIES + 1
    assert office.by_reason["other"] == 10
    assert office.total == MAX_REASON_CATEGORIES + 10
    assert len(office.dead_letters) == 8


# -- rate-limited logging --------------------------------------------------------------------


class _ManualScheduler:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Any:
        self.calls.append((delay, callback))
        return self

    def cancel(self) -> None:
        self.calls.clear()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name == "spark.test"
    ]


def test_logging_is_one_summary_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="spark.test")
    now = [100.0]
    scheduler = _ManualScheduler()
    office = DeadLetterOffice(
        16,
        logging.getLogger("spark.test"),
        log_interval=10.0,
        clock=lambda: now[0],
        schedule=scheduler,
    )
    for _ in range(1000):
        office.record(_envelope(), "mailbox full")
    office.record(_envelope(), "handler failed: ValueError()")
    # The first dead letter is reported at once; the rest wait for the end of the interval.
    assert len(_warnings(caplog)) == 1
    assert "1 mailbox full" in _warnings(caplog)[0]
    assert len(scheduler.calls) == 1  # one pending summary, not one per message
    delay, flush = scheduler.calls[0]
    assert delay == pytest.approx(10.0)
    now[0] += delay
    flush()
    summary = _warnings(caplog)[1]
    assert "999 mailbox full" in summary and "1 handler failed" in summary
    assert "total 1001" in summary
    # Quiet afterwards: nothing more is logged, and a later dead letter is reported at once.
    now[0] += 60
    office.record(_envelope(), "actor stopped")
    assert len(_warnings(caplog)) == 3
    assert "1 actor stopped" in _warnings(caplog)[2]


def test_close_logs_what_is_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="spark.test")
    scheduler = _ManualScheduler()
    office = DeadLetterOffice(4, logging.getLogger("spark.test"), schedule=scheduler)
    office.record(_envelope(), "a")
    office.record(_envelope(), "b")
    office.close()
    assert scheduler.calls == []  # the pending summary was cancelled ...
    assert len(_warnings(caplog)) == 2  # ... and written now
    office.close()
    assert len(_warnings(caplog)) == 2


def test_nothing_is_formatted_when_warnings_are_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="spark.test")
    office = DeadLetterOffice(4, logging.getLogger("spark.test"))
    office.record(_envelope(), "a")
    assert _warnings(caplog) == []
    assert office.total == 1


async def test_an_overload_logs_a_handful_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="spark.flood")
    async with Syndicate("flood", logger=logging.getLogger("spark.flood")) as system:
        system.office.log_interval = 0.05
        for value in range(2000):
            await system.tell(value, NOWHERE)
        # The scheduled summary arrives on its own, without another dead letter.
        await wait_until(lambda: len(caplog.records) >= 2)
        assert system.office.total == 2000
    lines = [record.getMessage() for record in caplog.records if record.name == "spark.flood"]
    assert len(lines) == 2
    assert "1 remote route not found" in lines[0]
    assert "1999 remote route not found" in lines[1]


# -- late replies ----------------------------------------------------------------------------


class Slow(Actor):
    def __init__(self, release: asyncio.Event) -> None:
        self.release = release

    async def process(self, message: Message) -> str:
        await self.release.wait()
        return f"late:{message.content}"


async def test_a_reply_after_the_timeout_is_a_late_reply(system: Syndicate) -> None:
    release = asyncio.Event()
    slow = await system.create_actor(Slow, release)
    with pytest.raises(ActorTimeout):
        await system.ask("q", slow, timeout=0.02)
    release.set()
    await wait_until(lambda: len(system.late_replies) == 1)
    (late,) = system.late_replies
    assert isinstance(late, LateReply)
    assert (late.content, late.sender) == ("late:q", slow)
    assert late.timestamp > 0
    assert system.dead_letters == ()  # not a dead letter
    diagnostics = system.diagnostics()
    assert (diagnostics.late_reply_count, diagnostics.dead_letter_count) == (1, 0)
    assert "ask_timed_out" in kinds(system)
    event = next(event for event in system.events if event.kind == "late_reply")
    assert event.actor == slow
    assert event.fields["correlation_id"] == late.correlation_id


class TwiceReplier(Actor):
    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes

    async def process(self, message: Message) -> None:
        self.outcomes.append(await self.reply(message, "first"))
        self.outcomes.append(await self.reply(message, "second"))


async def test_a_second_reply_to_one_ask_is_a_late_reply(system: Syndicate) -> None:
    outcomes: list[Any] = []
    address = await system.create_actor(TwiceReplier, outcomes)
    assert await system.ask("q", address) == "first"
    await wait_until(lambda: len(outcomes) == 2)
    assert [(o.success, o.reason) for o in outcomes] == [(True, "delivered"), (False, "late reply")]
    assert [late.content for late in system.late_replies] == ["second"]
    assert system.dead_letters == ()


async def test_late_replies_are_bounded() -> None:
    async with Syndicate("late", dead_letter_capacity=2) as system:
        outcomes: list[Any] = []
        address = await system.create_actor(TwiceReplier, outcomes)
        for _ in range(4):
            await system.ask("q", address)
        await wait_until(lambda: len(outcomes) == 8)
        assert len(system.late_replies) == 2
        assert system.diagnostics().late_reply_count == 4
