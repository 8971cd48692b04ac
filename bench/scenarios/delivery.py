"""Delivery controls (issue: delivery and observability).

1. Tell throughput must not pay for delivery controls that are not triggered: an unbounded
   mailbox (baseline) against a bounded ``reject`` mailbox that never overflows, and against a
   syndicate with a subscriber on every event kind but ``trace_messages=False``.
2. A 10x overload: a producer sends ten times faster than a bounded (``drop_oldest``) actor
   drains, for 10 s. Peak RSS growth must stay flat instead of growing with the message count
   (the unbounded mailbox under the same load is the baseline it is compared with), and every
   message must be accounted for: sent == processed + dead-lettered.

Each overload run happens in a fresh child process (``python -m bench.scenarios.delivery
overload ...``) so RSS figures are not blurred by memory an earlier run left to the allocator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.registry import scenario
from bench.scenarios.core import Counter
from spark import Actor, ActorSpec, MailboxPolicy, RuntimeEvent, Syndicate
from spark.core.message import Message

TELLS = 200_000

OVERLOAD_SECONDS = 10.0
OVERLOAD_FACTOR = 10
DRAIN_INTERVAL = 0.001  # the consumer sleeps 1 ms per message (~750-1000 msg/s measured) ...
TICK = 0.01  # ... while the producer sends a burst every 10 ms, sized to 10x the drain rate.
OVERLOAD_CAPACITY = 1_000
RSS_SAMPLE_INTERVAL = 0.1


async def _tell_throughput(system: Syndicate, policy: MailboxPolicy) -> float:
    done = asyncio.get_running_loop().create_future()
    spec = ActorSpec(Counter, (TELLS, done), mailbox_policy=policy)
    counter = await system.create_actor_from_spec(spec)
    started = time.perf_counter()
    for i in range(TELLS):
        await system.tell(i, counter)
    await done
    return TELLS / (time.perf_counter() - started)


# -- 1. tell throughput with delivery controls present but idle -----------------------------


@scenario("delivery: tell throughput", impl="unbounded mailbox", unit="msg/s", baseline=True)
async def tell_unbounded() -> float:
    async with Syndicate("bench") as system:
        return await _tell_throughput(system, MailboxPolicy.unbounded())


@scenario(
    "delivery: tell throughput",
    impl="bounded reject (never full)",
    unit="msg/s",
    target=">= 0.9x",
)
async def tell_bounded_reject() -> float:
    async with Syndicate("bench") as system:
        # The producer never yields, so all TELLS messages are queued at once: the bound must
        # exceed that to measure the checks without an overflow.
        policy = MailboxPolicy(max_size=TELLS + 1, overflow="reject")
        rate = await _tell_throughput(system, policy)
        assert system.office.total == 0, "the bounded mailbox overflowed"
        return rate


@scenario(
    "delivery: tell throughput",
    impl="subscriber on all events, no tracing",
    unit="msg/s",
    target=">= 0.9x",
)
async def tell_with_subscriber() -> float:
    async with Syndicate("bench", trace_messages=False) as system:
        seen: list[RuntimeEvent] = []
        system.subscribe(seen.append)
        rate = await _tell_throughput(system, MailboxPolicy.unbounded())
        assert [event.kind for event in seen] == ["actor_started"], "per-message events leaked"
        return rate


# -- 2. 10x overload: flat memory and exact accounting ---------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (the overload scenario needs Linux)")


class Drainer(Actor):
    """Handles one message per DRAIN_INTERVAL."""

    def __init__(self, processed: list[int]) -> None:
        self.processed = processed

    async def process(self, message: Message) -> None:
        await asyncio.sleep(DRAIN_INTERVAL)
        self.processed[0] += 1


async def _calibrate_drain_rate() -> float:
    """Messages per second the Drainer manages on this machine (sleep granularity varies)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(200):
        await asyncio.sleep(DRAIN_INTERVAL)
    return 200 / (loop.time() - started)


