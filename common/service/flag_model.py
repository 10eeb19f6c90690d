"""The flag model: one :class:`Flag` row per option, its kinds, and the errors parsing raises.

A row is declared once and drives parsing (:mod:`common.service.flags`), env var names and ``--help``
(:mod:`common.service.flag_help`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from common.service.go_syntax import format_duration, format_go_float, go_quote

FlagValue = str | bool | int | float | tuple[str, ...]
Validator = Callable[[FlagValue], None]
"""Raises ``ValueError(message)``; the message is the Go error text (see :attr:`Flag.validate_on_set`)."""


class FlagKind(StrEnum):
    """How a flag's text is parsed (mirrors the urfave/cli flag type used by the Go service)."""

    STRING = "string"
    BOOL = "bool"
    INT = "int"
    UINT = "uint"
    FLOAT = "float"
    DURATION = "duration"
    STRING_SLICE = "string-slice"
    ENUM = "enum"
    """A string restricted to ``choices`` (Go GenericFlag whose Set validates)."""
    PATH = "path"


class CliError(Exception):
    """Base of everything :meth:`FlagTable.parse` raises; ``exit_code`` is what the process should return."""

    exit_code = 1


class UsageError(CliError):
    """A command-line syntax error: urfave prints ``Incorrect Usage: <msg>`` and the help, then fails."""


class EnvError(CliError):
    """An env var whose value does not parse (urfave reports it without the help text)."""


class HelpRequested(CliError):
    """``--help``/``-h`` was given: print :func:`common.service.flag_help.help_text` and exit 0."""

    exit_code = 0


class VersionRequested(CliError):
    """``--version``/``-v`` was given: print :func:`common.service.flag_help.version_text` and exit 0."""

    exit_code = 0


class ConfigError(Exception):
    """A parsed configuration the service refuses (``flag X is required``, ``invalid CLI flags: ...``)."""


def upper_snake(name: str) -> str:
    """The env-var suffix Go derives from a flag name: ``txmgr.min-tip-cap`` -> ``TXMGR_MIN_TIP_CAP``."""
    return name.upper().replace(".", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Flag:
    """One command-line option, declared once; env names are full names (prefix included)."""

    name: str
    kind: FlagKind
    usage: str
    default: FlagValue | None = None
    """Typed default (durations in ns); ``None`` means the kind's zero value and no ``(default: ...)``."""
    env: tuple[str, ...] = ()
    category: str = ""
    required: bool = False
    """Checked after parsing by :meth:`ParsedFlags.check_required` (``flag <name> is required``)."""
    aliases: tuple[str, ...] = ()
    hidden: bool = False
    choices: tuple[str, ...] = ()
    validator: Validator | None = None
    validate_on_set: bool = True
    """True: Go GenericFlag.Set semantics (error wrapped as ``invalid value "x" for flag -n: <err>``);
    False: urfave Action semantics (raw error, only for explicitly set flags, after parsing)."""
    default_text: str = ""
    """Overrides the help's ``(default: ...)`` text, like urfave's DefaultText."""
    secret: bool = False
    """Values are never echoed in errors (private keys, mnemonics)."""
    show_default: bool = True
    """False hides ``(default: ...)`` (urfave DisableDefaultText)."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def zero(self) -> FlagValue:
        """The value a flag has when neither the command line, the env, nor a default sets it."""
        if self.default is not None:
            return self.default
        match self.kind:
            case FlagKind.BOOL:
                return False
            case FlagKind.INT | FlagKind.UINT | FlagKind.DURATION:
                return 0
            case FlagKind.FLOAT:
                return 0.0
            case FlagKind.STRING_SLICE:
                return ()
            case _:
                return ""

    def help_default(self) -> str:
        """urfave's GetDefaultText for this flag kind ("" hides the default)."""
        if self.default_text:
            return self.default_text
        if self.required or not self.show_default:
            return ""
        value = self.zero()
        match self.kind:
            case FlagKind.BOOL:
                return "true" if value else "false"
            case FlagKind.DURATION:
                assert isinstance(value, int)
                return format_duration(value)
            case FlagKind.FLOAT:
                assert isinstance(value, float | int)
                return format_go_float(float(value))
            case FlagKind.INT | FlagKind.UINT:
                return str(value)
            case FlagKind.STRING_SLICE:
                assert isinstance(value, tuple)
                return ", ".join(f'"{v}"' for v in value)
            case FlagKind.ENUM:
                return str(value)
            case _:
                return f'"{value}"' if value else ""


HELP_FLAG = Flag("help", FlagKind.BOOL, "show help", aliases=("h",), show_default=False)
VERSION_FLAG = Flag("version", FlagKind.BOOL, "print the version", aliases=("v",), show_default=False)


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand listed under COMMANDS in --help (dispatch is up to the service's cli module)."""

    name: str
    usage: str
    aliases: tuple[str, ...] = ()


def choice_validator(message: str, choices: Sequence[str]) -> Validator:
    """A validator rejecting values outside ``choices``; ``message`` may use ``{value}`` / ``{value!r}``."""
    allowed = tuple(choices)

    def check(value: FlagValue) -> None:
        if value not in allowed:
            raise ValueError(message.format(value=value, quoted=go_quote(str(value))))

    return check
