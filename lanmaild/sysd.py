"""Running as a system service (issue 13): systemd readiness, the unprivileged user, and
who may use the control socket. No dependency: sd_notify is one datagram.

- ``notify``: ``READY=1`` once every listener is up, ``RELOADING=1`` ... ``READY=1`` around
  a reload (SIGHUP), ``STOPPING=1`` at SIGTERM, sent to ``$NOTIFY_SOCKET`` (Type=notify;
  a no-op when not started by systemd).
- ``drop_privileges``: started as root with ``[server] user``: the listeners are bound
  (ports below 1024 need root), then data_dir, conf.d and the control socket's folder are
  handed to that user (it writes there: the store, configuration changes) and the process
  becomes that user for good (setgroups, setgid, setuid: all threads, glibc).
- ``admin_socket``: the control socket belongs to ``[server] admin_group`` (mode 0660), so
  its members may run lanmailctl without being root.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import socket
from pathlib import Path

log = logging.getLogger("lanmaild")


def notify(state: str) -> None:
    """Tell systemd (``Type=notify``) about a state change; silent without it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify %s failed: %s", state, exc)


def _chown_tree(root: Path, uid: int) -> None:
    """The owner only: groups stay (the socket's folder belongs to the admin group)."""
    if not root.exists():
        return
    for path in [root, *root.rglob("*")]:
        try:
            os.chown(path, uid, -1, follow_symlinks=False)
        except FileNotFoundError:
            pass


def drop_privileges(config) -> bool:
    """Become ``[server] user`` (only when running as root and a user is set); True when
    the process changed user."""
    name = config.server.user
    if not name or os.geteuid() != 0:
        return False
    pw = pwd.getpwnam(name)
    for folder in {config.server.data_dir, config.config_dir,
                   config.server.control_socket.parent}:
        _chown_tree(folder, pw.pw_uid)
    groups = [pw.pw_gid]
    if config.server.admin_group:
        groups.append(grp.getgrnam(config.server.admin_group).gr_gid)
    os.setgroups(groups)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ["HOME"] = pw.pw_dir
    log.info("running as %s (uid %d)", name, pw.pw_uid)
    return True


def admin_socket(path: Path, group: str) -> None:
    """The control socket usable by ``group``: the socket 0660 and its folder searchable
    (g+x; the store's files in it stay 0600). Without a group: root's (or the service
    user's) alone."""
    if not group:
        return
    gid = grp.getgrnam(group).gr_gid
    os.chown(path.parent, -1, gid)
    os.chmod(path.parent, (path.parent.stat().st_mode & 0o7777) | 0o010)
    os.chown(path, -1, gid)
    os.chmod(path, 0o660)
