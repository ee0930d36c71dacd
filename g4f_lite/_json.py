"""JSON parsing with an explicit bound on nesting depth.

``json.loads`` recurses once per level of nesting, so a few kilobytes of
``[[[[...`` from an upstream or a client raise ``RecursionError`` (or worse,
exhaust the C stack on some builds). Everything g4f-lite parses from the
network goes through :func:`loads`, which refuses such input with a
``ValueError`` subclass, the same type ``json.loads`` raises for bad JSON, so
that existing ``except ValueError`` paths turn it into the right typed error.

Kept free of aiohttp so that the server's and the configuration's parsers
can use it without paying for the HTTP stack; providers reach it as
:func:`g4f_lite.http.loads_json`.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "JSONNestingError", "loads"]

#: Deeper than any real API answer or request (OpenAI tool schemas included).
DEFAULT_MAX_DEPTH = 64

# The characters that matter for nesting; everything else is skipped by the
# regex engine, so the scan is linear and cheap even on a megabyte of text.
_SPECIAL = re.compile(r'[\[\]{}"\\]')


class JSONNestingError(ValueError):
    """The JSON text nests arrays and objects deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"JSON nested deeper than {max_depth} levels")


def _too_deep(text: str, max_depth: int) -> bool:
    depth = 0
    in_string = False
    skip = -1  # the position of a character escaped by a backslash
    for match in _SPECIAL.finditer(text):
        pos = match.start()
        if pos == skip:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                skip = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads(data: str | bytes | bytearray, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse ``data`` as JSON, refusing nesting deeper than ``max_depth``.

    Raises ``ValueError`` for invalid JSON (as ``json.loads`` does) and
    :class:`JSONNestingError`, also a ``ValueError``, for nesting too deep.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"JSON is not UTF-8: {exc.reason}") from None
    else:
        text = data
    # Fast path: with fewer opening brackets than the bound, no nesting can
    # exceed it, and counting two characters is far cheaper than scanning.
    if text.count("[") + text.count("{") > max_depth and _too_deep(text, max_depth):
        raise JSONNestingError(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # a bound above the interpreter's own limit
        raise JSONNestingError(max_depth) from None
