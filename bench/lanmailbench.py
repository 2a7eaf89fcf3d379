#!/usr/bin/env python3
"""lanmailbench: issue 5's benchmark. lanmaild against Postfix + Dovecot, same run, same load.

    python3 bench/lanmailbench.py run [--quick] [--anchor] [--json FILE]
    python3 bench/lanmailbench.py report FILE.jsonl [FILE2.jsonl ...]
    python3 bench/lanmailbench.py profile-top FILE.raw       (py-spy --format raw output)

`run` starts lanmaild from this tree on a temporary config and data dir (free loopback ports,
account bench@lan.test / benchpass), optionally points the same load at another server
(`--anchor` = Postfix + Dovecot as set up by bench/anchor/setup.sh, or `--target`), runs the
stages below with the servers interleaved (never two servers under load at once) and prints
one JSON line per measurement, a table per server, and the lanmaild/anchor ratios against the
targets of issue 5. lanmaild is stopped (SIGTERM) at the end.

Stages (full run; --quick in brackets):
  smtp        N=5000 [500] messages of 10,240 bytes over 1, 8, 32 connections, one message
              per transaction, one connection per client reused with RSET; accepted msgs/s
              (last 250) and delivered msgs/s (IMAP STATUS INBOX MESSAGES reaches N), server
              CPU ms per message, peak RSS/PSS
  fill-small  INBOX <- seeded corpus messages 0..9,999 [1,999] by IMAP APPEND
  imap-small  LOGIN+SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE),
              UID SEARCH FROM alice, SEARCH TEXT needle, FETCH 1:* BODY.PEEK[],
              STORE 1:* +FLAGS (\\Seen), 4 and 8 concurrent full downloads
  pop3        STAT, UIDL, RETR 1..M on the INBOX
  latency     one command per message, as mail programs send them (issue 16): APPEND,
              FETCH FLAGS / BODY[HEADER] / BODY[1], STORE over a fresh 1,000 [200] message
              folder, UID FETCH of new mail after IDLE, POP3 RETR one by one; median and
              p99 per command (bench/latency.py)
  mbsync      isync's mbsync uploads 500 [100] messages and downloads them again
  clients     10, 30, 100 [10, 30] clients send random commands (FETCH, STORE, SEARCH,
              APPEND, COPY, EXPUNGE, SELECT, NOOP) on one folder for 20 [5] s: commands/s,
              median and p99 latency, peak PSS (bench/concurrency.py)
  fill-big    folder Bench100k <- corpus messages 0..99,999 [4,999]
  imap-big    the IMAP steps without the concurrent downloads [login_select, fetch_headers]
  outgoing    5,000 [500] 10 KB mails to internet recipients, relayed to a smarthost sink
              (smtp-sink): relayed msgs/s, duplicates, missing (issue 8; bench/outgoing.py)
  fetch       10,000 [1,000] 10 KB messages in a provider Dovecot, fetched over POP3 and
              IMAP by lanmaild and by fetchmail into the anchor: msgs/s (issue 10; fetch.py)
  einvoice    lanmaild only: the detector's CPU over the shared e-invoice corpus, and the
              delivered rate of corpus mails to an e-invoice mailbox and to a plain account
              (issue 11; bench/einvoice.py)

The corpus and the fixed 10 KB message follow ../shared/bench/mailbench.py's definitions byte
for byte (same seed, same messages, same INTERNALDATEs), so the numbers compare with the
anchor numbers of issue 5. Only ratios from one run mean anything on a shared machine.

Client: one forked process per connection (stdlib only); the client's CPU is reported too,
because on a 2-core machine it is taken from the servers. Every loop is bounded by a count
and by --max-seconds; sockets have timeouts; all load goes to 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CRLF = b"\r\n"
RECV = 256 * 1024
USER = "bench@lan.test"
PASSWORD = "benchpass"
BIG_FOLDER = "Bench100k"
SETTLE_SECONDS = 2.0  # idle time after a fill, before the measured stages
ANCHOR_PORTS = (10025, 10143, 10110)
ANCHOR_PIDFILES = ("/var/spool/postfix/pid/master.pid", "/run/dovecot/master.pid")
ALL_STAGES = ("smtp", "fill-small", "imap-small", "pop3", "latency", "mbsync", "clients",
              "fill-big", "imap-big", "outgoing", "einvoice", "fetch", "oauth")
IMAP_STEPS = ("login_select", "fetch_headers", "search_from", "search_text", "fetch_full",
              "store_seen", "concurrent_full")


# =========================================================================== wire
class ProtoError(Exception):
    pass


class Conn:
    """A TCP connection with a receive buffer: lines, literals, POP3 dot-terminated bodies."""

    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0
        self.rx = 0
        self.ntag = 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> int:
        """Append received data to the buffer; returns by how much old offsets moved."""
        data = self.sock.recv(RECV)
        if not data:
            raise ProtoError("connection closed by the server")
        self.rx += len(data)
        moved = self.pos
        self.buf = self.buf[self.pos:] + data if self.pos else self.buf + data
        self.pos = 0
        return moved

    def line(self) -> bytes:
        scan = self.pos
        while True:
            i = self.buf.find(b"\n", scan)
            if i >= 0:
                out = self.buf[self.pos:i + 1]
                self.pos = i + 1
                return out
            scan = len(self.buf) - self._more()

    def skip(self, n: int) -> None:
        have = len(self.buf) - self.pos
        if have >= n:
            self.pos += n
            return
        n -= have
        self.buf, self.pos = b"", 0
        while n > 0:
            data = self.sock.recv(RECV)
            if not data:
                raise ProtoError("connection closed inside a literal")
            self.rx += len(data)
            if len(data) > n:
                self.buf, self.pos = data, n
                return
            n -= len(data)

    def dot_body(self) -> int:
        """Consume a POP3 multi-line body; returns its size without the terminator."""
        while len(self.buf) - self.pos < 3:
            self._more()
        if self.buf.startswith(b".\r\n", self.pos):
            self.pos += 3
            return 0
        scan = self.pos
        while True:
            i = self.buf.find(b"\r\n.\r\n", scan)
            if i >= 0:
                n = i + 2 - self.pos
                self.pos = i + 5
                return n
            scan = max(self.pos, len(self.buf) - 4)
            scan -= self._more()

    # ---------------------------------------------------------------- SMTP
    def smtp_reply(self) -> tuple[int, bytes]:
        text = b""
        while True:
            ln = self.line()
            text += ln
            if ln[3:4] != b"-":
                break
        try:
            return int(ln[:3]), text
        except ValueError:
            return 0, text

    def smtp(self, cmd: bytes, want: int) -> bytes:
        self.send(cmd + CRLF)
        code, text = self.smtp_reply()
        if code != want:
            raise ProtoError(f"SMTP {cmd[:30]!r}: {text[:200]!r}")
        return text

    # ---------------------------------------------------------------- IMAP
    def imap_send(self, cmd: bytes) -> bytes:
        self.ntag += 1
        tag = b"b%05d" % self.ntag
        self.send(tag + b" " + cmd + CRLF)
        return tag

    def imap_wait(self, tag: bytes, keep=None, ok_only=True):
        """Read until the tagged reply; literals are consumed and counted, not kept.

        Returns (tagged line, number of untagged responses, literal bytes, kept lines)."""
        prefix = tag + b" "
        n = lit = 0
        kept = []
        while True:
            first = ln = self.line()
            while ln.endswith(b"}\r\n"):
                j = ln.rfind(b"{")
                try:
                    size = int(ln[j + 1:-3].rstrip(b"+"))
                except ValueError:
                    break
                self.skip(size)
                lit += size
                ln = self.line()
            if first.startswith(prefix):
                if ok_only and first[len(prefix):len(prefix) + 2] != b"OK":
                    raise ProtoError(f"IMAP: {first[:300]!r}")
                return first, n, lit, kept
            if first.startswith(b"+"):
                raise ProtoError(f"IMAP: unexpected continuation {first[:200]!r}")
            n += 1
            if keep is not None and keep(first):
                kept.append(first)

    def imap(self, cmd: bytes, keep=None, ok_only=True):
        return self.imap_wait(self.imap_send(cmd), keep, ok_only)

    # ---------------------------------------------------------------- POP3
    def pop(self, cmd: bytes | None) -> bytes:
        if cmd is not None:
            self.send(cmd + CRLF)
        ln = self.line()
        if not ln.startswith(b"+OK"):
            raise ProtoError(f"POP3 {(cmd or b'<greeting>')[:20]!r}: {ln[:200]!r}")
        return ln


def quote(s: str) -> bytes:
    return b'"' + s.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


@dataclass
class Endpoint:
    """Where one server's load goes (picklable, handed to the worker processes)."""
    host: str
    smtp: int | None
    imap: int | None
    pop3: int | None
    user: str = USER
    password: str = PASSWORD
    timeout: float = 120.0
    max_seconds: float = 900.0


def imap_open(ep: Endpoint, mailbox: str | None = None, examine: bool = False):
    c = Conn(ep.host, ep.imap, ep.timeout)
    greet = c.line()
    if not greet.startswith(b"* OK"):
        raise ProtoError(f"IMAP greeting: {greet[:200]!r}")
    c.imap(b"LOGIN " + quote(ep.user) + b" " + quote(ep.password))
    exists = -1
    if mailbox is not None:
        verb = b"EXAMINE " if examine else b"SELECT "
        kept = c.imap(verb + quote(mailbox), keep=lambda ln: ln.endswith(b" EXISTS\r\n"))[3]
        for ln in kept:
            exists = int(ln.split()[1])
    return c, exists


def imap_close(c: Conn) -> None:
    with contextlib.suppress(OSError, ProtoError):
        c.imap(b"LOGOUT")
    c.close()


def status_count(c: Conn, mailbox: str) -> int:
    kept = c.imap(b"STATUS " + quote(mailbox) + b" (MESSAGES)",
                  keep=lambda ln: ln.startswith(b"* STATUS"))[3]
    m = re.search(rb"MESSAGES (\d+)", kept[-1] if kept else b"")
    if not m:
        raise ProtoError(f"no MESSAGES in STATUS reply {kept!r}")
    return int(m.group(1))


