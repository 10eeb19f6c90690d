"""``--help``, ``--version``, usage errors and the docs' flag tables, rendered as urfave/cli v2 does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from common.service.flag_model import HELP_FLAG, VERSION_FLAG, Command, Flag, FlagKind, UsageError


class HelpSource(Protocol):
    """What the renderers read from a flag table."""

    @property
    def app_name(self) -> str: ...
    @property
    def usage(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def flags(self) -> tuple[Flag, ...]: ...
    @property
    def commands(self) -> tuple[Command, ...]: ...


def version_text(table: HelpSource) -> str:
    return f"{table.app_name} version {table.version}\n"


def flag_help_line(flag: Flag) -> tuple[str, str]:
    """(names column, usage column) exactly as urfave's stringifyFlag builds them."""
    placeholder = "" if flag.kind is FlagKind.BOOL else " value"
    names = ", ".join(("-" if len(n) == 1 else "--") + n + placeholder for n in flag.names)
    if flag.kind is FlagKind.STRING_SLICE:
        names = f"{names} [ {names} ]"
    default = flag.help_default()
    usage = (flag.usage + (f" (default: {default})" if default else "")).strip()
    if flag.env:
        usage += " [$" + ", $".join(flag.env) + "]"
    return names, usage


def help_text(table: HelpSource) -> str:
    """urfave/cli v2 app help: NAME, USAGE, VERSION, DESCRIPTION, COMMANDS, GLOBAL OPTIONS."""
    out = [
        "NAME:",
        f"   {table.app_name} - {table.usage}",
        "",
        "USAGE:",
        f"   {table.app_name} [global options]"
        + (" command [command options]" if table.commands else "")
        + " [arguments...]",
        "",
        "VERSION:",
        f"   {table.version}",
    ]
    if table.description:
        out += ["", "DESCRIPTION:", f"   {table.description}"]
    if table.commands:
        commands = [
            *table.commands,
            Command("help", "Shows a list of commands or help for one command", ("h",)),
        ]
        out += ["", "COMMANDS:"]
        out += _tabulate([(", ".join((c.name, *c.aliases)), c.usage) for c in commands])
    out += ["", "GLOBAL OPTIONS:"]
    categories: dict[str, list[Flag]] = {}
    for flag in (*table.flags, HELP_FLAG, VERSION_FLAG):
        if not flag.hidden:
            categories.setdefault(flag.category, []).append(flag)
    for index, category in enumerate(sorted(categories)):
        if index:
            out.append("")
        if category:
            out += [f"   {category}", ""]
        rows = sorted(categories[category], key=lambda f: f.name)
        out += _tabulate([flag_help_line(f) for f in rows])
    return "\n".join(out) + "\n"


def markdown(table: HelpSource) -> str:
    """Operator docs generated from the table: one row per flag (name, env, type, default, usage)."""
    rows = ["| Flag | Env | Type | Default | Usage |", "|---|---|---|---|---|"]
    for flag in table.flags:
        if flag.hidden:
            continue
        names = ", ".join(f"`--{n}`" for n in flag.names)
        env = ", ".join(f"`{e}`" for e in flag.env)
        usage = flag.usage.replace("|", "\\|")
        rows.append(f"| {names} | {env} | {flag.kind.value} | {flag.help_default()} | {usage} |")
    return "\n".join(rows) + "\n"


def usage_error_text(table: HelpSource, error: UsageError) -> str:
    """What urfave prints to stdout for a parse error before the process fails."""
    return f"Incorrect Usage: {error}\n\n{help_text(table)}"


def _tabulate(rows: Sequence[tuple[str, str]]) -> list[str]:
    """Go tabwriter(minwidth 1, padding 2): the first column padded to the widest cell + 2."""
    width = max((len(left) for left, _ in rows), default=0) + 2
    return [f"   {left.ljust(width)}{right}".rstrip() for left, right in rows]
