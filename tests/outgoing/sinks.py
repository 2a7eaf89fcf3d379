"""Real peers for the outgoing tests: an aiosmtpd smarthost (STARTTLS + AUTH required,
answers each recipient as a test asks), run in its own thread by aiosmtpd's Controller."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "relayuser", "relay-Secret-9"


@dataclass
class Transaction:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SinkHandler:
    """``rcpt_replies``: address -> reply for RCPT (e.g. "550 5.1.1 no such user");
    ``data_reply``: reply at the end of DATA (None = 250)."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    transactions: list[Transaction] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.transactions.append(Transaction(envelope.mail_from, list(envelope.rcpt_tos),
                                                 envelope.original_content))
        return "250 2.0.0 Ok: queued"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for t in self.transactions for r in t.recipients]

    def wait(self, count: int, timeout: float = 20) -> list[Transaction]:
        """Wait until ``count`` transactions arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.transactions) >= count:
                    return list(self.transactions)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"sink got {len(self.transactions)} of {count} transactions")


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class Smarthost:
    def __init__(self, port: int, tls_files: dict, **handler_args) -> None:
        self.handler = SinkHandler(**handler_args)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls_files["cert"], tls_files["key"])
        self.port = port
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port,
                                     tls_context=ctx, require_starttls=True,
                                     authenticator=_auth, auth_required=True)

    def start(self) -> Smarthost:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def toml(self, ca_file, extra: str = "") -> str:
        """The [outgoing] section for this smarthost; ``extra``: more [outgoing] keys."""
        return (f'[outgoing]\ntransport = "smtp"\nretry = ["1s"]\n{extra}'
                f'[outgoing.smtp]\nhost = "localhost"\nport = {self.port}\n'
                f'tls = "starttls"\nca_file = "{ca_file}"\n'
                f'user = "{USER}"\npassword = "{PASSWORD}"\n')


# --------------------------------------------------------------------------- other peers


def read_only(path, on: bool = True) -> None:
    """Make a folder unwritable, also for root (which ignores mode bits): chattr +i."""
    import os
    import subprocess

    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
    else:
        os.chmod(path, 0o555 if on else 0o755)


class PhpServer:
    """``php -S`` on loopback: the seed's receiver or the webspace script."""

    def __init__(self, port: int, docroot, router=None, env: dict | None = None,
                 ini: dict | None = None) -> None:
        import os
        import subprocess

        args = ["php", "-d", "upload_max_filesize=50M", "-d", "post_max_size=50M"]
        for key, value in (ini or {}).items():
            args += ["-d", f"{key}={value}"]
        args += ["-S", f"127.0.0.1:{port}", "-t", str(docroot)]
        if router:
            args.append(str(router))
        self.port = port
        self.log = open(f"{docroot}/../php-{port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=dict(os.environ, **(env or {})),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _wait_port(port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def _wait_port(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")
