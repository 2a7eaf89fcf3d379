"""The folder and http-post transports with real faults: a read-only folder, HTTP 500,
and the seed's own PHP receiver served by ``php -S``."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from lmtest import free_port, shared_dir
from sinks import PhpServer, read_only

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, mail_list, queue, send, wait_for  # noqa: E402

LOGIN = ("meier", "secret")


def account_outgoing(d, text: str) -> None:
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + text)


def test_folder_transport_read_only_then_writable(daemon_factory, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml='[outgoing]\nretry = ["1s"]\n')
    account_outgoing(d, f'[outgoing]\ntransport = "folder"\n[outgoing.folder]\npath = "{out}"\n')
    read_only(out)
    try:
        d.start()
        send(d, addr("meier"), ["a@remote.example", "b@other.example"], "to folder",
             service="submission", login=LOGIN)
        failed = wait_for(lambda: [r for m in queue(d) for r in m["recipients"]
                                   if r["attempts"] >= 1], what="a failed save")
        assert "cannot save" in failed[0]["error"]
        assert list(out.iterdir()) == []
    finally:
        read_only(out, False)
    wait_for(lambda: queue(d) == [], what="the retry to save it")
    files = list(out.iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    data = files[0].read_bytes()
    assert data.startswith(b"X-LANMail-Envelope-From: <meier@lan.test>\r\n"
                           b"X-LANMail-Envelope-To: <a@remote.example>, <b@other.example>\r\n")
    assert b"Subject: to folder" in data
    assert mail_list(d, "meier") == []  # no DSN


def http_post_daemon(daemon_factory, tmp_path, inbox, retry: str, extra: str = ""):
    """The seed's receiver under ``php -S`` (saving to ``inbox``) and a daemon whose
    account meier sends by http-post to it; returns (daemon, php server)."""
    receiver = shared_dir("seed") / "http-post-receiver.php"
    port = free_port()
    (tmp_path / "www").mkdir()
    php = PhpServer(port, tmp_path / "www", router=receiver, env={"RECEIVER_DIR": str(inbox)})
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml=f'[outgoing]\nretry = ["{retry}"]\n')
    account_outgoing(d, '[outgoing]\ntransport = "http-post"\n[outgoing.http-post]\n'
                     f'url = "http://127.0.0.1:{port}/"\n{extra}')
    d.start()
    return d, php


def first_failure(d, what: str) -> dict:
    return wait_for(lambda: [r for m in queue(d) for r in m["recipients"]
                             if r["attempts"] >= 1], what=what)[0]


def test_http_post_to_the_seeds_receiver_500_then_200(daemon_factory, tmp_path):
    inbox = tmp_path / "inbox"  # missing at first: the receiver answers 500
    d, php = http_post_daemon(daemon_factory, tmp_path, inbox, "1s")
    try:
        send(d, addr("meier"), ["a@remote.example"], "by http", service="submission",
             login=LOGIN)
        assert "HTTP 500" in first_failure(d, "HTTP 500")["error"]
        inbox.mkdir()
        wait_for(lambda: queue(d) == [], timeout=15, what="the retry")
        files = list(inbox.iterdir())
        assert len(files) == 1 and files[0].name.endswith(".eml")
        assert b"Subject: by http" in files[0].read_bytes()
    finally:
        php.stop()


def test_http_post_wrong_field_name_stays_queued(daemon_factory, tmp_path):
    """The receiver answers 403 for a missing field: never counted as sent."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    d, php = http_post_daemon(daemon_factory, tmp_path, inbox, "1h", 'field = "wrong"\n')
    try:
        send(d, addr("meier"), ["a@remote.example"], "x", service="submission", login=LOGIN)
        failed = first_failure(d, "HTTP 403")
        assert "HTTP 403" in failed["error"] and failed["state"] == "outbound"
        assert list(inbox.iterdir()) == []
    finally:
        php.stop()


@pytest.mark.parametrize("missing", ["path", "url"])
def test_transport_without_its_settings_is_refused(daemon_factory, missing):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    kind = "folder" if missing == "path" else "http-post"
    account_outgoing(d, f'[outgoing]\ntransport = "{kind}"\n')
    out = d.ctl("config", "check")
    assert out.returncode != 0
    assert "meier.toml" in out.stderr and f"needs [outgoing.{kind}] {missing}" in out.stderr


def test_http_post_basic_auth_and_fields(daemon_factory):
    """The upload carries basic auth, the configured field with the mail as a file, and
    the envelope fields (a stdlib HTTP server records what arrives)."""
    import threading
    from email import message_from_bytes
    from email.policy import HTTP
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers.get("Authorization", ""), body,
                        self.headers["Content-Type"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        d = daemon_factory(accounts={"meier": {}}, start=False)
        (d.conf / "accounts" / "meier.toml").chmod(0o600)
        account_outgoing(d, '[outgoing]\ntransport = "http-post"\n[outgoing.http-post]\n'
                         f'url = "http://127.0.0.1:{server.server_address[1]}/in"\n'
                         'field = "mailfile"\nuser = "poster"\npassword = "post-Secret-1"\n')
        d.start()
        send(d, addr("meier"), ["a@remote.example"], "with auth", service="submission",
             login=LOGIN)
        wait_for(lambda: queue(d) == [], what="the upload")
        auth, body, ctype = got[0]
        assert auth == "Basic " + base64.b64encode(b"poster:post-Secret-1").decode()
        form = message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body,
                                  policy=HTTP)
        parts = {p.get_param("name", header="content-disposition"): p
                 for p in form.iter_parts()}
        assert parts["envelope_to"].get_content().strip() == "a@remote.example"
        assert parts["mailfile"].get_filename().endswith(".eml")
        assert parts["mailfile"].get_content_type() == "message/rfc822"
        assert b"Subject: with auth" in body
    finally:
        server.shutdown()
