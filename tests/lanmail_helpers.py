"""Helpers shared by the config/ctl/api/daemon tests (not fixtures: plain functions)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lanmaild.mime import normalize_crlf, parse_message
from lanmaild.store import Store

CLEAR_PASSWORD = "Kl4rtext-Geheim!42"  # distinctive, so a grep over disk and log is meaningful


def inject_mail(daemon, account: str, folders: dict[str, list[bytes]]) -> None:
    """Put messages into an account through the store API, with the daemon stopped."""
    was_running = daemon.proc is not None and daemon.proc.poll() is None
    daemon.stop()

    async def go() -> None:
        store = Store(daemon.data)
        try:
            await store.mail.ensure_accounts([account])  # as the daemon does from conf.d
            for folder, messages in folders.items():
                for raw in messages:
                    raw = normalize_crlf(raw)
                    await store.mail.append(account, folder, raw, parse_message(raw),
                                            create_folder=True)
        finally:
            store.close()

    asyncio.run(go())
    if was_running:
        daemon.start()


def message(subject: str, body: str = "hello") -> bytes:
    return (f"From: a@example.com\r\nTo: meier@lan.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.com>\r\n\r\n{body}\r\n").encode()


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def ok(reply: dict):
    assert reply["ok"], reply
    return reply["result"]


def err(reply: dict) -> tuple[str, str]:
    assert not reply["ok"], reply
    return reply["error"]["code"], reply["error"]["message"]


def ctl_json(daemon, *argv: str):
    proc = daemon.ctl("--json", *argv)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