def mailbox_count(ep: Endpoint, mailbox: str) -> int:
    c, _ = imap_open(ep)
    try:
        return status_count(c, mailbox)
    finally:
        imap_close(c)


def purge(ep: Endpoint, mailbox: str) -> int:
    """Delete every message of the mailbox (STORE \\Deleted + CLOSE)."""
    c, exists = imap_open(ep, mailbox)
    try:
        if exists > 0:
            c.imap(b"STORE 1:* +FLAGS.SILENT (\\Deleted)")
            c.imap(b"CLOSE")
        return exists
    finally:
        imap_close(c)


def personal_prefix(ep: Endpoint) -> str:
    """The personal namespace prefix ("" for Dovecot here, "INBOX." for lanmaild)."""
    c, _ = imap_open(ep)
    try:
        tagged, _, _, kept = c.imap(b"NAMESPACE", keep=lambda ln: ln.startswith(b"* NAMESPACE"),
                                    ok_only=False)
    finally:
        imap_close(c)
    m = re.match(rb'\* NAMESPACE \(\("([^"]*)"', kept[0]) if kept else None
    return m.group(1).decode() if m else ""


def recreate(ep: Endpoint, mailbox: str) -> None:
    c, _ = imap_open(ep)
    try:
        c.imap(b"DELETE " + quote(mailbox), ok_only=False)
        c.imap(b"CREATE " + quote(mailbox))
    finally:
        imap_close(c)


# =========================================================================== corpus
# Same definitions (and random draws, in the same order) as ../shared/bench/mailbench.py, so
# seed 1 yields the anchor's messages byte for byte.
def _split(text: str) -> list[str]:
    return text.split()


WORDS = _split(
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no what "
    "can more out up other into could time only new some these two may first then do any like my "
    "now over such our man me even most made after also did many before must through back years "
    "where much your way well down should because each just those people how too little state "
    "good very make world still own see men work long get here between both life being under "
    "never day same another know while last might us great old year off come since against go "
    "came right used take three meeting project invoice report budget schedule review server "
    "network printer office lunch monday tuesday friday attached please thanks regards update "
    "agenda minutes draft final quarter customer order shipment delivery account password backup "
    "storage laptop screen team"
)
FIRST = _split(
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
    "sybil trent victor walter xena yannick zoe anna ben chloe dan eva felix gina hugo iris "
    "jack kate leo mia noah oscar paula quinn rosa sam tina")
LAST = _split(
    "smith jones taylor brown wilson evans thomas roberts walker wright robinson thompson "
    "white hughes edwards green hall wood harris lewis martin jackson clarke clark")
DOMAINS = _split("lan.test example.test office.test corp.test partner.test")


