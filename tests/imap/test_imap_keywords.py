"""Keywords (RFC 3501 2.3.2, 7.2.6): the folder's keywords in FLAGS and PERMANENTFLAGS at
SELECT, a fresh FLAGS list when one turns up, and client errors for unknown system flags."""

from __future__ import annotations

from imaphelp import message

from lanmaild.store.mailbox import MAX_FOLDER_KEYWORDS


def test_select_lists_the_keywords_in_use(raw, connect, user):
    c = connect(user)
    c.append("INBOX", "($Label1 $Forwarded)", None, message("tagged"))
    lines = raw(login=user).cmd("a1 SELECT INBOX")
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Label1)" \
        in lines, lines
    assert (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded"
            b" $Label1 \\*)] Flags permitted") in lines, lines


def test_a_new_keyword_gets_a_flags_response_before_it_is_used(raw, connect, user):
    connect(user).append("INBOX", None, None, message("plain"))
    a = raw(login=user)
    b = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    b.cmd("b1 SELECT INBOX")
    lines = a.cmd("a2 STORE 1 +FLAGS ($Todo)")
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Todo)", lines
    assert lines[1].startswith(b"* OK [PERMANENTFLAGS (")
    assert lines[2] == b"* 1 FETCH (FLAGS (\\Recent $Todo))", lines
    # The other session learns the keyword at its next command, FLAGS first.
    lines = b.cmd("b2 NOOP")
    assert lines[0].startswith(b"* FLAGS (") and b"$Todo" in lines[0], lines
    assert lines[2] == b"* 1 FETCH (UID 1 FLAGS ($Todo))", lines
    # Known keywords are not announced again.
    assert a.cmd("a3 STORE 1 -FLAGS ($Todo)")[0] == b"* 1 FETCH (FLAGS (\\Recent))"


def test_unknown_system_flag_is_bad(raw, connect, user):
    connect(user).append("INBOX", None, None, message("plain"))
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    assert a.cmd("a2 STORE 1 +FLAGS (\\NoSuchSystemFlag)")[-1].startswith(b"a2 BAD")
    assert a.cmd("a3 STORE 1 +FLAGS (\\Recent)")[-1].startswith(b"a3 BAD")
    assert a.cmd("a4 FETCH 1 (FLAGS)")[0] == b"* 1 FETCH (FLAGS (\\Recent))"
    lines = a.cmd("a5 APPEND INBOX (\\Bogus) {5+}\r\nab\r\n\r\n")
    assert lines[-1].startswith(b"a5 BAD"), lines


def test_keywords_per_folder_are_capped(raw, connect, user):
    connect(user).append("INBOX", None, None, message("plain"))
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    names = " ".join(f"k{i}" for i in range(MAX_FOLDER_KEYWORDS))
    assert a.cmd(f"a2 STORE 1 +FLAGS.SILENT ({names})")[-1].startswith(b"a2 OK")
    lines = a.cmd("a3 STORE 1 +FLAGS.SILENT (one-too-many)")
    assert lines[-1].startswith(b"a3 NO [LIMIT]"), lines
    lines = a.cmd("a4 SELECT INBOX")
    permanent = next(line for line in lines if b"PERMANENTFLAGS" in line)
    assert b"\\*" not in permanent  # no new keywords possible
