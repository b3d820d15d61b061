"""JSON-RPC bytes on the wire: exact Decimal numbers out, Decimal numbers in.

``json`` cannot write a ``Decimal`` as a number, and a float would change the price, so
requests are written by :func:`dumps`, which puts a Decimal's own digits on the wire.
Replies are read with ``parse_float=Decimal``: no venue number ever passes through a float.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send {value} to the venue")
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def dumps(value: Any) -> str:
    """Compact JSON with ``Decimal`` written as an exact JSON number."""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("refusing to send a float; use Decimal")
    return json.dumps(value)


def query_string(params: dict) -> str:
    """URL query for the GET form: booleans as ``true``/``false``, Decimals exact."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, Decimal):
            text = _number(value)
        elif isinstance(value, (dict, list, tuple)):
            text = dumps(value)
        else:
            text = str(value)
        parts.append(f"{quote(str(key), safe='')}={quote(text, safe='')}")
    return "&".join(parts)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def loads(data: bytes | str) -> Any:
    """Parse a reply; floats become ``Decimal`` and NaN/Infinity are refused."""
    return json.loads(data, parse_float=Decimal, parse_constant=_no_constants)
