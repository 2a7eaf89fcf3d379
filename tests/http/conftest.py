from __future__ import annotations

import pytest
from oauth_testlib import with_http


@pytest.fixture
def oauth_daemon(daemon_factory):
    """meier (secret) and schulze (secret), HTTPS OAuth2 listener; ``d.base`` its URL."""
    d = daemon_factory(accounts={"meier": {}, "schulze": {}}, start=False)
    d.base = with_http(d)
    d.start()
    return d
