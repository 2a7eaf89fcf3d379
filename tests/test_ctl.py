"""lanmailctl against a real lanmaild: accounts, groups, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
from lanmail_helpers import (
    CLEAR_PASSWORD,
    ctl_json,
    err,
    files_containing,
    inject_mail,
    message,
    ok,
)

from lanmaild.auth.passwords import verify_password


def one_line_error(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """The refused command's stderr: exactly one line, no traceback; returns it."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_issue_done_when(daemon_factory) -> None:
    d = daemon_factory()
    proc = d.ctl("account", "add", "meier", "--password-stdin", input=CLEAR_PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    assert [a["name"] for a in ctl_json(d, "account", "list")] == ["meier"]
    path = d.conf / "accounts" / "meier.toml"
    data = tomllib.loads(path.read_text())
    assert data["password"].startswith("$scrypt$")
    assert verify_password(CLEAR_PASSWORD, data["password"])
    assert os.stat(path).st_mode & 0o777 == 0o600

    assert d.ctl("account", "modify", "meier", "--postmaster").returncode == 0
    assert tomllib.loads(path.read_text())["postmaster"] is True
    proc = d.ctl("account", "add", "schulze", "--postmaster", "--password-stdin",
                 input="pw2\n")
    assert one_line_error(proc) == (
        "lanmailctl: 'meier' is already the postmaster and only one account can be: use "
        "--force (\"force\": true) to move it to 'schulze'")
    assert not (d.conf / "accounts" / "schulze.toml").exists()

    proc = d.ctl("account", "add", "schulze", "--postmaster", "--force", "--password-stdin",
                 input="pw2\n")
    assert proc.returncode == 0, proc.stderr
    assert tomllib.loads(path.read_text())["postmaster"] is False
    assert tomllib.loads((d.conf / "accounts" / "schulze.toml").read_text())["postmaster"]

    # No clear-text password anywhere: conf.d, the data dir (SQLite, WAL) or the log.
    needle = CLEAR_PASSWORD.encode()
    assert files_containing(d.conf, needle) == []
    assert files_containing(d.data, needle) == []
    assert needle not in d.log_path.read_bytes()


BAD_NAMES = [
    ("hans meier", "account name 'hans meier' contains a space: use ASCII letters, digits, "
                   "'.', '-' or '_' (1-64 characters)"),
    ("müller", "account name 'müller' contains 'ü': umlauts and other non-ASCII letters are "
               "not allowed; use ASCII letters, digits, '.', '-' or '_' (1-64 characters)"),
    ("meier@lan.test", "account name 'meier@lan.test' contains '@': give only the part before "
                       "the '@' (the domain comes from [server] domains)"),
    ("", "account name must not be empty"),
    ("a" * 65, "account name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is too long "
               "(65 characters, at most 64)"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES[:2])
def test_bad_account_names(daemon, name: str, message: str) -> None:
    """All five cases go through the API in test_api; the CLI adds only its prefix."""
    proc = daemon.ctl("account", "add", name, "--password-stdin", input="pw\n")
    assert one_line_error(proc) == f"lanmailctl: {message}"
    assert sorted(p.name for p in (daemon.conf / "accounts").iterdir()) == \
        ["meier.toml", "schulze.toml"]


def test_duplicates_and_shared_names(daemon) -> None:
    proc = daemon.ctl("account", "add", "MEIER", "--password-stdin", input="pw\n")
    assert one_line_error(proc) == ("lanmailctl: account 'MEIER' already exists (names are "
                                    "case-insensitive)")
    proc = daemon.ctl("group", "add", "Schulze", "meier")
    assert one_line_error(proc) == ("lanmailctl: an account named 'Schulze' exists; a group "
                                    "and an account cannot share a name")
    proc = daemon.ctl("group", "add", "staff", "meier", "ghost")
    assert one_line_error(proc) == (
        "lanmailctl: member 'ghost' is not a local account or group (internet addresses need "
        "their domain, e.g. name@example.com)")
    assert not (daemon.conf / "groups" / "staff.toml").exists()


def test_account_settings_show_and_list(daemon) -> None:
    proc = daemon.ctl("account", "modify", "meier", "--display-name", "Hans Meier",
                      "--quota", "500M", "--archive", "--forward-to", "schulze",
                      "--keep-copy", "--sms-number", "+49 170 1234567")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads((daemon.conf / "accounts" / "meier.toml").read_text())
    assert data["quota"] == 500 * 1024 * 1024 and data["archive"] is True
    assert data["forward_to"] == "schulze" and data["keep_copy"] is True
    inject_mail(daemon, "meier", {"INBOX": [message("one"), message("two", "x" * 1000)],
                                  "INBOX.Projekte": [message("three")]})
    shown = ctl_json(daemon, "account", "show", "meier")
    assert "password" not in shown and shown["display_name"] == "Hans Meier"
    folders = {f["name"]: f for f in shown["folders"]}
    assert folders["INBOX"]["messages"] == 2 and folders["INBOX.Projekte"]["messages"] == 1
    assert folders["INBOX"]["size"] > 1000 and folders["INBOX.SENT"]["messages"] == 0
    assert shown["messages"] == 3
    human = daemon.ctl("account", "show", "meier")
    assert human.returncode == 0
    assert "INBOX.Projekte" in human.stdout and "Hans Meier" in human.stdout
    assert "500M" in human.stdout and "$scrypt$" not in human.stdout
    listing = daemon.ctl("account", "list")
    assert listing.stdout.splitlines()[0].split()[:2] == ["NAME", "DISPLAY"]
    assert any(line.startswith("meier ") for line in listing.stdout.splitlines())

    # --no-* switches and '' clear settings again
    proc = daemon.ctl("account", "modify", "meier", "--no-archive", "--forward-to", "",
                      "--quota", "0")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads((daemon.conf / "accounts" / "meier.toml").read_text())
    assert (data["archive"], data["forward_to"], data["quota"]) == (False, "", 0)


def test_delete_with_keep_mail_exports_eml(daemon, tmp_path) -> None:
    raws = [message("first"), message("second")]
    inject_mail(daemon, "meier", {"INBOX": raws, "INBOX.SENT": [message("sent")]})
    proc = daemon.ctl("account", "delete", "meier")
    assert one_line_error(proc) == ("lanmailctl: refusing to delete account 'meier' and all "
                                    "its mail without --yes")
    out = tmp_path / "export"
    proc = daemon.ctl("account", "delete", "meier", "--yes", "--keep-mail", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"account meier deleted, 3 messages exported to {out}"
    assert (out / "INBOX" / "1.eml").read_bytes() == raws[0]
    assert (out / "INBOX" / "2.eml").read_bytes() == raws[1]
    assert b"Subject: sent" in (out / "INBOX.SENT" / "1.eml").read_bytes()
    assert not (daemon.conf / "accounts" / "meier.toml").exists()
    assert err(daemon.api("account.show", name="meier")) == ("not_found", "no account 'meier'")
    # The mail is gone too: a new account of that name starts empty.
    assert ok(daemon.api("account.add", name="meier", password="pw"))["messages"] == 0
    # An export folder that is not empty is refused before anything is deleted.
    code, msg = err(daemon.api("account.delete", name="meier", yes=True, keep_mail=str(out)))
    assert code == "invalid" and msg.endswith("exists and is not an empty folder")
    assert (daemon.conf / "accounts" / "meier.toml").exists()


def test_groups(daemon) -> None:
    proc = daemon.ctl("group", "add", "staff", "meier", "boss@example.com",
                      "--description", "Alle")
    assert proc.returncode == 0, proc.stderr
    path = daemon.conf / "groups" / "staff.toml"
    assert tomllib.loads(path.read_text())["members"] == ["meier", "boss@example.com"]
    proc = daemon.ctl("group", "modify", "staff", "--add", "schulze", "--remove", "meier")
    assert proc.returncode == 0, proc.stderr
    shown = ctl_json(daemon, "group", "show", "staff")
    assert shown["members"] == ["boss@example.com", "schulze"]
    assert shown["recipients"] == ["boss@example.com", "schulze@lan.test"]
    assert err(daemon.api("account.delete", name="schulze", yes=True)) == (
        "conflict", "account 'schulze' is a member of group 'staff': remove it there first")
    listing = daemon.ctl("group", "list")
    assert listing.stdout.splitlines()[1].split()[:3] == ["staff", "boss@example.com,",
                                                          "schulze"]
    assert daemon.ctl("group", "delete", "staff").returncode == 0
    assert not path.exists() and ok(daemon.api("group.list")) == []


def test_usage_errors_exit_2(daemon) -> None:
    proc = daemon.ctl("account", "add", "x", "--password", "secret")
    assert proc.returncode == 2 and "No such option" in proc.stderr
    proc = daemon.ctl("account", "add", "x")  # no TTY, no --password-stdin
    assert one_line_error(proc, 2) == ("lanmailctl: no password: pipe it in with "
                                       "--password-stdin, or run on a terminal to be asked")
    proc = daemon.ctl("account", "modify", "meier", "--quota", "2X")
    assert proc.returncode == 2 and "is not a size" in proc.stderr


def test_no_daemon_one_line_naming_the_socket(daemon_factory) -> None:
    d = daemon_factory(start=False)
    for argv in (("status",), ("account", "list")):
        proc = d.ctl(*argv)
        assert one_line_error(proc) == \
            f"lanmailctl: lanmaild is not running (no answer on {d.socket})"


def test_config_check_works_without_daemon(daemon_factory) -> None:
    d = daemon_factory(start=False, accounts={"meier": {}})
    proc = d.ctl("config", "check")
    assert proc.returncode == 0 and "valid (1 accounts, 0 groups)" in proc.stdout
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + "colour = 1\n")
    proc = d.ctl("config", "check")
    assert one_line_error(proc) == f"lanmailctl: {path}:2: key 'colour': unknown key"
    proc = d.ctl("--json", "config", "check")
    assert proc.returncode == 1
    import json

    data = json.loads(proc.stdout)
    assert (data["valid"], data["line"], data["key"]) == (False, 2, "colour")


def test_password_prompt_on_a_terminal(daemon) -> None:
    """Without --password-stdin, a terminal is asked twice (hidden) for the password."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # child: the real lanmailctl on a pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-m", "lanmailctl.cli", "--config-dir",
                                  str(daemon.conf), "account", "add", "prompted"])
    output = b""
    answers = [CLEAR_PASSWORD, CLEAR_PASSWORD]
    while True:
        ready, _, _ = select.select([fd], [], [], 20)
        if not ready:
            os.kill(pid, 9)
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        # getpass turns echo off, then writes the prompt's last " ": answer only then
        if answers and output.endswith(b": "):
            os.write(fd, answers.pop(0).encode() + b"\n")
            output += b"\n"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert CLEAR_PASSWORD.encode() not in output  # hidden input
    data = tomllib.loads((daemon.conf / "accounts" / "prompted.toml").read_text())
    assert verify_password(CLEAR_PASSWORD, data["password"])
