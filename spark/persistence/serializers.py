"""How journals turn events, snapshots and timer payloads into bytes.

``PickleSerializer`` is the default: it stores any picklable object, and loading a pickle can run
arbitrary code. That is acceptable for a journal file only your own application writes; if
anyone else can write to the file (a shared directory, a copied database), use
``JSONSerializer`` or your own :class:`Serializer` that decodes only the types you expect.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol, runtime_checkable

from spark.core.exceptions import PersistenceError

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. Errors raised here are reported as
    :class:`~spark.core.exceptions.PersistenceError` by the journal."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class PickleSerializer:
    """Any picklable value. Trusts the file: unpickling can execute code (see module docs)."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def __repr__(self) -> str:
        return f"PickleSerializer(protocol={self.protocol})"

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.protocol)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


class JSONSerializer:
    """JSON values only (dict, list, str, int, float, bool, None); safe to load from anywhere.

    Tuples come back as lists, as JSON has no tuple.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "JSONSerializer()"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


def dump(serializer: Serializer, value: Any, what: str) -> bytes:
    """``serializer.dumps(value)``; a failure becomes a PersistenceError that says what to do."""
    try:
        return serializer.dumps(value)
    except Exception as error:
        raise PersistenceError(
            f"cannot serialize {what} ({type(value).__qualname__}) with {serializer!r}:"
            f" {error!r}; store only values this serializer can encode, or give the journal"
            " another serializer="
        ) from error


def load(serializer: Serializer, data: Any, what: str, where: str = "") -> Any:
    """``serializer.loads(data)``; a failure becomes a PersistenceError that says what to do."""
    try:
        return serializer.loads(data)
    except Exception as error:
        raise PersistenceError(
            f"{where}cannot deserialize {what} with {serializer!r}: {error!r}; open the journal"
            " with the serializer that wrote it, and keep the stored types importable and able"
            " to load their old state"
        ) from error
