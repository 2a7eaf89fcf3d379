"""POP3 syntax helpers without a server: command parsing, dot-stuffing and TOP at every
possible chunk boundary (the server streams messages in chunks)."""

from __future__ import annotations

import pytest

from lanmaild.pop3.parser import (
    CommandError,
    DotStuffer,
    TopFilter,
    err,
    line_count,
    msg_number,
    ok,
    parse_command,
)

SAMPLES = [
    b"Subject: x\r\n\r\n.body\r\n..two\r\nplain\r\n.\r\nend",
    b".Header-ish: y\r\nA: b\r\n\r\n\r\n.\r\n",
    b"Only: header\r\nNo: body\r\n",
    b"",
    b"A: b\n\n.lf only\nx\n",
]


def stuff_reference(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    out = b"".join(b"." + line if line.startswith(b".") else line for line in lines)
    if out and not out.endswith(b"\n"):
        out += b"\r\n"
    return out + b".\r\n"


def top_reference(data: bytes, n: int) -> bytes:
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line in (b"\r\n", b"\n"):
            return b"".join(lines[:i + 1 + n])
    return data


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


@pytest.mark.parametrize("data", SAMPLES)
def test_dot_stuffing_any_chunking(data):
    for size in range(1, max(len(data), 1) + 1):
        s = DotStuffer()
        out = b"".join(s.feed(c) for c in chunked(data, size)) + s.finish()
        assert out == stuff_reference(data), size


@pytest.mark.parametrize("data", SAMPLES)
def test_top_any_chunking(data):
    for n in range(4):
        for size in range(1, max(len(data), 1) + 1):
            t = TopFilter(n)
            parts = []
            for c in chunked(data, size):
                parts.append(t.feed(c))
                if t.done:
                    break
            parts.append(t.finish())
            assert b"".join(parts) == top_reference(data, n), (n, size)


def test_commands_and_arguments():
    cmd = parse_command(b"pass my secret  words")
    assert cmd.name == "PASS" and cmd.rest == "my secret  words"
    assert parse_command(b"TOP 1 10").args == ("1", "10")
    assert parse_command("USER m\u00fcller".encode()).args == ("m\u00fcller",)
    assert parse_command(b"USER m\xfcller").args == ("m\u00fcller",)  # latin-1 fallback
    for bad in (b"", b"X", b"TOOLONG", b"R3TR 1", b" STAT", b"\xff\xfe"):
        with pytest.raises(CommandError):
            parse_command(bad)
    assert msg_number("1") == 1 and line_count("0") == 0
    for bad in ("0", "-1", "+1", "1.0", "", "\u0661", "12345678901"):
        with pytest.raises(CommandError):
            msg_number(bad)
    assert ok() == b"+OK\r\n" and ok("x") == b"+OK x\r\n"
    assert err("locked", "IN-USE") == b"-ERR [IN-USE] locked\r\n"
