"""The ``webspace`` transport (the seed's "Transmit via Webspace/Own Server"): for sites
whose only way out is a rented webspace with PHP.

Per envelope: the mail file is uploaded to ``<directory>/queue/<name>.eml`` by SFTP
(paramiko; the server's host key is pinned, never accepted blindly) or FTP/FTPS (ftplib;
uploaded as ``.part`` and renamed, so the script never sees half a file), then the
project's PHP script ``lanmail-send.php`` is called over HTTP(S) with the script password,
the file name and the envelope; it sends the file (PHP ``mail()`` or an SMTP server from
its config), deletes it and answers ``OK``. Only then the queue drops the mail. The script
refuses a wrong password (403) and sends nothing without an uploaded file (404), so the
password alone cannot turn it into an open relay (the seed says the same).

``upload_scripts`` (``lanmailctl transport webspace upload-scripts``) puts the script, its
config (the password only as SHA-256, the SMTP settings) and the queue folder (with a
``.htaccess`` that keeps it out of the web) on the webspace and tests the call; on failure
it says which step failed. paramiko and ftplib are blocking: they run in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import ftplib
import hashlib
import io
import ssl
from importlib import resources

import aiohttp

from .base import Envelope, Outcome, TransportError, all_sent
from .folder import unique_name
from .httppost import ssl_option

SCRIPT = "lanmail-send.php"
CONFIG = "lanmail-config.php"
HTACCESS = b"Require all denied\nDeny from all\n"


class StepError(Exception):
    """``upload_scripts``: which step failed and what to do."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


def script_source() -> bytes:
    return resources.files(__package__).joinpath("php", SCRIPT).read_bytes()


def _php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_source(s) -> bytes:
    items = {
        "password_sha256": hashlib.sha256(s.script_password.encode()).hexdigest(),
        "mailer": s.mailer, "smtp_host": s.smtp_host, "smtp_port": str(s.smtp_port),
        "smtp_tls": s.smtp_tls, "smtp_user": s.smtp_user, "smtp_password": s.smtp_password}
    body = ",\n".join(f"    {_php_string(k)} => {_php_string(v)}" for k, v in items.items())
    return (f"<?php\n// written by lanmailctl transport webspace upload-scripts\n"
            f"$LANMAIL = array(\n{body}\n);\n").encode()


# --------------------------------------------------------------------------- upload


class _Uploader:
    """One logged-in SFTP or FTP session (blocking; used from a thread)."""

    def __init__(self, s) -> None:
        self.s = s
        self.ssh = self.sftp = self.ftp = None

    def __enter__(self) -> _Uploader:
        s = self.s
        try:
            if s.upload == "sftp":
                self._sftp_login()
            else:
                self._ftp_login()
        except StepError:
            self.close()
            raise
        except (OSError, EOFError, ftplib.Error) as exc:
            self.close()
            raise StepError("login", f"cannot log in to {s.host} by {s.upload}: {exc}; check "
                            "host, port, user and password") from None
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sftp_login(self) -> None:
        import paramiko

        s = self.s
        port = s.port or 22
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            kind, data = s.host_key.split()[:2]
            key = paramiko.PKey.from_type_string(kind, base64.b64decode(data))
        except (ValueError, paramiko.SSHException) as exc:
            raise StepError("login", f"host_key is not an SSH public key: {exc}") from None
        client.get_host_keys().add(s.host if port == 22 else f"[{s.host}]:{port}", kind, key)
        try:
            client.connect(s.host, port=port, username=s.user, password=s.password or None,
                           key_filename=s.key_file or None, timeout=s.timeout,
                           allow_agent=False, look_for_keys=False)
        except paramiko.BadHostKeyException:
            raise StepError("login", f"{s.host} presented another host key than host_key: "
                            "check it (ssh-keyscan) before you change the setting") from None
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise StepError("login", f"SFTP login to {s.host}:{port} as {s.user} failed: "
                            f"{exc}") from None
        self.ssh = client
        self.sftp = client.open_sftp()

    def _ftp_login(self) -> None:
        s = self.s
        if s.upload == "ftps":
            # ftplib's own default context verifies nothing: make one that does
            ctx = ssl.create_default_context(cafile=s.ca_file or None)
            if not s.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ftp = ftplib.FTP_TLS(timeout=s.timeout, context=ctx)
        else:
            ftp = ftplib.FTP(timeout=s.timeout)
        ftp.connect(s.host, s.port or 21)
        try:
            ftp.login(s.user, s.password)
        except ftplib.error_perm as exc:
            raise StepError("login", f"FTP login to {s.host} as {s.user} refused: {exc}") \
                from None
        if s.upload == "ftps":
            ftp.prot_p()
        self.ftp = ftp

    def close(self) -> None:
        for item in (self.sftp, self.ssh):
            if item is not None:
                try:
                    item.close()
                except Exception:  # noqa: BLE001, S110 - closing anyway
                    pass
        if self.ftp is not None:
            try:
                self.ftp.quit()
            except Exception:  # noqa: BLE001
                self.ftp.close()

    def _path(self, *parts: str) -> str:
        base = self.s.directory.rstrip("/")
        return "/".join(p for p in (base, *parts) if p)

    def mkdir(self, *parts: str) -> None:
        path = self._path(*parts)
        try:
            if self.sftp is not None:
                try:
                    self.sftp.stat(path)
                except OSError:
                    self.sftp.mkdir(path)
            else:
                try:
                    self.ftp.mkd(path)
                except ftplib.error_perm as exc:
                    if not str(exc).startswith("550") and not str(exc).startswith("521"):
                        raise
        except (OSError, ftplib.Error) as exc:
            raise StepError("directory", f"cannot create {path} on {self.s.host}: {exc}; "
                            "check [outgoing.webspace] directory") from None

    def remove(self, *parts: str) -> None:
        path = self._path(*parts)
        if self.sftp is not None:
            self.sftp.remove(path)
        else:
            self.ftp.delete(path)

    def put(self, data: bytes, *parts: str) -> None:
        """Write ``data`` so that the final name appears complete (temp name + rename)."""
        path = self._path(*parts)
        tmp = path + ".part"
        try:
            if self.sftp is not None:
                self.sftp.putfo(io.BytesIO(data), tmp, confirm=True)
                self.sftp.posix_rename(tmp, path)
            else:
                self.ftp.storbinary(f"STOR {tmp}", io.BytesIO(data))
                try:
                    self.ftp.delete(path)
                except ftplib.error_perm:
                    pass
                self.ftp.rename(tmp, path)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise StepError("directory", f"cannot write {path} on {self.s.host}: {exc}; "
                            "check [outgoing.webspace] directory and its permissions") \
                from None


