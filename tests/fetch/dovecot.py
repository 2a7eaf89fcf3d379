"""A private Dovecot (Debian's dovecot-imapd/-pop3d) on loopback high ports: the provider
mailbox the fetch tests take mail from. Plain and implicit-TLS listeners for IMAP and POP3,
one user with a clear-text password (passwd-file), Maildir under the test's folder, run in
the foreground as a child process and stopped by the test."""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from lmtest import free_ports

USER, PASSWORD = "kunde@provider.test", "provider-Secret-7"


class Dovecot:
    def __init__(self, root: Path, tls_files: dict) -> None:
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(exe):
            raise RuntimeError("dovecot is not installed (tests/run.sh installs "
                               "dovecot-imapd and dovecot-pop3d)")
        self.root = root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "mail", 0o777)
        self.ports = dict(zip(("imap", "imaps", "pop3", "pop3s"), free_ports(4), strict=True))
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{tls_files['cert']}
ssl_key = <{tls_files['key']}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
pop3_uidl_format = %08Xu%08Xv
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports['imap']}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ports['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.ports['pop3']}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.ports['pop3s']}
    ssl = yes
  }}
}}
""")
        self.exe = exe
        self._run()

    def _run(self) -> None:
        root = self.root
        self.proc = subprocess.Popen([self.exe, "-F", "-c", str(root / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.ports["imap"])) == 0:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
        raise RuntimeError(f"dovecot did not start: {log[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def renumber(self) -> None:
        """What a provider's server migration does: a new UIDVALIDITY for the INBOX
        (Dovecot makes one when its UID list and index are gone)."""
        self.stop()
        for path in (self.root / "mail").rglob("*"):
            if path.name.startswith(("dovecot-uidlist", "dovecot.index")):
                path.unlink()
        time.sleep(1.1)  # UIDVALIDITY is a timestamp: make sure it differs
        self._run()

    def imap(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        c.login(USER, PASSWORD)
        return c

    def append(self, messages: list[bytes], folder: str = "INBOX") -> None:
        c = self.imap()
        try:
            for raw in messages:
                typ, data = c.append(folder, None, None, raw)
                assert typ == "OK", data
        finally:
            c.logout()

    def count(self, folder: str = "INBOX") -> int:
        c = self.imap()
        try:
            typ, data = c.select(folder, readonly=True)
            return int(data[0])
        finally:
            c.logout()

    def external_toml(self, name: str, protocol: str, tls: str = "none", ca: str = "",
                      **extra) -> str:
        port = self.ports[protocol + ("s" if tls == "implicit" else "")]
        lines = ["[[external]]", f'name = "{name}"', f'protocol = "{protocol}"',
                 'host = "localhost"' if tls != "none" else 'host = "127.0.0.1"',
                 f"port = {port}", f'tls = "{tls}"', f'user = "{USER}"',
                 f'password = "{PASSWORD}"']
        if ca:
            lines.append(f'ca_file = "{ca}"')
        for k, v in extra.items():
            lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
                         if not isinstance(v, str) else f'{k} = "{v}"')
        return "\n".join(lines) + "\n"
