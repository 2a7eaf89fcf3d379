"""SQLite engine: one writer thread with group commit, a pool of reader threads.

Why not aiosqlite: each await there is a thread hop (30-130 µs, 10-50x a point query) and
a shared connection interleaves transactions of different tasks. Here a caller hands a
whole unit of work (a plain function taking a connection) to a thread in one hop:

- ``write(fn)``: the writer thread drains every job queued so far, runs each inside its own
  SAVEPOINT within ONE ``BEGIN IMMEDIATE`` transaction, COMMITs (``synchronous=FULL``: the
  WAL is fsynced) and only then resolves the callers' futures. N concurrent SMTP sessions
  therefore pay one fsync per batch, with the same guarantee: a result means durable.
  A failing job rolls back to its savepoint and gets its exception; the others commit.
  A batch of one job runs without a savepoint (its failure rolls back the transaction,
  which holds nothing else). The results of a batch reach each event loop in ONE
  ``call_soon_threadsafe`` (after-commit callbacks first, then the futures), after COMMIT
  returned, so "durable before the caller sees a result" is unchanged. Verified with
  ``strace -f -e fdatasync``: one fdatasync of the WAL per batch, plus WAL + database file
  at each automatic checkpoint (every 1000 pages; raising ``wal_autocheckpoint`` to 10000
  made no measurable difference on the SMTP benchmark, so the default stays).
- ``read(fn)``: runs ``fn`` on a reader thread with its own connection (WAL readers never
  block the writer), inside a read transaction so multi-statement reads see one snapshot.
  ``read(fn, heavy=True)`` is for queries whose cost a client controls (IMAP SEARCH: header
  and body searches call Python functions over whole messages). They run on a pool of
  their own, so any number of them never delays the interactive reads of mail flow (the
  quota check at SMTP RCPT, SELECT, FETCH): a heavy query queues behind other heavy ones
  only. Every read is bounded in time (``query_timeout``, seconds): a SQLite progress
  handler interrupts a query that runs longer and the caller gets ``QueryTimeout``.
- ``read(fn, inline=True)`` is for point reads a client asks for one at a time (FETCH of
  one message's FLAGS): the thread hop there and back (executor wake-up, then the event
  loop's self-pipe) costs more than the query. They run on the event loop itself, with a
  connection that never waits for a lock (busy_timeout 0) and a progress-handler budget of
  ``INLINE_BUDGET``; a query that turns out bigger, or meets a lock, is handed to the
  reader pool after all, so the loop is never held longer than the budget.

Flag changes (IMAP STORE) are written with ``durable=False``: a batch holding only such
jobs commits with ``synchronous=NORMAL`` (no fsync; they reach the disk with the next
durable commit or checkpoint, in WAL order). A crash of lanmaild loses nothing (the WAL
is in the page cache); a power cut may forget the last flag changes, never a message or an
expunge, as in Dovecot, whose index files are not fsynced per flag change either. Without
this, a single STORE cost an fsync (0.4 ms here) and was 2.5x slower than Dovecot.

Jobs may register ``tx.after_commit(callback)``; callbacks run on the event loop after the
commit (used for change notifications such as IMAP IDLE).

Supervision: the writer thread is the only way into the store, so its death must never
leave callers waiting. If it dies, every queued and later write fails with StoreError,
the death is logged CRITICAL and ``on_fatal`` (set by the daemon) stops the process with a
non-zero exit so the service manager restarts it; nothing is lost, since a batch is either
committed (WAL) or not. The job queue is bounded (``MAX_QUEUED``): a full queue answers
StoreError ("busy"; SMTP turns it into 451) instead of growing without end, and a write
asked for after ``close()`` fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("lanmaild.store")

MAX_BATCH = 512
MAX_QUEUED = 20_000
_STOP = object()
# Test hook: the writer thread dies after this many batches (tests/test_store_supervision.py
# proves the daemon then exits instead of hanging). Read once at start-up; unset normally.
_DIE_AFTER = int(os.environ.get("LANMAIL_TEST_WRITER_DIES_AFTER", "0") or 0)


def _settle(settled: list) -> None:
    """On the event loop: after-commit callbacks, then the callers' futures."""
    for fut, ok, value, callbacks in settled:
        for cb in callbacks:
            try:
                cb()
            except Exception:  # noqa: BLE001 - a listener must not break delivery
                log.exception("after-commit callback failed")
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class StoreError(Exception):
    """The store could not do what was asked (disk full, corrupt file, ...)."""


class QueryTimeout(StoreError):
    """A read ran longer than ``Database.query_timeout`` and was interrupted."""


# The most an inline read may hold the event loop before it moves to the reader pool.
INLINE_BUDGET = 0.005


class _Interrupted(Exception):
    """An inline read ran out of budget or met a lock: run it on the pool instead."""


# The progress handler runs every this many SQLite VM steps (~0.1-1 ms of work): checking
# the clock that often costs nothing measurable and stops a runaway query promptly.
_PROGRESS_STEPS = 10_000


