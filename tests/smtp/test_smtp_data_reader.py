"""LanSMTP reads DATA in bulk: it must end, unstuff and refuse exactly like aiosmtpd's
line-by-line reader (the reference below is that algorithm), whatever the chunking."""

from __future__ import annotations

import asyncio
import random

import pytest

from lanmaild.smtp.data import DataBuffer
from lanmaild.smtp.server import READ_LIMIT, LanSMTP

LINE_LIMIT = 1001


def reference(stream: bytes, limit: int) -> tuple[bytes, str | None, bytes]:
    """aiosmtpd 1.4.6 smtp_DATA on a byte string: (content, error, what is left)."""
    pos, lines, total, state = 0, [], 0, None
    while True:
        end = stream.find(b"\r\n", pos)
        if end < 0:
            raise EOFError
        line = stream[pos:end + 2]
        pos = end + 2
        if line == b".\r\n":
            break
        if len(line) > LINE_LIMIT:
            state = state or "500"
        total += len(line)
        if limit and total > limit:
            state = state or "552"
        if state is None:
            lines.append(line[1:] if line.startswith(b".") else line)
    if state is not None:
        return b"", state, stream[pos:]
    return b"".join(lines), None, stream[pos:]


def bulk(stream: bytes, limit: int, chunks: list[int]) -> tuple[bytes, str | None, bytes]:
    async def go():
        reader = asyncio.StreamReader(limit=READ_LIMIT)
        smtp = LanSMTP.__new__(LanSMTP)
        smtp._reader = reader
        smtp.data_size_limit = limit
        pos = 0
        for n in chunks:
            reader.feed_data(stream[pos:pos + n])
            pos += n
        reader.feed_data(stream[pos:])
        reader.feed_eof()
        content, error = await smtp._read_data()
        rest = await reader.read()
        return content, error and error[:3], rest

    return asyncio.run(go())


def case_streams():
    yield b".\r\n"
    yield b"\r\n.\r\n"
    yield b"a\r\n.\r\n"
    yield b"a.\r\n.\r\nNEXT\r\n"
    yield b"..\r\n...x\r\n.\r\n"
    yield b"Subject: x\r\n\r\n.hidden\r\nbody.\r\n\r\n.\r\nRSET\r\n"
    yield b"hi\n.\nMAIL FROM:<evil@x>\r\n.\r\n"
    yield b"hi\n.\r\nRCPT TO:<x@y>\r\n.\r\n"
    yield b"hi\r.\rDATA\r\n.\r\n"
    yield b"x" * 999 + b"\r\n.\r\n"
    yield b"x" * 1000 + b"\r\n.\r\n"
    yield b"s\r\n" + b"x" * 70000 + b"\r\n.\r\n"
    yield (b"y" * 998 + b"\r\n") * 40 + b".\r\n"
    yield (b"y" * 998 + b"\r\n") * 40 + b"z" * 1200 + b"\r\n.\r\n"
    yield b"z" * 1200 + b"\r\n" + (b"y" * 998 + b"\r\n") * 40 + b".\r\n"


def random_streams(rng: random.Random, n: int):
    alphabet = [b"a", b"b", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b".\r\n", b"x" * 300]
    for _ in range(n):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        yield body + b"\r\n.\r\nQUIT\r\n"


@pytest.mark.parametrize("limit", [0, 2000, 40000])
def test_bulk_reader_matches_aiosmtpd(limit):
    rng = random.Random(limit)
    streams = list(case_streams()) + list(random_streams(rng, 400))
    for stream in streams:
        try:
            want = reference(stream, limit)
        except EOFError:
            continue
        for _ in range(4):
            cuts = [rng.randint(1, 7) for _ in range(rng.randint(0, 6))]
            assert bulk(stream, limit, cuts) == want, (stream[:80], limit, cuts)


@pytest.mark.parametrize("limit", [0, 50, 2000, 40000])
def test_data_buffer_is_chunking_independent(limit):
    """DataBuffer alone, fed in pieces of 1-9 bytes (CRLFs and dot-line starts split every
    way), gives aiosmtpd's answer for the content before the terminator."""
    rng = random.Random(1000 + limit)
    for stream in list(case_streams()) + list(random_streams(rng, 400)):
        try:
            want_content, want_error, rest = reference(stream, limit)
        except EOFError:
            continue
        body = stream[:len(stream) - len(rest) - 3]  # without the final ".\r\n"
        for _ in range(3):
            buffer = DataBuffer(limit, LINE_LIMIT)
            pos = 0
            while pos < len(body):
                n = rng.randint(1, 9)
                buffer.feed(body[pos:pos + n])
                pos += n
            content, error = buffer.finish()
            assert (content, error and error[:3]) == (want_content, want_error), \
                (body[:80], limit)


def test_data_buffer_memory_is_bounded_by_the_chunk() -> None:
    """50 MB of 2-byte lines: the old reader split the whole message into 25 million lines
    at the end (850 MB). DataBuffer keeps the content and one chunk's line lengths."""
    import tracemalloc

    chunk = b"a\r\n" * 21_000  # about what one socket read brings
    buffer = DataBuffer(0, LINE_LIMIT)
    tracemalloc.start()
    for _ in range(100):
        buffer.feed(chunk)
    content, error = buffer.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert error is None and len(content) == 100 * len(chunk)
    assert peak < 3 * len(content), peak  # the content (+ its final copy), nothing per line
