"""The man pages render without warnings and document every key and op this code has."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lanmaild.config.model import (
    Account,
    Group,
    LimitsConfig,
    ListenConfig,
    ServerConfig,
    TLSConfig,
)
from lanmaild.control.ops import (  # noqa: F401
    accounts,
    apitoken,
    autoresponder,
    config,
    external,
    groups,
    oauth2,
    outgoing,
    queue,
    sms,
    system,
)
from lanmaild.control.registry import OPS

MAN = Path(__file__).resolve().parents[1] / "man"
PAGES = ["lanmaild.8", "lanmailctl.8", "lanmail.toml.5", "lanmail-api.7"]


def rendered(page: str) -> str:
    proc = subprocess.run(["man", "--warnings", "-l", str(MAN / page)], capture_output=True,
                          text=True, timeout=60, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin",
                                                      "LANG": "C.UTF-8"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return re.sub(r".\x08", "", proc.stdout).replace("\u2010", "-").replace("\u2011", "-")


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is installed by tests/run.sh")
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page: str) -> None:
    assert "NAME" in rendered(page)


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is installed by tests/run.sh")
def test_every_config_key_is_documented() -> None:
    text = rendered("lanmail.toml.5")
    for model in (ServerConfig, ListenConfig, TLSConfig, LimitsConfig, Account, Group):
        for f in dataclasses.fields(model):
            if f.name in ("extra", "name"):  # name = the file name, described in the text
                continue
            assert re.search(rf"^\s+(\w+, )*{f.name}\b", text, re.M), \
                f"{model.__name__}.{f.name}"
    for f in dataclasses.fields(LimitsConfig):  # with its default
        assert re.search(rf"^\s+{f.name} \(default {f.default}\)", text, re.M), f.name


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is installed by tests/run.sh")
def test_every_foundation_op_is_documented() -> None:
    text = rendered("lanmail-api.7")
    ours = [name for name in OPS if name.split(".")[0] in (
        "account", "group", "config", "queue", "outgoing", "dkim", "transport",
        "autoresponder", "sms", "external", "oauth2", "api_token") or
        "." not in name]
    assert len(ours) >= 14
    for name in ours:
        assert re.search(rf"^\s+{re.escape(name)}(\s|$)", text, re.M), name
    assert "socat - UNIX-CONNECT:" in text
