from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from dovecot import Dovecot


@pytest.fixture
def dovecot(tls_files):
    # Dovecot's auth and mail processes run as other users: its folder must be reachable
    # for them (pytest's tmp_path is 0700 root).
    root = Path(tempfile.mkdtemp(prefix="lm-dovecot-"))
    os.chmod(root, 0o755)
    d = Dovecot(root, tls_files)
    yield d
    d.stop()
    shutil.rmtree(root, ignore_errors=True)
