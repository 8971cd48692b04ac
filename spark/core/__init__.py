"""The actor runtime: stdlib only, and unaware of execution, persistence, remote or workflow."""

from spark.core.actor import Actor
from spark.core.deadletters import DeadLetter, LateReply
from spark.core.diagnostics import ActorDiagnostics, PendingAsk, RuntimeDiagnostics
from spark.core.events import EVENT_KINDS, RuntimeEvent
from spark.core.exceptions import (
    ActorAlreadyExists,
    ActorAlreadyStartedError,
    ActorDeadlockError,
    ActorFailed,
    ActorNotFound,
    ActorNotStartedError,
    ActorTimeout,
    AuthenticationError,
    CodecError,
    FederationAuthError,
    FederationError,
    FrameError,
    HandshakeError,
    InvalidActorSpecError,
    MailboxFull,
    MessageDeliveryError,
    PersistenceError,
    PlacementError,
    RemoteSpawnError,
    SparkException,
    SyndicateError,
    TransportError,
    UnsupportedBackendError,
    WorkflowError,
)
from spark.core.identity import ActorAddress
from spark.core.inbox import Endpoint
from spark.core.mailbox import MailboxPolicy
from spark.core.message import Message
from spark.core.messages import (
    ActorExited,
    CancellationRequest,
    ChildActorExited,
    ChildActorRestarted,
    DeliveryResult,
    WakeupMessage,
)
from spark.core.spec import ActorSpec
from spark.core.supervision import SupervisorStrategy
from spark.core.syndicate import Syndicate

__all__ = [
    "EVENT_KINDS",
    "Actor",
    "ActorAddress",
    "ActorAlreadyExists",
    "ActorAlreadyStartedError",
    "ActorDeadlockError",
    "ActorDiagnostics",
    "ActorExited",
    "ActorFailed",
    "ActorNotFound",
    "ActorNotStartedError",
    "ActorSpec",
    "ActorTimeout",
    "AuthenticationError",
    "CancellationRequest",
    "ChildActorExited",
    "ChildActorRestarted",
    "CodecError",
    "DeadLetter",
    "DeliveryResult",
    "Endpoint",
    "FederationAuthError",
    "FederationError",
    "FrameError",
    "HandshakeError",
    "InvalidActorSpecError",
    "LateReply",
    "MailboxFull",
    "MailboxPolicy",
    "Message",
    "MessageDeliveryError",
    "PendingAsk",
    "PersistenceError",
    "PlacementError",
    "RemoteSpawnError",
    "RuntimeDiagnostics",
    "RuntimeEvent",
    "SparkException",
    "SupervisorStrategy",
    "Syndicate",
    "SyndicateError",
    "TransportError",
    "UnsupportedBackendError",
    "WakeupMessage",
    "WorkflowError",
]
