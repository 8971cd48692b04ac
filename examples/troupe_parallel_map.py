"""Parallel map over a Troupe: count the primes below a limit, one chunk per message.

The counting is CPU-bound pure Python, so the Troupe's workers run with
``execution="process"``: each chunk is handled in a worker process, in parallel, and each
reply goes straight back to the asker.

python examples/troupe_parallel_map.py --limit 200000 --chunks 8 --workers 2
primes below 200000: 17984
chunks: 8, completed by the troupe: 8
workers: 2 (process), distinct worker processes: 2
elapsed: 0.12 s
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import time

from spark import Actor, ActorSpec, GetTroupeStatus, Syndicate, Troupe
from spark.core.message import Message
from spark.execution import configure_execution


def count_primes(low: int, high: int) -> int:
    """Primes in ``[low, high)`` by trial division (deliberately plain, CPU-bound Python)."""
    count = 0
    for candidate in range(max(low, 2), high):
        if candidate % 2 == 0:
            count += candidate == 2
            continue
        for divisor in range(3, math.isqrt(candidate) + 1, 2):
            if candidate % divisor == 0:
                break
        else:
            count += 1
    return count


class CountPrimes(Actor):
    """Stateless worker: replies (number of primes in the range, worker pid)."""

    def process(self, message: Message) -> tuple[int, int]:
        low, high = message.content
        return count_primes(low, high), os.getpid()


def chunks_of(limit: int, chunks: int) -> list[tuple[int, int]]:
    bounds = [limit * i // chunks for i in range(chunks + 1)]
    return list(itertools.pairwise(bounds))


async def main(limit: int, chunks: int, workers: int, mode: str) -> None:
    async with Syndicate("parallel-map") as system:
        configure_execution(system, max_processes=workers, max_threads=workers)
        spec = ActorSpec(CountPrimes, execution=mode, stateless=True)  # type: ignore[arg-type]
        troupe = await system.create_actor(Troupe, spec, max_count=workers, idle_count=workers)
        # Worker processes start on demand: one tiny job per worker starts them all, so the
        # time below is the counting, not the start-up of Python interpreters.
        await asyncio.gather(*(system.ask((0, 2), troupe, timeout=60) for _ in range(workers)))
        warmed = await system.ask(GetTroupeStatus(), troupe)
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(system.ask(chunk, troupe, timeout=120) for chunk in chunks_of(limit, chunks))
        )
        elapsed = time.perf_counter() - started
        status = await system.ask(GetTroupeStatus(), troupe)
        print(f"primes below {limit}: {sum(count for count, _ in replies)}")
        completed = status.completed - warmed.completed
        print(f"chunks: {chunks}, completed by the troupe: {completed}")
        pids = {pid for _, pid in replies}
        print(f"workers: {status.workers} ({mode}), distinct worker processes: {len(pids)}")
        print(f"elapsed: {elapsed:.2f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Count primes below a limit in parallel chunks on a Troupe of workers."
    )
    parser.add_argument("--limit", type=int, default=200_000, help="count primes below this")
    parser.add_argument("--chunks", type=int, default=8, help="number of messages (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers in the Troupe (default 2)")
    parser.add_argument(
        "--mode",
        choices=("process", "thread"),
        default="process",
        help="execution mode of the workers (default: process)",
    )
    args = parser.parse_args(argv)
    if args.limit < 2 or args.chunks < 1 or args.workers < 1:
        parser.error("--limit must be >= 2, --chunks and --workers >= 1")
    return args


if __name__ == "__main__":  # required: worker processes re-import this module
    options = parse_args()
    asyncio.run(main(options.limit, options.chunks, options.workers, options.mode))
