"""Account names and mail addresses: the one definition every part of lanmaild checks
against (config loading, the control API, SMTP and the delivery pipeline), so they can
never disagree on what a name or an address is."""

from __future__ import annotations

import re

# A local name (account/group): ASCII letters, digits, '.', '-', '_'; no leading,
# trailing or double dot (a dot-atom), 1-64 characters. Routing characters (%, !, quotes)
# can never be part of one, which is what keeps relay tricks out.
NAME_RE = re.compile(r"^(?=.{1,64}$)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
NAME_RULE = "use ASCII letters, digits, '.', '-' or '_' (1-64 characters)"
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# A plain internet address (RFC 5321 dot-string local part, LDH domain labels, optional
# trailing dot): what may be a forward target or an outgoing recipient.
ADDRESS_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"
                        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                        r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")
# The same with UTF-8 allowed (RFC 6531 SMTPUTF8 addresses).
UTF8_ADDRESS_RE = re.compile(r"^[^\s@\"<>()\[\],;:\\\x00-\x1f\x7f]{1,64}@[^\s@\"<>()\[\],;:\\"
                             r"\x00-\x1f\x7f]{1,253}$")


def name_problem(name: str, kind: str = "account") -> str | None:
    """Why ``name`` cannot be an account/group name (one line), or None when it is fine."""
    shown = name if len(name) <= 40 else name[:37] + "..."
    if not name:
        return f"{kind} name must not be empty"
    if len(name) > 64:
        return f"{kind} name '{shown}' is too long ({len(name)} characters, at most 64)"
    if "@" in name:
        return (f"{kind} name '{shown}' contains '@': give only the part before the '@' "
                "(the domain comes from [server] domains)")
    for ch in name:
        if ch.isspace():
            return f"{kind} name '{shown}' contains a space: {NAME_RULE}"
        if not ch.isascii():
            return (f"{kind} name '{shown}' contains '{ch}': umlauts and other non-ASCII "
                    f"letters are not allowed; {NAME_RULE}")
        if not (ch.isalnum() or ch in "._-"):
            return f"{kind} name '{shown}' contains '{ch}': {NAME_RULE}"
    if name.startswith(".") or name.endswith(".") or ".." in name:
        return f"{kind} name '{shown}' must not start or end with '.' or contain '..'"
    return None


