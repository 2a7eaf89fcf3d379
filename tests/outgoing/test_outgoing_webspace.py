"""The webspace transport against real peers: sshd (SFTP) or pyftpdlib (FTP) for the upload,
``php -S`` running the shipped PHP script, which sends through an SMTP sink or PHP mail()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lmtest import free_port
from sinks import FtpServer, PhpServer, Sshd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, queue, send, wait_for  # noqa: E402

SCRIPT_PASSWORD = "a-very-long-script-password-0123456789"
LOGIN = ("meier", "secret")


@pytest.fixture
def peers(tmp_path):
    started = []

    def add(item):
        started.append(item)
        return item

    yield add
    for item in reversed(started):
        item.stop()


def webspace_toml(upload: str, host_port: int, directory: str, url: str, extra: str) -> str:
    return ('[outgoing]\ntransport = "webspace"\n[outgoing.webspace]\n'
            f'upload = "{upload}"\nhost = "127.0.0.1"\nport = {host_port}\n'
            f'directory = "{directory}"\nscript_url = "{url}"\n'
            f'script_password = "{SCRIPT_PASSWORD}"\n{extra}')


def curl_post(url: str, *fields: str) -> tuple[int, str]:
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url]
    for f in fields:
        args += ["--data-urlencode", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def test_sftp_upload_scripts_then_send_through_php_smtp(daemon_factory, smarthost, peers,
                                                         tmp_path, tls_files):
    www = tmp_path / "www"
    (www / "lanmail").mkdir(parents=True)
    sshd = peers(Sshd(tmp_path / "ssh", free_port()))
    sink = smarthost(mx=True)
    php = peers(PhpServer(free_port(), www))
    url = f"http://127.0.0.1:{php.port}/lanmail/lanmail-send.php"
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml='[outgoing]\nretry = ["1s"]\n')
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text(acct.read_text() + webspace_toml(
        "sftp", sshd.port, str(www / "lanmail"), url,
        f'user = "{sshd.user}"\nkey_file = "{sshd.key_file}"\nhost_key = "{sshd.host_key}"\n'
        f'mailer = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {sink.port}\n'
        'smtp_tls = "none"\n'))
    d.start()
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 0, out.stderr
    assert "OK test" in out.stdout
    assert (www / "lanmail" / "lanmail-send.php").is_file()
    config = (www / "lanmail" / "lanmail-config.php").read_text()
    assert SCRIPT_PASSWORD not in config  # only its hash is on the webspace
    # the script is no relay: a wrong password is 403, no uploaded file means nothing sent
    assert curl_post(url, "password=wrong", "file=x.eml", "to=a@b.example")[0] == 403
    code, body = curl_post(url, f"password={SCRIPT_PASSWORD}", "file=nothere.eml",
                           "from=a@b.example", "to=victim@remote.example")
    assert code == 404
    send(d, addr("meier"), ["x@remote.example", "y@remote.example"], "via php",
         service="submission", login=LOGIN)
    got = sink.handler.wait(1)
    assert sorted(got[0].recipients) == ["x@remote.example", "y@remote.example"]
    assert got[0].sender == addr("meier") and b"Subject: via php" in got[0].data
    wait_for(lambda: queue(d) == [], what="an empty queue")
    assert [p.name for p in (www / "lanmail" / "queue").iterdir()] == [".htaccess"]
    assert len(sink.handler.transactions) == 1  # no victim@remote.example


def test_ftp_upload_and_php_mail(daemon_factory, peers, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    sent = tmp_path / "sendmail.out"
    fake = tmp_path / "sendmail"  # PHP mail() pipes into sendmail_path
    fake.write_text(f"#!/bin/sh\necho \"ARGS: $*\" >> {sent}\ncat >> {sent}\n")
    fake.chmod(0o755)
    ftp = peers(FtpServer(www, free_port()))
    php = peers(PhpServer(free_port(), www, ini={"sendmail_path": str(fake)}))
    url = f"http://127.0.0.1:{php.port}/lm/lanmail-send.php"
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml='[outgoing]\nretry = ["1s"]\n')
    (d.conf / "accounts" / "meier.toml").write_text(
        (d.conf / "accounts" / "meier.toml").read_text() + webspace_toml(
            "ftp", ftp.port, "lm", url, f'user = "{ftp.user}"\npassword = "{ftp.password}"\n'))
    d.start()
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 0, out.stderr
    send(d, addr("meier"), ["x@remote.example"], "via mail()", service="submission",
         login=LOGIN)
    wait_for(lambda: queue(d) == [], what="an empty queue")
    text = sent.read_text()
    assert "To: x@remote.example" in text and "Subject: via mail()" in text
    assert f"-f{addr('meier')}" in text  # the envelope sender
    assert [p.name for p in (www / "lm" / "queue").iterdir()] == [".htaccess"]


def test_upload_scripts_names_the_failing_step(daemon_factory, peers, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    sshd = peers(Sshd(tmp_path / "ssh", free_port()))
    # a host key that is not the server's
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "other")], check=True)
    other_key = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    d = daemon_factory(accounts={"meier": {}}, start=False)
    acct = d.conf / "accounts" / "meier.toml"
    base = acct.read_text()

    def configure(host_key: str, directory: str, url: str) -> None:
        acct.write_text(base + webspace_toml(
            "sftp", sshd.port, directory, url,
            f'user = "{sshd.user}"\nkey_file = "{sshd.key_file}"\nhost_key = "{host_key}"\n'))

    configure(other_key, str(www), "http://127.0.0.1:9/x.php")
    d.start()
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 1 and "step login" in out.stderr and "host key" in out.stderr
    configure(sshd.host_key, "/proc/no/such/dir", "http://127.0.0.1:9/x.php")
    assert d.ctl("reload").returncode == 0
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 1 and "step directory" in out.stderr
    configure(sshd.host_key, str(www), f"http://127.0.0.1:{free_port()}/lanmail-send.php")
    assert d.ctl("reload").returncode == 0
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 1 and "step http" in out.stderr
    out = d.ctl("transport", "webspace", "upload-scripts", "--global")
    assert out.returncode == 1 and "no webspace" in out.stderr


def test_ftps_upload_verifies_the_certificate(daemon_factory, peers, tmp_path, tls_files):
    """Explicit FTPS: the server's certificate is checked (ca_file); with the wrong CA the
    login step fails instead of uploading to an unverified server."""
    www = tmp_path / "www"
    www.mkdir()
    ftp = peers(FtpServer(www, free_port(), tls_files=tls_files))
    php = peers(PhpServer(free_port(), www))
    url = f"http://127.0.0.1:{php.port}/lm/lanmail-send.php"
    d = daemon_factory(accounts={"meier": {}}, start=False)
    acct = d.conf / "accounts" / "meier.toml"
    base = acct.read_text()

    def configure(ca: Path) -> None:
        acct.write_text(base + webspace_toml("ftps", ftp.port, "lm", url, (
            f'user = "{ftp.user}"\npassword = "{ftp.password}"\nca_file = "{ca}"\n'
        )).replace('host = "127.0.0.1"', 'host = "localhost"'))

    other_ca = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other_ca))
    configure(other_ca)
    d.start()
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 1 and "step login" in out.stderr, out.stderr
    assert not (www / "lm").exists()
    configure(tls_files["ca"])
    assert d.ctl("reload").returncode == 0
    out = d.ctl("transport", "webspace", "upload-scripts", "meier")
    assert out.returncode == 0, out.stderr
    assert (www / "lm" / "lanmail-send.php").is_file()


def test_global_webspace_transport(daemon_factory, peers, tmp_path):
    """The webspace transport set for everybody in lanmaild.toml (not per account):
    upload-scripts --global, then any account's internet mail goes through it."""
    www = tmp_path / "www"
    www.mkdir()
    sent = tmp_path / "sendmail.out"
    fake = tmp_path / "sendmail"
    fake.write_text(f"#!/bin/sh\necho \"ARGS: $*\" >> {sent}\ncat >> {sent}\n")
    fake.chmod(0o755)
    ftp = peers(FtpServer(www, free_port()))
    php = peers(PhpServer(free_port(), www, ini={"sendmail_path": str(fake)}))
    url = f"http://127.0.0.1:{php.port}/lm/lanmail-send.php"
    section = webspace_toml("ftp", ftp.port, "lm", url,
                            f'user = "{ftp.user}"\npassword = "{ftp.password}"\n')
    d = daemon_factory(accounts={"meier": {}, "schulze": {}},
                       extra_toml=section.replace("[outgoing]\n", '[outgoing]\nretry = ["1s"]\n',
                                                  1))
    out = d.ctl("transport", "webspace", "upload-scripts", "--global")
    assert out.returncode == 0, out.stderr
    for who in ("meier", "schulze"):
        send(d, addr(who), ["x@remote.example"], f"global from {who}", service="submission",
             login=(who, "secret"))
    wait_for(lambda: queue(d) == [], what="an empty queue")
    text = sent.read_text()
    assert "Subject: global from meier" in text and "Subject: global from schulze" in text
