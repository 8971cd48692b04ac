"""Errors raised by the execution layer (thread/process workers and Troupe pools)."""

from __future__ import annotations

from spark.core.exceptions import SparkException

__all__ = ["WorkerDiedError", "WorkerRestrictionError"]


class WorkerRestrictionError(SparkException, RuntimeError):
    """User code in a thread or process worker called something that only works on the event loop.

    ``process()`` of a ``thread``/``process`` actor runs off the loop, so helpers that need it
    (``self.ask``, ``self.create_actor``, timers, monitors, ...) are refused with this error
    instead of hanging. The message names the helper and what to do instead. Also a
    :class:`RuntimeError`.
    """

    def __init__(self, helper: str, mode: str, hint: str) -> None:
        super().__init__(
            f"{helper} is not available in a {mode} worker: process() runs off the event loop."
            f" {hint}"
        )
        self.helper = helper
        self.mode = mode
        self.hint = hint

    def __reduce__(self) -> tuple[type[WorkerRestrictionError], tuple[str, str, str]]:
        # Raised in worker processes and pickled back to the parent.
        return (type(self), (self.helper, self.mode, self.hint))


class WorkerDiedError(SparkException):
    """The worker process running a message exited (killed, crashed) before it answered.

    Internal to the execution layer: a process actor turns it into the dead letter
    ``"worker died: ..."`` (and an ask fails with that reason); a Troupe re-dispatches the work.
    """

    def __init__(self, pid: int | None, exitcode: int | None, starting: bool = False) -> None:
        self.pid = pid
        self.exitcode = exitcode
        self.starting = starting
        text = f"worker died: {describe_exit(pid, exitcode)}"
        if starting:
            text += (
                " while starting (see its stderr; a script that creates process actors must"
                " guard its entry point with: if __name__ == '__main__':)"
            )
        super().__init__(text)

    def __reduce__(self) -> tuple[type[WorkerDiedError], tuple[int | None, int | None, bool]]:
        return (type(self), (self.pid, self.exitcode, self.starting))


def describe_exit(pid: int | None, exitcode: int | None) -> str:
    """``"process 123 killed by SIGKILL"`` / ``"process 123 exited with code 3"``."""
    import signal

    who = "worker process" if pid is None else f"process {pid}"
    if exitcode is None:
        return f"{who} vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"{who} killed by {name}"
    return f"{who} exited with code {exitcode}"
