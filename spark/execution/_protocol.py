"""Internal: the parent <-> worker-process frames and the hook a Troupe puts on dispatched work.

Frames are pickled tuples whose first item is one of the small ints below. User payloads travel
as nested ``bytes`` so a frame header always decodes even when its payload does not (the error
can then be pinned on the right job).
"""

from __future__ import annotations

import pickle
from collections.abc import Collection
from typing import Final

from spark.core.identity import ActorAddress, Envelope
from spark.core.message import Message

__all__ = [
    "ANSWER",
    "DONE",
    "FAILED",
    "JOB",
    "PROTOCOL",
    "REPLY",
    "REQUEST",
    "STOP",
    "TELL",
    "UNLOAD",
    "DispatchHook",
    "DoorStash",
    "JobFields",
    "dump_payload",
    "payload_of",
    "pickle_refusal",
]

PROTOCOL: Final = pickle.HIGHEST_PROTOCOL

# parent -> worker
JOB: Final = 1  # (JOB, job_id, recipe_key, recipe_data | None, payload | None, fields)
UNLOAD: Final = 2  # (UNLOAD, recipe_key)
STOP: Final = 3  # (STOP,)
ANSWER: Final = 4  # (ANSWER, request_id, success, reason)
# worker -> parent
DONE: Final = 11  # (DONE, job_id, value_bytes)
FAILED: Final = 12  # (FAILED, job_id, error_bytes, traceback_text, load_failed)
REQUEST: Final = 13  # (REQUEST, request_id, job_id, TELL | REPLY, target, value_bytes)
# request kinds
TELL: Final = 1
REPLY: Final = 2

#: (address, parent, incarnation, syndicate_id, sender, message_id, correlation_id)
JobFields = tuple[ActorAddress, ActorAddress | None, int, str, ActorAddress | None, int, int | None]


def dump_payload(message: Message) -> bytes:
    """Pickle what a process worker needs of ``message``: content, headers, workflow state."""
    return pickle.dumps((message.content, message._metadata, message.state), PROTOCOL)


def pickle_refusal(actor: str, error: BaseException) -> str:
    """The refusal reason of a message that cannot be pickled for a process worker."""
    return f"cannot pickle the message for process actor {actor}: {type(error).__name__}: {error}"


class DoorStash:
    """Payloads pickled at an actor's door (``_spark_admit``), kept for its handler.

    A message admitted but never handled (it expired in the mailbox, a cancelled ask removed
    it, a full mailbox refused it after the door) leaves a stale entry. Stale entries go once
    the stash outgrows the queue by ``slack``: one sweep of the queue per ``slack`` stale
    entries, nothing per message. A handler whose payload was swept pickles the message again.
    """

    __slots__ = ("_payloads", "slack")

    def __init__(self, slack: int = 256) -> None:
        self._payloads: dict[Envelope, bytes] = {}
        self.slack = slack

    def __len__(self) -> int:
        return len(self._payloads)

    def put(self, envelope: Envelope, payload: bytes) -> None:
        self._payloads[envelope] = payload

    def take(self, envelope: Envelope, queued: Collection[Envelope] | None) -> bytes | None:
        """Remove and return ``envelope``'s payload; ``queued`` are the envelopes still queued."""
        payloads = self._payloads
        payload = payloads.pop(envelope, None)
        if len(payloads) > self.slack + (0 if queued is None else len(queued)):
            live = set(queued or ())
            self._payloads = {
                queued_envelope: data
                for queued_envelope, data in payloads.items()
                if queued_envelope in live
            }
        return payload

    def clear(self) -> None:
        self._payloads.clear()


class DispatchHook:
    """Base of ``Envelope.on_done`` callbacks that can take work back (a Troupe job).

    ``pickled_payload`` lets a process actor reuse the bytes the dispatcher already produced
    when it checked the payload at its own door. ``redispatch`` is offered the message when the
    worker process handling it died; returning ``True`` means "I re-dispatch it", so the process
    actor neither dead-letters it nor fails the ask.
    """

    __slots__ = ("pickled_payload",)

    def __init__(self) -> None:
        self.pickled_payload: bytes | None = None

    def __call__(self, envelope: Envelope, outcome: str) -> bool | None:
        """``on_done``: return ``True`` for a dropped message to take it back."""
        return None

    def redispatch(self, envelope: Envelope, reason: str) -> bool:
        return False


def payload_of(envelope: Envelope) -> bytes | None:
    """The payload bytes a dispatcher attached to ``envelope``, if any."""
    hook = envelope.on_done
    if isinstance(hook, DispatchHook):
        return hook.pickled_payload
    return None
