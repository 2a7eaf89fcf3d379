"""SMTP listeners, extensions, AUTH and the relay policy, through real sockets."""

from __future__ import annotations

import smtplib

import pytest
from smtp_testlib import (
    RawSMTP,
    addr,
    mail_list,
    module_daemon,
    queue,
    raw_messages,
    run,
    send,
    smtp,
    starttls,
    subjects,
    wait_delivered,
    wait_for,
)

ACCOUNTS = {"meier": {}, "schulze": {}, "pm": {"postmaster": True},
            "closed": {"deny_internet": True}, "trace": {}, "small": {"quota": 2000}}


@pytest.fixture(scope="module")
def d(tmp_path_factory, tls_files):
    daemon = module_daemon(tmp_path_factory, tls_files, ACCOUNTS)
    yield daemon
    daemon.stop()


def rcpt_reply(daemon, rcpt: str, service: str = "smtp", login=None) -> tuple[int, str]:
    s = smtp(daemon, service)
    try:
        if login:
            s.login(*login)
        # a logged-in session may only use its own addresses (test_smtp_sender.py)
        s.mail(addr(login[0]) if login else "someone@ext.test")
        code, text = s.rcpt(rcpt)
        return code, text.decode()
    finally:
        s.close()


def test_ehlo_advertises_extensions(d):
    s = smtp(d)
    try:
        for ext in ("size", "8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes",
                    "starttls", "auth"):
            assert s.has_extn(ext), ext
        assert s.esmtp_features["size"] == "1048576"
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        code, text = s.noop()
        assert code == 250 and text.startswith(b"2.0.0")
    finally:
        s.quit()


LOCAL = ["meier@lan.test", "MEIER@LAN.TEST", "Meier@Lan.Test", "meier@second.test",
         "postmaster@lan.test", "Postmaster@second.test", "<@other.example:meier@lan.test>"]

REFUSED = [
    ("nobody@lan.test", 550, "5.1.1"),
    ("user%other.example@lan.test", 550, "5.1.1"),
    ("other.example!user@lan.test", 550, "5.1.1"),
    ('"bob@other.example"@lan.test', 550, "5.1.1"),
    ("bob@other.example", 554, "5.7.1"),
    ("<@lan.test:bob@other.example>", 554, "5.7.1"),
    ("bob@[127.0.0.1]", 554, "5.7.1"),
    ("bob@[IPv6:::1]", 554, "5.7.1"),
    ("meier@lan.test.other.example", 554, "5.7.1"),
    ("meier@lan.tes", 554, "5.7.1"),
    # a trailing dot is not RFC 5321 syntax: refused as malformed, local or not
    ("bob@other.example.", 553, "5.1.3"),
    ("meier@lan.test.", 553, "5.1.3"),
]


def test_relay_matrix_unauthenticated(d):
    s = smtp(d)
    try:
        for rcpt in LOCAL:
            s.rset()
            s.mail("someone@ext.test")
            code, text = s.rcpt(rcpt)
            assert (code, text[:5]) == (250, b"2.1.5"), (rcpt, text)
        for rcpt, want, enhanced in REFUSED:
            s.rset()
            s.mail("someone@ext.test")
            code, text = s.rcpt(rcpt)
            assert (code, text[:5].decode()) == (want, enhanced), (rcpt, text)
    finally:
        s.quit()


def test_authenticated_may_relay_and_it_waits_outbound(d):
    code, text = rcpt_reply(d, "bob@other.example", login=("meier", "secret"))
    assert code == 250, text
    send(d, addr("meier"), ["bob@other.example", addr("schulze")], "out and in",
         login=("meier", "secret"))
    wait_delivered(d)
    assert "out and in" in subjects(d, "schulze")
    waiting = [(m["sender"], r["address"], r["state"]) for m in queue(d)
               for r in m["recipients"]]
    assert waiting == [("meier@lan.test", "bob@other.example", "outbound")]
    listing = d.ctl("queue", "list")
    assert "outbound" in listing.stdout and "bob@other.example" in listing.stdout


def test_trusted_network_may_relay(daemon_factory):
    t = daemon_factory(accounts=ACCOUNTS, extra_toml='trusted_networks = ["127.0.0.0/8"]')
    code, text = rcpt_reply(t, "bob@other.example")
    assert code == 250, text


def test_deny_internet_exact_521(d):
    s = smtp(d)
    s.login("closed", "secret")
    s.mail(addr("closed"))
    code, text = s.rcpt("bob@other.example")
    assert code == 521
    assert text.decode() == "5.7.1 User <bob@other.example> not local; no forwarding address"
    code, _ = s.rcpt(addr("meier"))  # local mail still fine in the same transaction
    assert code == 250
    s.quit()


def test_deny_internet_exact_521_trusted_sender(daemon_factory):
    t = daemon_factory(accounts=ACCOUNTS, extra_toml='trusted_networks = ["127.0.0.0/8"]')
    out = run(["swaks", "--server", f"127.0.0.1:{t.ports['smtp']}", "--from", addr("closed"),
               "--to", "bob@other.example", "--quit-after", "RCPT"])
    assert "521 5.7.1 User <bob@other.example> not local; no forwarding address" in out.stdout


