"""One SMS as one HTTP request to the configured gateway (aiohttp), and the text rules.

GSM 03.38: a single SMS holds 160 characters of the GSM-7 alphabet (the extension
characters ``^{}\\[~]|€`` count twice) or 70 UCS-2 characters. For ``gsm7``, characters
outside the alphabet lose their accents (NFKD) or become ``?``, so the gateway never
switches to UCS-2 or splits the message behind our back.
"""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import quote

import aiohttp

GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = set("^{}\\[~]|€")


def gsm7(text: str, limit: int = 160) -> str:
    out, used = [], 0
    for ch in " ".join(text.split()):
        if ch not in GSM_BASIC and ch not in GSM_EXTENDED:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            ch = plain[:1] if plain[:1] and plain[:1] in GSM_BASIC else "?"
        cost = 2 if ch in GSM_EXTENDED else 1
        if used + cost > limit:
            break
        out.append(ch)
        used += cost
    return "".join(out)


def ucs2(text: str, limit: int = 70) -> str:
    return " ".join(text.split())[:limit]


def sms_text(settings, sender: str, subject: str) -> str:
    text = settings.text.replace("{sender}", sender).replace("{subject}", subject)
    return gsm7(text) if settings.encoding == "gsm7" else ucs2(text)


def _escape(value: str, how: str) -> str:
    if how == "json":
        return json.dumps(value)[1:-1]
    if how == "url":
        return quote(value, safe="")
    return value


def render(template: str, values: dict[str, str], how: str) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", _escape(value, how))
    return template


class GatewayError(Exception):
    pass


async def send(settings, number: str, sender: str, subject: str) -> tuple[int, str]:
    """Send one SMS; returns (HTTP status, start of the answer); GatewayError unless the
    gateway confirmed it."""
    text = sms_text(settings, sender, subject)
    values = {"number": number, "number_digits": number.lstrip("+"), "sender": sender,
              "subject": subject, "text": text}
    url = render(settings.url, values, "url")
    body_how = "json" if "json" in settings.content_type.lower() else \
        "url" if "form-urlencoded" in settings.content_type.lower() else "raw"
    headers = {k: v for k, v in settings.headers}
    data = None
    if settings.method == "POST":
        data = render(settings.body, values, body_how).encode("utf-8")
        headers.setdefault("Content-Type", settings.content_type)
    auth = aiohttp.BasicAuth(settings.user, settings.password) if settings.user else None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=settings.timeout)) as session, session.request(
                settings.method, url, data=data, headers=headers, auth=auth,
                ssl=None if settings.verify_tls else False) as resp:
            answer = (await resp.text(errors="replace"))[:300]
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise GatewayError(f"{exc.__class__.__name__}: {exc}") from None
    if resp.status not in settings.success_status or (
            settings.success_match and settings.success_match not in answer):
        raise GatewayError(f"HTTP {resp.status}: {' '.join(answer.split())[:200]}")
    return resp.status, answer
