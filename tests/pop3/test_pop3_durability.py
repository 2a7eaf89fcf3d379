"""Never lose mail: DELE only takes effect at QUIT, after the commit; UIDLs never change."""

from __future__ import annotations

import time

from pop3_helpers import Raw, connect, inbox_uids, make_message, put_mail


def uidl_map(daemon) -> dict[bytes, bytes]:
    """unique-id -> message text for every message in meier's maildrop."""
    pop = connect(daemon)
    _, lines, _ = pop.uidl()
    result = {}
    for line in lines:
        number, uid = line.split()
        result[uid] = b"\r\n".join(pop.retr(int(number))[1])
    pop.quit()
    return result


def test_dele_only_applied_on_quit(pop_daemon):
    before = uidl_map(pop_daemon)
    assert len(before) == 3

    # connection dropped without QUIT: nothing deleted
    raw = Raw(pop_daemon.ports["pop3"])
    raw.cmd("USER meier")
    assert raw.cmd("PASS secret").startswith(b"+OK")
    assert raw.cmd("DELE 1").startswith(b"+OK")
    assert raw.cmd("DELE 2").startswith(b"+OK")
    raw.close()
    time.sleep(0.2)
    assert uidl_map(pop_daemon) == before
    assert "session ended without QUIT: 2 marked messages kept" in pop_daemon.log()

    # RSET then QUIT: nothing deleted
    pop = connect(pop_daemon)
    pop.dele(1)
    pop.rset()
    assert b"0 messages deleted" in pop.quit()
    assert uidl_map(pop_daemon) == before

    # DELE + QUIT: deleted, the others keep their UIDL (and message numbers close up)
    pop = connect(pop_daemon)
    pop.dele(2)
    assert pop.quit() == b"+OK LANMail POP3 server signing off (1 messages deleted, 2 left)"
    after = uidl_map(pop_daemon)
    assert after == {k: v for k, v in before.items() if b"message 2" not in v}
    assert pop_daemon.log().count("session ended without QUIT") == 1
    assert inbox_uids(pop_daemon) == [1, 3]


def test_kill9_before_quit_loses_nothing_and_uidl_survives_restart(pop_daemon):
    before = uidl_map(pop_daemon)
    pop = connect(pop_daemon)
    for n in (1, 2, 3):
        pop.dele(n)
    pop_daemon.kill()  # kill -9 between DELE and QUIT
    pop.close()
    pop_daemon.start()
    assert uidl_map(pop_daemon) == before  # same messages, same unique ids after restart

    # QUIT answered +OK, then kill -9 at once: the deletion was already durable
    pop = connect(pop_daemon)
    pop.dele(3)
    assert pop.quit().startswith(b"+OK")
    pop_daemon.kill()
    pop_daemon.start()
    assert uidl_map(pop_daemon) == {k: v for k, v in before.items() if b"message 3" not in v}

    # new mail gets new ids; old ids stay (also across a clean restart)
    put_mail(pop_daemon, "meier", [make_message(4)])
    now = uidl_map(pop_daemon)
    gone = {u for u, text in before.items() if b"message 3" in text}
    assert len(now) == 3 and set(before) - set(now) == gone
    assert all(now[u] == before[u] for u in set(before) - gone)
    pop_daemon.restart()
    assert uidl_map(pop_daemon) == now


def test_autologout_deletes_nothing(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False, limits_toml="pop3_autologout = 1")
    put_mail(d, "meier", [make_message(1), make_message(2)])
    d.start()
    raw = Raw(d.ports["pop3"])
    raw.cmd("USER meier")
    raw.cmd("PASS secret")
    assert raw.cmd("DELE 1").startswith(b"+OK")
    t0 = time.monotonic()
    idle = Raw(d.ports["pop3"])  # idle before log-in too
    assert raw.closed()  # closed by the server without a reply (RFC 1939 section 3)
    assert 0.8 < time.monotonic() - t0 < 5
    assert idle.closed()
    assert inbox_uids(d) == [1, 2]
    assert "autologout after 1 s idle (TRANSACTION state, nothing deleted)" in d.log()
