"""The control API's operation table: ``@op("account.add")`` registers a handler.

A handler is ``async def handler(runtime, args: dict) -> JSON-able result``; it raises
``OpError(code, message)`` for anything the caller did wrong or that was refused. Codes are
stable (scripts match on them): ``bad_request``, ``invalid``, ``not_found``, ``exists``,
``conflict``, ``config``, ``failed`` (a step outside lanmaild failed, e.g. an upload),
``internal``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any, dict], Awaitable[Any]]


class OpError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Op:
    name: str
    handler: Handler
    summary: str


OPS: dict[str, Op] = {}


def op(name: str, summary: str = "") -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPS[name] = Op(name, fn, summary or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return register


def arg(args: dict, key: str, kind: type | tuple = str, *, required: bool = True,
        default: Any = None) -> Any:
    """Typed argument access with the error a script author needs."""
    if key not in args or args[key] is None:
        if required:
            raise OpError("bad_request", f"missing argument '{key}'")
        return default
    value = args[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise OpError("bad_request", f"argument '{key}' has the wrong type")
    return value
