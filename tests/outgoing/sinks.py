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
    tls: bool = False


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
            # session.ssl: after STARTTLS; the transport's ssl_object: implicit TLS too
            tls = bool(session.ssl) or \
                server.transport.get_extra_info("ssl_object") is not None
            self.transactions.append(Transaction(envelope.mail_from, list(envelope.rcpt_tos),
                                                 envelope.original_content, tls))
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
    """``mx=True``: an MX host as on the internet (STARTTLS offered, no AUTH);
    ``implicit=True``: TLS from the first byte (port 465 style, RFC 8314) with AUTH."""

    def __init__(self, port: int, tls_files: dict, mx: bool = False, implicit: bool = False,
                 **handler_args) -> None:
        self.handler = SinkHandler(**handler_args)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls_files["cert"], tls_files["key"])
        self.port = port
        self.implicit = implicit
        if implicit:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=port,
                                         ssl_context=ctx, authenticator=_auth,
                                         auth_required=True, auth_require_tls=False)
        elif mx:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=port,
                                         tls_context=ctx)
        else:
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
                f'tls = "{"implicit" if self.implicit else "starttls"}"\n'
                f'ca_file = "{ca_file}"\n'
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


class Dnsmasq:
    """A loopback DNS server with the records a test needs (``--mx-host``, ``--host-record``);
    authoritative for ``.example``, so an unknown name there is NXDOMAIN."""

    def __init__(self, port: int, *records: str) -> None:
        import subprocess

        self.port = port
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/example/",
             "--pid-file=", *records],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Sshd:
    """A private sshd (SFTP via internal-sftp) on a loopback port; the current user logs in
    with a throwaway ed25519 key. ``host_key``: the line to pin in the settings."""

    def __init__(self, root, port: int) -> None:
        import getpass
        import os
        import subprocess
        from pathlib import Path

        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
        for name in ("hostkey", "userkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(root / name)], check=True)
        (root / "authorized_keys").write_text((root / "userkey.pub").read_text())
        (root / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'hostkey'}\n"
            f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n")
        self.port = port
        self.user = getpass.getuser()
        self.key_file = root / "userkey"
        self.host_key = " ".join((root / "hostkey.pub").read_text().split()[:2])
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(root / "sshd_config"),
                                      "-E", str(root / "sshd.log")], env=dict(os.environ))
        _wait_port(port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class FtpServer:
    """pyftpdlib on a loopback port, one user whose home is ``home``."""

    def __init__(self, home, port: int, user: str = "ftpuser",
                 password: str = "ftp-Secret-1", tls_files: dict | None = None) -> None:
        """``tls_files``: explicit FTPS (AUTH TLS), TLS required on control and data."""
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
        from pyftpdlib.servers import FTPServer

        auth = DummyAuthorizer()
        auth.add_user(user, password, str(home), perm="elradfmwMT")
        attrs = {"authorizer": auth}
        base = FTPHandler
        if tls_files:
            base = TLS_FTPHandler
            attrs.update(certfile=str(tls_files["cert"]), keyfile=str(tls_files["key"]),
                         tls_control_required=True, tls_data_required=True)
        handler = type("Handler", (base,), attrs)
        self.user, self.password, self.port = user, password, port
        self.server = FTPServer(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"timeout": 0.2}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close_all()
