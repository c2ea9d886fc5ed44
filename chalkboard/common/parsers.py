"""The one request parser: JSON, bounded in depth, and Unicode text only.

Python's JSON decoder recurses once per nesting level, so a body of a few kilobytes of ``[[[[...`` would
raise ``RecursionError`` (a 500) in the parser or anywhere that walks the data later. No request of this
API nests more than a few levels; anything deeper than ``MAX_JSON_DEPTH`` is a ``400``.

JSON may escape half of a surrogate pair on its own (``"\\ud800"``); Python decodes it to a string that is
not Unicode text and cannot be encoded as UTF-8, so it would fail wherever it went next: in an error message
that quotes it, in the database, in a log. Any string (value or key) holding one is a ``400`` whose message
does not repeat it.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
LONE_SURROGATE = (
    "JSON parse error - a string holds half of a surrogate pair (an escape of U+D800 to U+DFFF without its other "
    "half), which is not Unicode text."
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests lists and objects more than ``limit`` levels deep (without recursing)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_has_lone_surrogate(data: Any) -> bool:
    """Whether any string in ``data``, an object's keys included, holds a lone surrogate (without recursing)."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(TOO_DEEP) from error
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        if json_has_lone_surrogate(data):
            raise ParseError(LONE_SURROGATE)
        return data
