"""Real clients against the real daemon: mbsync (isync) syncing a folder tree both ways,
fetchmail over IMAP, curl's imap:// and imaps:// URLs. All over TLS with the test CA."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from imaphelp import PASSWORD, message


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (apt-get install -y isync fetchmail curl)")
    return path


def maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def mails(path: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (path / sub).iterdir())


def run_mbsync(rc: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([need("mbsync"), "-c", str(rc), "-a"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_mbsync_two_way_folder_tree(imapd, imap, user, tmp_path, tls_files):
    imap.append("INBOX", None, None, message("server inbox 1"))
    imap.append("INBOX", "(\\Flagged)", None, message("server inbox 2"))
    imap.create("INBOX.Work.2024")
    imap.append("INBOX.Work.2024", None, None, message("server work"))

    local = tmp_path / "mail"
    maildir(local / "INBOX")
    maildir(local / "Local")
    (local / "Local" / "new" / "1.local:2,").write_bytes(message("made locally"))
    (local / "INBOX" / "new" / "2.local:2,").write_bytes(message("local inbox"))
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount lan\nHost localhost\nPort {imapd.ports['imap']}\nUser {user}\n"
        f"Pass {PASSWORD}\nSSLType STARTTLS\nCertificateFile {tls_files['ca']}\n\n"
        "IMAPStore lan-remote\nAccount lan\n\n"
        f"MaildirStore lan-local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n"
        "Channel lan\nFar :lan-remote:\nNear :lan-local:\nPatterns *\nCreate Both\n"
        "Expunge Both\nSyncState *\n")
    run_mbsync(rc)

    assert len(mails(local / "INBOX")) == 3
    assert len(mails(local / "Work" / "2024")) == 1
    assert any(p.name.endswith("F") for p in mails(local / "INBOX"))  # \Flagged -> F
    typ, data = imap.status("INBOX.Local", "(MESSAGES)")
    assert typ == "OK" and b"MESSAGES 1" in data[0]
    typ, data = imap.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 3" in data[0]

    # Both ways again: a flag set locally, a message deleted on the server.
    first = mails(local / "Work" / "2024")[0]
    first.rename(first.parent.parent / "cur" / (first.name.split(":")[0] + ":2,S"))
    imap.select("INBOX")
    typ, data = imap.search(None, 'SUBJECT "server inbox 1"')
    imap.store(data[0].decode(), "+FLAGS", "(\\Deleted)")
    imap.expunge()
    run_mbsync(rc)
    assert len(mails(local / "INBOX")) == 2
    imap.select("INBOX.Work.2024")
    typ, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]


def test_fetchmail_over_imap(imapd, imap, user, tmp_path, tls_files):
    for i in range(3):
        imap.append("INBOX", None, None, message(f"fetch me {i}"))
    out = tmp_path / "out.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f'poll localhost protocol imap port {imapd.ports["imap"]} user "{user}" '
        f'password "{PASSWORD}" sslproto tls1.2+ sslcertck sslcertfile "{tls_files["ca"]}" '
        f'keep mda "cat >> {out}"\n')
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    cmd = [need("fetchmail"), "-f", str(rc), "--nosyslog", "--nodetach", "-i",
           str(tmp_path / "ids")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    assert all(f"Subject: fetch me {i}" in text for i in range(3))
    # fetched messages are \Seen now: a second run finds nothing new (exit 1)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr


def curl(*args: str, tls_files) -> subprocess.CompletedProcess:
    return subprocess.run([need("curl"), "-sS", "--cacert", str(tls_files["ca"]), *args],
                          capture_output=True, timeout=60)


def test_curl_imap_urls(imapd, imap, user, tmp_path, tls_files):
    imap.append("INBOX", None, None, message("for curl", body="curl body\r\n"))
    base = f"imap://localhost:{imapd.ports['imap']}"
    auth = ["--ssl-reqd", "-u", f"{user}:{PASSWORD}"]
    proc = curl(*auth, f"{base}/INBOX;UID=1", tls_files=tls_files)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"curl body\r\n") and b"Subject: for curl" in proc.stdout
    proc = curl(*auth, "-X", "UID SEARCH SUBJECT curl", f"{base}/INBOX", tls_files=tls_files)
    assert proc.stdout.strip() == b"* SEARCH 1", proc
    eml = tmp_path / "up.eml"
    eml.write_bytes(message("uploaded by curl"))
    proc = curl(*auth, "-T", str(eml), f"{base}/INBOX.Drafts", tls_files=tls_files)
    assert proc.returncode == 0, proc.stderr
    proc = curl(*auth, f"{base}/", tls_files=tls_files)
    assert b'"INBOX.Drafts"' in proc.stdout
    imaps = f"imaps://localhost:{imapd.ports['imaps']}"
    proc = curl("-u", f"{user}:{PASSWORD}", f"{imaps}/INBOX.Drafts;UID=1;SECTION=HEADER",
                tls_files=tls_files)
    assert proc.returncode == 0, proc.stderr
    assert b"Subject: uploaded by curl" in proc.stdout and b"Hello world" not in proc.stdout
    proc = curl("-u", f"{user}:wrong-password", f"{imaps}/INBOX;UID=1", tls_files=tls_files)
    assert proc.returncode != 0
