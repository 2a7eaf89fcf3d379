"""Bad input: the right reply code, no crash, nothing (half) stored, the session lives on."""

from __future__ import annotations

import pytest
from smtp_testlib import RawSMTP, module_daemon, queue, subjects, wait_delivered


@pytest.fixture(scope="module")
def d(tmp_path_factory, tls_files):
    daemon = module_daemon(tmp_path_factory, tls_files,
                           {"meier": {}, "u1": {}, "u2": {}, "u3": {}})
    yield daemon
    daemon.stop()


def open_data(c: RawSMTP, rcpts=("meier@lan.test",), mail_from="<x@other.example>") -> None:
    assert c.cmd("EHLO client.test").startswith("250")
    assert c.cmd(f"MAIL FROM:{mail_from}").startswith("250")
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>").startswith("250")
    assert c.cmd("DATA").startswith("354")


def good_message(c: RawSMTP, subject: str, rcpts=("meier@lan.test",)) -> str:
    open_data(c, rcpts)
    return c.send_raw(f"Subject: {subject}\r\n\r\nfine\r\n.\r\n".encode())


CASES = {
    "nul": (b"Subject: nul\r\n\r\nbad \0 byte\r\n.\r\n", "554 5.6.0"),
    "bare_lf": (b"Subject: lf\r\n\r\nline one\nline two\r\n.\r\n", "554 5.6.0"),
    "bare_cr": (b"Subject: cr\r\n\r\nline one\rline two\r\n.\r\n", "554 5.6.0"),
    "long_line": (b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n", "500 5.5.2"),
    "8bit_header": ("Subject: Grüße\r\n\r\nbody\r\n.\r\n".encode(), "554 5.6.7"),
    # SMTP smuggling: <LF>.<LF> and <LF>.<CR><LF> must not end the data; the whole
    # thing (with the smuggled "second message") is refused for its bare LFs.
    "smuggle_lf_dot_lf": (b"Subject: s1\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\n.\r\n", "554 5.6.0"),
    "smuggle_lf_dot_crlf": (b"Subject: s2\r\n\r\nhi\n.\r\nRCPT TO:<x@y>\r\n.\r\n",
                            "554 5.6.0"),
    "smuggle_cr_dot_cr": (b"Subject: s3\r\n\r\nhi\r.\rDATA\r\n.\r\n", "554 5.6.0"),
}


def test_bad_data_refused_and_session_survives(d):
    c = RawSMTP(d)
    for name, (data, expected) in CASES.items():
        open_data(c)
        got = c.send_raw(data)
        assert got.startswith(expected), (name, got)
        # the session is still in a clean state: the next message goes through
        assert good_message(c, f"after {name}").startswith("250 2.0.0"), name
    c.close()
    wait_delivered(d)
    assert subjects(d, "meier") == [f"after {name}" for name in CASES]
    assert [r for m in queue(d) for r in m["recipients"]] == []


def test_8bit_header_with_smtputf8_is_fine(d):
    c = RawSMTP(d)
    open_data(c, ("u1@lan.test",), mail_from="<x@other.example> SMTPUTF8")
    assert c.send_raw("Subject: Grüße\r\n\r\nbody\r\n.\r\n".encode()).startswith("250")
    assert c.cmd("MAIL FROM:<jörg@other.example>").startswith("553 5.6.7")
    assert c.cmd("MAIL FROM:<jörg@other.example> SMTPUTF8").startswith("250")
    assert c.cmd("RCPT TO:<u1@lan.test>").startswith("250")
    c.close()
    wait_delivered(d)
    assert subjects(d, "u1") == ["Grüße"]


def test_oversize(d):
    c = RawSMTP(d)
    assert c.cmd("EHLO client.test").startswith("250")
    assert c.cmd("MAIL FROM:<x@other.example> SIZE=2000000").startswith("552 5.3.4")
    open_data(c, ("u2@lan.test",))
    line = b"y" * 998 + b"\r\n"
    got = c.send_raw(b"Subject: big\r\n\r\n" + line * 1100 + b".\r\n")
    assert got.startswith("552 5.3.4"), got
    assert good_message(c, "small one", ("u2@lan.test",)).startswith("250")
    c.close()
    wait_delivered(d)
    assert subjects(d, "u2") == ["small one"]


def test_too_many_recipients(daemon_factory):
    t = daemon_factory(accounts={"meier": {}, "a": {}, "b": {}, "c": {}}, start=False)
    main = t.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace("[limits]\n", "[limits]\nrecipients = 3\n"))
    t.start()
    c = RawSMTP(t)
    assert c.cmd("EHLO client.test").startswith("250")
    assert c.cmd("MAIL FROM:<x@other.example>").startswith("250")
    for name in ("meier", "a", "b"):
        assert c.cmd(f"RCPT TO:<{name}@lan.test>").startswith("250")
    assert c.cmd("RCPT TO:<MEIER@lan.test>").startswith("250")  # a duplicate: not counted
    assert c.cmd("RCPT TO:<c@lan.test>").startswith("452 4.5.3")
    assert c.cmd("DATA").startswith("354")
    assert c.send_raw(b"Subject: three\r\n\r\nx\r\n.\r\n").startswith("250")
    c.close()
    wait_delivered(t)
    assert subjects(t, "meier") == ["three"]  # duplicates of one recipient: one copy
    assert subjects(t, "b") == ["three"] and subjects(t, "c") == []


@pytest.mark.parametrize("line,expected", [
    ("MAIL FROM:<no-at-sign>", "553 5.1.7"),
    ("MAIL FROM:<a@b> BOGUS=1", "555 5.5.4"),
    ("MAIL FROM:garbage<<>", "501 5.5.4"),
    ("MAIL FROM:<a@@b>", "553 5.1.3"),
    ("RCPT TO:<meier@lan.test>", "503 5.5.1"),
    ("FOO bar", "500 5.5.2"),
    ("DATA", "503 5.5.1"),
    ("VRFY meier", "252 2.5.0"),
    ("EXPN staff", "502 5.5.1"),
])
def test_malformed_commands(d, line, expected):
    c = RawSMTP(d)
    assert c.cmd("EHLO client.test").startswith("250")
    assert c.cmd(line).startswith(expected)
    assert c.cmd("NOOP").startswith("250 2.0.0")
    c.close()


def test_empty_sender_and_disconnect_mid_data(d):
    c = RawSMTP(d)
    open_data(c, ("u3@lan.test",), mail_from="<>")
    c.sock.sendall(b"Subject: cut\r\n\r\nhalf a messa")
    c.sock.close()
    c = RawSMTP(d)
    open_data(c, ("u3@lan.test",), mail_from="<>")
    assert c.send_raw(b"Subject: bounce-like\r\n\r\nx\r\n.\r\n").startswith("250")
    c.close()
    wait_delivered(d)
    assert subjects(d, "u3") == ["bounce-like"]
