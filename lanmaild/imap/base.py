"""What the session and the command families share: states, errors, the command registry."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .parser import Command


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset(State) - {State.LOGOUT}
NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


class Reply(Exception):
    """A command's tagged completion other than a plain OK; raised by handlers."""

    status = "NO"

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class No(Reply):
    status = "NO"


class Bad(Reply):
    status = "BAD"


class Ok(Reply):
    """Tagged OK with a response code (APPENDUID, COPYUID, READ-WRITE, ...)."""

    status = "OK"


class Done(Reply):
    """The handler already wrote its tagged response (STARTTLS)."""

    status = "OK"

    def __init__(self) -> None:
        super().__init__("")


class Bye(Exception):
    """Close the session after an untagged BYE with this text."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


# The first argument is the imap.session.Session (not imported: session imports this).
Handler = Callable[[Any, "Command"], Awaitable[None]]
HANDLERS: dict[str, tuple[Handler, frozenset[State]]] = {}


def command(*names: str, states: frozenset[State]) -> Callable[[Handler], Handler]:
    """Register a handler for command ``names`` (``"UID FETCH"`` style for UID forms)."""

    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = (fn, states)
        return fn

    return register