def _text(r: random.Random, nbytes: int, needle: bool) -> bytes:
    words = r.choices(WORDS, k=max(8, nbytes // 6))
    if needle:
        words[r.randrange(len(words))] = "needle"
    lines, total = [], 0
    for k in range(0, len(words), 11):
        ln = " ".join(words[k:k + 11])
        lines.append(ln)
        total += len(ln) + 2
        if total >= nbytes:
            break
    return ("\r\n".join(lines) + "\r\n").encode()


def corpus_message(seed: int, i: int) -> tuple[bytes, str]:
    """Message #i of corpus `seed` and its INTERNALDATE.

    60% text/plain 2-10 KB, 25% multipart/alternative text+html 10-50 KB, 15%
    multipart/mixed with a base64 attachment 50-200 KB; ~1% contain "needle"; ~2% are
    from alice."""
    r = random.Random(seed * 1_000_003 + i)
    fn, ln, dom = r.choice(FIRST), r.choice(LAST), r.choice(DOMAINS)
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=r.randrange(365 * 86400))
    subject = " ".join(r.choices(WORDS, k=r.randint(3, 8))).capitalize()
    needle = r.random() < 0.01
    kind = r.random()
    head = (f"Return-Path: <{fn}.{ln}@{dom}>\r\n"
            f"From: {fn.capitalize()} {ln.capitalize()} <{fn}.{ln}@{dom}>\r\n"
            f"To: Bench User <bench@lan.test>\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
            f"Message-ID: <corpus.{seed}.{i}@mailbench.test>\r\n"
            f"MIME-Version: 1.0\r\n")
    if kind < 0.60:
        size = int(2048 * (5 ** r.random()))
        msg = (head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode() \
            + _text(r, size - 400, needle)
    elif kind < 0.85:
        size = int(10240 * (5 ** r.random()))
        b = f"=_alt_{seed}_{i}"
        txt = _text(r, size // 3, needle)
        html = (b"<html><body><p>" + _text(r, size // 2, False).replace(b"\r\n", b"</p>\r\n<p>")
                + b"</p></body></html>\r\n")
        msg = (head + f'Content-Type: multipart/alternative; boundary="{b}"\r\n\r\n'
               f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode() + txt \
            + f"--{b}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n".encode() + html \
            + f"--{b}--\r\n".encode()
    else:
        size = int(51200 * (4 ** r.random()))
        b = f"=_mix_{seed}_{i}"
        txt = _text(r, r.randint(500, 4000), needle)
        att = base64.encodebytes(r.randbytes(int((size - 5000) * 0.74))).replace(b"\n", b"\r\n")
        ext = r.choice(["pdf", "png", "docx", "zip"])
        msg = (head + f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n'
               f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode() + txt \
            + (f'--{b}\r\nContent-Type: application/octet-stream; name="file{i}.{ext}"\r\n'
               f"Content-Transfer-Encoding: base64\r\n"
               f'Content-Disposition: attachment; filename="file{i}.{ext}"\r\n\r\n').encode() \
            + att + f"--{b}--\r\n".encode()
    return msg, when.strftime("%d-%b-%Y %H:%M:%S +0000")


def fixed_message(size: int, sender: str, rcpt: str, tag: str) -> tuple[bytearray, int, int]:
    """A message of exactly `size` bytes with a 12-digit sequence field to patch in place."""
    width = 12
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: mailbench {size} bytes\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{tag}.{'0' * width}@mailbench.test>\r\n\r\n").encode()
    line = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 mailbench line\r\n"
    need = max(0, size - len(head))
    body = (line * (need // len(line) + 1))[:need]
    if need >= 2:
        body = body[:-2] + CRLF
    return bytearray(head + body), head.index(b"0" * width), width


# =========================================================================== /proc monitor
PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")


def _slurp(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("latin-1")
    except OSError:
        return None


def _procs() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (ppid, comm, utime+stime, cutime+cstime) in clock ticks."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = _slurp(f"/proc/{d}/stat")
        if not s:
            continue
        r = s.rfind(")")
        f = s[r + 2:].split()
        out[int(d)] = (int(f[1]), s[s.find("(") + 1:r], int(f[11]) + int(f[12]),
                       int(f[13]) + int(f[14]))
    return out


def _tree(table, roots) -> list[int]:
    kids: dict[int, list[int]] = {}
    for pid, row in table.items():
        kids.setdefault(row[0], []).append(pid)
    seen: list[int] = []
    stack = [p for p in roots if p in table]
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.append(p)
            stack.extend(kids.get(p, ()))
    return seen


def _kb(text: str | None, key: str) -> int:
    m = re.search(rf"^{key}:\s+(\d+) kB", text or "", re.M)
    return int(m.group(1)) if m else 0


def _sys_cpu() -> list[int]:
    return [int(x) for x in (_slurp("/proc/stat") or "cpu 0").split("\n", 1)[0].split()[1:9]]


class Monitor(threading.Thread):
    """Samples a server's process trees: CPU ticks, RSS and PSS sums, VmHWM; plus system CPU."""

    def __init__(self, roots: list[int], interval: float = 0.5):
        super().__init__(daemon=True)
        self.roots = roots
        self.interval = interval
        self.done = threading.Event()
        self.peak_rss = self.peak_pss = self.hwm = self.nproc = self.peak_anon = 0
        self.cpu_first: dict[int, tuple[str, int]] = {}
        self.cpu_last: dict[int, tuple[str, int]] = {}
        self.n = 0

    def sample(self, pss: bool) -> int:
        table = _procs()
        pids = _tree(table, self.roots)
        rss = pss_sum = cpu = anon = 0
        for p in pids:
            st = _slurp(f"/proc/{p}/status")
            rss += _kb(st, "VmRSS")
            anon += _kb(st, "RssAnon")
            self.hwm = max(self.hwm, _kb(st, "VmHWM"))
            if pss:
                pss_sum += _kb(_slurp(f"/proc/{p}/smaps_rollup"), "Pss")
            _, comm, own, children = table[p]
            cpu += own + children
            self.cpu_first.setdefault(p, (comm, own))
            self.cpu_last[p] = (comm, own)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss_sum)
        self.peak_anon = max(self.peak_anon, anon)
        self.nproc = max(self.nproc, len(pids))
        return cpu

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.sys0 = _sys_cpu()
        self.cpu0 = self.sample(True) if self.roots else 0
        super().start()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.n += 1
            if self.roots:
                self.sample(self.n % 2 == 1)   # PSS (smaps_rollup) is dearer: every 2nd

    def finish(self) -> dict:
        self.done.set()
        self.join()
        wall = max(1e-9, time.monotonic() - self.t0)
        sys1 = _sys_cpu()
        d = [b - a for a, b in zip(self.sys0, sys1, strict=False)] or [0]
        tot = sum(d) or 1
        res: dict = {"sys_cpu_busy_pct": round(100.0 * (tot - d[3] - d[4]) / tot, 1)}
        if self.roots:
            cpu1 = self.sample(True)
            by: dict[str, int] = {}
            for p, (comm, c1) in self.cpu_last.items():
                by[comm] = by.get(comm, 0) + c1 - self.cpu_first[p][1]
            top = sorted(((v, k) for k, v in by.items() if v > 0), reverse=True)[:6]
            res.update({
                "server_cpu_s": round((cpu1 - self.cpu0) / HZ, 2),
                "server_cpu_pct": round(100.0 * (cpu1 - self.cpu0) / HZ / wall, 1),
                "server_rss_mb_peak": round(self.peak_rss / 1024, 1),
                "server_pss_mb_peak": round(self.peak_pss / 1024, 1),
                "server_hwm_mb": round(self.hwm / 1024, 1),
                "server_rss_anon_mb_peak": round(self.peak_anon / 1024, 1),
                "server_nproc": self.nproc,
                "server_cpu_by_name_s": {k: round(v / HZ, 2) for v, k in top},
            })
        return res


# =========================================================================== worker processes
def run_workers(fn, jobs: list, ep: Endpoint, mon: Monitor | None = None, opts=None):
    """One forked process per job, released together. Returns (wall, t0, results, client_cpu_s).

    wall runs from the release to the last worker's own end time."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    go = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(fn, job, ep, opts, q, go), daemon=True)
             for job in jobs]
    cpu0 = os.times()
    for p in procs:
        p.start()
    for _ in procs:
        if q.get(timeout=60) != "ready":
            raise RuntimeError("worker failed to start")
    if mon is not None:
        mon.start()
    t0 = time.monotonic()
    go.set()
    results = []
    deadline = t0 + ep.max_seconds + 60
    while len(results) < len(procs):
        try:
            results.append(q.get(timeout=max(0.1, deadline - time.monotonic())))
        except Exception:  # queue.Empty: a worker hung past every bound
            break
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
            p.join(5)
    cpu1 = os.times()
    ccpu = round(cpu1.children_user - cpu0.children_user
                 + cpu1.children_system - cpu0.children_system, 2)
    if len(results) < len(procs):
        raise RuntimeError(f"only {len(results)}/{len(procs)} workers reported")
    t_end = max(r["t_end"] for r in results)
    return t_end - t0, t0, results, ccpu


def _worker(fn, job, ep, opts, q, go):
    res = {"error": None}
    try:
        q.put("ready")
        if not go.wait(120):
            raise RuntimeError("no start signal")
        res.update(fn(job, ep, opts))
    except Exception as e:  # reported to the parent, which prints it
        res["error"] = f"{type(e).__name__}: {e}"
    res.setdefault("t_end", time.monotonic())
    q.put(res)


def split(n: int, parts: int, base: int = 0) -> list[tuple[int, int]]:
    per, extra = divmod(n, parts)
    out, start = [], base
    for k in range(parts):
        cnt = per + (k < extra)
        if cnt:
            out.append((start, cnt))
        start += cnt
    return out


def smtp_transaction(c: Conn, mail: bytes, rcpt: bytes, msg: bytearray) -> None:
    """MAIL, RCPT, DATA, the message, its 250 (ProtoError otherwise)."""
    c.smtp(mail, 250)
    c.smtp(rcpt, 250)
    c.smtp(b"DATA", 354)
    c.send(bytes(msg) + b".\r\n")
    code, text = c.smtp_reply()
    if code != 250:
        raise ProtoError(f"end of DATA: {text[:200]!r}")


def w_smtp(job, ep: Endpoint, opts):
    """Send job=(first seq, count) fixed-size messages, one per transaction, RSET between."""
    seq0, n = job
    size, sender, rcpt = opts
    deadline = time.monotonic() + ep.max_seconds
    msg, off, width = fixed_message(size, sender, rcpt, f"lmb{os.getpid()}")
    c = Conn(ep.host, ep.smtp, ep.timeout)
    code, text = c.smtp_reply()
    if code != 220:
        raise ProtoError(f"SMTP greeting {text[:200]!r}")
    c.smtp(b"EHLO bench.client.test", 250)
    mail, to = b"MAIL FROM:<%s>" % sender.encode(), b"RCPT TO:<%s>" % rcpt.encode()
    ok = errors = 0
    first_error = None
    for j in range(n):
        if time.monotonic() > deadline:
            first_error = first_error or "deadline"
            break
        msg[off:off + width] = b"%0*d" % (width, seq0 + j)
        try:
            smtp_transaction(c, mail, to, msg)
            ok += 1
        except ProtoError as e:
            errors += 1
            first_error = first_error or str(e)
            if errors > 20:
                break
        c.smtp(b"RSET", 250)
    t_end = time.monotonic()
    with contextlib.suppress(OSError, ProtoError):
        c.smtp(b"QUIT", 221)
    c.close()
    return {"ok": ok, "errors": errors, "first_error": first_error, "t_end": t_end}


def w_append(job, ep: Endpoint, opts):
    """APPEND corpus messages job=(first index, count); MULTIAPPEND batches if asked+offered."""
    i0, n = job
    mailbox, seed, batch = opts
    deadline = time.monotonic() + ep.max_seconds
    c, _ = imap_open(ep)
    caps = b" ".join(c.imap(b"CAPABILITY", keep=lambda ln: ln.startswith(b"* CAPABILITY"))[3])
    lplus = b"LITERAL+" in caps.upper()
    per_cmd = batch if batch > 1 and lplus and b"MULTIAPPEND" in caps.upper() else 1
    head = b"APPEND " + quote(mailbox)
    ok = nbytes = 0
    i = i0
    while i < i0 + n and time.monotonic() < deadline:
        cnt = min(per_cmd, i0 + n - i)
        if lplus:   # non-synchronizing literals: the whole command in one go
            parts = [head]
            for k in range(i, i + cnt):
                msg, date = corpus_message(seed, k)
                parts.append(b' "%s" {%d+}\r\n' % (date.encode(), len(msg)) + msg)
                nbytes += len(msg)
            tag = c.imap_send(b"".join(parts))
        else:       # synchronizing literal: wait for the continuation
            msg, date = corpus_message(seed, i)
            tag = c.imap_send(head + b' "%s" {%d}' % (date.encode(), len(msg)))
            cont = c.line()
            if not cont.startswith(b"+"):
                raise ProtoError(f"APPEND refused: {cont[:200]!r}")
            c.send(msg + CRLF)
            nbytes += len(msg)
        c.imap_wait(tag)
        ok += cnt
        i += cnt
    t_end = time.monotonic()
    imap_close(c)
    return {"ok": ok, "bytes": nbytes, "t_end": t_end, "multiappend": per_cmd > 1}


def w_smtp_fill(job, ep: Endpoint, opts):
    i0, n = job
    seed, sender, rcpt = opts
    deadline = time.monotonic() + ep.max_seconds
    c = Conn(ep.host, ep.smtp, ep.timeout)
    c.smtp_reply()
    c.smtp(b"EHLO bench.client.test", 250)
    ok = nbytes = 0
    for i in range(i0, i0 + n):
        if time.monotonic() > deadline:
            break
        msg = corpus_message(seed, i)[0].replace(b"\r\n.", b"\r\n..")
        c.smtp(b"MAIL FROM:<%s>" % sender.encode(), 250)
        c.smtp(b"RCPT TO:<%s>" % rcpt.encode(), 250)
        c.smtp(b"DATA", 354)
        c.send(msg + b".\r\n")
        code, text = c.smtp_reply()
        if code != 250:
            raise ProtoError(f"end of DATA: {text[:200]!r}")
        c.smtp(b"RSET", 250)
        ok += 1
        nbytes += len(msg)
    t_end = time.monotonic()
    with contextlib.suppress(OSError, ProtoError):
        c.smtp(b"QUIT", 221)
    c.close()
    return {"ok": ok, "bytes": nbytes, "t_end": t_end}


def w_download(job, ep: Endpoint, opts):
    c, _ = imap_open(ep, opts, examine=True)
    _, n, lit, _ = c.imap(b"FETCH 1:* BODY.PEEK[]")
    t_end = time.monotonic()
    imap_close(c)
    return {"ok": n, "bytes": lit, "t_end": t_end}


# =========================================================================== servers
class Unavailable(Exception):
    pass


def port_open(host: str, port: int | None, timeout: float = 0.5) -> bool:
    if not port:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Server:
    role: str                   # "lanmail" or "anchor"/"target"
    label: str
    ep: Endpoint
    pids: list[int] = field(default_factory=list)
    served: set = field(default_factory=set)
    big_mailbox: str = ""
    control: str = ""  # lanmaild's control socket (the fetch stage configures through it)
    http: int = 0  # lanmaild's HTTP (OAuth2) port

    def mailbox(self, box: str) -> str:
        if box == "small":
            return "INBOX"
        if not self.big_mailbox:
            self.big_mailbox = personal_prefix(self.ep) + BIG_FOLDER
        return self.big_mailbox

    def probe(self) -> None:
        self.served = {p for p in ("smtp", "imap", "pop3")
                       if port_open(self.ep.host, getattr(self.ep, p))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lanmaild:
    """lanmaild from this tree on a temporary config + data dir; SIGTERM on stop()."""

    def __init__(self, cmd: list[str] | None, workdir: str | None, keep: bool,
                 extra_toml: str = ""):
        self.cmd = cmd
        self.keep = keep
        self.extra_toml = extra_toml
        self.base = Path(workdir) if workdir else None
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self, timeout: float) -> Server:
        sys.path.insert(0, str(REPO))
        try:
            from lanmaild.auth.passwords import hash_password
        except ImportError as e:
            raise Unavailable(f"cannot import lanmaild.auth.passwords ({e})") from e
        if self.base:
            self.base.mkdir(parents=True, exist_ok=True)
            d = Path(tempfile.mkdtemp(prefix="run-", dir=self.base))
        else:
            d = Path(tempfile.mkdtemp(prefix="lanmailbench-"))
        self.dir = d
        ports = {"smtp": _free_port(), "imap": _free_port(), "pop3": _free_port(),
                 "http": _free_port()}
        (d / "accounts").mkdir()
        (d / "groups").mkdir()
        (d / "data").mkdir()
        (d / "lanmaild.toml").write_text(
            "# written by bench/lanmailbench.py\n"
            '[server]\nhostname = "bench.lan.test"\ndomains = ["lan.test"]\n'
            'data_dir = "data"\ncontrol_socket = "data/lanmaild.sock"\n'
            'plaintext_auth = ["127.0.0.0/8"]\n'
            f'[listen]\nsmtp = ["127.0.0.1:{ports["smtp"]}"]\nsubmission = []\nsmtps = []\n'
            f'imap = ["127.0.0.1:{ports["imap"]}"]\nimaps = []\n'
            f'pop3 = ["127.0.0.1:{ports["pop3"]}"]\npop3s = []\n'
            f'http = ["127.0.0.1:{ports["http"]}"]\n'
            "[limits]\nconnections_per_ip = 200\n" + self.extra_toml)
        (d / "accounts" / "bench.toml").write_text(f'password = "{hash_password(PASSWORD)}"\n')
        import einvoice  # the e-invoice stage's mailbox (same password)

        (d / "accounts" / "invoices.toml").write_text(
            einvoice.account_toml(hash_password(PASSWORD)))
        try:  # fail early with the loader's message if the config no longer validates
            from lanmaild.config import loader
            loader.load_config(d)
        except ImportError:
            pass
        except Exception as e:
            raise Unavailable(f"lanmaild rejects the bench config in {d}: {e}") from e
        cmd = self.cmd or [sys.executable, "-m", "lanmaild.main"]
        cmd = [*cmd, "--config-dir", str(d)]
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH",
                                                                                  ""))
        self.log = open(d / "lanmaild.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        ep = Endpoint("127.0.0.1", ports["smtp"], ports["imap"], ports["pop3"])
        srv = Server("lanmail", f"lanmaild-{_lanmail_version()}", ep, [self.proc.pid],
                     http=ports["http"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"lanmaild exited with code {self.proc.returncode}: "
                                  f"{shlex.join(cmd)}\n{self.tail()}")
            srv.probe()
            if len(srv.served) == 3:
                break
            time.sleep(0.2)
        if not srv.served:
            raise Unavailable(f"lanmaild (pid {self.proc.pid}) accepts on none of its ports "
                              f"after {timeout:.0f} s\n{self.tail()}")
        return srv

    def tail(self, n: int = 15) -> str:
        try:
            lines = (self.dir / "lanmaild.log").read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return "\n".join("    | " + ln for ln in lines)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                print(f"lanmaild pid {self.proc.pid} ignored SIGTERM for 30 s: SIGKILL",
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait(10)
        if self.log:
            self.log.close()
        if self.proc and not self.keep and getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)


def _lanmail_version() -> str:
    try:
        txt = (REPO / "lanmaild" / "__init__.py").read_text()
        m = re.search(r'__version__ = "([^"]+)"', txt)
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "lanmaild"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        rev += "-dirty" if rev and dirty else ""
        return (m.group(1) if m else "?") + (f"+{rev}" if rev else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def anchor_label() -> str:
    def ver(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
            return out.split()[0] if out.split() else "?"
        except (OSError, subprocess.SubprocessError):
            return "?"
    return f"postfix-{ver(['postconf', '-h', 'mail_version'])}" \
           f"+dovecot-{ver(['dovecot', '--version'])}"


def pids_from(pids: str | None, pidfiles: list[str]) -> list[int]:
    out = [int(p) for p in (pids or "").replace(",", " ").split()]
    for pf in pidfiles:
        txt = _slurp(pf)
        if txt and txt.strip().isdigit():
            out.append(int(txt.strip()))
    return out


# =========================================================================== reporting
class Reporter:
    def __init__(self, path: str | None, run_id: str, echo: bool):
        self.out = open(path, "a") if path else None  # noqa: SIM115 (closed in close())
        self.run_id = run_id
        self.echo = echo
        self.records: list[dict] = []

    def emit(self, rec: dict) -> None:
        rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "run": self.run_id, **rec}
        self.records.append(rec)
        line = json.dumps(rec)
        if self.echo:
            print(line, flush=True)
        if self.out:
            self.out.write(line + "\n")
            self.out.flush()

    def result(self, srv: Server, test: str, params: dict, rep: int, metrics: dict,
               system: dict | None = None) -> None:
        self.emit({"kind": "result", "server": srv.role, "label": srv.label, "test": test,
                   "params": params, "rep": rep, "metrics": metrics,
                   **({"system": system} if system else {})})

    def error(self, srv: Server, test: str, params: dict, msg: str) -> None:
        print(f"!! {srv.label} {test} {params}: {msg}", file=sys.stderr, flush=True)
        self.emit({"kind": "error", "server": srv.role, "label": srv.label, "test": test,
                   "params": params, "error": msg})

    def close(self) -> None:
        if self.out:
            self.out.close()


def summarize(records: list[dict]) -> dict:
    """(label, test, params-json) -> {metric: [values]} over the result records."""
    acc: dict = {}
    for r in records:
        if r.get("kind") != "result":
            continue
        key = (r["label"], r["test"], json.dumps(r["params"], sort_keys=True))
        for k, v in r["metrics"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                acc.setdefault(key, {}).setdefault(k, []).append(v)
    return acc


SHOW = ("accepted_msgs_per_s", "delivered_msgs_per_s", "cmds_per_s", "server_cpu_ms_per_msg",
        "seconds", "median_ms", "p99_ms",
        "mb_per_s", "msgs_per_s", "hits", "server_pss_mb_peak", "server_rss_mb_peak",
        "server_rss_anon_mb_peak", "client_cpu_s")
TIME_LIKE = {"seconds", "median_ms", "p99_ms", "server_cpu_ms_per_msg", "server_pss_mb_peak",
             "server_rss_mb_peak", "client_cpu_s", "server_cpu_s"}


def _med(vals):
    return statistics.median(vals) if vals else None


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def print_tables(records: list[dict]) -> None:
    acc = summarize(records)
    labels = list(dict.fromkeys(k[0] for k in acc))
    roles = {r["label"]: r.get("server") for r in records if "label" in r}
    rows = list(dict.fromkeys((k[1], k[2]) for k in acc))
    if not rows:
        print("(no measurements)")
        return
    print()
    hdr = "| test | params | metric | " + " | ".join(
        f"{lab} median [min-max]" for lab in labels)
    if len(labels) >= 2:
        hdr += f" | ratio {labels[0]} / {labels[1]}"
    print(hdr + " |")
    print("|---" * (3 + len(labels) + (len(labels) >= 2)) + "|")
    for test, pj in rows:
        params = " ".join(f"{k}={v}" for k, v in json.loads(pj).items())
        for metric in SHOW:
            per = [acc.get((lab, test, pj), {}).get(metric) for lab in labels]
            if not any(per):
                continue
            cells = [f"{_fmt(_med(v))} [{_fmt(min(v))}-{_fmt(max(v))}]" if v else "-"
                     for v in per]
            ratio = ""
            if len(labels) >= 2:
                a, b = _med(per[0]), _med(per[1])
                ratio = f" | {a / b:.2f}" if a is not None and b else " | -"
            print(f"| {test} | {params} | {metric} | " + " | ".join(cells) + ratio + " |")
    check_same(acc, labels)
    print_targets(records, labels, roles)


def check_same(acc: dict, labels: list[str]) -> None:
    """Both servers must have returned the same data (hits, bytes, messages)."""
    if len(labels) < 2:
        return
    bad = []
    for (label, test, pj), metrics in acc.items():
        if label == labels[0] or len(labels) < 2:
            continue
        ref = acc.get((labels[0], test, pj), {})
        for k in ("hits", "mbytes", "messages", "exists", "responses", "accepted"):
            if k == "responses" and "search" in test:
                continue   # Dovecot adds "* OK Searched NN% ..." progress lines
            if k in metrics and k in ref and set(metrics[k]) != set(ref[k]):
                bad.append(f"{test} {pj} {k}: {labels[0]} {sorted(set(ref[k]))} vs {label} "
                           f"{sorted(set(metrics[k]))}")
    print()
    if bad:
        print("WARNING: the servers returned different data:")
        for b in bad:
            print("  " + b)
    else:
        print("consistency: both servers returned the same hits/bytes/message counts")


# issue 5's targets: (what, test, params to match, metric, "rate"/"time"/"abs", bound)
TARGETS = (
    ("SMTP ingest -> delivered, 10 KB, 8 conn", "smtp.ingest", {"c": 8},
     "delivered_msgs_per_s", "rate", 2.0),
    ("SMTP accepted (250 returned), 8 conn", "smtp.ingest", {"c": 8},
     "accepted_msgs_per_s", "rate", 1.0),
    ("IMAP LOGIN+SELECT, big folder", "imap.login_select", {"box": "big"}, "seconds", "time",
     0.5),
    ("IMAP FETCH 1:* headers+ENVELOPE, small folder", "imap.fetch_headers", {"box": "small"},
     "seconds", "time", 1.0),
    ("IMAP FETCH 1:* headers+ENVELOPE, big folder", "imap.fetch_headers", {"box": "big"},
     "seconds", "time", 1.0),
    ("IMAP SEARCH TEXT, small folder", "imap.search_text", {"box": "small"}, "seconds", "time",
     0.1),
    ("IMAP full download, small folder", "imap.fetch_full", {"box": "small"}, "seconds", "time",
     2.0),
    ("POP3 RETR all, small folder", "pop3.retr_all", {"box": "small"}, "seconds", "time", 1.0),
    ("peak PSS under the SMTP load (MB)", "smtp.ingest", {}, "server_pss_mb_peak", "abs", 150.0),
    # issue 16: one command per message; median <= 1x, p99 <= 2x the anchor's
    *((f"{what} one by one, {q}", f"latency.{kind}", {}, f"{q}_ms", "time",
       1.0 if q == "median" else 2.0)
      for kind, what in (("append", "APPEND (imaplib)"), ("fetch_flags", "FETCH FLAGS"),
                         ("fetch_header", "FETCH BODY[HEADER]"),
                         ("fetch_body1", "FETCH BODY[1]"), ("store", "STORE +FLAGS"),
                         ("idle_fetch", "new mail after IDLE"), ("pop3_retr", "POP3 RETR"))
      for q in ("median", "p99")),
    ("mbsync upload", "mbsync.upload", {}, "seconds", "time", 1.0),
    # issue 8: relay through a smarthost, >= 2x Postfix's rate (and no duplicates)
    ("outgoing relay to a smarthost, 10 KB", "outgoing.relay", {}, "relayed_msgs_per_s", "rate",
     2.0),
    # issue 10: fetching from a provider, >= 2x fetchmail into Postfix+Dovecot
    ("fetch over POP3 (10 KB messages)", "fetch", {"protocol": "pop3"}, "msgs_per_s", "rate",
     2.0),
    ("fetch over IMAP (10 KB messages)", "fetch", {"protocol": "imap"}, "msgs_per_s", "rate",
     2.0),
    # issue 11: the corpus scans in under 2 s of CPU (lanmaild alone)
    ("e-invoice corpus scan, CPU s", "einvoice.scan", {}, "cpu_s", "abs", 2.0),
    # issue 15: 30 clients on one folder: >= 1.5x the rate, median latency <= 1x
    ("IMAP 30 clients, commands/s", "clients", {"c": 30, "box": None}, "cmds_per_s", "rate",
     1.5),
    ("IMAP 30 clients, median latency", "clients", {"c": 30, "box": None}, "median_ms", "time",
     1.0),
    ("peak PSS, 100 clients (MB)", "clients", {"c": 100, "box": None}, "server_pss_mb_peak",
     "abs", 150.0),
    ("peak PSS, 30 clients on the big folder (MB)", "clients", {"c": 30, "box": "big"},
     "server_pss_mb_peak", "abs", 150.0),
    ("mbsync download", "mbsync.download", {}, "seconds", "time", 1.0),
)


def print_targets(records: list[dict], labels: list[str], roles: dict) -> None:
    subj = next((lab for lab in labels if roles.get(lab) == "lanmail"), None)
    others = [lab for lab in labels if lab != subj]
    if subj is None and len(others) >= 2:      # two --target servers: first vs second
        subj = others.pop(0)
    ref = others[0] if others else None
    sizes = {}
    for r in records:
        if r.get("kind") == "result" and "m" in r["params"]:
            sizes[r["params"]["box"]] = r["params"]["m"]
    n_smtp = next((r["params"]["n"] for r in records
                   if r.get("kind") == "result" and r["test"] == "smtp.ingest"), None)

    def values(label, test, want, metric):
        out = []
        for r in records:
            if (r.get("kind") == "result" and r["label"] == label and r["test"] == test
                    and all(r["params"].get(k) == v for k, v in want.items())):
                v = r["metrics"].get(metric)
                if isinstance(v, (int, float)) and v == v:
                    out.append(v)
        return out

    print()
    print(f"Targets of issues 5 and 16: {subj or 'lanmaild'} vs {ref or '(no reference server)'} "
          f"(small folder m={sizes.get('small')}, big m={sizes.get('big')}, SMTP n={n_smtp})")
    print(f"| workload | {subj or 'lanmaild'} | {ref or 'reference'} | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for what, test, want, metric, kind, bound in TARGETS:
        a_vals, b_vals = values(subj, test, want, metric), values(ref, test, want, metric)
        agg = max if kind == "abs" else _med
        a = agg(a_vals) if a_vals else None
        b = agg(b_vals) if b_vals else None
        if kind == "rate":
            unit = "cmds/s" if metric == "cmds_per_s" else "msgs/s"
        else:
            unit = ("s" if metric.endswith("_s") else "MB") if kind == "abs" else \
                "ms" if metric.endswith("_ms") else "s"
        ratio = a / b if a is not None and b else None
        if kind == "rate":
            target, met = f">= {bound:g}x", (ratio >= bound if ratio is not None else None)
        elif kind == "time":
            target, met = f"<= {bound:g}x the time", (ratio <= bound if ratio is not None
                                                        else None)
        else:
            target, met = f"<= {bound:g} {unit}", (a <= bound if a is not None else None)
        cell_a = f"{_fmt(a)} {unit}" if a is not None else "not yet measured"
        cell_b = f"{_fmt(b)} {unit}" if b is not None else "-"
        print(f"| {what} | {cell_a} | {cell_b} | {f'{ratio:.2f}' if ratio else '-'} | "
              f"{target} | {'-' if met is None else ('yes' if met else 'NO')} |")


# =========================================================================== measurements
@dataclass
class Plan:
    smtp_n: int
    smtp_size: int
    smtp_conc: list[int]
    small: int
    big: int
    big_steps: list[str]
    imap_conc: list[int]
    repeat: int
    seed: int
    fill_conc: int
    fill_batch: int
    fill_via: str
    search_from: str
    search_text: str
    latency_n: int
    mbsync_n: int
    clients: list[int]
    clients_seconds: float
    clients_box: str
    poll: float
    deliver_timeout: float
    reuse_fill: bool
    sender: str = "sender@client.test"
    outgoing_n: int = 5000
    sink_port: int = 0


class Bench:
    def __init__(self, plan: Plan, rep: Reporter, profiler: Profiler | None):
        self.plan = plan
        self.rep = rep
        self.prof = profiler

    # ------------------------------------------------------------------ SMTP
    def smtp(self, srv: Server, conc: int, r: int) -> None:
        p = self.plan
        ep = srv.ep
        params = {"n": p.smtp_n, "size": p.smtp_size, "c": conc}
        has_imap = "imap" in srv.served
        before = 0
        if has_imap:
            try:
                purge(ep, "INBOX")
            except (OSError, ProtoError) as e:
                print(f"   {srv.label}: purge failed ({e}); counting from the current size",
                      file=sys.stderr)
            before = mailbox_count(ep, "INBOX")
        poller = imap_open(ep)[0] if has_imap else None
        mon = Monitor(srv.pids)
        try:
            wall, t0, res, ccpu = run_workers(w_smtp, [*split(p.smtp_n, conc)], ep, mon,
                                              (p.smtp_size, p.sender, ep.user))
            ok = sum(x.get("ok", 0) for x in res)
            errors = sum(x.get("errors", 0) for x in res)
            errs = [x.get("first_error") or x.get("error") for x in res
                    if x.get("first_error") or x.get("error")]
            if errs:
                print(f"   {srv.label}: SMTP errors, first: {errs[:2]}", file=sys.stderr)
            dwall = None
            if poller is not None and ok:
                deadline = time.monotonic() + p.deliver_timeout
                while True:
                    n = status_count(poller, "INBOX")
                    now = time.monotonic()
                    if n >= before + ok:
                        dwall = now - t0
                        break
                    if now > deadline:
                        print(f"   {srv.label}: only {n - before}/{ok} delivered after "
                              f"{p.deliver_timeout:.0f} s", file=sys.stderr)
                        break
                    time.sleep(p.poll)
        finally:
            if poller is not None:
                imap_close(poller)
        sysm = mon.finish()
        cpu = sysm.get("server_cpu_s")
        m = {"accepted": ok, "errors": errors, "accept_s": round(wall, 3),
             "accepted_msgs_per_s": round(ok / wall, 1) if wall > 0 else None,
             "deliver_s": round(dwall, 3) if dwall else None,
             "delivered_msgs_per_s": round(ok / dwall, 1) if dwall else None,
             "client_cpu_s": ccpu, "server_cpu_s": cpu,
             "server_cpu_ms_per_msg": round(1000 * cpu / ok, 2) if cpu is not None and ok
             else None,
             **{k: sysm.get(k) for k in ("server_rss_mb_peak", "server_pss_mb_peak",
                                         "server_rss_anon_mb_peak", "server_hwm_mb")}}
        self.rep.result(srv, "smtp.ingest", params, r, m, sysm)
        line = (f"   {srv.label:<32} smtp c={conc:<3} accepted {m['accepted_msgs_per_s']} msgs/s"
                f"  delivered {m['delivered_msgs_per_s']} msgs/s  cpu {m['server_cpu_ms_per_msg']}"
                f" ms/msg  pss {m['server_pss_mb_peak']} MB")
        print(line, flush=True)

    # ------------------------------------------------------------------ fill
    def fill(self, srv: Server, box: str, m: int) -> None:
        p = self.plan
        ep = srv.ep
        mailbox = srv.mailbox(box)
        params = {"box": box, "m": m, "seed": p.seed, "via": p.fill_via}
        if p.reuse_fill:
            with contextlib.suppress(OSError, ProtoError):
                if mailbox_count(ep, mailbox) == m:
                    print(f"   {srv.label}: {mailbox} already holds {m}: reused (--reuse-fill)")
                    return
        if mailbox.upper() == "INBOX":
            purge(ep, mailbox)
        else:
            recreate(ep, mailbox)
        before = mailbox_count(ep, mailbox)
        mon = Monitor(srv.pids)
        if p.fill_via == "smtp":
            if mailbox.upper() != "INBOX":
                raise ProtoError("--fill-via smtp can only fill the INBOX")
            wall, t0, res, ccpu = run_workers(w_smtp_fill, split(m, p.fill_conc), ep, mon,
                                              (p.seed, p.sender, ep.user))
        else:
            wall, t0, res, ccpu = run_workers(w_append, split(m, p.fill_conc), ep, mon,
                                              (mailbox, p.seed, p.fill_batch))
        errs = [x["error"] for x in res if x.get("error")]
        if errs:
            raise ProtoError(f"fill workers failed: {errs[:2]}")
        ok = sum(x["ok"] for x in res)
        nbytes = sum(x["bytes"] for x in res)
        if p.fill_via == "smtp":
            c = imap_open(ep)[0]
            try:
                deadline = time.monotonic() + p.deliver_timeout
                while status_count(c, mailbox) < before + ok and time.monotonic() < deadline:
                    time.sleep(0.2)
                wall = time.monotonic() - t0
            finally:
                imap_close(c)
        sysm = mon.finish()
        after = mailbox_count(ep, mailbox)
        metrics = {"messages": ok, "mbytes": round(nbytes / 1e6, 1), "seconds": round(wall, 2),
                   "msgs_per_s": round(ok / wall, 1), "mb_per_s": round(nbytes / 1e6 / wall, 1),
                   "count_after": after, "client_cpu_s": ccpu,
                   "multiappend": any(x.get("multiappend") for x in res),
                   "server_cpu_s": sysm.get("server_cpu_s"),
                   "server_pss_mb_peak": sysm.get("server_pss_mb_peak")}
        self.rep.result(srv, "fill", params, 1, metrics, sysm)
        print(f"   {srv.label:<32} fill {mailbox} {ok} msgs {metrics['mbytes']} MB in "
              f"{wall:.1f} s ({metrics['msgs_per_s']} msgs/s, multiappend="
              f"{metrics['multiappend']})", flush=True)
        if after != m:
            raise ProtoError(f"{mailbox} holds {after} messages after the fill, expected {m}")
        # A pause before the measured stages: the fill's batches are not what a reader
        # costs (lanmaild hands freed memory back at its first idle moment; memtune.trim).
        time.sleep(SETTLE_SECONDS)

    # ------------------------------------------------------------------ IMAP
    def imap(self, srv: Server, box: str, steps: list[str], r: int) -> None:
        p = self.plan
        ep = srv.ep
        mailbox = srv.mailbox(box)
        base = {"box": box, "m": p.small if box == "small" else p.big}
        out = []

        def record(test, params, metrics, sysm):
            metrics = {**metrics, **{k: sysm.get(k) for k in (
                "server_cpu_s", "server_pss_mb_peak", "server_rss_anon_mb_peak")}}
            self.rep.result(srv, "imap." + test, params, r, metrics, sysm)
            out.append(f"{test}={metrics['seconds']:.3f}s")

        mon = Monitor(srv.pids)
        mon.start()
        t0 = time.monotonic()
        c, exists = imap_open(ep, mailbox)
        secs = time.monotonic() - t0
        sysm = mon.finish()
        if exists != base["m"]:
            print(f"   {srv.label}: {mailbox} has {exists} messages, expected {base['m']}",
                  file=sys.stderr)
        if "login_select" in steps:
            record("login_select", base, {"seconds": round(secs, 4), "exists": exists}, sysm)

        def step(name, cmd, keep=None, body=False, extra=None):
            mon = Monitor(srv.pids)
            mon.start()
            rx0 = c.rx
            t = time.monotonic()
            _, n, lit, kept = c.imap(cmd, keep)
            secs = time.monotonic() - t
            sysm = mon.finish()
            m = {"seconds": round(secs, 4), "responses": n,
                 "wire_mb": round((c.rx - rx0) / 1e6, 2)}
            if body:
                m.update(mbytes=round(lit / 1e6, 1), mb_per_s=round(lit / 1e6 / secs, 1),
                         msgs_per_s=round(n / secs, 1))
            if extra:
                m.update(extra(kept))
            record(name, base, m, sysm)

        def is_search(ln):
            return ln.startswith(b"* SEARCH")

        def hits(kept):
            return {"hits": sum(len(ln.split()) - 2 for ln in kept)}

        try:
            if "fetch_headers" in steps:
                step("fetch_headers", b"FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
            if "search_from" in steps:
                step("search_from", b"UID SEARCH FROM " + quote(p.search_from), is_search,
                     extra=hits)
            if "search_text" in steps:
                step("search_text", b"SEARCH TEXT " + quote(p.search_text), is_search,
                     extra=hits)
            if "fetch_full" in steps:
                step("fetch_full", b"FETCH 1:* BODY.PEEK[]", body=True)
            if "store_seen" in steps:
                c.imap(b"STORE 1:* -FLAGS.SILENT (\\Seen)")      # untimed reset
                step("store_seen", b"STORE 1:* +FLAGS (\\Seen)")
        finally:
            imap_close(c)
        if "concurrent_full" in steps:
            for conc in p.imap_conc:
                mon = Monitor(srv.pids)
                wall, _, res, ccpu = run_workers(w_download, [None] * conc, ep, mon, mailbox)
                sysm = mon.finish()
                errs = [x["error"] for x in res if x.get("error")]
                if errs:
                    raise ProtoError(f"concurrent download failed: {errs[:2]}")
                nbytes = sum(x["bytes"] for x in res)
                record("concurrent_full", {**base, "c": conc},
                       {"seconds": round(wall, 3), "mbytes": round(nbytes / 1e6, 1),
                        "mb_per_s": round(nbytes / 1e6 / wall, 1),
                        "msgs_per_s": round(sum(x["ok"] for x in res) / wall, 1),
                        "client_cpu_s": ccpu}, sysm)
        print(f"   {srv.label:<32} imap {box} " + " ".join(out), flush=True)

    # ------------------------------------------------------------------ POP3
    def pop3(self, srv: Server, r: int) -> None:
        ep = srv.ep
        base = {"box": "small", "m": self.plan.small}
        t0 = time.monotonic()
        c = Conn(ep.host, ep.pop3, ep.timeout)
        try:
            c.pop(None)
            c.pop(b"USER " + ep.user.encode())
            c.pop(b"PASS " + ep.password.encode())
            login = time.monotonic() - t0
            self.rep.result(srv, "pop3.login", base, r, {"seconds": round(login, 4)})
            t = time.monotonic()
            st = c.pop(b"STAT")
            secs = time.monotonic() - t
            n = int(st.split()[1])
            self.rep.result(srv, "pop3.stat", base, r, {"seconds": round(secs, 4),
                                                         "messages": n})
            t = time.monotonic()
            c.pop(b"UIDL")
            c.dot_body()
            self.rep.result(srv, "pop3.uidl", base, r,
                            {"seconds": round(time.monotonic() - t, 4)})
            mon = Monitor(srv.pids)
            mon.start()
            t = time.monotonic()
            deadline = t + ep.max_seconds
            nbytes = done = 0
            for i in range(1, n + 1):
                if time.monotonic() > deadline:
                    break
                c.send(b"RETR %d\r\n" % i)
                c.pop(None)
                nbytes += c.dot_body()
                done += 1
            secs = time.monotonic() - t
            sysm = mon.finish()
            c.pop(b"QUIT")
        finally:
            c.close()
        m = {"seconds": round(secs, 3), "messages": done, "mbytes": round(nbytes / 1e6, 1),
             "mb_per_s": round(nbytes / 1e6 / secs, 1), "msgs_per_s": round(done / secs, 1),
             "server_cpu_s": sysm.get("server_cpu_s"),
             "server_pss_mb_peak": sysm.get("server_pss_mb_peak")}
        self.rep.result(srv, "pop3.retr_all", base, r, m, sysm)
        print(f"   {srv.label:<32} pop3 login {login:.3f}s RETR {done} in {secs:.2f}s "
              f"({m['mb_per_s']} MB/s)", flush=True)

    # ------------------------------------------------------------------ per command
    def latency(self, srv: Server, r: int) -> None:
        from latency import imap_latency, pop3_latency

        p = self.plan
        params = {"n": p.latency_n}
        mon = Monitor(srv.pids)
        mon.start()
        kinds = imap_latency(srv.ep, personal_prefix(srv.ep), p.latency_n,
                             lambda i: corpus_message(p.seed, i)[0])
        if "pop3" in srv.served:
            kinds.update(pop3_latency(srv.ep, p.latency_n))
        sysm = mon.finish()
        for kind, m in kinds.items():
            self.rep.result(srv, "latency." + kind, params, r,
                            {**m, "server_pss_mb_peak": sysm.get("server_pss_mb_peak")})
        print(f"   {srv.label:<32} latency median ms: " + " ".join(
            f"{k}={m['median_ms']:.2f}" for k, m in kinds.items()), flush=True)

    def mbsync(self, srv: Server, r: int) -> None:
        from latency import mbsync_run

        p = self.plan
        m = mbsync_run(srv.ep, personal_prefix(srv.ep), p.mbsync_n,
                       lambda i: corpus_message(p.seed, i)[0])
        params = {"n": p.mbsync_n}
        self.rep.result(srv, "mbsync.upload", params, r,
                        {"seconds": m["upload_s"], "messages": m["messages"]})
        self.rep.result(srv, "mbsync.download", params, r,
                        {"seconds": m["download_s"], "messages": m["messages"]})
        print(f"   {srv.label:<32} mbsync upload {m['upload_s']:.2f}s download "
              f"{m['download_s']:.2f}s", flush=True)

    def clients(self, srv: Server, r: int) -> None:
        import concurrency

        p = self.plan
        if p.clients_box == "big":  # the folder fill-big made (issue 15: memory at 100k)
            mailbox, size = srv.mailbox("big"), p.big
        else:
            mailbox, size = personal_prefix(srv.ep) + concurrency.FOLDER, concurrency.FOLDER_SIZE
            recreate(srv.ep, mailbox)
            run_workers(w_append, split(size, 4), srv.ep, None,
                        (mailbox, p.seed, p.fill_batch))
        messages = [corpus_message(p.seed, 50_000 + k)[0] for k in range(20)]
        for n in p.clients:
            mon = Monitor(srv.pids)
            wall, _t0, res, ccpu = run_workers(
                concurrency.w_mixed, [(p.seed * 1000 + k,) for k in range(n)], srv.ep, mon,
                (mailbox, p.clients_seconds, messages, size))
            sysm = mon.finish()
            errs = [x["error"] for x in res if x.get("error")]
            if errs:
                raise ProtoError(f"clients c={n}: {errs[:2]}")
            m = {**concurrency.summarize(res, wall), "client_cpu_s": ccpu,
                 "server_cpu_s": sysm.get("server_cpu_s"),
                 "server_pss_mb_peak": sysm.get("server_pss_mb_peak")}
            params = {"c": n} if p.clients_box != "big" else {"c": n, "box": "big",
                                                                 "m": p.big}
            self.rep.result(srv, "clients", params, r, m, sysm)
            print(f"   {srv.label:<32} clients c={n}: {m['cmds_per_s']} cmds/s, median "
                  f"{m.get('median_ms')} ms, p99 {m.get('p99_ms')} ms, PSS "
                  f"{m['server_pss_mb_peak']} MB", flush=True)

    def outgoing(self, srv: Server, r: int) -> None:
        import outgoing

        p = self.plan
        try:
            m = outgoing.run(self, srv, p.outgoing_n, p.smtp_size, p.sink_port,
                             p.deliver_timeout)
        except outgoing.SinkUnavailable as e:
            raise RuntimeError(str(e)) from None
        self.rep.result(srv, "outgoing.relay", {"n": p.outgoing_n}, r, m)
        print(f"   {srv.label:<32} outgoing: relayed {m['relayed_msgs_per_s']} msgs/s, "
              f"duplicates {m['duplicates']}, missing {m['missing']}, cpu "
              f"{m['server_cpu_s']} s", flush=True)

    def einvoice(self, srv: Server, r: int) -> None:
        import einvoice

        p = self.plan
        scan = einvoice.scan_cpu()
        self.rep.result(srv, "einvoice.scan", {}, r, scan)
        n = len(einvoice.corpus_files()) * (1 if p.smtp_n <= 500 else 4)
        for user, label in ((einvoice.INVOICE_USER, "einvoice"), (USER, "plain")):
            m = einvoice.deliver_rate(srv, user, n, p.deliver_timeout)
            self.rep.result(srv, "einvoice.deliver", {"account": label}, r, m)
            print(f"   {srv.label:<32} einvoice: {label} account delivered "
                  f"{m['delivered_msgs_per_s']} msgs/s ({m['mb']} MB)", flush=True)
        print(f"   {srv.label:<32} einvoice: corpus scan {scan['cpu_s']} s CPU for "
              f"{scan['mb']} MB ({scan['ms_per_mb']} ms/MB, {scan['found']} found)", flush=True)

    def oauth(self, srv: Server, r: int) -> None:
        """Token log-ins against password log-ins, and the token endpoint (bench/oauth.py)."""
        import oauth

        p = self.plan
        n = 1000 if p.smtp_n <= 500 else 5000
        conc = max(p.imap_conc)
        client, tokens = oauth.grant(srv, USER, PASSWORD, conc)
        for how, command in (("xoauth2", oauth.xoauth2_command(USER, tokens[0]["access_token"])),
                             ("password", oauth.password_command(USER, PASSWORD))):
            m = oauth.login_rate(srv, command, n, conc)
            self.rep.result(srv, f"imap.login_{how}", {"conc": conc}, r, m)
            print(f"   {srv.label:<32} imap login {how} x{conc}: {m['logins_per_s']} logins/s",
                  flush=True)
        m = oauth.cold_login_rate(srv, PASSWORD, 40, conc)
        self.rep.result(srv, "imap.login_password_cold", {"conc": conc}, r, m)
        print(f"   {srv.label:<32} imap login password, first of each account x{conc}: "
              f"{m['logins_per_s']} logins/s", flush=True)
        m = oauth.token_rate(srv, client, tokens, n // 5)
        self.rep.result(srv, "oauth.token_refresh", {"conc": conc}, r, m)
        print(f"   {srv.label:<32} token endpoint (refresh) x{conc}: {m['requests_per_s']} "
              "requests/s", flush=True)

    def fetch_stage(self, servers: list[Server]) -> None:
        import fetch

        p = self.plan
        n = 1000 if p.smtp_n <= 500 else 10000
        provider = fetch.Provider()
        try:
            t0 = time.monotonic()
            provider.fill(n, p.smtp_size)
            print(f"   provider mailbox filled with {n} messages in "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
            for r in range(1, p.repeat + 1):
                for srv in servers:
                    for protocol in ("pop3", "imap"):
                        def run(srv=srv, protocol=protocol, r=r):
                            if srv.role == "lanmail":
                                m = fetch.lanmaild_fetch(srv, srv.control, provider, protocol,
                                                         n, p.deliver_timeout)
                            else:
                                m = fetch.fetchmail_fetch(srv, provider, protocol, n,
                                                          p.deliver_timeout)
                            self.rep.result(srv, "fetch", {"protocol": protocol}, r, m)
                            print(f"   {srv.label:<32} fetch {protocol}: {m['msgs_per_s']} "
                                  f"msgs/s, duplicates {m['duplicates']}", flush=True)

                        self.guarded(srv, "fetch", {"protocol": protocol}, {"smtp", "imap"},
                                     lambda _srv, fn=run: fn())
        finally:
            provider.stop()

    # ------------------------------------------------------------------ driver
    def guarded(self, srv: Server, test: str, params: dict, need: set, fn, *a) -> bool:
        if not need <= srv.served:
            self.rep.error(srv, test, params, f"not served: {', '.join(sorted(need - srv.served))}"
                           " (port does not accept connections)")
            return False
        tag = f"{srv.role}-{test}-" + "-".join(str(v) for v in params.values())
        try:
            if self.prof and srv.role == "lanmail":
                with self.prof.record(srv.pids[0], tag):
                    fn(srv, *a)
            else:
                fn(srv, *a)
            return True
        except (OSError, ProtoError, RuntimeError, ValueError, IndexError) as e:
            self.rep.error(srv, test, params, f"{type(e).__name__}: {e}")
            return False

    def run(self, servers: list[Server], stages: list[str]) -> None:
        p = self.plan
        failed: set = set()   # (server role, stage) that failed: dependent stages are skipped
        for stage in stages:
            t_stage = time.monotonic()
            print(f"== stage {stage}", flush=True)
            for srv in servers:
                srv.probe()   # a server may have died or gained a protocol meanwhile
            if stage == "smtp":
                for conc in p.smtp_conc:
                    for r in range(1, p.repeat + 1):
                        for srv in servers:
                            self.guarded(srv, "smtp.ingest", {"c": conc}, {"smtp"}, self.smtp,
                                         conc, r)
            elif stage in ("fill-small", "fill-big"):
                box = "small" if stage == "fill-small" else "big"
                m = p.small if box == "small" else p.big
                for srv in servers:
                    if not self.guarded(srv, "fill", {"box": box}, {"imap"}
                                        | ({"smtp"} if p.fill_via == "smtp" else set()),
                                        self.fill, box, m):
                        failed.add((srv.role, box))
            elif stage in ("imap-small", "imap-big"):
                box = "small" if stage == "imap-small" else "big"
                steps = list(IMAP_STEPS) if box == "small" else p.big_steps
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        if (srv.role, box) in failed:
                            continue
                        self.guarded(srv, "imap", {"box": box}, {"imap"}, self.imap, box,
                                     steps, r)
            elif stage in ("latency", "mbsync", "clients"):
                fn = {"latency": self.latency, "mbsync": self.mbsync,
                      "clients": self.clients}[stage]
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        self.guarded(srv, stage, {}, {"imap"}, fn, r)
            elif stage == "fetch":
                self.fetch_stage(servers)
            elif stage == "oauth":
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        if srv.role == "lanmail":
                            self.guarded(srv, stage, {}, {"imap"}, self.oauth, r)
            elif stage == "einvoice":
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        if srv.role == "lanmail":
                            self.guarded(srv, stage, {}, {"smtp", "imap"}, self.einvoice, r)
            elif stage == "outgoing":
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        self.guarded(srv, stage, {}, {"smtp"}, self.outgoing, r)
            elif stage == "pop3":
                for r in range(1, p.repeat + 1):
                    for srv in servers:
                        if (srv.role, "small") not in failed:
                            self.guarded(srv, "pop3", {"box": "small"}, {"pop3"}, self.pop3, r)
            print(f"== stage {stage} done in {time.monotonic() - t_stage:.0f} s", flush=True)


# =========================================================================== profiling
class Profiler:
    """py-spy record around each lanmaild stage (raw collapsed stacks + optional SVG)."""

    def __init__(self, outdir: Path, run_id: str, rate: int, svg: bool):
        self.exe = shutil.which("py-spy")
        if not self.exe:
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        self.outdir, self.run_id, self.rate, self.svg = outdir, run_id, rate, svg
        outdir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def record(self, pid: int, tag: str):
        procs = []
        formats = [("raw", "txt")] + ([("flamegraph", "svg")] if self.svg else [])
        for fmt, ext in formats:
            out = self.outdir / f"profile-{self.run_id}-{tag}.{ext}"
            procs.append(subprocess.Popen(
                [self.exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--format",
                 fmt, "--output", str(out), "--nonblocking", "--threads"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(1.0)   # let py-spy attach
        try:
            yield
        finally:
            for pr in procs:
                pr.send_signal(signal.SIGINT)
            for pr in procs:
                try:
                    pr.wait(60)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait(5)


def profile_top(path: str, n: int) -> None:
    """Self and inclusive sample share per function from py-spy raw (collapsed) output."""
    self_s: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack, _, cnt = line.rstrip("\n").rpartition(" ")
            if not cnt.isdigit():
                continue
            k = int(cnt)
            total += k
            frames = [fr for fr in stack.split(";") if fr]
            if not frames:
                continue
            leaf = frames[-1]
            self_s[leaf] = self_s.get(leaf, 0) + k
            for fr in set(frames):
                incl[fr] = incl.get(fr, 0) + k
    total = total or 1
    print(f"{path}: {total} samples")
    print(f"{'self %':>7}  function (file:line)")
    for fr, k in sorted(self_s.items(), key=lambda x: -x[1])[:n]:
        print(f"{100 * k / total:7.1f}  {fr}")
    print(f"\n{'incl %':>7}  function")
    for fr, k in sorted(incl.items(), key=lambda x: -x[1])[:n]:
        print(f"{100 * k / total:7.1f}  {fr}")


# =========================================================================== CLI
def parse_target(spec: str) -> tuple[str, int, int, int]:
    m = re.fullmatch(r"([^:]+):(\d+),(\d+),(\d+)", spec)
    if not m:
        raise SystemExit(f"--target wants HOST:SMTP,IMAP,POP3, not {spec!r}")
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))


def cmd_run(a) -> int:
    q = a.quick
    plan = Plan(
        smtp_n=a.smtp_n or (500 if q else 5000), smtp_size=a.size,
        smtp_conc=[int(x) for x in a.smtp_conc.split(",")],
        small=a.small or (2000 if q else 10000), big=a.big or (3000 if q else 100000),
        big_steps=(a.big_steps or ("login_select,fetch_headers" if q else
                                   "login_select,fetch_headers,search_from,search_text,"
                                   "fetch_full,store_seen")).split(","),
        imap_conc=[int(x) for x in a.imap_conc.split(",")],
        repeat=a.repeat or (1 if q else 3), seed=a.seed, fill_conc=a.fill_conc,
        fill_batch=a.fill_batch, fill_via=a.fill_via, search_from=a.search_from,
        search_text=a.search_text, latency_n=a.latency_n or (200 if q else 1000),
        mbsync_n=a.mbsync_n or (100 if q else 500),
        clients=[int(x) for x in (a.clients or ("10,30" if q else "10,30,100")).split(",")],
        clients_seconds=a.clients_seconds or (5.0 if q else 20.0),
        clients_box=a.clients_box,
        poll=a.poll, deliver_timeout=a.deliver_timeout,
        reuse_fill=a.reuse_fill, outgoing_n=a.outgoing_n or (500 if q else 5000),
        sink_port=_free_port())
    stages = a.stages.split(",") if a.stages else list(ALL_STAGES)
    for st in stages:
        if st not in ALL_STAGES:
            raise SystemExit(f"unknown stage {st!r}; stages: {','.join(ALL_STAGES)}")
    run_id = time.strftime("%Y%m%d-%H%M%S")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    rep = Reporter(a.json, run_id, a.echo_json)
    servers: list[Server] = []
    lm = None
    status = 0
    try:
        if not a.no_lanmail:
            import outgoing

            lm = Lanmaild(shlex.split(a.lanmaild) if a.lanmaild else None, a.workdir, a.keep,
                          outgoing.lanmaild_toml(plan.sink_port))
            try:
                srv = lm.start(a.start_timeout)
                srv.control = str(lm.dir / "data" / "lanmaild.sock")
                missing = {"smtp", "imap", "pop3"} - srv.served
                print(f"lanmaild pid {srv.pids[0]} config {lm.dir}: serves "
                      f"{', '.join(sorted(srv.served))}"
                      + (f"; NOT serving {', '.join(sorted(missing))} (those stages are "
                         "skipped)" if missing else ""), flush=True)
                servers.append(srv)
            except Unavailable as e:
                print(f"LANMAIL NOT MEASURED: lanmaild did not start.\n{e}", file=sys.stderr,
                      flush=True)
                rep.emit({"kind": "error", "server": "lanmail", "label": "lanmaild",
                          "test": "start", "params": {}, "error": str(e)})
                status = 3
                lm.stop()
                lm = None
        targets = []
        if a.anchor:
            targets.append(("anchor", a.anchor_label or anchor_label(),
                            ("127.0.0.1", *ANCHOR_PORTS), pids_from(None, ANCHOR_PIDFILES)))
        for spec in a.target or []:
            targets.append(("target", a.label or spec, parse_target(spec),
                            pids_from(a.pids, a.pidfile or [])))
        for role, label, (host, s, i, p), pids in targets:
            srv = Server(role, label, Endpoint(host, s, i, p), pids)
            srv.probe()
            if not srv.served:
                msg = f"{label}: nothing accepts on {host}:{s},{i},{p}"
                if role == "anchor":
                    msg += " (start it with: bash bench/anchor/setup.sh)"
                print(msg, file=sys.stderr)
                status = 4
                continue
            if not pids:
                print(f"{label}: no server pids known: CPU/memory not measured", file=sys.stderr)
            print(f"{label}: pids {pids} serves {', '.join(sorted(srv.served))}", flush=True)
            servers.append(srv)
        if not servers:
            print("no server to measure", file=sys.stderr)
            return status or 2
        for srv in servers:
            srv.ep.timeout, srv.ep.max_seconds = a.timeout, a.max_seconds
        profiler = Profiler(Path(a.profile_dir), run_id, a.profile_rate, a.profile_svg) \
            if a.profile else None
        rep.emit({"kind": "info", "plan": plan.__dict__, "stages": stages,
                  "servers": [{"role": s.role, "label": s.label, "ports": [s.ep.smtp, s.ep.imap,
                               s.ep.pop3], "served": sorted(s.served)} for s in servers],
                  "host": os.uname().nodename, "cpus": os.cpu_count()})
        t0 = time.monotonic()
        Bench(plan, rep, profiler).run(servers, stages)
        print(f"\nrun {run_id} took {time.monotonic() - t0:.0f} s"
              + (f"; JSON lines in {a.json}" if a.json else ""))
    finally:
        if lm is not None:
            lm.stop()
            if a.keep:
                print(f"kept lanmaild dir {lm.dir}")
        print_tables(rep.records)
        rep.close()
    if any(r.get("kind") == "error" for r in rep.records):
        status = status or 1
    return status


def cmd_report(a) -> int:
    recs = []
    for fn in a.files:
        with open(fn) as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    r = json.loads(line)
                    if a.run is None or r.get("run") == a.run:
                        recs.append(r)
    print_tables(recs)
    return 0


def cmd_corpus(a) -> int:
    sizes, needles, alice = [], 0, 0
    for i in range(a.start, a.start + a.count):
        msg, _ = corpus_message(a.seed, i)
        sizes.append(len(msg))
        needles += b"needle" in msg
        alice += b"\r\nFrom: Alice " in msg
    sizes.sort()
    print(json.dumps({"count": len(sizes), "total_mb": round(sum(sizes) / 1e6, 1),
                      "mean_kb": round(sum(sizes) / len(sizes) / 1024, 1),
                      "p50_kb": round(sizes[len(sizes) // 2] / 1024, 1),
                      "p90_kb": round(sizes[int(len(sizes) * 0.9)] / 1024, 1),
                      "max_kb": round(sizes[-1] / 1024, 1), "with_needle": needles,
                      "from_alice": alice}))
    return 0


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `... | head` ends quietly
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="start lanmaild, measure it (and --anchor/--target)")
    p.add_argument("--quick", action="store_true", help="smoke run: N=500, folders 2,000/3,000, "
                   "repeat 1 (under 2 minutes)")
    p.add_argument("--anchor", action="store_true", help="also measure Postfix+Dovecot on "
                   "127.0.0.1:10025,10143,10110 (bench/anchor/setup.sh)")
    p.add_argument("--anchor-label")
    p.add_argument("--target", action="append", metavar="HOST:SMTP,IMAP,POP3",
                   help="also measure another server (repeatable)")
    p.add_argument("--label", help="label of --target")
    p.add_argument("--pids", help="--target server root pids (descendants included)")
    p.add_argument("--pidfile", action="append", help="--target pid file (repeatable)")
    p.add_argument("--no-lanmail", action="store_true", help="do not start lanmaild")
    p.add_argument("--lanmaild", help="command that starts lanmaild (gets --config-dir DIR); "
                   "default: python3 -m lanmaild.main from this tree")
    p.add_argument("--workdir", help="parent of the temporary config dir (default: $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep lanmaild's config+data dir")
    p.add_argument("--start-timeout", type=float, default=30.0)
    p.add_argument("--stages", help="comma list of " + ",".join(ALL_STAGES) + " (default all)")
    p.add_argument("--json", help="append the JSON lines to this file "
                   "(e.g. bench/results/NAME.jsonl)")
    p.add_argument("--echo-json", action="store_true", help="also print the JSON lines")
    p.add_argument("--repeat", type=int, help="runs per measurement (3; --quick 1)")
    p.add_argument("--smtp-n", type=int, help="messages per SMTP run (5000; --quick 500)")
    p.add_argument("--outgoing-n", type=int,
                   help="mails per outgoing relay run (5000; --quick 500)")
    p.add_argument("--size", type=int, default=10240, help="SMTP message size, bytes")
    p.add_argument("--smtp-conc", default="1,8,32")
    p.add_argument("--small", type=int, help="INBOX size for IMAP/POP3 (10000; --quick 2000)")
    p.add_argument("--big", type=int, help="big folder size (100000; --quick 5000)")
    p.add_argument("--big-steps", help="IMAP steps on the big folder (comma list of "
                   + ",".join(IMAP_STEPS) + ")")
    p.add_argument("--imap-conc", default="4,8", help="concurrent full downloads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fill-conc", type=int, default=8, help="APPEND connections for fills")
    p.add_argument("--fill-batch", type=int, default=200, help="messages per MULTIAPPEND, "
                   "used only if the server advertises MULTIAPPEND+LITERAL+ (1: plain APPEND)")
    p.add_argument("--fill-via", choices=["imap", "smtp"], default="imap")
    p.add_argument("--reuse-fill", action="store_true", help="skip a fill if the folder already "
                   "has the wanted count (for re-runs against a long-lived anchor)")
    p.add_argument("--search-from", default="alice")
    p.add_argument("--search-text", default="needle")
    p.add_argument("--latency-n", type=int, default=0,
                   help="messages in the latency stage's folder (1000; --quick 200)")
    p.add_argument("--clients", help="client counts of the clients stage (10,30,100; "
                   "--quick 10,30)")
    p.add_argument("--clients-box", choices=("own", "big"), default="own",
                   help="clients work on their own 1,000-message folder, or on the big one")
    p.add_argument("--clients-seconds", type=float, default=0,
                   help="seconds of each clients run (20; --quick 5)")
    p.add_argument("--mbsync-n", type=int, default=0,
                   help="messages mbsync uploads and downloads (500; --quick 100)")
    p.add_argument("--poll", type=float, default=0.05, help="STATUS poll interval, s")
    p.add_argument("--deliver-timeout", type=float, default=600.0)
    p.add_argument("--timeout", type=float, default=120.0, help="socket timeout, s")
    p.add_argument("--max-seconds", type=float, default=900.0, help="bound per measurement")
    p.add_argument("--profile", action="store_true", help="py-spy record lanmaild per stage")
    p.add_argument("--profile-dir", default=str(HERE / "results"))
    p.add_argument("--profile-rate", type=int, default=100)
    p.add_argument("--profile-svg", action="store_true", help="also write flame graph SVGs")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("report", help="tables + target ratios from JSONL files")
    p.add_argument("files", nargs="+")
    p.add_argument("--run", help="only this run id")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("corpus-stats", help="size statistics of the seeded corpus (offline)")
    p.add_argument("-m", "--count", type=int, default=10000)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(fn=cmd_corpus)
    p = sub.add_parser("profile-top", help="top functions of a py-spy raw profile")
    p.add_argument("file")
    p.add_argument("-n", type=int, default=25)
    p.set_defaults(fn=lambda a: profile_top(a.file, a.n) or 0)
    a = ap.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
