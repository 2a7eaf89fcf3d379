"""LIST/LSUB mailbox patterns (RFC 3501 section 6.3.8), matched in linear time.

"*" matches zero or more characters, "%" the same but not the hierarchy separator ".";
everything else matches itself (RFC 3501 6.3.8; "INBOX" case-insensitively, 5.1).

A pattern used to become a regular expression (``*`` -> ``.*``): Python's backtracking
engine then took seconds on the shared event loop for a pattern such as
``INBOX*a*a*a*a*a*b`` against one long folder name, and each extra wildcard multiplied that.
Here the pattern is run as a non-deterministic automaton whose set of live states is one
integer bit mask (bit i: the first i pattern characters are matched), so a name costs a few
big-integer operations per character whatever the pattern: O(len(name) * len(pattern) / 64)
at worst. Patterns are also bounded (``MAX_PATTERN`` characters, ``MAX_WILDCARDS``
wildcards) so a client cannot make even that large; over the limits is ``PatternError``.
"""

from __future__ import annotations

MAX_PATTERN = 1000  # characters of reference + pattern
MAX_WILDCARDS = 20  # "*" and "%" together
SEP = "."


class PatternError(ValueError):
    """The pattern is over a limit; the session answers BAD with this text."""


class Pattern:
    """A compiled LIST pattern: ``Pattern("INBOX.%").matches("INBOX.Sent")``."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN:
            raise PatternError(f"mailbox pattern too long (at most {MAX_PATTERN} characters)")
        if sum(pattern.count(w) for w in "*%") > MAX_WILDCARDS:
            raise PatternError(f"too many wildcards in mailbox pattern (at most "
                               f"{MAX_WILDCARDS})")
        if pattern[:5].upper() == "INBOX":  # RFC 3501 5.1: INBOX is case-insensitive
            pattern = "INBOX" + pattern[5:]
        self.text = _simplify(pattern)
        self._literal: dict[str, int] = {}  # character -> bits of positions expecting it
        self._star = self._percent = 0  # bits of "*" / "%" positions
        for i, ch in enumerate(self.text):
            if ch == "*":
                self._star |= 1 << i
            elif ch == "%":
                self._percent |= 1 << i
            else:
                self._literal[ch] = self._literal.get(ch, 0) | 1 << i
        self._wild = self._star | self._percent
        self._accept = 1 << len(self.text)

    def _closure(self, states: int) -> int:
        """A wildcard may match nothing: being at it means being past it too. After
        ``_simplify`` no two wildcards are adjacent, so one step suffices."""
        return states | (states & self._wild) << 1

    def matches(self, name: str) -> bool:
        states = self._closure(1)
        literal, star, wild = self._literal, self._star, self._wild
        for ch in name:
            stay = star if ch == SEP else wild
            states = self._closure((states & literal.get(ch, 0)) << 1 | states & stay)
            if not states:
                return False
        return bool(states & self._accept)


def _simplify(pattern: str) -> str:
    """Merge runs of wildcards: "**", "*%", "%*" are "*" and "%%" is "%" (same language)."""
    out: list[str] = []
    for ch in pattern:
        if ch in "*%" and out and out[-1] in "*%":
            out[-1] = "*" if "*" in (ch, out[-1]) else "%"
        else:
            out.append(ch)
    return "".join(out)
