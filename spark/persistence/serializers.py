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
