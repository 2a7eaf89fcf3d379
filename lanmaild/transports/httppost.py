"""The ``http-post`` transport (the seed's "Transmit via HTTP Post"): a
``multipart/form-data`` upload of the mail file to a URL, in the form field the admin
named (the seed's receiver script reads ``rfc822data``), with aiohttp.

The mail counts as sent only on HTTP 200 (the seed: "The email is considered sent if HTTP
error code 200 is returned"); any other status, a timeout or a connection error keeps it
queued for the next try. Besides the file the form carries ``envelope_from`` and
``envelope_to``, which a receiver may use and the seed's ignores. Basic auth and TLS
verification (on by default) as configured.
"""

from __future__ import annotations

import base64
import ssl

import aiohttp

from .base import Envelope, Outcome, TransportError, all_sent
from .folder import unique_name


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def ssl_option(verify: bool, ca_file: str):
    if not verify:
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


class HttpPostTransport:
    def __init__(self, settings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        return self._session

    async def send(self, env: Envelope) -> dict[str, Outcome]:
        s = self.settings
        form = aiohttp.FormData()
        form.add_field("envelope_from", env.sender)
        form.add_field("envelope_to", ",".join(env.recipients))
        form.add_field(s.field_name, env.data, filename=unique_name(env),
                       content_type="message/rfc822")
        headers = {"Authorization": basic_auth(s.user, s.password)} if s.user else {}
        try:
            async with self._client().post(s.url, data=form, headers=headers,
                                           ssl=ssl_option(s.verify, s.ca_file)) as resp:
                text = (await resp.text(errors="replace"))[:200]
                if resp.status != 200:
                    raise TransportError(f"HTTP {resp.status} {resp.reason or ''} from "
                                         f"{s.url} {' '.join(text.split())}".strip())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(f"HTTP POST to {s.url} failed: "
                                 f"{exc.__class__.__name__} {exc}") from None
        return all_sent(env, f"HTTP 200 from {s.url}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
