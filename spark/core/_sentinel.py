"""Sentinels shared by the public signatures."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias

__all__ = ["DEFAULT", "Default"]


class _DefaultToken(enum.Enum):
    TOKEN = "default"

    def __repr__(self) -> str:
        return "<default>"


#: "Use the syndicate's configured default" (e.g. ``default_ask_timeout``).
DEFAULT: Final = _DefaultToken.TOKEN
Default: TypeAlias = Literal[_DefaultToken.TOKEN]
