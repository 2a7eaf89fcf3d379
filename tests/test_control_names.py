"""Names in the control API (hardening issue, item 12): every operation validates its
name like ``account add`` does, no edit reaches outside conf.d, and the control socket
path never deletes anything that is not a stale socket."""

from __future__ import annotations

import pytest
from lanmail_helpers import err

from lanmaild.config.writer import Change, find_item_file

EVIL = ["../../victim", "../groups/staff", "/etc/passwd", "a/b", ".hidden", "x\x00y"]


@pytest.mark.parametrize("op,extra", [("account.delete", {"yes": True}),
                                      ("account.modify", {"display_name": "x"}),
                                      ("account.show", {}),
                                      ("group.delete", {}),
                                      ("group.modify", {"description": "x"}),
                                      ("group.show", {}),
                                      ("mail.list", None)])
def test_every_operation_validates_the_name(daemon, op, extra) -> None:
    victim = daemon.root / "victim.toml"
    victim.write_text('password = "keep me"\n')
    (daemon.conf / "groups" / "staff.toml").write_text('members = ["meier"]\n')
    for name in EVIL:
        args = {"account": name} if extra is None else {"name": name, **extra}
        code, message = err(daemon.api(op, **args))
        assert code == "invalid", (op, name, code, message)
    assert victim.read_text() == 'password = "keep me"\n'  # nothing outside conf.d touched


def test_the_cli_gives_one_line(daemon) -> None:
    proc = daemon.ctl("account", "delete", "../../victim", "--yes")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_writer_never_builds_a_path_outside_conf_d(tmp_path) -> None:
    conf = tmp_path / "conf.d"
    (conf / "accounts").mkdir(parents=True)
    (tmp_path / "victim.toml").write_text("x = 1\n")
    assert find_item_file(conf / "accounts", "../../victim") is None
    change = Change(conf)
    with pytest.raises(ValueError):
        change.delete(tmp_path / "victim.toml")
    with pytest.raises(ValueError):
        change.put(conf / "accounts" / ".." / ".." / "victim.toml", "x = 2\n")


def test_a_regular_file_at_the_socket_path_is_never_deleted(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, start=False)
    d.socket.parent.mkdir(parents=True, exist_ok=True)
    d.socket.write_text("precious\n")
    d.start(wait=False)
    assert d.proc.wait(20) == 1
    out = d.log()
    assert "is not a socket" in out and "Traceback" not in out, out
    assert [line for line in out.splitlines() if line.startswith("lanmaild: ")] == [
        f"lanmaild: control socket path {d.socket} exists and is not a socket; move it "
        "away or set another [server] control_socket"], out
    assert d.socket.read_text() == "precious\n"
