"""Parent <-> worker helpers (spark/execution/_protocol.py)."""

from __future__ import annotations

from collections import deque

from spark.core.identity import Envelope
from spark.execution._protocol import DoorStash


def envelope(number: int) -> Envelope:
    return Envelope(number, None, None, number, None, None, 0.0)


def test_door_stash_hands_each_payload_to_its_handler_once() -> None:
    stash = DoorStash()
    first, second = envelope(1), envelope(2)
    stash.put(first, b"one")
    stash.put(second, b"two")
    assert stash.take(second, deque([first])) == b"two"
    assert stash.take(second, deque([first])) is None  # taken already: the caller re-pickles
    assert stash.take(first, None) == b"one" and len(stash) == 0


def test_door_stash_sweeps_payloads_that_were_never_handled_past_its_slack() -> None:
    stash = DoorStash(slack=4)
    queued = deque(envelope(number) for number in range(3))
    for live in queued:
        stash.put(live, b"live")
    for number in range(100, 104):
        stash.put(envelope(number), b"stale")  # expired or cancelled in the mailbox
    handled = envelope(50)
    stash.put(handled, b"handled")
    assert stash.take(handled, queued) == b"handled"
    assert len(stash) == 7  # 4 stale entries are within the slack: no sweep yet
    stash.put(envelope(104), b"stale")
    stash.put(handled, b"handled")
    stash.take(handled, queued)
    assert len(stash) == 3  # past the slack: one sweep keeps only what is still queued
    assert [stash.take(live, None) for live in queued] == [b"live"] * 3
