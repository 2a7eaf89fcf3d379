"""OAuth2 grants and admin API tokens (issue 12): codes and tokens, stored by their hash.

Nothing here holds a usable secret: a code or token is 32+ random octets shown to the
client once; the table keeps its SHA-256 (``key``), which is also how a log-in finds it
(one indexed lookup, no slow hash: the secret has 256 bits of entropy, unlike a password).

- ``oauth_code``: an authorization code, taken (deleted) in the same statement that reads
  it, so a code works once even when two token requests race (RFC 6749 section 4.1.2).
- ``oauth_token``: access and refresh tokens. ``family`` ties the tokens of one grant
  together (a refresh replaces the family's tokens: rotation, and revoking one token of a
  grant revokes the grant). ``stamp`` is a fingerprint of the account's password hash at
  issue time: a password change makes every older token invalid without a hook.
  ``last_used`` lets ``purge`` drop tokens unused for six months.
- ``api_token``: the HTTP JSON API's admin tokens (``lanmailctl api-token add``), by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from .db import Database, Tx

SCHEMA = """
CREATE TABLE oauth_code (
    key BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    scope TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    challenge TEXT NOT NULL DEFAULT '',
    challenge_method TEXT NOT NULL DEFAULT '',
    offline INTEGER NOT NULL DEFAULT 0,
    stamp TEXT NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE oauth_token (
    key BLOB PRIMARY KEY,
    kind TEXT NOT NULL,            -- access | refresh
    family BLOB NOT NULL,
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    scope TEXT NOT NULL,
    stamp TEXT NOT NULL,
    issued INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    last_used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_token_family ON oauth_token(family);
CREATE INDEX oauth_token_client ON oauth_token(client_id);
CREATE TABLE api_token (
    key BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Code:
    client_id: str
    account: str
    scope: str
    redirect_uri: str
    challenge: str
    challenge_method: str
    offline: bool
    stamp: str
    expires: int


@dataclass(frozen=True)
class Token:
    key: bytes
    kind: str
    family: bytes
    client_id: str
    account: str
    scope: str
    stamp: str
    issued: int
    expires: int
    last_used: int


_TOKEN_COLUMNS = "key, kind, family, client_id, account, scope, stamp, issued, expires, last_used"


CACHE_SIZE = 10_000


class OAuthStore:
    """Tokens are read through a small cache (a log-in costs a dict lookup, no thread hop);
    every deletion empties it, so a revoked or rotated token is refused at once. Only this
    process writes the tables, so the cache cannot miss a change."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[bytes, Token] = {}
        self._generation = 0  # a read that overlapped a deletion does not fill the cache

    def _forget(self) -> None:
        """After a deletion committed: nothing cached, and reads under way keep out."""
        self._generation += 1
        self._cache.clear()

    async def save_code(self, key: bytes, code: Code) -> None:
        await self.db.write(lambda tx: tx.execute(
            "INSERT INTO oauth_code (key, client_id, account, scope, redirect_uri, challenge,"
            " challenge_method, offline, stamp, expires) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (key, code.client_id, code.account, code.scope, code.redirect_uri,
             code.challenge, code.challenge_method, int(code.offline), code.stamp,
             code.expires)))

    async def take_code(self, key: bytes) -> Code | None:
        """The code, removed in the same step (single use); None if unknown or expired."""

        def job(tx: Tx):
            return tx.execute(
                "DELETE FROM oauth_code WHERE key = ? RETURNING client_id, account, scope,"
                " redirect_uri, challenge, challenge_method, offline, stamp, expires",
                (key,)).fetchone()

        row = await self.db.write(job)
        if row is None or row[8] < time.time():
            return None
        return Code(*row[:6], bool(row[6]), row[7], row[8])

    async def save_tokens(self, tokens: list[Token], replaces: Token | None = None) -> bool:
        """Store a grant's new tokens. With ``replaces`` (the refresh token being used) its
        whole family goes in the same commit, and only if that token is still there: of two
        racing refreshes with one token, one wins (False for the other, nothing stored)."""

        def job(tx: Tx) -> bool:
            if replaces is not None:
                if tx.execute("DELETE FROM oauth_token WHERE key = ?",
                              (replaces.key,)).rowcount == 0:
                    return False
                tx.execute("DELETE FROM oauth_token WHERE family = ?", (replaces.family,))
            tx.conn.executemany(
                f"INSERT INTO oauth_token ({_TOKEN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(t.key, t.kind, t.family, t.client_id, t.account, t.scope, t.stamp,
                  t.issued, t.expires, t.last_used) for t in tokens])
            return True

        try:
            return await self.db.write(job)
        finally:
            if replaces is not None:
                self._forget()

    async def token(self, key: bytes) -> Token | None:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        row = await self.db.read(lambda conn: conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM oauth_token WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        token = Token(*row)
        if generation == self._generation:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = token
        return token

    async def touch(self, key: bytes, when: int) -> None:
        """Note a token's use (at most once a day per token: ``purge`` needs no more)."""
        await self.db.write(lambda tx: tx.execute(
            "UPDATE oauth_token SET last_used = ? WHERE key = ? AND last_used < ?",
            (when, key, when - 86400)))
        if key in self._cache:
            self._cache[key] = replace(self._cache[key], last_used=when)

    async def revoke_family(self, family: bytes) -> int:
        try:
            return await self.db.write(lambda tx: tx.execute(
                "DELETE FROM oauth_token WHERE family = ?", (family,)).rowcount)
        finally:
            self._forget()

    async def revoke_client(self, client_id: str) -> int:
        def job(tx: Tx) -> int:
            tx.execute("DELETE FROM oauth_code WHERE client_id = ?", (client_id,))
            return tx.execute("DELETE FROM oauth_token WHERE client_id = ?",
                              (client_id,)).rowcount

        try:
            return await self.db.write(job)
        finally:
            self._forget()

    async def purge(self, now: int, unused_for: int) -> int:
        """Drop expired codes, expired access tokens and tokens unused for ``unused_for``
        seconds (refresh tokens included: the issue's "unused for 6 months")."""

        def job(tx: Tx) -> int:
            tx.execute("DELETE FROM oauth_code WHERE expires < ?", (now,))
            return tx.execute(
                "DELETE FROM oauth_token WHERE (kind = 'access' AND expires < ?)"
                " OR last_used < ?", (now, now - unused_for)).rowcount

        try:
            return await self.db.write(job)
        finally:
            self._forget()

    async def counts(self) -> dict[str, int]:
        """Live tokens per client id (for ``oauth2 list``)."""
        rows = await self.db.read(lambda conn: conn.execute(
            "SELECT client_id, count(*) FROM oauth_token WHERE kind = 'refresh' OR"
            " expires >= ? GROUP BY client_id", (int(time.time()),)).fetchall())
        return dict(rows)

    # ------------------------------------------------------------------ admin API tokens

    async def add_api_token(self, name: str, key: bytes) -> bool:
        """False if the name is taken."""
        return await self.db.write(lambda tx: tx.execute(
            "INSERT OR IGNORE INTO api_token (key, name, created) VALUES (?,?,?)",
            (key, name, int(time.time()))).rowcount == 1)

    async def api_token_name(self, key: bytes) -> str | None:
        row = await self.db.read(lambda conn: conn.execute(
            "SELECT name, last_used FROM api_token WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        now = int(time.time())
        if row[1] < now - 3600:  # last use to the hour is enough for the list
            await self.db.write(lambda tx: tx.execute(
                "UPDATE api_token SET last_used = ? WHERE key = ?", (now, key)))
        return row[0]

    async def api_tokens(self) -> list[tuple[str, int, int]]:
        """(name, created, last_used), by name."""
        return await self.db.read(lambda conn: conn.execute(
            "SELECT name, created, last_used FROM api_token ORDER BY name").fetchall())

    async def delete_api_token(self, name: str) -> bool:
        return await self.db.write(lambda tx: tx.execute(
            "DELETE FROM api_token WHERE name = ?", (name,)).rowcount == 1)
