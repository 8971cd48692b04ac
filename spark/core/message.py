"""The :class:`Message` an actor's ``process()`` receives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spark.core.identity import ActorAddress

__all__ = ["Message"]


class Message:
    """One delivery of a message to an actor.

    ``content`` is what the sender passed to ``tell``/``ask``; ``sender`` is the address to reply
    to (``None`` for runtime-originated messages such as timer wakeups); ``id`` is unique within
    the sending syndicate; ``correlation_id`` identifies the ask this message belongs to (``None``
    for a plain ``tell``); ``metadata`` holds the headers given on send; ``state`` is the workflow
    state of the run the message belongs to (``None`` outside workflows).

    Every delivery gets its own ``Message`` object, so a handler may keep it; the runtime never
    mutates an object the user passed in. The class is slotted and cheap to build because one is
    created per delivery.
    """

    __slots__ = ("_metadata", "content", "correlation_id", "id", "sender", "state")

    content: Any
    sender: ActorAddress | None
    id: int
    correlation_id: int | None
    state: Any
    _metadata: dict[str, Any] | None

    def __init__(
        self,
        content: Any,
        sender: ActorAddress | None = None,
        id: int = 0,
        correlation_id: int | None = None,
        metadata: dict[str, Any] | None = None,
        state: Any = None,
    ) -> None:
        self.content = content
        self.sender = sender
        self.id = id
        self.correlation_id = correlation_id
        self._metadata = metadata
        self.state = state

    @property
    def metadata(self) -> dict[str, Any]:
        """Headers given on send (an empty dict when there were none)."""
        metadata = self._metadata
        if metadata is None:
            metadata = self._metadata = {}
        return metadata

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(content={self.content!r}, sender={self.sender!r}, "
            f"id={self.id}, correlation_id={self.correlation_id})"
        )