def test_submission_requires_auth(d):
    s = smtp(d, "submission")
    code, text = s.mail(addr("meier"))
    assert code == 530 and text.startswith(b"5.7.0")
    s.login("meier", "secret")
    code, _ = s.mail(addr("meier"))
    assert code == 250
    s.quit()


def test_bad_password_gets_535_not_a_hang(d):
    s = smtp(d, "submission")
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        s.login("meier", "wrong")
    assert err.value.smtp_code == 535
    s.close()


def test_auth_only_after_tls_without_plaintext_networks(daemon_factory):
    t = daemon_factory(accounts=ACCOUNTS, start=False)
    main = t.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace('plaintext_auth = ["127.0.0.0/8"]\n', ""))
    t.start()
    s = smtp(t, "submission")
    assert not s.has_extn("auth")
    assert s.docmd("AUTH", "PLAIN AG1laWVyAHNlY3JldA==")[0] == 538
    starttls(t, s)
    assert s.has_extn("auth") and not s.has_extn("starttls")
    s.login("meier", "secret")
    s.sendmail(addr("meier"), [addr("schulze")], b"Subject: via starttls\r\n\r\nhi\r\n")
    s.quit()
    s = smtp(t, "smtps")
    assert s.has_extn("auth")
    s.login("schulze", "secret")
    s.sendmail(addr("schulze"), [addr("meier")], b"Subject: via smtps\r\n\r\nhi\r\n")
    s.quit()
    wait_delivered(t)
    assert subjects(t, "schulze") == ["via starttls"]
    assert subjects(t, "meier") == ["via smtps"]
    raw = raw_messages(t, "meier")[0]
    assert b"with ESMTPSA" in raw


def test_swaks_starttls_auth_login_pipelining(d):
    out = run(["swaks", "--server", f"127.0.0.1:{d.ports['submission']}", "--tls",
               "--tls-ca-path", str(d.tls["ca"]), "--auth", "LOGIN", "--auth-user", "meier",
               "--auth-password", "secret", "--pipeline", "--from", addr("meier"),
               "--to", addr("schulze"), "--header", "Subject: swaks pipelined"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: queued as" in out.stdout
    wait_delivered(d)
    assert "swaks pipelined" in subjects(d, "schulze")


def test_trace_and_submission_headers(d):
    s = smtp(d, "submission")
    s.login("meier", "secret")
    s.sendmail(addr("meier"), [addr("trace")], b"Subject: bare\r\n\r\nno id, no date\r\n")
    s.quit()
    send(d, "x@other.example", [addr("trace")], "from outside",
         raw=b"Subject: from outside\r\n\r\nuntouched\r\n")
    wait_delivered(d)
    first, second = raw_messages(d, "trace")
    head = first.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby mail.lan.test")
    assert b"Message-ID: <" in head and b"\r\nDate: " in head
    head2 = second.split(b"\r\n\r\n", 1)[0]
    assert head2.startswith(b"Received: ") and b"with ESMTP" in head2
    assert b"Message-ID" not in head2 and b"Date:" not in head2.split(b"\r\n", 3)[-1]


def test_connection_limit_per_ip(daemon_factory):
    t = daemon_factory(accounts=ACCOUNTS, start=False)
    main = t.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace("connections_per_ip = 50", "connections_per_ip = 2"))
    t.start()
    a, b = RawSMTP(t), RawSMTP(t)
    c = RawSMTP.__new__(RawSMTP)
    import socket
    c.sock = socket.create_connection(("127.0.0.1", t.ports["smtp"]), timeout=10)
    c.buf = b""
    assert c.reply().startswith("421 4.7.0")
    c.sock.close()
    a.close()
    wait_for(lambda: RawSMTP(t).greeting.startswith("220"), 5, what="a free slot")
    b.close()


def test_mail_list_unknown_account_and_folder(d):
    assert mail_list(d, "pm") == []
    bad = d.ctl("mail", "list", "nobody")
    assert bad.returncode == 1 and "no account" in bad.stderr
    bad = d.ctl("mail", "list", "meier", "--folder", "Nope")
    assert bad.returncode == 1 and "no folder" in bad.stderr


def test_full_mailbox_gets_452_at_rcpt_and_others_still_get_the_mail(d):
    send(d, addr("meier"), [addr("small")], "fits", body=("x" * 98 + "\r\n") * 20)
    wait_delivered(d)
    assert subjects(d, "small") == ["fits"]
    # now over the 2000-byte quota: a temporary refusal, the sender's server retries later
    code, text = rcpt_reply(d, addr("small"))
    assert (code, text.split()[0]) == (452, "4.2.2")
    assert "Mailbox full" in text
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        send(d, addr("meier"), [addr("small")], "too much")
    assert info.value.recipients[addr("small")][0] == 452
    refused = send(d, addr("meier"), [addr("small"), addr("schulze")], "shared")
    assert refused[addr("small")][0] == 452
    wait_delivered(d)
    assert "shared" in subjects(d, "schulze")
    assert subjects(d, "small") == ["fits"]
