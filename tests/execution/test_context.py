"""What worker code may use (spark/execution/context.py): restrictions and worker_context()."""

from __future__ import annotations

import pytest

from spark import ActorFailed, ActorSpec, SparkException, Syndicate
from spark.execution import WorkerRestrictionError, worker_context
from tests.conftest import wait_until
from tests.execution.workers import (
    RepliesEarly,
    ReturnsCoroutine,
    SendsFromPostStop,
    UsesHelper,
)

REFUSED = ["ask", "tell", "create_actor", "schedule_after", "stop", "children", "system"]


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_loop_bound_helpers_are_refused_with_a_clear_error(
    system: Syndicate, mode: str
) -> None:
    spec = ActorSpec(UsesHelper, execution=mode, stateless=True)  # type: ignore[arg-type]
    for helper in REFUSED:
        # A fresh actor per helper: the default supervision stops a failed top-level actor.
        actor = await system.create_actor_from_spec(spec)
        with pytest.raises(ActorFailed) as caught:
            await system.ask(helper, actor, timeout=5)
        error = caught.value.__cause__
        assert isinstance(error, WorkerRestrictionError) and isinstance(error, RuntimeError)
        assert helper in error.helper and error.mode == mode
        assert f"not available in a {mode} worker" in str(error)
        assert "WorkerRestrictionError" in system.dead_letters[-1].reason


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_identities_stay_readable_in_a_worker(system: Syndicate, mode: str) -> None:
    spec = ActorSpec(UsesHelper, execution=mode, stateless=True)  # type: ignore[arg-type]
    actor = await system.create_actor_from_spec(spec)
    assert await system.ask("identity", actor) == (actor, system.syndicate_id, None)


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_worker_context_reply_answers_at_once(system: Syndicate, mode: str) -> None:
    spec = ActorSpec(RepliesEarly, execution=mode, stateless=True)  # type: ignore[arg-type]
    actor = await system.create_actor_from_spec(spec)
    assert await system.ask("x", actor) == "early"
    # The return value arrived after the ask had its answer: a late reply, not a dead letter.
    await wait_until(lambda: any(late.content == "late" for late in system.late_replies))


async def test_worker_context_outside_a_worker_raises() -> None:
    with pytest.raises(SparkException, match="only works inside process"):
        worker_context()


async def test_returning_an_awaitable_is_refused(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(
        ActorSpec(ReturnsCoroutine, execution="thread", stateless=True)
    )
    with pytest.raises(ActorFailed, match="awaitable"):
        await system.ask("x", actor)


async def test_sending_from_post_stop_of_a_process_worker_says_why_it_cannot(
    system: Syndicate, capfd: pytest.CaptureFixture[str]
) -> None:
    spec = ActorSpec(SendsFromPostStop, execution="process", stateless=True)
    actor = await system.create_actor_from_spec(spec)
    assert await system.ask("x", actor) == "ok"
    await system.stop(actor)  # the worker drops the instance: post_stop runs there, later
    errors: list[str] = []

    def reported() -> bool:
        errors.append(capfd.readouterr().err)
        return "SparkException: worker_context()" in "".join(errors)  # the traceback's end

    await wait_until(reported)
    text = "".join(errors)
    assert "post_stop() of SendsFromPostStop raised" in text
    assert "not from post_stop()" in text  # what does not work, and why
