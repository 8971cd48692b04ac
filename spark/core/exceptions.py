"""The Spark exception tree.

Every error Spark raises derives from :class:`SparkException`, so ``except SparkException`` catches
all of them. Errors carry the facts (target, reason, limit) as attributes as well as in the text.
``asyncio.CancelledError`` is never wrapped in any of these.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActorAlreadyExists",
    "ActorAlreadyStartedError",
    "ActorDeadlockError",
    "ActorFailed",
    "ActorNotFound",
    "ActorNotStartedError",
    "ActorTimeout",
    "AuthenticationError",
    "CodecError",
    "FederationAuthError",
    "FederationError",
    "FrameError",
    "HandshakeError",
    "InvalidActorSpecError",
    "MailboxFull",
    "MessageDeliveryError",
    "PersistenceError",
    "PlacementError",
    "RemoteSpawnError",
    "SparkException",
    "SyndicateError",
    "TransportError",
    "UnsupportedBackendError",
    "WorkflowError",
]


class SparkException(Exception):
    """Base class of every error raised by Spark."""


class ActorNotFound(SparkException):
    """No actor (or registered name) matches the given address or name."""


class ActorAlreadyExists(SparkException):
    """A name or identity that must be unique is already taken by a live actor."""


class ActorNotStartedError(SparkException):
    """An actor helper was used before the runtime started the actor (e.g. in ``__init__``)."""


class ActorAlreadyStartedError(SparkException):
    """An actor instance was handed to the runtime a second time."""


class ActorTimeout(SparkException, TimeoutError):
    """An ``ask`` or ``receive`` got no answer in time. Also a :class:`TimeoutError`."""

    def __init__(self, message: str, *, target: Any = None, timeout: float | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.timeout = timeout


class MessageDeliveryError(SparkException):
    """A message could not be delivered (or its target went away before answering)."""

    def __init__(self, target: Any, reason: str) -> None:
        super().__init__(f"message to {target!r} not delivered: {reason}")
        self.target = target
        self.reason = reason


class ActorFailed(SparkException):
    """The handler of an asked message raised; ``__cause__`` holds the local exception."""

    def __init__(self, target: Any, reason: str) -> None:
        super().__init__(f"actor {target!r} failed while handling the message: {reason}")
        self.target = target
        self.reason = reason


class ActorDeadlockError(SparkException):
    """An ask would wait on itself (directly or through a cycle of pending asks)."""


class MailboxFull(MessageDeliveryError):
    """A bounded mailbox refused a message (``reject``, ``dead_letter``, or ``block`` after
    ``block_timeout``). An ``ask`` raises it; it is a :class:`MessageDeliveryError`."""


class SyndicateError(SparkException):
    """The syndicate is in the wrong state for the call (not started, shut down, ...)."""


class UnsupportedBackendError(SparkException):
    """An unknown codec, transport or execution backend name was given."""


class InvalidActorSpecError(SparkException):
    """An :class:`~spark.core.spec.ActorSpec` (or policy) holds a contradictory value."""


class CodecError(SparkException):
    """A payload could not be encoded or decoded."""


class TransportError(SparkException):
    """A network transport failed."""


class HandshakeError(TransportError):
    """The connection handshake failed."""


class AuthenticationError(TransportError):
    """The peer failed to prove knowledge of the shared secret."""


class FrameError(TransportError):
    """A frame was malformed, oversized, out of sequence or badly authenticated."""


class PersistenceError(SparkException):
    """The journal failed to store or load data."""


class FederationError(SparkException):
    """A federation operation failed."""


class FederationAuthError(FederationError):
    """A federation peer failed authentication."""


class RemoteSpawnError(FederationError):
    """A remote node refused or failed to spawn an actor."""


class PlacementError(FederationError):
    """No member satisfies an actor's placement requirements."""


class WorkflowError(SparkException):
    """A workflow is invalid or one of its runs failed."""
