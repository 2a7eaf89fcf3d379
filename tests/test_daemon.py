"""lanmaild's life cycle and bad input: hand edits + reload/SIGHUP, SIGTERM, start-up errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from lanmail_helpers import err, inject_mail, message, ok


def wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def run_lanmaild(daemon, timeout: float = 20) -> subprocess.CompletedProcess:
    """Start lanmaild in the foreground expecting it to refuse start-up."""
    return subprocess.run([sys.executable, "-m", "lanmaild.main", "--config-dir",
                           str(daemon.conf)], capture_output=True, text=True, timeout=timeout)


def test_hand_edit_and_lanmailctl_reload(daemon) -> None:
    daemon.add_account_file("weber", display_name="Eva")
    assert err(daemon.api("account.show", name="weber"))[0] == "not_found"
    proc = daemon.ctl("reload")
    assert proc.returncode == 0 and proc.stdout.strip() == "reloaded: 3 accounts, 0 groups"
    assert ok(daemon.api("account.show", name="weber"))["display_name"] == "Eva"
    # the account got its folders, exactly like account.add
    names = {f["name"] for f in ok(daemon.api("account.show", name="weber"))["folders"]}
    assert {"INBOX", "INBOX.SENT", "INBOX.Drafts", "INBOX.Trash"} <= names


def test_bad_hand_edit_is_refused_and_old_config_keeps_serving(daemon) -> None:
    path = daemon.conf / "accounts" / "meier.toml"
    good = path.read_text()
    path.write_text(good + 'display_name = "Hans"\nquota = "viel"\n')
    proc = daemon.ctl("reload")
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        f"lanmailctl: {path}:3: key 'quota': must be an integer, not a string"
    assert ok(daemon.api("account.show", name="meier"))["display_name"] == ""
    assert ok(daemon.api("status"))["accounts"] == 2
    # malformed TOML is refused the same way, with line and column
    path.write_text(good + "display_name = \n")
    code, msg = err(daemon.api("reload"))
    assert code == "config" and msg.startswith(f"{path}:2: invalid TOML: ")
    assert "(column 16)" in msg
    path.write_text(good)
    assert daemon.ctl("reload").returncode == 0


def test_sighup_reloads_and_a_bad_file_logs_one_line(daemon) -> None:
    daemon.add_account_file("weber")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.api("account.show", name="weber")["ok"])
    path = daemon.conf / "accounts" / "weber.toml"
    path.write_text(path.read_text() + "postmaster = 1\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.log())
    lines = [ln for ln in daemon.log().splitlines() if "reload refused" in ln]
    assert len(lines) == 1
    assert lines[0].endswith(f"reload refused, old config keeps serving: {path}:2: key "
                             "'postmaster': must be true or false, not an integer")
    assert "Traceback" not in daemon.log()
    assert ok(daemon.api("account.show", name="weber"))["postmaster"] is False


def test_sigterm_stops_cleanly_and_mail_survives(daemon) -> None:
    inject_mail(daemon, "meier", {"INBOX": [message("keep")]})
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(15) == 0
    assert "stopped" in daemon.log().splitlines()[-1]
    assert not daemon.socket.exists()
    daemon.start()
    assert ok(daemon.api("account.show", name="meier"))["messages"] == 1


def test_stale_socket_from_a_crash_is_replaced(daemon_factory) -> None:
    d = daemon_factory(start=False)
    d.data.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(d.socket))
    stale.close()  # the file stays, nobody listens: what kill -9 leaves behind
    assert d.socket.exists()
    d.start()
    assert ok(d.api("status"))["pid"] == d.proc.pid


def test_second_daemon_on_the_same_data_dir_is_refused(daemon) -> None:
    proc = run_lanmaild(daemon)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"lanmaild: another lanmaild (pid {daemon.proc.pid}) is "
                                   f"already running on data_dir {daemon.data}")
    assert ok(daemon.api("status"))["pid"] == daemon.proc.pid  # the first one is unharmed


def test_unwritable_data_dir(daemon_factory, tmp_path) -> None:
    d = daemon_factory(start=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace(f'data_dir = "{d.data}"',
                                             f'data_dir = "{blocker}/data"'))
    proc = run_lanmaild(d)
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        f"lanmaild: data_dir {blocker}/data is not writable: Not a directory"


def test_port_in_use_names_the_port(daemon_factory) -> None:
    d = daemon_factory(start=False)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", d.ports["pop3"]))
        busy.listen()
        proc = run_lanmaild(d)
    assert proc.returncode == 1
    # the log lines of the aborted start, then the one-line reason last
    assert proc.stderr.strip().splitlines()[-1] == (
        f"lanmaild: cannot listen on 127.0.0.1:{d.ports['pop3']} for pop3: address already "
        "in use")
    assert "Traceback" not in proc.stderr
    assert not d.socket.exists()


def test_bad_config_stops_start_up_with_file_line_key(daemon_factory) -> None:
    d = daemon_factory(start=False)
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace("[limits]\n", "[limits]\nrecipient = 5\n"))
    proc = run_lanmaild(d)
    assert proc.returncode == 78
    line = next(n for n, text in enumerate(main.read_text().splitlines(), 1)
                if text.startswith("recipient "))
    assert proc.stderr.strip() == f"lanmaild: {main}:{line}: key 'limits.recipient': unknown key"
    main.write_text("[server\n")
    proc = run_lanmaild(d)
    assert proc.returncode == 78 and f"{main}:1: invalid TOML: " in proc.stderr
    assert "(column 8)" in proc.stderr
