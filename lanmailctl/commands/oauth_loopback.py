"""The loopback redirect of ``external oauth2-login`` (RFC 8252 section 7.3): a one-shot
HTTP listener on 127.0.0.1 that takes the browser's ``?code=...&state=...``."""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.parse


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/callback":
            self.send_error(404)
            return
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        ok = "code" in params
        body = ("Signed in. You can close this window." if ok else
                f"Sign-in failed: {params.get('error', 'no code')}.").encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.result = params  # type: ignore[attr-defined]
        self.server.done.set()  # type: ignore[attr-defined]

    def log_message(self, *args) -> None:  # no request lines on the admin's terminal
        pass


class Waiter:
    def __init__(self, server: http.server.HTTPServer) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"

    def wait(self, timeout: float) -> dict | None:
        return self.server.result if self.server.done.wait(timeout) else None


@contextlib.contextmanager
def wait_for_code(port: int = 0):
    server = http.server.HTTPServer(("127.0.0.1", port), _Handler)
    server.done = threading.Event()
    server.result = None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Waiter(server)
    finally:
        server.shutdown()
        server.server_close()


def login(start_op: str, timeout: int, port: int, json_: bool, **args) -> dict:
    """The whole provider sign-in: start (lanmaild makes the URL), wait for the browser's
    redirect, finish (lanmaild exchanges the code and keeps the refresh token)."""
    import typer

    from ..cli import fail, state

    with wait_for_code(port) as waiter:
        started = state.call(start_op, redirect_uri=waiter.redirect_uri, **args)
        typer.echo("Open this address in a browser (on another machine: ssh -L "
                   f"{waiter.port}:127.0.0.1:{waiter.port} first):", err=json_)
        typer.echo(started["url"], err=json_)
        got = waiter.wait(timeout)
    if got is None:
        fail(f"no answer from the browser within {timeout} s: run the command again", 1)
    if got.get("error"):
        fail(f"the provider refused: {got['error']} {got.get('error_description', '')}", 1)
    return state.call("oauth2.login_finish", state=got.get("state", ""),
                      code=got.get("code", ""))
