"""Sizes for humans: ``parse_size("500M") == 524288000``, ``format_size(1536) == "1.5K"``."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from an int or a text like ``123``, ``500K``, ``500M``, ``2G``, ``1.5GiB``
    (binary units); ValueError with a one-line reason otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a size must be 0 or more")
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a size: use bytes or a number with K, M, G or T "
                         "(e.g. 500M, 2G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}" if unit == "" else f"{value:.1f}{unit}".replace(".0", "")
        value /= 1024
    return str(size)


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """Seconds from an int or a text like ``90``, ``30s``, ``5m``, ``4h``, ``5d``;
    ValueError with a one-line reason otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration must be 0 or more")
        return text
    m = _DURATION_RE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration: use seconds or a number with s, m, h "
                         "or d (e.g. 30s, 5m, 4h, 5d)")
    return int(float(m.group(1)) * _SECONDS[m.group(2).lower()])

