"""group.add / modify / delete / list / show: conf.d/groups/<name>.toml.

Mail to <group>@<domain> reaches every member: local accounts, other groups, or internet
addresses. Members are checked by the loader (an unknown local member, a group that shares
an account's name, or groups containing each other in a circle are refused).
"""

from __future__ import annotations

from typing import Any

import tomlkit

from ...config.writer import Change, find_item_file
from ...syntax import ADDRESS_RE, NAME_RE
from ..registry import OpError, arg, op
from .config import (
    apply_change,
    check_name,
    check_unknown_args,
    groups_dir,
    name_taken,
    refers_to,
)

GROUP_ARGS = {"name", "members", "description"}


def _members(args: dict, key: str) -> list[str] | None:
    value = arg(args, key, list, required=False)
    if value is None:
        return None
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise OpError("bad_request", f"argument '{key}' must be a list of strings")
        item = item.strip()
        if not (NAME_RE.match(item) or ADDRESS_RE.match(item)):
            raise OpError("invalid", f"member '{item}' is neither a local account/group name "
                          "nor an internet address")
        if item.lower() not in (m.lower() for m in out):
            out.append(item)
    return out


def _check_local_members(runtime, members: list[str], group: str) -> None:
    """A clear message for an unknown local member before the loader's generic one."""
    cfg = runtime.config
    for member in members:
        local, _, domain = member.partition("@")
        if domain and not cfg.is_local_domain(domain):
            continue
        if local.lower() == group.lower():
            raise OpError("invalid", f"group '{group}' cannot be a member of itself")
        if cfg.account(local) is None and cfg.group(local) is None and \
                find_item_file(groups_dir(runtime), local) is None:
            raise OpError("invalid", f"member '{member}' is not a local account or group "
                          "(internet addresses need their domain, e.g. name@example.com)")


def _description(args: dict) -> str | None:
    value = arg(args, "description", str, required=False)
    if value is not None and any(ord(c) < 32 for c in value):
        raise OpError("invalid", "'description' must not contain control characters")
    return value


def group_json(runtime, group) -> dict:
    cfg = runtime.config
    expanded: list[str] = []

    def expand(g, seen: set[str]) -> None:
        for member in g.members:
            local, _, domain = member.partition("@")
            if domain and not cfg.is_local_domain(domain):
                target = member
            elif cfg.group(local) is not None:
                if local.lower() not in seen:
                    expand(cfg.group(local), seen | {local.lower()})
                continue
            else:
                account = cfg.account(local)
                target = f"{account.name if account else local}@{cfg.primary_domain}"
            if target.lower() not in (e.lower() for e in expanded):
                expanded.append(target)

    expand(group, {group.key})
    return {"name": group.name, "description": group.description,
            "members": list(group.members), "recipients": expanded,
            "file": str(find_item_file(groups_dir(runtime), group.name) or "")}


def _configured(runtime, name: str):
    group = runtime.config.group(name)
    if group is None:
        raise OpError("not_found", f"no group '{name}'")
    return group


@op("group.add")
async def group_add(runtime, args: dict) -> dict:
    """Create a group: conf.d/groups/<name>.toml."""
    check_unknown_args(args, GROUP_ARGS)
    name = check_name(arg(args, "name"), "group")
    members = _members(args, "members") or []
    description = _description(args) or ""
    _check_local_members(runtime, members, name)

    def build(change: Change) -> None:
        taken = name_taken(runtime, name)
        if taken == "group":
            raise OpError("exists", f"group '{name}' already exists (names are "
                          "case-insensitive)")
        if taken == "account":
            raise OpError("exists", f"an account named '{name}' exists; a group and an "
                          "account cannot share a name")
        doc = tomlkit.document()
        doc.add(tomlkit.comment(f"LANMail group '{name}', see lanmail.toml(5). Mail to "
                                f"{name}@<domain> goes to every member."))
        doc.add("description", description)
        doc.add("members", _member_array(members))
        change.put(groups_dir(runtime) / f"{name}.toml", doc, 0o640)

    await apply_change(runtime, build, what=f"group {name} added")
    return group_json(runtime, _configured(runtime, name))


def _member_array(members: list[str]) -> Any:
    array = tomlkit.array()
    array.extend(members)
    if len(members) > 3:
        array.multiline(True)
    return array


@op("group.modify")
async def group_modify(runtime, args: dict) -> dict:
    """Replace the members, add or remove some, or change the description."""
    check_unknown_args(args, GROUP_ARGS | {"add", "remove"})
    name = check_name(arg(args, "name"), "group")
    members = _members(args, "members")
    add = _members(args, "add") or []
    remove = {m.lower() for m in (_members(args, "remove") or [])}
    description = _description(args)

    def build(change: Change) -> str:
        path = find_item_file(groups_dir(runtime), name)
        if path is None:
            raise OpError("not_found", f"no group '{name}'")
        doc = change.doc(path)
        current = [str(m) for m in doc.get("members", [])] if members is None else members
        for member in remove:
            if member not in (m.lower() for m in current):
                raise OpError("not_found", f"'{member}' is not a member of group '{path.stem}'")
        new = [m for m in current if m.lower() not in remove]
        new += [m for m in add if m.lower() not in (n.lower() for n in new)]
        _check_local_members(runtime, [m for m in new if m.lower() not in
                                       (c.lower() for c in current)], path.stem)
        if members is not None or add or remove:
            doc["members"] = _member_array(new)
        if description is not None:
            doc["description"] = description
        change.put(path, doc, 0o640)
        return path.stem

    real_name = await apply_change(runtime, build, what="group {result} changed")
    return group_json(runtime, _configured(runtime, real_name))


@op("group.delete")
async def group_delete(runtime, args: dict) -> dict:
    """Delete a group's file (no mail is stored for groups)."""
    check_unknown_args(args, {"name"})
    name = check_name(arg(args, "name"), "group")

    def build(change: Change) -> str:
        path = find_item_file(groups_dir(runtime), name)
        if path is None:
            raise OpError("not_found", f"no group '{name}'")
        cfg = runtime.config
        for group in cfg.groups.values():
            if group.key != name.lower() and any(refers_to(cfg, m, name)
                                                 for m in group.members):
                raise OpError("conflict", f"group '{name}' is a member of group "
                              f"'{group.name}': remove it there first")
        for account in cfg.accounts.values():
            if account.forward_to and refers_to(cfg, account.forward_to, name):
                raise OpError("conflict", f"account '{account.name}' forwards to group "
                              f"'{name}': change its forward_to first")
        change.delete(path)
        return path.stem

    return {"name": await apply_change(runtime, build, what="group {result} deleted")}


@op("group.list")
async def group_list(runtime, args: dict) -> list:
    """All groups with members and the resolved recipients, sorted by name."""
    check_unknown_args(args, set())
    return [group_json(runtime, g) for g in
            sorted(runtime.config.groups.values(), key=lambda g: g.key)]


@op("group.show")
async def group_show(runtime, args: dict) -> dict:
    """One group: description, members, and the addresses mail to it reaches."""
    check_unknown_args(args, {"name"})
    return group_json(runtime, _configured(runtime, check_name(arg(args, "name"), "group")))
