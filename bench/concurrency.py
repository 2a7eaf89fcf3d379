"""Many clients on one folder (issue 15, item 9): what a busy office looks like to the server.

Stage ``clients`` (per server, N = 10, 30, 100 clients [--quick 10, 30], D = 20 s [5 s]): a
folder of 1,000 corpus messages is made (untimed); then N processes, one IMAP connection
each, send random commands one at a time for D seconds, in this mix:

  35% UID FETCH u (FLAGS)            20% UID FETCH u (BODY.PEEK[])    12% UID STORE u +FLAGS
   5% UID SEARCH FROM "alice"        10% NOOP                          7% APPEND (own message)
   4% UID COPY u (to the same folder) 3% expunge one of its own appended messages
   4% SELECT of the folder again

With ``--clients-box big`` the clients work on the big folder instead (filled by fill-big,
e.g. 100,000 messages): the memory figure of issue 15 item 10.

Recorded as ``clients`` with c=N: ``cmds_per_s`` (all clients together), ``median_ms`` and
``p99_ms`` of single commands, and the server's peak PSS. Targets (issue 15): at 30
clients >= 1.5x the anchor's (Dovecot's) rate with a median latency <= the anchor's; 100
clients keep working with bounded memory.
"""

from __future__ import annotations

import random
import statistics
import time

FOLDER = "Clients"
FOLDER_SIZE = 1000


def w_mixed(job, ep, opts):
    """One client: random commands until the deadline; returns its latencies."""
    from lanmailbench import ProtoError, imap_close, imap_open, quote

    seed, = job
    mailbox, duration, messages, size = opts
    rng = random.Random(seed)
    c, exists = imap_open(ep, mailbox)
    own: list[int] = []
    lat: list[float] = []
    errors = 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        x = rng.random()
        uid = rng.randint(1, size)
        cmd = None
        if x < 0.35:
            cmd = b"UID FETCH %d (FLAGS)" % uid
        elif x < 0.55:
            cmd = b"UID FETCH %d (BODY.PEEK[])" % uid
        elif x < 0.67:
            cmd = b"UID STORE %d +FLAGS (\\Flagged)" % uid
        elif x < 0.72:
            cmd = b'UID SEARCH FROM "alice"'
        elif x < 0.82:
            cmd = b"NOOP"
        elif x < 0.89:
            msg = messages[rng.randrange(len(messages))]
            cmd = b"APPEND " + quote(mailbox) + b" {%d+}\r\n" % len(msg) + msg
        elif x < 0.93:
            cmd = b"UID COPY %d " % uid + quote(mailbox)
        elif x < 0.96 and own:
            victim = own.pop()
            cmd = b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % victim
            t = time.perf_counter()
            try:
                c.imap(cmd)
                c.imap(b"UID EXPUNGE %d" % victim)
            except ProtoError:
                errors += 1
            lat.append(time.perf_counter() - t)
            continue
        else:
            cmd = b"SELECT " + quote(mailbox)
        t = time.perf_counter()
        try:
            _tagged, _n, _lit, kept = c.imap(
                cmd, keep=(lambda ln: b"APPENDUID" in ln) if cmd.startswith(b"APPEND") else None)
            if cmd.startswith(b"APPEND"):
                for ln in [_tagged, *kept]:
                    if b"APPENDUID" in ln:
                        own.append(int(ln.split(b"APPENDUID", 1)[1].split()[1].strip(b"]")))
        except ProtoError:
            errors += 1
        lat.append(time.perf_counter() - t)
    t_end = time.monotonic()
    imap_close(c)
    return {"ops": len(lat), "lat": lat, "errors": errors, "t_end": t_end}


def summarize(results: list[dict], wall: float) -> dict:
    lat = sorted(x for r in results for x in r["lat"])
    ops = sum(r["ops"] for r in results)
    if not lat:
        return {"cmds_per_s": 0}
    return {"cmds_per_s": round(ops / wall, 1),
            "median_ms": round(statistics.median(lat) * 1000, 3),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 3),
            "commands": ops, "errors": sum(r["errors"] for r in results)}
