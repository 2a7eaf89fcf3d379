"""doctor: every check of ``lanmaild.doctor``, one result each."""

from __future__ import annotations

from ..registry import op


@op("doctor")
async def doctor(runtime, args: dict) -> list:
    """Check ports, certificate, DNS, smarthost and external logins, disk and store."""
    from ... import doctor as checks

    return await checks.run(runtime)
