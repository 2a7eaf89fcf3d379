"""``[sms]`` in lanmaild.toml: the HTTP(S) gateway that sends the notification SMS (the
seed's "Send SMS on receiving an email"), for every account with an ``sms_number``.

The request is a template: ``url`` (GET: the placeholders go into the URL) or ``body``
(POST), with placeholders ``{number}`` (E.164, e.g. +491701234567), ``{number_digits}``
(the same without +), ``{sender}``, ``{subject}`` and ``{text}`` (the message, cut to one
SMS: 160 GSM-7 characters, or 70 UCS-2 characters when ``encoding = "ucs2"``). Values are
escaped for where they stand: URL-encoded in the URL and in a form body, JSON-escaped in a
JSON body (``content_type`` containing "json"). Success is a ``success_status`` and, if
set, ``success_match`` (a text the gateway's answer must contain). See lanmail.toml(5) for
two real gateways' templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..config.loader import Table, check_secret_file, register_main_section


@dataclass(frozen=True)
class SmsSettings:
    url: str = ""
    method: str = "POST"
    body: str = ""
    content_type: str = "application/x-www-form-urlencoded"
    headers: tuple[tuple[str, str], ...] = ()
    user: str = ""
    password: str = field(default="", repr=False)
    success_status: tuple[int, ...] = (200, 201, 202)
    success_match: str = ""
    encoding: str = "gsm7"  # gsm7 | ucs2
    text: str = "New mail from {sender}: {subject}"
    interval: int = 60  # at most one SMS per account per this many seconds
    retries: int = 3
    timeout: int = 20
    verify_tls: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.url)


DEFAULT = SmsSettings()


def parse(path: Path, text: str, data) -> SmsSettings:
    if data is None:
        return DEFAULT
    t = Table(path, text, "sms", data)
    url = t.get("url", str, "")
    if url:
        parts = urlsplit(url.replace("{", "").replace("}", ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise t.err("url", f"'{url}' is not an http:// or https:// URL")
    method = t.get("method", str, "POST").upper()
    if method not in ("GET", "POST"):
        raise t.err("method", "must be GET or POST")
    headers = t.get("headers", dict, {})
    if not all(isinstance(v, str) for v in headers.values()):
        raise t.err("headers", "must be a table of strings")
    status = t.get("success_status", list, [200, 201, 202])
    if not status or not all(isinstance(s, int) and 100 <= s < 600 for s in status):
        raise t.err("success_status", "must be a list of HTTP status codes")
    encoding = t.get("encoding", str, "gsm7")
    if encoding not in ("gsm7", "ucs2"):
        raise t.err("encoding", "must be gsm7 or ucs2")
    password = t.secret("password")
    if any(k.lower() == "authorization" and v for k, v in headers.items()):
        check_secret_file(path, "sms.headers")
    interval = t.duration("interval", 60)
    timeout = t.duration("timeout", 20) or 20
    cfg = SmsSettings(
        url=url, method=method, body=t.get("body", str, ""),
        content_type=t.get("content_type", str, "application/x-www-form-urlencoded"),
        headers=tuple(headers.items()), user=t.get("user", str, ""), password=password,
        success_status=tuple(status), success_match=t.get("success_match", str, ""),
        encoding=encoding, text=t.get("text", str, "New mail from {sender}: {subject}"),
        interval=interval, retries=t.get("retries", int, 3), timeout=timeout,
        verify_tls=t.get("verify_tls", bool, True))
    if cfg.method == "POST" and not cfg.body:
        raise t.err("body", "a POST needs a body template (e.g. \"to={number}&text={text}\")")
    if not 0 <= cfg.retries <= 10:
        raise t.err("retries", "must be 0 to 10")
    t.finish()
    return cfg


def of(cfg) -> SmsSettings:
    return cfg.sections.get("sms", DEFAULT)


register_main_section("sms", parse)