class Tx:
    """What a write job sees: the connection plus post-commit hooks."""

    __slots__ = ("conn", "_after")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after.append(callback)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    # Page cache: 8 MB for the writer (the hot pages of the tables it updates), 4 MB per
    # reader (the metadata a FETCH/SELECT touches; message bodies are read once, so
    # caching them only costs memory): the OS page cache holds the rest. Six readers
    # with 16 MB each were a third of the peak memory of eight concurrent downloads.
    conn.execute(f"PRAGMA cache_size = {-4000 if readonly else -8000}")
    conn.execute("PRAGMA temp_store = MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


class Database:
    def __init__(self, path: Path, readers: int = 3, heavy_readers: int = 2,
                 migrate: Callable[[sqlite3.Connection], object] | None = None) -> None:
        """``migrate`` brings the schema up to date on the writer connection before any
        job runs (``store.schema.migrate``; passed in, so the engine knows no tables)."""
        self.path = path
        self._jobs: queue.Queue = queue.Queue(MAX_QUEUED)
        self._writer_conn = _connect(path)
        if migrate is not None:
            migrate(self._writer_conn)
        self._writer = threading.Thread(target=self._write_loop, name="store-writer",
                                        daemon=True)
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")
        self._heavy_pool = ThreadPoolExecutor(max_workers=heavy_readers,
                                              thread_name_prefix="store-heavy")
        self.query_timeout = 30.0  # seconds; the runtime sets limits.query_timeout
        self._inline_conn: sqlite3.Connection | None = None
        self._sync_full = True  # PRAGMA synchronous of the writer connection (FULL at start)
        self._inline_deadline = 0.0
        self._closed = False
        self._dead: BaseException | None = None
        self._current: list = []  # the batch being run (failed, not dropped, if we die)
        self._last_activity = 0.0
        # Called (from the writer thread) when the writer died: the daemon stops itself.
        self.on_fatal: Callable[[BaseException], None] | None = None
        self._writer.start()

    def idle_for(self) -> float:
        """Seconds since the last read or foreground write was asked for: background
        housekeeping (the text indexer) runs only when clients leave the store alone."""
        return time.monotonic() - self._last_activity

    # ------------------------------------------------------------------ writes

    async def write(self, fn: Callable[..., T], *args: Any, background: bool = False,
                    durable: bool = True) -> T:
        """Run ``fn(tx, *args)`` in the next group-committed transaction; durable on return.

        ``background`` marks housekeeping (the text indexer) that does not count as
        activity for ``idle_for``. ``durable=False`` (IMAP flag changes) lets a batch made
        only of such jobs commit without an fsync (see the module notes)."""
        self._check_open()
        if not background:
            self._last_activity = time.monotonic()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._enqueue((fn, args, loop, fut, durable))
        return await fut

    def _check_open(self) -> None:
        if self._dead is not None:
            raise StoreError("store writer has stopped; lanmaild is restarting")
        if self._closed:
            raise StoreError("store is closed")

    def _enqueue(self, job: tuple) -> None:
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise StoreError(f"store busy: {MAX_QUEUED} writes waiting") from None
        if self._dead is not None:  # died between the check and the put: fail it now
            self._fail_queued()

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking variant for code that runs outside the event loop (CLI-side tools)."""
        self._check_open()
        done = threading.Event()
        box: dict[str, Any] = {}
        self._enqueue((fn, args, None, (done, box), True))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _write_loop(self) -> None:
        """The writer thread: batches until _STOP; any escape is fatal and loud."""
        try:
            self._batches()
        except BaseException as exc:  # noqa: BLE001 - nothing may leave callers hanging
            self._dead = exc
            log.critical("store writer thread died: %s: %s", exc.__class__.__name__, exc,
                         exc_info=exc)
            self._fail_queued()
            if self.on_fatal is not None:
                self.on_fatal(exc)
            return
        self._fail_queued()  # writes that raced with close()

    def _fail_queued(self) -> None:
        """Answer every job still queued with StoreError (writer gone or closed)."""
        err = StoreError("store writer has stopped" if self._dead else "store is closed")
        failed = [(job[2], job[3], False, err, None) for job in self._current]
        self._current = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not _STOP:
                failed.append((job[2], job[3], False, err, None))
        if failed:
            self._resolve(failed)

    def _batches(self) -> None:
        conn = self._writer_conn
        count = 0
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    self._jobs.put(_STOP)
                    break
                batch.append(job)
            count += 1
            self._current = batch
            self._set_sync(any(job[4] for job in batch))
            if _DIE_AFTER and count >= _DIE_AFTER:
                raise RuntimeError("writer killed by LANMAIL_TEST_WRITER_DIES_AFTER")
            self._run_batch(conn, batch)
            self._current = []

    def _set_sync(self, durable: bool) -> None:
        """FULL for a batch with any durable job (mail, expunges, queue states), NORMAL for
        flag changes only: WAL order keeps every later FULL commit's fsync covering them."""
        if durable != self._sync_full:
            self._writer_conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._sync_full = durable

    def _run_batch(self, conn: sqlite3.Connection, batch: list) -> None:
        if len(batch) == 1:
            self._run_one(conn, batch[0])
            return
        outcomes: list[tuple[bool, Any, Tx]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, args, _loop, _fut, _durable in batch:
                tx = Tx(conn)
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(tx, *args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((False, exc, tx))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((True, result, tx))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._transaction_failed(conn, exc, batch)
            return
        self._resolve([(loop, fut, ok, value, tx if ok else None)
                       for (ok, value, tx), (_fn, _args, loop, fut, _durable)
                       in zip(outcomes, batch, strict=True)])

    def _run_one(self, conn: sqlite3.Connection, job: tuple) -> None:
        """A batch of one needs no savepoint: if the job fails, the whole transaction
        (which holds only that job) is rolled back."""
        fn, args, loop, fut, _durable = job
        tx = Tx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(tx, *args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                conn.execute("ROLLBACK")
                self._resolve([(loop, fut, False, exc, None)])
                return
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._transaction_failed(conn, exc, [job])
            return
        self._resolve([(loop, fut, True, result, tx)])

    def _transaction_failed(self, conn: sqlite3.Connection, exc: sqlite3.Error,
                            batch: list) -> None:
        """The transaction itself failed (disk full, I/O error): nothing of it is
        committed, and every caller in it gets a StoreError (an SMTP client a 451)."""
        log.error("store commit failed: %s", exc)
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        err = StoreError(f"store write failed: {exc}")
        self._resolve([(loop, fut, False, err, None) for _fn, _args, loop, fut, _d in batch])

    @staticmethod
    def _resolve(results: list[tuple[Any, Any, bool, Any, Tx | None]]) -> None:
        """Hand a batch's results to their callers: ONE wake-up per event loop (not one
        per job: each ``call_soon_threadsafe`` is a self-pipe write and a GIL hand-off)."""
        by_loop: dict[Any, list] = {}
        for loop, fut, ok, value, tx in results:
            callbacks = tx._after if tx else []
            if loop is None:
                done, box = fut
                box["result" if ok else "error"] = value
                for cb in callbacks:
                    cb()
                done.set()
            else:
                by_loop.setdefault(loop, []).append((fut, ok, value, callbacks))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                pass  # loop already closed (shutdown)

    # ------------------------------------------------------------------ reads

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            self._local.deadline = 0.0
            local = self._local

            def past_deadline() -> int:  # non-zero interrupts the running statement
                return 1 if time.monotonic() > local.deadline else 0

            conn.set_progress_handler(past_deadline, _PROGRESS_STEPS)
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[..., T], args: tuple, timeout: float | None = None) -> T:
        conn = self._reader()
        limit = self.query_timeout if timeout is None else timeout
        self._local.deadline = time.monotonic() + limit
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise QueryTimeout(f"query took longer than {limit:g} s") from None
            raise
        finally:
            self._local.deadline = float("inf")  # the COMMIT itself is never interrupted
            conn.execute("COMMIT")

    async def read(self, fn: Callable[..., T], *args: Any, heavy: bool = False,
                   inline: bool = False, timeout: float | None = None) -> T:
        """Run ``fn(conn, *args)`` on a reader thread in one read transaction (snapshot);
        ``heavy`` queries (cost chosen by a client) use their own pool, ``inline`` point
        reads try the event loop first (see the module notes)."""
        if self._closed:
            raise StoreError("store is closed")
        self._last_activity = time.monotonic()
        if inline:
            try:
                return self._run_inline(fn, args)
            except _Interrupted:
                pass
        loop = asyncio.get_running_loop()
        pool = self._heavy_pool if heavy else self._pool
        return await loop.run_in_executor(pool, self._run_read, fn, args, timeout)

    def _inline(self) -> sqlite3.Connection:
        if self._inline_conn is None:
            conn = _connect(self.path, readonly=True)
            conn.execute("PRAGMA busy_timeout = 0")  # never wait on the event loop
            conn.set_progress_handler(
                lambda: 1 if time.monotonic() > self._inline_deadline else 0, 1000)
            self._inline_conn = conn
        return self._inline_conn

    def _run_inline(self, fn: Callable[..., T], args: tuple) -> T:
        conn = self._inline()
        self._inline_deadline = time.monotonic() + INLINE_BUDGET
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn, *args)
            finally:
                self._inline_deadline = float("inf")
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # "interrupted", "database is locked"
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _Interrupted(str(exc)) from None

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return self._pool.submit(self._run_read, fn, args).result()

    # ------------------------------------------------------------------ life cycle

    def close(self) -> None:
        """Finish queued writes, then close every connection (SIGTERM path)."""
        if self._closed:
            return
        self._closed = True
        if self._writer.is_alive():
            self._jobs.put(_STOP)
        self._writer.join()
        self._pool.shutdown(wait=True)
        self._heavy_pool.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
        if self._inline_conn is not None:
            self._inline_conn.close()
        try:
            self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self._writer_conn.close()