async def _overload(policy: MailboxPolicy, seconds: float) -> dict[str, Any]:
    burst = max(1, round(OVERLOAD_FACTOR * await _calibrate_drain_rate() * TICK))
    processed = [0]
    samples: list[tuple[float, float]] = []
    async with Syndicate("overload") as system:
        system.office.log_interval = 3600.0  # one summary line, not a WARNING per interval
        spec = ActorSpec(Drainer, (processed,), mailbox_policy=policy)
        drainer = await system.create_actor_from_spec(spec)
        loop = asyncio.get_running_loop()
        start_rss = _rss_mb()
        started = loop.time()
        stop_at = started + seconds
        sent = 0

        async def sample() -> None:
            while True:
                samples.append((loop.time() - started, _rss_mb()))
                await asyncio.sleep(RSS_SAMPLE_INTERVAL)

        sampler = asyncio.create_task(sample())
        tick = started
        while tick < stop_at:
            for _ in range(burst):
                await system.tell(sent, drainer)
                sent += 1
            tick += TICK
            await asyncio.sleep(max(tick - loop.time(), 0))
        elapsed = loop.time() - started
        sampler.cancel()
        try:
            await sampler
        except asyncio.CancelledError:
            pass
        samples.append((elapsed, _rss_mb()))
        processed_during = processed[0]
        entry = system.diagnostics().actor(drainer)
        queued_at_end = entry.mailbox_depth
        in_flight = 1 if entry.busy else 0
        dropped = system.office.total  # every dead letter so far is an overflow drop
        # Counted independently of the dead-letter office: what was neither processed, nor
        # being processed, nor still queued must have been dropped.
        dropped_by_arithmetic = sent - processed_during - in_flight - queued_at_end
    # After shutdown, what was still queued is a dead letter too ("system is shut down").
    dead_letters = system.office.total
    by_reason = dict(system.office.by_reason)
    half = [rss for at, rss in samples if at >= elapsed / 2]
    first_half = [rss for at, rss in samples if at < elapsed / 2]
    return {
        "policy": (
            "unbounded"
            if policy.max_size is None
            else f"{policy.overflow} max_size={policy.max_size}"
        ),
        "seconds": round(elapsed, 2),
        "sent": sent,
        "send_rate": round(sent / elapsed),
        "processed": processed[0],
        "processed_during_overload": processed_during,
        "drain_rate": round(processed_during / elapsed),
        "queued_at_end": queued_at_end,
        "dropped_during_overload": dropped,
        "dead_letters": dead_letters,
        "dead_letters_by_reason": by_reason,
        "every_drop_dead_lettered": dropped == dropped_by_arithmetic,
        "accounted": sent == processed[0] + dead_letters and dropped == dropped_by_arithmetic,
        "start_rss_mb": round(start_rss, 1),
        "peak_rss_growth_mb": round(max(rss for _, rss in samples) - start_rss, 2),
        "second_half_growth_mb": round(max(half) - max(first_half), 2),
        "rss_timeline_mb": [round(rss, 1) for at, rss in samples[:: int(1 / RSS_SAMPLE_INTERVAL)]],
    }


def _run_overload_child(policy: str) -> float:
    """Run one overload measurement in a fresh interpreter; print its accounting."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.scenarios.delivery", "overload", "--policy", policy],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    ratio = report["send_rate"] / max(report["drain_rate"], 1)
    print(
        f"  overload [{report['policy']}] {report['seconds']} s: sent={report['sent']}"
        f" ({report['send_rate']}/s, {ratio:.1f}x the drain rate {report['drain_rate']}/s)"
        f" processed={report['processed']} dead_letters={report['dead_letters']}"
        f" {report['dead_letters_by_reason']}; dropped during the overload"
        f" {report['dropped_during_overload']}, all dead-lettered:"
        f" {report['every_drop_dead_lettered']}; sent == processed + dead_letters:"
        f" {report['accounted']}",
        flush=True,
    )
    print(
        f"  overload [{report['policy']}] RSS start {report['start_rss_mb']} MB,"
        f" peak growth {report['peak_rss_growth_mb']} MB, growth in the second half"
        f" {report['second_half_growth_mb']} MB; per second: {report['rss_timeline_mb']}",
        flush=True,
    )
    if not report["accounted"]:
        raise AssertionError(f"messages unaccounted for: {report}")
    return float(report["peak_rss_growth_mb"])


@scenario(
    "delivery: 10x overload 10 s",
    impl="unbounded mailbox (grows)",
    unit="MB peak RSS growth",
    baseline=True,
    higher_is_better=False,
    runs=1,
)
def overload_unbounded() -> float:
    return _run_overload_child("unbounded")


@scenario(
    "delivery: 10x overload 10 s",
    impl=f"drop_oldest max_size={OVERLOAD_CAPACITY}",
    unit="MB peak RSS growth",
    higher_is_better=False,
    target="flat (second-half growth ~0)",
    runs=1,
)
def overload_bounded() -> float:
    return _run_overload_child("drop_oldest")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Child process of the overload scenario.")
    parser.add_argument("mode", choices=["overload"])
    parser.add_argument("--policy", choices=["unbounded", "drop_oldest", "reject"], required=True)
    parser.add_argument("--seconds", type=float, default=OVERLOAD_SECONDS)
    args = parser.parse_args(argv)
    if args.policy == "unbounded":
        policy = MailboxPolicy.unbounded()
    else:
        policy = MailboxPolicy(max_size=OVERLOAD_CAPACITY, overflow=args.policy)
    print(json.dumps(asyncio.run(_overload(policy, args.seconds))))


if __name__ == "__main__":
    main()
