"""conf.d loading and editing without a daemon: messages name file, line, key and reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lanmaild.auth.passwords import hash_password
from lanmaild.config import ConfigError, load_config
from lanmaild.config.loader import name_problem
from lanmaild.config.units import format_size, parse_size
from lanmaild.config.writer import Change, atomic_write

HASH = hash_password("pw")
MAIN = """# main file comment
[server]
hostname = "mail.lan.test"
domains = ["lan.test"]   # our domains
data_dir = "data"

[listen]
smtp = ["127.0.0.1:2525"]
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    d = tmp_path / "conf.d"
    (d / "accounts").mkdir(parents=True)
    (d / "groups").mkdir()
    (d / "lanmaild.toml").write_text(MAIN)
    return d


def account(conf: Path, name: str, **keys) -> Path:
    lines = [f'password = "{HASH}"'] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path = conf / "accounts" / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def group(conf: Path, name: str, members: list[str]) -> Path:
    path = conf / "groups" / f"{name}.toml"
    path.write_text(f"members = {json.dumps(members)}\n")
    return path


def error(conf: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    return str(info.value)


def test_valid_config_resolves_paths(conf: Path) -> None:
    account(conf, "Meier", postmaster=True, quota=1000)
    group(conf, "staff", ["meier", "x@example.com", "MEIER@lan.test"])
    cfg = load_config(conf)
    assert cfg.server.data_dir == (conf / "data").resolve()
    assert cfg.server.control_socket == cfg.server.data_dir / "lanmaild.sock"
    assert cfg.account("meier").name == "Meier" and cfg.postmaster.name == "Meier"
    assert cfg.group("STAFF").members == ("meier", "x@example.com", "MEIER@lan.test")


def test_malformed_toml_names_line_and_column(conf: Path) -> None:
    (conf / "lanmaild.toml").write_text(MAIN + 'http = ["x" "y"]\n')
    assert error(conf) == (f"{conf / 'lanmaild.toml'}:9: invalid TOML: Unclosed array "
                           "(column 13)")
    (conf / "lanmaild.toml").write_text(MAIN + 'http = ["x"\n')
    assert error(conf) == (f"{conf / 'lanmaild.toml'}:9: invalid TOML: Unclosed array "
                           "(at the end of the file)")


def test_unknown_key_and_wrong_type_name_line_and_key(conf: Path) -> None:
    (conf / "lanmaild.toml").write_text(MAIN.replace('data_dir = "data"',
                                                     'data_dir = "data"\nhostnme = "x"'))
    assert error(conf) == f"{conf / 'lanmaild.toml'}:6: key 'server.hostnme': unknown key"
    (conf / "lanmaild.toml").write_text(MAIN + "[limits]\nrecipients = \"ten\"\n")
    assert error(conf) == (f"{conf / 'lanmaild.toml'}:10: key 'limits.recipients': "
                           "must be an integer, not a string")
    path = account(conf, "meier", postmaster="yes")
    (conf / "lanmaild.toml").write_text(MAIN)
    assert error(conf) == f"{path}:2: key 'postmaster': must be true or false, not a string"


@pytest.mark.parametrize(("name", "reason"), [
    ("", "account name must not be empty"),
    ("a b", "account name 'a b' contains a space"),
    ("müller", "account name 'müller' contains 'ü': umlauts"),
    ("a@b.de", "account name 'a@b.de' contains '@'"),
    ("x" * 65, "is too long (65 characters, at most 64)"),
    ("a+b", "account name 'a+b' contains '+'"),
    (".a", "must not start or end with '.'"),
])
def test_name_rules(name: str, reason: str) -> None:
    assert reason in name_problem(name)


def test_good_names() -> None:
    for name in ("meier", "a.b-c_d", "X" * 64, "0"):
        assert name_problem(name) is None


def test_clear_text_password_is_refused(conf: Path) -> None:
    (conf / "accounts" / "meier.toml").write_text('password = "secret"\n')
    msg = error(conf)
    assert "key 'password': is not a password hash" in msg and ":1:" in msg


def test_duplicates_and_postmasters(conf: Path) -> None:
    account(conf, "meier", postmaster=True)
    account(conf, "schulze", postmaster=True)
    assert "more than one postmaster (meier, schulze)" in error(conf)
    (conf / "accounts" / "schulze.toml").unlink()
    account(conf, "MEIER")
    assert "exists twice (names are case-insensitive)" in error(conf)


def test_cross_references(conf: Path) -> None:
    account(conf, "meier")
    group(conf, "staff", ["meier", "nobody"])
    assert "member 'nobody' is not a local account or group" in error(conf)
    group(conf, "staff", ["meier", "nobody@lan.test"])
    assert "member 'nobody@lan.test' is not a local account or group" in error(conf)
    group(conf, "staff", ["meier", "nobody@example.com"])
    load_config(conf)
    group(conf, "meier", [])
    assert "a group and an account cannot share the name 'meier'" in error(conf)
    (conf / "groups" / "meier.toml").unlink()
    group(conf, "a", ["b"])
    group(conf, "b", ["a"])
    assert "groups contain each other in a circle (a -> b -> a)" in error(conf)
    for p in (conf / "groups").glob("*.toml"):
        p.unlink()
    account(conf, "meier", forward_to="ghost")
    assert "key 'forward_to': 'ghost' is not a local account or group" in error(conf)
    account(conf, "meier", forward_to="meier@lan.test")
    assert "cannot forward to itself" in error(conf)
    account(conf, "meier", einvoice=True, forward_to="x@example.com")
    assert "key 'forward_to': is not available on an e-invoice mailbox" in error(conf)
    account(conf, "meier", sms_number="call me")
    assert "key 'sms_number': 'call me' is not a phone number" in error(conf)


def test_overlay_validates_without_touching_disk(conf: Path) -> None:
    path = account(conf, "meier")
    new = conf / "accounts" / "schulze.toml"
    cfg = load_config(conf, overlay={new: f'password = "{HASH}"\n', path: None})
    assert list(cfg.accounts) == ["schulze"]
    assert path.exists() and not new.exists()


def test_change_keeps_comments_and_refuses_atomically(conf: Path) -> None:
    path = account(conf, "meier")
    path.write_text(f'# Meier, sales\npassword = "{HASH}"\nquota   =  5  # bytes\n')
    change = Change(conf)
    doc = change.doc(path)
    doc["quota"] = 7
    doc["archive"] = True
    change.put(path, doc)
    change.validate()
    change.commit()
    text = path.read_text()
    assert text.startswith("# Meier, sales\n") and "quota   =  7  # bytes" in text
    assert "archive = true" in text
    before = path.read_text()
    bad = Change(conf)
    doc = bad.doc(path)
    doc["postmaster"] = "yes"
    bad.put(path, doc)
    with pytest.raises(ConfigError):
        bad.validate()
    assert path.read_text() == before


def test_atomic_write_modes(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    atomic_write(path, "x = 1\n")
    assert os.stat(path).st_mode & 0o777 == 0o600
    path.chmod(0o644)
    atomic_write(path, "x = 2\n")
    assert os.stat(path).st_mode & 0o777 == 0o640  # never stays world-readable
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_sizes() -> None:
    assert parse_size("500M") == 500 << 20 and parse_size("2G") == 2 << 30
    assert parse_size("123") == 123 and parse_size(7) == 7 and parse_size("1.5K") == 1536
    with pytest.raises(ValueError, match="is not a size"):
        parse_size("2X")
    assert format_size(1536) == "1.5K" and format_size(2 << 30) == "2G"


def test_shipped_conf_d_is_valid() -> None:
    cfg = load_config(Path(__file__).resolve().parents[1] / "conf.d")
    assert all(h == "127.0.0.1" and p > 1024 for addrs in vars(cfg.listen).values()
               for h, p in addrs)


def test_implicit_tls_listener_needs_certificate(conf: Path) -> None:
    (conf / "lanmaild.toml").write_text(MAIN + 'imaps = ["127.0.0.1:2993"]\n')
    msg = error(conf)
    assert msg.startswith(f"{conf / 'lanmaild.toml'}:9: key 'listen.imaps':")
    assert "implicit TLS needs a certificate" in msg
