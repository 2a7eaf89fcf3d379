"""SMS notification against a real local HTTP gateway that records requests and fails or
hangs on demand: the request is what the template says, per-account rate limit, failures
counted and shown in status, a dead gateway never delays delivery; lanmailctl sms test."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lanmaild.sms.gateway import gsm7

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, mail_list, message, send, wait_for  # noqa: E402


class Gateway:
    """Records each request; answers ``status`` (or sleeps ``delay`` s first)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                gw.requests.append({"method": self.command, "path": self.path, "body": body,
                                    "headers": dict(self.headers)})
                time.sleep(gw.delay)
                self.send_response(gw.status)
                self.end_headers()
                self.wfile.write(b'{"status": "queued"}' if gw.status == 200 else b"nope")

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def gateway():
    gw = Gateway()
    yield gw
    gw.stop()


def sms_toml(gw: Gateway, extra: str = "") -> str:
    return (f'[sms]\nurl = "http://127.0.0.1:{gw.port}/send"\n'
            'body = "to={number}&from=LANMail&text={text}"\nretries = 0\n' + extra)


def test_sms_on_new_mail_form_post(daemon_factory, gateway):
    d = daemon_factory(accounts={"meier": {"sms_number": "+49 170 1234567"}},
                       extra_toml=sms_toml(gateway))
    subject = "=?utf-8?q?Gro=C3=9Fer_Auftrag_=E2=82=AC?="  # Großer Auftrag €
    send(d, "chef@remote.example", [addr("meier")], "",
         raw=message(subject, sender="chef@remote.example", to=addr("meier")))
    wait_for(lambda: gateway.requests, what="the SMS request")
    req = gateway.requests[0]
    assert req["method"] == "POST" and req["path"] == "/send"
    form = urllib.parse.parse_qs(req["body"])
    assert form["to"] == ["+491701234567"]  # E.164, compact
    assert form["text"] == ["New mail from chef@remote.example: Großer Auftrag €"]
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_json_template_rate_limit_and_status(daemon_factory, gateway):
    extra = ('content_type = "application/json"\n'
             'text = "Mail von {sender}: {subject}"\ninterval = "1h"\n')
    toml = sms_toml(gateway, extra).replace(
        'body = "to={number}&from=LANMail&text={text}"',
        "body = '{\"recipient\": \"{number}\", \"message\": \"{text}\"}'")
    d = daemon_factory(accounts={"meier": {"sms_number": "+491701234567"}}, extra_toml=toml)
    send(d, "a@remote.example", [addr("meier")], 'Zitat "x" \\ y')
    send(d, "b@remote.example", [addr("meier")], "second")
    wait_for(lambda: len(mail_list(d, "meier")) == 2, what="both mails")
    wait_for(lambda: gateway.requests, what="the SMS")
    time.sleep(0.5)
    assert len(gateway.requests) == 1  # one per hour for this account
    body = json.loads(gateway.requests[0]["body"])
    assert body == {"recipient": "+491701234567",
                    "message": 'Mail von a@remote.example: Zitat "x" \\ y'}
    status = json.loads(d.ctl("--json", "status").stdout)["services"]["sms"]
    assert status["sent"] == 1 and status["suppressed"] == 1


def test_failing_and_dead_gateway_never_delay_delivery(daemon_factory, gateway):
    gateway.status = 500
    d = daemon_factory(accounts={"meier": {"sms_number": "+491701234567"},
                                 "schulze": {"sms_number": "+491709999999"}},
                       extra_toml=sms_toml(gateway))
    send(d, "a@remote.example", [addr("meier")], "one")
    wait_for(lambda: json.loads(d.ctl("--json", "status").stdout)["services"]["sms"]
             ["failed"] == 1, what="the failure to be counted")
    out = d.ctl("status")
    assert "sms: 0 sent, 1 failed" in out.stdout and "HTTP 500" in out.stdout
    assert d.log().count("SMS for meier not sent") == 1
    gateway.delay, gateway.status = 30.0, 200  # now it hangs
    t0 = time.monotonic()
    send(d, "a@remote.example", [addr("schulze")], "two")
    wait_for(lambda: mail_list(d, "schulze"), what="the delivery")
    assert time.monotonic() - t0 < 5  # the hanging gateway did not hold the mail


def test_sms_test_command_and_refusals(daemon_factory, gateway):
    d = daemon_factory(accounts={"meier": {"sms_number": "+491701234567"}, "schulze": {},
                                 "rechnung": {"einvoice": True}},
                       extra_toml=sms_toml(gateway))
    out = d.ctl("sms", "test", "meier")
    assert out.returncode == 0, out.stderr
    assert "HTTP 200" in out.stdout and "queued" in out.stdout
    assert urllib.parse.parse_qs(gateway.requests[0]["body"])["text"] == [
        "New mail from lanmailctl sms test: LANMail test message"]
    out = d.ctl("sms", "test", "schulze")
    assert out.returncode == 1 and "no sms_number" in out.stderr
    out = d.ctl("account", "modify", "rechnung", "--sms-number", "+491701234567")
    assert out.returncode == 1 and "e-invoice" in out.stderr
    out = d.ctl("account", "modify", "schulze", "--sms-number", "0170 1234567")
    assert out.returncode == 1 and "E.164" in out.stderr
    gateway.status = 403
    out = d.ctl("sms", "test", "meier")
    assert out.returncode == 1 and "HTTP 403" in out.stderr


def test_gsm7_text_rules():
    assert gsm7("Grüße à Paris") == "Grüße à Paris"  # in the GSM-7 alphabet
    assert gsm7("Ça coûte 5 €") == "Ça coute 5 €"  # û is not: its accent goes
    assert gsm7("日本") == "??"
    assert len(gsm7("x" * 300)) == 160
    assert len(gsm7("€" * 100)) == 80  # extension characters count twice


def test_get_gateway_with_placeholders_in_the_url(daemon_factory, gateway):
    toml = (f'[sms]\nmethod = "GET"\n'
            f'url = "http://127.0.0.1:{gateway.port}/sms?to={{number_digits}}&msg={{text}}"\n'
            'retries = 0\nsuccess_match = "queued"\n')
    d = daemon_factory(accounts={"meier": {"sms_number": "+491701234567"}}, extra_toml=toml)
    send(d, "a@remote.example", [addr("meier")], "",
         raw=message("=?utf-8?q?Hallo_&_Tsch=C3=BCss?=", sender="a@remote.example",
                     to=addr("meier")))
    wait_for(lambda: gateway.requests, what="the SMS request")
    req = gateway.requests[0]
    assert req["method"] == "GET" and req["body"] == ""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req["path"]).query)
    assert query == {"to": ["491701234567"],
                     "msg": ["New mail from a@remote.example: Hallo & Tschüss"]}
