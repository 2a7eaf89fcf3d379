"""Failed log-ins remembered for throttling: bounded in keys and per key, and forgotten.

Why bounded: the keys come from the network (client addresses, and user names up to the
line limit), so a table that only grows is a memory leak any client can drive. Here
every key keeps at most ``per_key`` timestamps, the table at most ``max_keys`` keys (the
one whose last failure is oldest goes first), and keys whose last failure left the window
are dropped as new failures arrive: the cost is proportional to what expires.
"""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_KEYS = 20_000
MAX_NAME = 320  # RFC 5321 4.5.3.1: local part 64 + @ + domain 255


def name_key(username: str) -> str:
    """A user name as a table key: case-insensitive and bounded in length."""
    return username.strip().lower()[:MAX_NAME]


class FailureTable:
    def __init__(self, max_keys: int = MAX_KEYS, per_key: int = 64) -> None:
        self.max_keys = max_keys
        self.per_key = per_key
        self._entries: OrderedDict[object, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, key: object, now: float, window: float) -> int:
        """Failures of ``key`` within the last ``window`` seconds."""
        times = self._entries.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._entries[key]
            return 0
        return len(times)

    def add(self, key: object, now: float, window: float) -> int:
        """Record a failure; returns the failures of ``key`` within the window."""
        self._expire(now, window)
        times = self._entries.get(key)
        if times is None:
            times = self._entries[key] = deque(maxlen=self.per_key)
        else:
            self._entries.move_to_end(key)
        times.append(now)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return self.count(key, now, window)

    def forget(self, key: object) -> None:
        self._entries.pop(key, None)

    def _expire(self, now: float, window: float) -> None:
        """Keys are ordered by their last failure: drop stale ones from the front."""
        while self._entries:
            key, times = next(iter(self._entries.items()))
            if times and times[-1] > now - window:
                return
            del self._entries[key]
