"""lanmaild as a system service: the unit file passes systemd-analyze verify, readiness and
reloads reach $NOTIFY_SOCKET (Type=notify), and a lanmaild started as root binds a port
below 1024 and then runs as [server] user, serving mail and taking config changes; the
control socket belongs to [server] admin_group, and lanmailctl tells others clearly."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from lmtest import Daemon

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "systemd" / "lanmaild.service"


def test_unit_file_verifies(tmp_path):
    bindir = Path(sys.executable).parent
    unit = tmp_path / "lanmaild.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/", f"{bindir}/"))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "Type=notify" in unit.read_text() and "ExecReload=/bin/kill -HUP" in unit.read_text()


def test_packaged_config_is_valid(tmp_path):
    conf = tmp_path / "conf"
    (conf / "accounts").mkdir(parents=True)
    (conf / "groups").mkdir()
    text = (REPO / "packaging" / "systemd" / "lanmaild.toml").read_text()
    text = (text.replace('user = "lanmail"', 'user = "nobody"')
                .replace('admin_group = "lanmail-admin"', 'admin_group = "adm"')
                .replace("/var/lib/lanmail", str(tmp_path / "data"))
                .replace("/run/lanmail", str(tmp_path / "run")))
    (conf / "lanmaild.toml").write_text(text)
    out = subprocess.run([sys.executable, "-m", "lanmailctl.cli", "--config-dir", str(conf),
                          "config", "check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (conf / "lanmaild.toml").write_text(text.replace('user = "nobody"', 'user = "nobody-x"'))
    out = subprocess.run([sys.executable, "-m", "lanmailctl.cli", "--config-dir", str(conf),
                          "config", "check"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "'nobody-x' does not exist" in out.stderr


def test_notify_ready_reloading_stopping(daemon_factory, tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    d = daemon_factory(accounts={"meier": {}})
    assert sock.recv(4096).startswith(b"READY=1")
    d.proc.send_signal(signal.SIGHUP)
    assert sock.recv(4096).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    assert sock.recv(4096) == b"READY=1"
    d.proc.send_signal(signal.SIGTERM)
    assert sock.recv(4096) == b"STOPPING=1"
    sock.close()


def _free_low_port() -> int:
    for port in range(990, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


@pytest.fixture
def service_root():
    assert os.geteuid() == 0, "this test starts lanmaild as root (CI runs as root)"
    root = Path(tempfile.mkdtemp(prefix="lm-service-"))
    os.chmod(root, 0o755)  # the service user must reach its folders
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_root_binds_then_runs_as_the_service_user(service_root):
    d = Daemon(service_root / "d", None, extra_toml='user = "nobody"\nadmin_group = "adm"')
    d.ports["submission"] = _free_low_port()
    d.write_main('user = "nobody"\nadmin_group = "adm"')
    d.add_account_file("meier")
    try:
        d.start()
        status = Path(f"/proc/{d.proc.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4, uid_line
        assert "running as nobody" in d.log()
        with smtplib.SMTP("127.0.0.1", d.ports["submission"]) as s:  # port < 1024
            s.login("meier", "secret")
            s.sendmail("meier@lan.test", ["meier@lan.test"], b"Subject: as nobody\r\n\r\nhi\r\n")
        import imaplib

        deadline = time.monotonic() + 15
        count = 0
        while count < 1 and time.monotonic() < deadline:  # the store, read as nobody
            m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
            m.login("meier", "secret")
            count = int(m.select("INBOX", readonly=True)[1][0])
            m.logout()
            time.sleep(0.1)
        assert count == 1
        # config changes and reloads work as the service user
        out = d.ctl("account", "add", "neu", "--password-stdin", input="Neu-Passw0rt!x\n")
        assert out.returncode == 0, out.stderr
        assert (d.conf / "accounts" / "neu.toml").stat().st_uid == 65534
        assert d.ctl("reload").returncode == 0
        # the control socket: group adm, 0660; others are told what to do
        st = d.socket.stat()
        assert st.st_gid == 4 and st.st_mode & 0o777 == 0o660
        cmd = [sys.executable, "-m", "lanmailctl.cli", "--socket", str(d.socket), "status"]
        out = subprocess.run(["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups",
                              *cmd], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "permission denied" in out.stderr
        assert "lanmail-admin" in out.stderr or "admin_group" in out.stderr
        assert out.stderr.count("\n") == 1
        out = subprocess.run(["setpriv", "--reuid=daemon", "--regid=daemon", "--groups=adm",
                              *cmd], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    finally:
        d.stop()
