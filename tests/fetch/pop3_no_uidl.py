"""A POP3 server without UIDL (RFC 1939 makes UIDL optional; old and embedded servers lack
it), for the fetch fallback to Message-ID + size. A stand-in written here because no
maintained server can switch UIDL off; it speaks just what the fetch uses: USER, PASS,
STAT, LIST, TOP, RETR, DELE, NOOP, QUIT, and answers UIDL with -ERR."""

from __future__ import annotations

import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def _send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def _multi(self, lines: list[bytes]) -> None:
        for line in lines:
            self.wfile.write((b"." + line if line.startswith(b".") else line) + b"\r\n")
        self.wfile.write(b".\r\n")

    def handle(self) -> None:
        box: POP3NoUidl = self.server.box  # type: ignore[attr-defined]
        deleted: set[int] = set()
        self._send("+OK no-UIDL POP3 ready")
        while line := self.rfile.readline():
            cmd, _, arg = line.decode().strip().partition(" ")
            cmd = cmd.upper()
            msgs = box.messages
            if cmd in ("USER", "PASS", "NOOP"):
                self._send("+OK")
            elif cmd == "STAT":
                self._send(f"+OK {len(msgs)} {sum(len(m) for m in msgs)}")
            elif cmd == "LIST":
                self._send("+OK")
                self._multi([f"{i + 1} {len(m)}".encode() for i, m in enumerate(msgs)])
            elif cmd in ("TOP", "RETR"):
                raw = msgs[int(arg.split()[0]) - 1]
                if cmd == "TOP":
                    raw = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
                self._send("+OK")
                self._multi(raw.rstrip(b"\r\n").split(b"\r\n"))
            elif cmd == "DELE":
                deleted.add(int(arg) - 1)
                self._send("+OK")
            elif cmd == "QUIT":
                with box.lock:
                    box.messages = [m for i, m in enumerate(msgs) if i not in deleted]
                self._send("+OK bye")
                return
            else:
                self._send("-ERR unknown command")


class POP3NoUidl:
    def __init__(self, port: int) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Handler)
        self.server.box = self
        self.port = port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
