"""``ActorSpec``: everything needed to build (and rebuild, on restart) an actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from spark.core.exceptions import InvalidActorSpecError
from spark.core.mailbox import MailboxPolicy
from spark.core.supervision import SupervisorStrategy

__all__ = ["EXECUTION_MODES", "ActorSpec", "ExecutionMode"]

ExecutionMode = Literal["inprocess", "thread", "process"]
EXECUTION_MODES: Final = ("inprocess", "thread", "process")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ActorSpec:
    """A frozen recipe for an actor.

    ``execution`` picks where ``process()`` runs: on the event loop (``"inprocess"``), in the
    syndicate's thread pool (``"thread"``) or in worker processes (``"process"``); the latter two
    need ``stateless=True`` because the instance may be replicated. ``max_concurrency > 1`` lets
    a stateless actor handle several messages at once. ``requirements`` are capabilities a node
    must offer to host the actor (used by placement). ``supervisor_strategy`` decides what
    happens when this actor fails (else its parent's ``supervisor_strategy``, else stop).
    """

    actor_class: type[Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    name: str | None = None
    execution: ExecutionMode = "inprocess"
    stateless: bool = False
    max_concurrency: int = 1
    requirements: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    supervisor_strategy: SupervisorStrategy | None = None
    mailbox_policy: MailboxPolicy = field(default_factory=MailboxPolicy)

    def __post_init__(self) -> None:
        from spark.core.actor import Actor  # actor.py imports this module for typing only

        if not (isinstance(self.actor_class, type) and issubclass(self.actor_class, Actor)):
            raise InvalidActorSpecError(
                f"ActorSpec.actor_class must be a subclass of spark.Actor, got {self.actor_class!r}"
            )
        if self.actor_class.process is Actor.process:
            raise InvalidActorSpecError(
                f"{self.actor_class.__qualname__} does not define process(self, message);"
                " every actor class must implement it"
            )
        args: Any = self.args
        if not isinstance(args, tuple):
            object.__setattr__(self, "args", tuple(args))
        if not isinstance(self.kwargs, Mapping):
            raise InvalidActorSpecError(f"ActorSpec.kwargs must be a mapping, got {self.kwargs!r}")
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))
        if not isinstance(self.requirements, Mapping):
            raise InvalidActorSpecError(
                f"ActorSpec.requirements must be a mapping, got {self.requirements!r}"
            )
        object.__setattr__(self, "requirements", MappingProxyType(dict(self.requirements)))
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise InvalidActorSpecError(
                f"ActorSpec.name must be a non-empty string, got {self.name!r}"
            )
        if self.execution not in EXECUTION_MODES:
            raise InvalidActorSpecError(
                f"ActorSpec.execution={self.execution!r} is not one of {', '.join(EXECUTION_MODES)}"
            )
        if self.execution != "inprocess" and not self.stateless:
            raise InvalidActorSpecError(
                f"execution={self.execution!r} needs stateless=True: the actor runs off the event"
                " loop and may be replicated across workers, so it cannot keep state between"
                " messages. Pass stateless=True (and keep no state) or use execution='inprocess'."
            )
        if (
            not isinstance(self.max_concurrency, int)
            or isinstance(self.max_concurrency, bool)
            or self.max_concurrency < 1
        ):
            raise InvalidActorSpecError(
                f"ActorSpec.max_concurrency must be an int >= 1, got {self.max_concurrency!r}"
            )
        if self.max_concurrency > 1 and not self.stateless:
            raise InvalidActorSpecError(
                "max_concurrency > 1 needs stateless=True: concurrent handlers on one instance"
                " would race on its state"
            )
        if self.supervisor_strategy is not None and not isinstance(
            self.supervisor_strategy, SupervisorStrategy
        ):
            raise InvalidActorSpecError(
                "ActorSpec.supervisor_strategy must be a SupervisorStrategy or None,"
                f" got {self.supervisor_strategy!r}"
            )
        if not isinstance(self.mailbox_policy, MailboxPolicy):
            raise InvalidActorSpecError(
                f"ActorSpec.mailbox_policy must be a MailboxPolicy, got {self.mailbox_policy!r}"
            )

    def instantiate(self) -> Any:
        """Build a fresh actor instance (used on start and on every restart)."""
        return self.actor_class(*self.args, **self.kwargs)
