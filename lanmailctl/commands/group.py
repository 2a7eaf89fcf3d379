"""``lanmailctl group add|modify|delete|list|show`` (control API ops ``group.*``)."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, state

group_app = typer.Typer(no_args_is_help=True,
                        help="Groups: mail to <group>@<domain> reaches every member "
                             "(conf.d/groups/<name>.toml).")
DESCRIPTION = typer.Option(None, "--description", metavar="TEXT", help="a note for admins")


def _show_human(group: dict) -> None:
    typer.echo(f"{'name:':<14}{group['name']}")
    if group["description"]:
        typer.echo(f"{'description:':<14}{group['description']}")
    typer.echo(f"{'members:':<14}{', '.join(group['members']) or '-'}")
    typer.echo(f"{'reaches:':<14}{', '.join(group['recipients']) or '-'}")
    typer.echo(f"{'file:':<14}{group['file']}")


@group_app.command("add")
def add(
    name: str = typer.Argument(..., help="the group's name (the part before '@')"),
    members: list[str] | None = typer.Argument(
        None, help="local accounts or groups, or internet addresses"),
    description: str | None = DESCRIPTION,
    json_: bool = JSON_OPTION,
) -> None:
    """Add a group with its members."""
    result = state.call("group.add", name=name, members=list(members or []),
                        description=description)
    emit(result, lambda r: typer.echo(f"group {r['name']} added "
                                      f"({len(r['members'])} members)"), json_)


@group_app.command("modify")
def modify(
    name: str = typer.Argument(..., help="the group"),
    add: list[str] | None = typer.Option(None, "--add", metavar="MEMBER",
                                         help="add a member (repeatable)"),
    remove: list[str] | None = typer.Option(None, "--remove", metavar="MEMBER",
                                            help="remove a member (repeatable)"),
    set_: list[str] | None = typer.Option(None, "--set", metavar="MEMBER",
                                          help="replace all members (repeatable)"),
    clear: bool = typer.Option(False, "--clear", help="remove all members"),
    description: str | None = DESCRIPTION,
    json_: bool = JSON_OPTION,
) -> None:
    """Add or remove members, replace them all, or change the description."""
    if set_ and clear:
        fail("--set and --clear cannot be used together", 2)
    members = [] if clear else (list(set_) if set_ else None)
    if members is None and not add and not remove and description is None:
        fail("nothing to change: give --add, --remove, --set, --clear or --description", 2)
    result = state.call("group.modify", name=name, members=members, add=list(add or []) or None,
                        remove=list(remove or []) or None, description=description)
    emit(result, lambda r: typer.echo(f"group {r['name']} changed "
                                      f"({len(r['members'])} members)"), json_)


@group_app.command("delete")
def delete(name: str = typer.Argument(..., help="the group"), json_: bool = JSON_OPTION
           ) -> None:
    """Delete a group (its members and their mail stay)."""
    emit(state.call("group.delete", name=name),
         lambda r: typer.echo(f"group {r['name']} deleted"), json_)


@group_app.command("list")
def list_(json_: bool = JSON_OPTION) -> None:
    """List the groups and their members."""

    def human(groups: list) -> None:
        if not groups:
            typer.echo("no groups (add one with 'lanmailctl group add NAME MEMBER...')")
            return
        print_table(["NAME", "MEMBERS", "DESCRIPTION"],
                    [[g["name"], ", ".join(g["members"]), g["description"]] for g in groups])

    emit(state.call("group.list"), human, json_)


@group_app.command("show")
def show(name: str = typer.Argument(..., help="the group"), json_: bool = JSON_OPTION
         ) -> None:
    """Show a group's members and every address mail to it reaches."""
    emit(state.call("group.show", name=name), _show_human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(group_app, name="group")
