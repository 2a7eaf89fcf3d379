"""The store's group commit: a failing job rolls back alone, batched or not, and callers
see results (and after-commit callbacks run) only after the COMMIT."""

from __future__ import annotations

import asyncio

import pytest

from lanmaild.store.db import Database
from lanmaild.store.schema import migrate


def _insert(tx, name: str, fail: bool = False) -> int:
    rowid = tx.execute("INSERT INTO account (name, created) VALUES (?, 0)", (name,)).lastrowid
    if fail:
        raise ValueError(name)
    return rowid


def _names(db: Database) -> list[str]:
    return [r[0] for r in db.read_sync(
        lambda conn: conn.execute("SELECT name FROM account ORDER BY name").fetchall())]


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "t.db", readers=1, migrate=migrate)
    yield database
    database.close()


def test_single_job_failure_rolls_back(db):
    async def go():
        with pytest.raises(ValueError):
            await db.write(_insert, "bad", True)
        assert await db.write(_insert, "good") > 0

    asyncio.run(go())
    assert _names(db) == ["good"]


def test_failing_job_in_a_batch_rolls_back_alone(db):
    order: list[str] = []

    def job(tx, name: str, fail: bool) -> str:
        tx.after_commit(lambda: order.append(f"cb {name}"))
        _insert(tx, name, fail)
        return name

    async def go():
        futs = [db.write(job, f"n{i}", i == 3) for i in range(8)]
        results = await asyncio.gather(*futs, return_exceptions=True)
        for i, r in enumerate(results):
            if i == 3:
                assert isinstance(r, ValueError)
            else:
                assert r == f"n{i}"
                order.append(f"done {r}")

    asyncio.run(go())
    assert _names(db) == [f"n{i}" for i in range(8) if i != 3]
    # every callback of a committed job ran before any caller went on; none for the failure
    callbacks = [o for o in order if o.startswith("cb ")]
    assert sorted(callbacks) == sorted(f"cb n{i}" for i in range(8) if i != 3)
    assert order.index(callbacks[-1]) < order.index(next(o for o in order if o[:4] == "done"))


def test_write_sync(db):
    assert db.write_sync(_insert, "sync") > 0
    with pytest.raises(ValueError):
        db.write_sync(_insert, "nope", True)
    assert _names(db) == ["sync"]
