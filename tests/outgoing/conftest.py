from __future__ import annotations

import pytest
from lmtest import free_port
from sinks import Smarthost


@pytest.fixture
def smarthost(tls_files):
    made = []

    def make(port: int | None = None, start: bool = True, **handler_args) -> Smarthost:
        sh = Smarthost(port or free_port(), tls_files, **handler_args)
        if start:
            sh.start()
        made.append(sh)
        return sh

    yield make
    for sh in made:
        try:
            sh.stop()
        except Exception:  # noqa: BLE001 - a test may have stopped it already
            pass
