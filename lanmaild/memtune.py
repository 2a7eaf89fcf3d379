"""glibc malloc settings for a long-running, threaded server that moves big byte strings.

Why: serving IMAP moves messages as ``bytes`` of 10 KB-50 MB through reader threads and the
event loop. With glibc's defaults such a process keeps far more memory than it uses:

- the mmap threshold is dynamic: after a large block allocated with mmap is freed, glibc
  raises the threshold to that size (up to 32 MB), so later message-sized blocks come from
  the heap, whose free space is rarely returned to the system (fragmentation);
- every thread that allocates may get its own arena (up to 8 per core), each keeping its
  own free memory.

Fixing the mmap threshold at 256 KB (large blocks always come from mmap and go back to the
system when freed) and allowing two arenas, together with smaller SQLite reader caches
(``store.db``) and 1 MB FETCH chunks, took the peak PSS of eight concurrent full downloads
of a 10,000-message folder from 261 MB to about 105 MB (bench imap-small, issue 15).
Not glibc (musl, macOS): nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("lanmaild")

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024
ARENA_MAX = 2


_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    return _LIBC


def trim() -> bool:
    """Give free heap memory back to the system (glibc ``malloc_trim``): called when the
    server goes idle after a burst (the indexer's idle loop), so a big APPEND or FETCH
    burst does not leave the process at its high-water mark. False when not glibc."""
    libc = _libc()
    if not libc or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))


def tune_malloc() -> bool:
    """Apply the settings above; False when this is not glibc."""
    libc = _libc()
    if not libc or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_ARENA_MAX, ARENA_MAX) == 1 and ok
    if not ok:
        log.debug("mallopt refused the memory settings")
    return ok
