"""LIST/LSUB pattern matching (RFC 3501 6.3.8): linear time, bounded patterns, same results.

A pattern used to become a backtracking regular expression on the event loop: with one
folder of a 100-character name, ``LIST "" "INBOX*a*a*a*a*a*b"`` stalled every service for
seconds. Now matching is linear in the name for each pattern position, and patterns over
the limits (``MAX_WILDCARDS``, ``MAX_PATTERN``) are answered with BAD.
"""

from __future__ import annotations

import re
import time

import pytest
from imaphelp import RawClient
from loopprobe import LoopProbe, connect_from

LONG = "INBOX." + "a" * 94  # a 100-character folder name
HOSTILE = "INBOX*a*a*a*a*a*b"


class SourceClient(RawClient):
    """RawClient from another loopback address (its own per-IP budget, as a LAN host)."""

    def __init__(self, port: int, source: str) -> None:
        self.sock = connect_from(port, source, timeout=30)
        self.buf = b""
        self.greeting = self.line()


def test_hostile_list_pattern_does_not_block_the_loop(daemon):
    c = SourceClient(daemon.ports["imap"], "127.0.0.9")
    assert c.cmd("a1 LOGIN meier secret")[-1].startswith(b"a1 OK")
    assert c.cmd(f"a2 CREATE {LONG}")[-1].startswith(b"a2 OK")
    with LoopProbe(daemon) as probe:
        deadline = time.monotonic() + 1.0
        n = 0
        while n < 2 or time.monotonic() < deadline:
            n += 1
            for verb in ("LIST", "LSUB"):
                lines = c.cmd(f'h{n} {verb} "" "{HOSTILE}"')
                assert lines == [f"h{n} OK {verb} completed".encode()], lines
    probe.check()
    lines = c.cmd('a3 LIST "" "INBOX*a*a*a*a*a*a"')  # the same shape, matching
    assert lines[0].endswith(f'"{LONG}"'.encode()) and lines[-1].startswith(b"a3 OK")


def test_patterns_over_the_limits_get_bad(raw, user):
    c = raw(login=user)
    lines = c.cmd('a1 LIST "" "' + "*a" * 21 + '"')  # 21 wildcards
    assert lines[-1].startswith(b"a1 BAD") and b"wildcards" in lines[-1], lines
    lines = c.cmd('a2 LSUB "" "' + "%a" * 21 + '"')
    assert lines[-1].startswith(b"a2 BAD"), lines
    lines = c.cmd('a3 LIST "" "INBOX.' + "x" * 1000 + '"')  # reference + pattern > 1000
    assert lines[-1].startswith(b"a3 BAD") and b"long" in lines[-1], lines
    lines = c.cmd('a4 LIST "INBOX.' + "x" * 600 + '" "' + "y" * 600 + '"')
    assert lines[-1].startswith(b"a4 BAD"), lines
    lines = c.cmd('a5 LIST "" "' + "*a" * 20 + '"')  # at the limit: fine
    assert lines[-1].startswith(b"a5 OK"), lines
    assert c.cmd("a6 NOOP")[-1].startswith(b"a6 OK")


FOLDERS = ["INBOX.a", "INBOX.a.b", "INBOX.a.b.c", "INBOX.ab", "INBOX.bxc", "INBOX.x-y",
           "INBOX.Sub.Deep.Er", "INBOX.aaa.aa", "INBOX.A", "INBOX.Entw&APw-rfe"]
PATTERNS = [("", "*"), ("", "%"), ("", "INBOX"), ("", "inbox"), ("", "Inbox.%"),
            ("", "INBOX.*"), ("", "INBOX.%"), ("", "INBOX.%.%"), ("", "INBOX.a*"),
            ("", "INBOX.a%"), ("", "INBOX.%b"), ("", "*b*"), ("", "%.a.%"), ("", "*.*.*"),
            ("", "INBOX.a.b.c"), ("", "INBOX.a.b.c*"), ("", "INBOX.a.b.c%"),
            ("INBOX.", "%"), ("INBOX.a.", "*"), ("INBOX.a.", "%"), ("INBOX", "*"),
            ("", "**a"), ("", "%*"), ("", "*%a%"), ("", "INBOX.b%c"), ("", "INBOX.x*y"),
            ("", "INBOX.Entw&APw-*"),
            ("", "*a*a*"), ("", "%%.%%"), ("", "INBOX.aaa.*a"), ("", "inbox.Sub.%.Er"),
            ("", "nothing*"), ("", "INBOX.A"), ("", "INBOX.a")]


def reference(ref: str, pattern: str, names: list[str]) -> list[str]:
    """The previous regex matcher, fine for these small names: the expected answers."""
    pattern = ref + pattern
    if pattern[:5].upper() == "INBOX":
        pattern = "INBOX" + pattern[5:]
    rx = "".join(".*" if ch == "*" else "[^.]*" if ch == "%" else re.escape(ch)
                 for ch in pattern)
    return sorted(n for n in names if re.fullmatch(rx, n, re.S))


def listed(c, tag: str, verb: str, ref: str, pattern: str) -> list[str]:
    lines = c.cmd(f'{tag} {verb} "{ref}" "{pattern}"')
    assert lines[-1].startswith(f"{tag} OK".encode()), lines
    return sorted(re.search(rb' "\." "?(.*?)"?$', line).group(1).decode()
                  for line in lines[:-1])


@pytest.mark.parametrize("verb", ["LIST", "LSUB"])
def test_list_results_unchanged_for_normal_patterns(raw, user, verb):
    c = raw(login=user)
    for i, name in enumerate(FOLDERS):
        assert c.cmd(f'c{i} CREATE "{name}"')[-1].startswith(f"c{i} OK".encode())
    everything = listed(c, "l0", "LIST", "", "*")
    assert "INBOX.Sub" in everything  # made as a parent
    for i, (ref, pattern) in enumerate(PATTERNS):
        assert listed(c, f"p{i}", verb, ref, pattern) == reference(ref, pattern, everything), \
            (ref, pattern)
