"""Stage ``outgoing`` (issue 8): relay speed to the internet through a smarthost.

N=5,000 [--quick 500] mails of 10,240 bytes to internet recipients (r0..r9@remote.example)
are submitted over 8 connections; the server relays them to a smarthost sink on loopback
(Postfix's ``smtp-sink``, written in C, so the sink is never the bottleneck; it dumps each
transaction to a file). Measured: the time from the first submission until the sink holds
all N, and the relay rate N / that time; then every dumped mail's Message-ID is counted,
so a mail relayed twice (or lost) shows up as ``duplicates`` (``missing``).

- lanmaild: submitted with AUTH PLAIN (the bench account), relayed by its outgoing queue
  (``[outgoing] transport = "smtp"``, the sink as smarthost, no TLS, no login).
- the anchor (Postfix): the same mails without AUTH (its bench config relays for
  mynetworks; AUTH would only cost Postfix more), ``relayhost = [127.0.0.1]:<sink>`` set
  with ``postconf`` for the stage and restored afterwards.

Target: lanmaild's rate >= 2x Postfix's, no duplicates, nothing missing.
"""

from __future__ import annotations

import base64
import collections
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SENDER = "bench@lan.test"
CONNECTIONS = 8
_MSGID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


class SinkUnavailable(RuntimeError):
    pass


class Sink:
    """smtp-sink on ``port``, one file per transaction under a fresh folder."""

    def __init__(self, port: int) -> None:
        exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not os.path.exists(exe):
            raise SinkUnavailable("smtp-sink not found (Debian package postfix; "
                                  "bash bench/anchor/setup.sh installs it)")
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="outgoing-sink-"))
        os.chmod(self.dir, 0o777)  # smtp-sink drops to nobody before it writes
        self.proc = subprocess.Popen(
            [exe, "-u", "nobody", "-d", f"{self.dir}/%H%M%S.", f"127.0.0.1:{port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise SinkUnavailable(f"smtp-sink did not start on port {port}")

    def count(self) -> int:
        return sum(1 for _ in os.scandir(self.dir))

    def message_ids(self) -> collections.Counter:
        ids: collections.Counter = collections.Counter()
        for entry in os.scandir(self.dir):
            with open(entry.path, "rb") as fh:
                m = _MSGID.search(fh.read())
            ids[m.group(1).decode() if m else "?"] += 1
        return ids

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def lanmaild_toml(sink_port: int) -> str:
    """The [outgoing] section lanmaild runs the whole bench with."""
    return (f'[outgoing]\ntransport = "smtp"\n[outgoing.smtp]\nhost = "127.0.0.1"\n'
            f'port = {sink_port}\ntls = "none"\n')


def w_submit(job, ep, opts):
    """Send job=(first seq, count) mails, one transaction each; AUTH PLAIN if creds."""
    from lanmailbench import Conn, ProtoError, fixed_message, smtp_transaction

    seq0, n = job
    size, tag, creds = opts
    msg, off, width = fixed_message(size, SENDER, "r@remote.example", tag)
    c = Conn(ep.host, ep.smtp, ep.timeout)
    code, text = c.smtp_reply()
    if code != 220:
        raise ProtoError(f"SMTP greeting {text[:200]!r}")
    c.smtp(b"EHLO bench.client.test", 250)
    if creds:
        token = base64.b64encode(b"\0" + creds[0].encode() + b"\0" + creds[1].encode())
        c.smtp(b"AUTH PLAIN " + token, 235)
    ok = 0
    for j in range(n):
        seq = seq0 + j
        msg[off:off + width] = b"%0*d" % (width, seq)
        smtp_transaction(c, b"MAIL FROM:<%s>" % SENDER.encode(),
                         b"RCPT TO:<r%d@remote.example>" % (seq % 10), msg)
        ok += 1
    c.smtp(b"QUIT", 221)
    c.close()
    return {"ok": ok, "t_end": time.monotonic()}


def _postfix_relayhost(value: str | None) -> str:
    """Set (value) or read (None) Postfix's relayhost; returns the old value."""
    old = subprocess.run(["postconf", "-h", "relayhost"], capture_output=True, text=True,
                         check=True).stdout.strip()
    if value is not None:
        subprocess.run(["postconf", "-e", f"relayhost = {value}"], check=True)
        subprocess.run(["postfix", "reload"], capture_output=True, check=True)
        time.sleep(1.0)
    return old


def run(bench, srv, n: int, size: int, sink_port: int, deliver_timeout: float) -> dict:
    """One measurement for ``srv`` (lanmail or anchor)."""
    from lanmailbench import PASSWORD, USER, Monitor, run_workers, split

    sink = Sink(sink_port)
    old = None
    try:
        if srv.role == "anchor":
            old = _postfix_relayhost(f"[127.0.0.1]:{sink_port}")
        creds = (USER, PASSWORD) if srv.role == "lanmail" else None
        mon = Monitor(srv.pids)
        wall, t0, res, ccpu = run_workers(w_submit, [*split(n, CONNECTIONS)], srv.ep, mon,
                                          (size, f"out{int(time.time())}", creds))
        errs = [x.get("error") for x in res if x.get("error")]
        if errs:
            raise RuntimeError(f"submission failed: {errs[:2]}")
        accepted = sum(x.get("ok", 0) for x in res)
        deadline = time.monotonic() + deliver_timeout
        while sink.count() < accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        relayed_s = time.monotonic() - t0
        sysm = mon.finish()
        time.sleep(1.0)  # anything relayed twice arrives now
        ids = sink.message_ids()
        got = sum(ids.values())
        return {"accepted": accepted, "relayed": len(ids), "transactions": got,
                "duplicates": sum(c - 1 for c in ids.values() if c > 1),
                "duplicate_ids": [k for k, c in ids.items() if c > 1][:5],
                "missing": max(0, accepted - len(ids)),
                "relay_s": round(relayed_s, 3),
                "relayed_msgs_per_s": round(len(ids) / relayed_s, 1) if relayed_s else None,
                "submit_s": round(wall, 3), "client_cpu_s": ccpu,
                "server_cpu_s": sysm.get("server_cpu_s"),
                "server_pss_mb_peak": sysm.get("server_pss_mb_peak")}
    finally:
        if old is not None:
            _postfix_relayhost(old)
        sink.stop()
