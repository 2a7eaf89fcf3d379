"""Real POP3 clients against lanmaild: fetchmail (STLS, keep / delete) and curl pop3://."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from pop3_helpers import connect, inbox_uids, make_message, put_mail

END = "=== end of message ==="


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: tests/run.sh installs it (apt-get install {tool})")
    return path


@pytest.fixture
def mail_daemon(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    put_mail(d, "meier", [make_message(1), make_message(2, body=".dot line\r\nend\r\n")])
    d.start()
    return d


def run_fetchmail(daemon, tls_files, home, *, keep: bool) -> subprocess.CompletedProcess:
    out = home / "delivered.mbox"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        "set no syslog\n"
        f"poll localhost via 127.0.0.1 service {daemon.ports['pop3']} protocol pop3 uidl\n"
        '    user "meier" there with password "secret" is "nobody" here\n'
        f'    sslproto "tls1.2+" sslcertck sslcertfile "{tls_files["ca"]}"\n'
        '    sslcommonname "localhost"\n'  # "via 127.0.0.1": check the name, not the IP
        f"    {'keep' if keep else 'nokeep fetchall'}\n"
        f"    mda \"/bin/sh -c 'cat >> {out}; echo {END} >> {out}'\"\n")
    rc.chmod(0o600)  # fetchmail refuses an rc file others can read
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    return subprocess.run(
        [need("fetchmail"), "-f", str(rc), "--idfile", str(home / "fetchids"), "--nodetach",
         "-v"], capture_output=True, text=True, timeout=60, env=env)


def delivered(home) -> list[str]:
    path = home / "delivered.mbox"
    text = path.read_text() if path.exists() else ""
    return [m for m in text.split(END + "\n") if m]


def test_fetchmail_keep_then_delete(mail_daemon, tls_files, tmp_path):
    home = tmp_path / "fm"
    home.mkdir()
    res = run_fetchmail(mail_daemon, tls_files, home, keep=True)
    assert res.returncode == 0, res.stdout + res.stderr
    msgs = delivered(home)
    assert len(msgs) == 2
    assert "Subject: message 1" in msgs[0] and "\n.dot line\n" in msgs[1]  # un-stuffed
    assert inbox_uids(mail_daemon) == [1, 2]  # keep: nothing deleted
    assert "stls: TLS active" in mail_daemon.log()  # fetchmail upgraded with STLS

    # keep again: UIDLs already seen, nothing new (fetchmail exit 1 = no mail)
    res = run_fetchmail(mail_daemon, tls_files, home, keep=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert len(delivered(home)) == 2

    put_mail(mail_daemon, "meier", [make_message(3)])
    res = run_fetchmail(mail_daemon, tls_files, home, keep=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(delivered(home)) == 5  # fetchall: all three again
    assert inbox_uids(mail_daemon) == []  # deleted at QUIT
    pop = connect(mail_daemon)
    assert pop.stat() == (0, 0)
    pop.quit()


def test_curl_pop3(mail_daemon, tls_files):
    curl = need("curl")
    base = f"pop3://127.0.0.1:{mail_daemon.ports['pop3']}"
    res = subprocess.run([curl, "-sS", "--max-time", "20", "-u", "meier:secret", base + "/"],
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    sizes = [len(make_message(1)), len(make_message(2, body=".dot line\r\nend\r\n"))]
    assert res.stdout.splitlines() == [f"1 {sizes[0]}".encode(), f"2 {sizes[1]}".encode()]

    res = subprocess.run([curl, "-sS", "--max-time", "20", "-u", "meier:secret",
                          "--ssl-reqd", "--cacert", str(tls_files["ca"]),
                          f"pop3://localhost:{mail_daemon.ports['pop3']}/2"],
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout == make_message(2, body=".dot line\r\nend\r\n")

    res = subprocess.run([curl, "-sS", "--max-time", "20", "-u", "meier:secret",
                          "--cacert", str(tls_files["ca"]),
                          f"pop3s://localhost:{mail_daemon.ports['pop3s']}/1"],
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout == make_message(1)

    res = subprocess.run([curl, "-sS", "--max-time", "20", "-u", "meier:wrong", base + "/"],
                         capture_output=True, timeout=30)
    assert res.returncode == 67  # CURLE_LOGIN_DENIED
    assert inbox_uids(mail_daemon) == [1, 2]