def _upload_mail(s, name: str, data: bytes) -> None:
    with _Uploader(s) as up:
        up.put(data, "queue", name)


def _remove_mail(s, name: str) -> None:
    """Best effort: the script refused the file, so it will never send it."""
    try:
        with _Uploader(s) as up:
            up.remove("queue", name)
    except (StepError, OSError, ftplib.Error):
        pass


def _upload_scripts(s) -> None:
    with _Uploader(s) as up:
        up.mkdir()
        up.mkdir("queue")
        up.put(HTACCESS, "queue", ".htaccess")
        up.put(config_source(s), CONFIG)
        up.put(script_source(), SCRIPT)


# --------------------------------------------------------------------------- the call


async def _call(s, fields: dict[str, str]) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=s.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            s.script_url, data=fields, ssl=ssl_option(s.verify, s.ca_file)) as resp:
        return resp.status, " ".join((await resp.text(errors="replace")).split())[:200]


async def upload_scripts(s) -> dict:
    """Upload the script and its config, then test the call; StepError names the step."""
    await asyncio.to_thread(_upload_scripts, s)
    try:
        status, text = await _call(s, {"password": s.script_password, "test": "1"})
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise StepError("http", f"calling {s.script_url} failed: {exc}; check script_url "
                        "(it must point at lanmail-send.php in directory)") from None
    if status != 200 or not text.startswith("OK"):
        raise StepError("http", f"{s.script_url} answered HTTP {status} {text!r}; check "
                        "script_url, that PHP runs there, and the queue folder's rights")
    return {"uploaded": [SCRIPT, CONFIG, "queue/"], "test": text}


class WebspaceTransport:
    def __init__(self, settings) -> None:
        self.settings = settings

    async def send(self, env: Envelope) -> dict[str, Outcome]:
        s = self.settings
        name = unique_name(env)
        try:
            await asyncio.to_thread(_upload_mail, s, name, env.data)
        except StepError as exc:
            raise TransportError(f"webspace upload: {exc}") from None
        try:
            status, text = await _call(s, {"password": s.script_password, "file": name,
                                           "from": env.sender,
                                           "to": ",".join(env.recipients)})
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(f"webspace script call failed: {exc}") from None
        if status != 200 or not text.startswith("OK"):
            await asyncio.to_thread(_remove_mail, s, name)
            raise TransportError(f"webspace script answered HTTP {status}: {text}")
        return all_sent(env, f"sent by {s.script_url}")

    async def close(self) -> None:
        pass
