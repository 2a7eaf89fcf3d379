"""Stage ``fetch`` (issue 10): collecting mail from a provider mailbox.

A private Dovecot (the "provider", on its own loopback ports) holds N=10,000 [--quick
1,000] messages of 10 KB for one user. lanmaild fetches them over POP3 and over IMAP
(``external add`` + ``external fetch`` through its control socket, leave-on-server) into
the bench account; in the same run fetchmail delivers the same mailbox, over POP3 and
IMAP, to the anchor (Postfix on its SMTP port, which hands it to Dovecot by LMTP), as a
site with Postfix+Dovecot+fetchmail would. Measured: the time until the target INBOX
holds all N (fetched msgs/s) and, for lanmaild, that no message came twice.
Target: >= 2x fetchmail's rate.
"""

from __future__ import annotations

import imaplib
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PROVIDER_USER, PROVIDER_PASSWORD = "kunde@provider.test", "provider-pass"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provider:
    def __init__(self) -> None:
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(exe):
            raise RuntimeError("dovecot not installed")
        self.root = Path(tempfile.mkdtemp(prefix="lmb-provider-"))
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir()
        os.chmod(self.root / "mail", 0o777)
        self.imap_port, self.pop3_port = _free_port(), _free_port()
        (self.root / "users").write_text(f"{PROVIDER_USER}:{{PLAIN}}{PROVIDER_PASSWORD}\n")
        r = self.root
        (r / "dovecot.conf").write_text(
            f"base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n"
            "protocols = imap pop3\nlisten = 127.0.0.1\nssl = no\n"
            "disable_plaintext_auth = no\nauth_mechanisms = plain login\n"
            f"mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = 1\n"
            "pop3_uidl_format = %08Xu%08Xv\n"
            f"passdb {{\n driver = passwd-file\n args = scheme=PLAIN username_format=%u "
            f"{r}/users\n}}\nuserdb {{\n driver = static\n args = uid=65534 gid=65534 "
            f"home={r}/mail/%u\n}}\n"
            f"service imap-login {{\n inet_listener imap {{\n  port = {self.imap_port}\n }}\n"
            " inet_listener imaps {\n  port = 0\n }\n}\n"
            f"service pop3-login {{\n inet_listener pop3 {{\n  port = {self.pop3_port}\n }}\n"
            " inet_listener pop3s {\n  port = 0\n }\n}\n")
        self.proc = subprocess.Popen([exe, "-F", "-c", str(r / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.imap_port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the provider Dovecot did not start")

    def fill(self, n: int, size: int) -> None:
        with mp.Pool(4) as pool:
            pool.starmap(_append, [(self.imap_port, start, count, size)
                                   for start, count in _split(n, 4)])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    per, extra = divmod(n, parts)
    out, start = [], 0
    for k in range(parts):
        cnt = per + (k < extra)
        out.append((start, cnt))
        start += cnt
    return out


def _append(port: int, start: int, count: int, size: int) -> None:
    body = ("provider mailbench line abcdefghijklmnopqrstuvwxyz 0123456789\r\n" * 200)
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(PROVIDER_USER, PROVIDER_PASSWORD)
    for i in range(start, start + count):
        head = (f"From: sender{i}@remote.example\r\nTo: {PROVIDER_USER}\r\n"
                f"Subject: fetch bench {i}\r\nMessage-ID: <fetch{i}@bench.test>\r\n\r\n")
        raw = (head + body)[:size].encode()
        c.append("INBOX", None, None, raw)
    c.logout()


def control(sock_path: str, op: str, **args) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(3600)
        s.connect(sock_path)
        s.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise RuntimeError(f"{op}: {reply.get('error')}")
    return reply["result"]


def _wait_inbox(srv, n: int, t0: float, timeout: float) -> tuple[float, int]:
    """(seconds from ``t0`` until the INBOX held ``n`` messages, how many it holds)."""
    from lanmailbench import mailbox_count

    deadline = time.monotonic() + timeout
    while mailbox_count(srv.ep, "INBOX") < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return time.monotonic() - t0, mailbox_count(srv.ep, "INBOX")


def lanmaild_fetch(srv, sock_path: str, provider: Provider, protocol: str, n: int,
                   deliver_timeout: float) -> dict:
    from lanmailbench import purge

    purge(srv.ep, "INBOX")
    name = f"bench-{protocol}-{int(time.time())}"
    port = provider.pop3_port if protocol == "pop3" else provider.imap_port
    control(sock_path, "external.add", name="bench", mailbox=name, protocol=protocol,
            host="127.0.0.1", port=port, tls="none", user=PROVIDER_USER,
            password=PROVIDER_PASSWORD, enabled=False)
    t0 = time.monotonic()
    result = control(sock_path, "external.fetch", name="bench", mailbox=name)[0]
    if result["error"]:
        raise RuntimeError(f"lanmaild fetch: {result['error']}")
    took, got = _wait_inbox(srv, n, t0, deliver_timeout)
    control(sock_path, "external.delete", name="bench", mailbox=name)
    return {"protocol": protocol, "n": n, "fetched": result["fetched"], "in_inbox": got,
            "duplicates": max(0, got - n), "seconds": round(took, 2),
            "msgs_per_s": round(n / took, 1)}


def fetchmail_fetch(srv, provider: Provider, protocol: str, n: int,
                    deliver_timeout: float) -> dict:
    from lanmailbench import purge

    exe = shutil.which("fetchmail")
    if exe is None:
        raise RuntimeError("fetchmail not installed")
    purge(srv.ep, "INBOX")
    port = provider.pop3_port if protocol == "pop3" else provider.imap_port
    workdir = Path(tempfile.mkdtemp(prefix="lmb-fetchmail-"))
    rc = workdir / "fetchmailrc"
    rc.write_text(f'poll 127.0.0.1 port {port} protocol {protocol.upper()}\n'
                  f'  user "{PROVIDER_USER}" password "{PROVIDER_PASSWORD}"\n'
                  f'  is "{srv.ep.user}" keep fetchall sslproto "" smtphost '
                  f'"127.0.0.1/{srv.ep.smtp}" smtpname "{srv.ep.user}"\n')
    rc.chmod(0o600)
    t0 = time.monotonic()
    proc = subprocess.run([exe, "-f", str(rc), "--nodetach", "--silent", "-i",
                           str(workdir / "ids")], capture_output=True, text=True,
                          env=dict(os.environ, HOME=str(workdir), FETCHMAILHOME=str(workdir)),
                          timeout=deliver_timeout)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"fetchmail exited {proc.returncode}: {proc.stderr[-300:]}")
    took, got = _wait_inbox(srv, n, t0, deliver_timeout)
    shutil.rmtree(workdir, ignore_errors=True)
    return {"protocol": protocol, "n": n, "in_inbox": got, "duplicates": max(0, got - n),
            "seconds": round(took, 2), "msgs_per_s": round(n / took, 1)}
