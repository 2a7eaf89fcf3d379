"""Schema versions and migrations (``PRAGMA user_version``).

Each store module owns the DDL of its tables (``mailschema.SCHEMA``, ``queue.SCHEMA``, ...);
version 1 is all of them. A later change appends a ``(version, sql)`` step to
``MIGRATIONS``; never edit a step that has shipped. Migrations run in one transaction at
start-up, so a crash mid-migration leaves the old version intact.
"""

from __future__ import annotations

import sqlite3


def _v1() -> str:
    from . import archive, mailschema, queue

    return "\n".join((mailschema.SCHEMA, queue.SCHEMA, archive.SCHEMA))


def _v2() -> str:
    from . import mailschema

    return mailschema.KEYWORDS_SCHEMA


def _v6() -> str:
    from . import autoreply

    return autoreply.SCHEMA


def _v7() -> str:
    from . import fetchstate

    return fetchstate.SCHEMA


def _v8() -> str:
    from . import oauth

    return oauth.SCHEMA


MIGRATIONS: list[tuple[int, object]] = [
    (1, _v1),
    (2, _v2),  # folder_keyword: the keywords in use per folder (IMAP FLAGS at SELECT)
    (3, "ALTER TABLE archive_entry ADD COLUMN chain_version INTEGER NOT NULL DEFAULT 1"),
    # SELECT reads a folder's UIDs: from this narrow index instead of the whole table rows
    (4, "CREATE INDEX message_uid ON message(folder_id, uid)"),
    # the outgoing transports: whose settings a forwarded copy leaves with, delay DSN sent
    (5, "ALTER TABLE queue_msg ADD COLUMN account TEXT;\n"
        "ALTER TABLE queue_rcpt ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;"),
    (6, _v6),  # autoreply_sent: one automatic reply per sender per period (RFC 3834)
    (7, _v7),  # fetch_seen, fetch_folder: what was fetched from external mailboxes
    (8, _v8),  # oauth_code, oauth_token: OAuth2 grants (by hash)
]

LATEST = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to ``LATEST``; refuses a database from a newer lanmaild."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise RuntimeError(f"data store has schema version {version}, this lanmaild knows "
                           f"only up to {LATEST}: upgrade lanmaild")
    pending = [(v, step) for v, step in MIGRATIONS if v > version]
    if not pending:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        for v, step in pending:
            sql = step() if callable(step) else step
            for statement in _split(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(v)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return LATEST


def _split(sql: str) -> list[str]:
    """Split a DDL script into statements (triggers contain ';' inside BEGIN...END)."""
    statements, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
