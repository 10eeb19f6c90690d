"""Flag tables with urfave/cli v2 semantics: one declaration per option drives parsing, env vars and --help.

A service declares a tuple of :class:`Flag` rows and wraps them in a :class:`FlagTable`. ``parse`` reads
``argv`` and the environment the way the Go binaries do (Go ``flag`` package rules for the command line,
urfave/cli rules for env vars, flag beats env) and returns :class:`ParsedFlags`, a typed mapping the
per-service config builders read. The error texts are the Go ones, because operators grep for them.

Value representation: durations are integer nanoseconds (exact, like Go's ``time.Duration``; use
:meth:`ParsedFlags.seconds` for float seconds), string slices are tuples, everything else is the obvious
Python scalar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from common.service import flag_help
from common.service.flag_model import HELP_FLAG as HELP_FLAG
from common.service.flag_model import VERSION_FLAG as VERSION_FLAG
from common.service.flag_model import CliError as CliError
from common.service.flag_model import Command as Command
from common.service.flag_model import ConfigError as ConfigError
from common.service.flag_model import EnvError as EnvError
from common.service.flag_model import Flag as Flag
from common.service.flag_model import FlagKind as FlagKind
from common.service.flag_model import FlagValue as FlagValue
from common.service.flag_model import HelpRequested as HelpRequested
from common.service.flag_model import UsageError as UsageError
from common.service.flag_model import Validator as Validator
from common.service.flag_model import VersionRequested as VersionRequested
from common.service.flag_model import choice_validator as choice_validator
from common.service.flag_model import upper_snake as upper_snake
from common.service.go_syntax import HOUR as HOUR
from common.service.go_syntax import MAX_INT64 as MAX_INT64
from common.service.go_syntax import MAX_UINT64 as MAX_UINT64
from common.service.go_syntax import MICROSECOND as MICROSECOND
from common.service.go_syntax import MILLISECOND as MILLISECOND
from common.service.go_syntax import MINUTE as MINUTE
from common.service.go_syntax import NANOSECOND as NANOSECOND
from common.service.go_syntax import SECOND as SECOND
from common.service.go_syntax import DurationError as DurationError
from common.service.go_syntax import GoNumError as GoNumError
from common.service.go_syntax import format_duration as format_duration
from common.service.go_syntax import format_go_float as format_go_float
from common.service.go_syntax import go_quote as go_quote
from common.service.go_syntax import parse_duration as parse_duration
from common.service.go_syntax import parse_go_bool as parse_go_bool
from common.service.go_syntax import parse_go_float as parse_go_float
from common.service.go_syntax import parse_go_int as parse_go_int
from common.service.go_syntax import parse_go_uint as parse_go_uint

_ADDRESS_RE = re.compile(r"(0[xX])?[0-9a-fA-F]{40}")


def _convert(flag: Flag, text: str) -> FlagValue:
    """Parse one textual value of ``flag`` (raises GoNumError / DurationError / ValueError)."""
    match flag.kind:
        case FlagKind.BOOL:
            return parse_go_bool(text)
        case FlagKind.INT:
            return parse_go_int(text)
        case FlagKind.UINT:
            return parse_go_uint(text)
        case FlagKind.FLOAT:
            return parse_go_float(text)
        case FlagKind.DURATION:
            return parse_duration(text)
        case FlagKind.STRING_SLICE:
            return tuple(part.strip() for part in text.split(","))
        case FlagKind.ENUM:
            if flag.choices and text not in flag.choices and flag.validator is None:
                raise ValueError(f"invalid value {text!r}, expected one of {', '.join(flag.choices)}")
            return text
        case _:
            return text


_ENV_TYPE_WORD = {
    FlagKind.BOOL: "bool",
    FlagKind.INT: "int",
    FlagKind.UINT: "uint64",
    FlagKind.FLOAT: "float64",
    FlagKind.DURATION: "duration",
}


# --------------------------------------------------------------------------------------------------------
# Parse result


@dataclass(frozen=True, slots=True)
class ParsedFlags:
    """Values after CLI + env + defaults, with typed accessors the config builders use."""

    table: FlagTable
    values: Mapping[str, FlagValue]
    explicit: frozenset[str]
    """Names set on the command line or through an env var (urfave ``IsSet``)."""
    args: tuple[str, ...] = ()
    """Positional arguments left after the flags (e.g. the ``doc metrics`` subcommand)."""
    unknown_env: tuple[str, ...] = ()
    """Env var names with the service prefix that no flag declares (log WARN ``Unknown env var``)."""

    def _get(self, name: str, kinds: tuple[FlagKind, ...]) -> FlagValue:
        flag = self.table.flag(name)
        if flag.kind not in kinds:
            raise TypeError(f"flag {name} is a {flag.kind} flag, not {'/'.join(kinds)}")
        return self.values[flag.name]

    def get_str(self, name: str) -> str:
        value = self._get(name, (FlagKind.STRING, FlagKind.ENUM, FlagKind.PATH))
        assert isinstance(value, str)
        return value

    def get_bool(self, name: str) -> bool:
        value = self._get(name, (FlagKind.BOOL,))
        assert isinstance(value, bool)
        return value

    def get_int(self, name: str) -> int:
        value = self._get(name, (FlagKind.INT, FlagKind.UINT))
        assert isinstance(value, int)
        return value

    def get_float(self, name: str) -> float:
        value = self._get(name, (FlagKind.FLOAT,))
        assert isinstance(value, float | int)
        return float(value)

    def duration_ns(self, name: str) -> int:
        value = self._get(name, (FlagKind.DURATION,))
        assert isinstance(value, int)
        return value

    def seconds(self, name: str) -> float:
        """A duration flag in float seconds (the unit our config dataclasses use)."""
        return self.duration_ns(name) / SECOND

    def get_list(self, name: str) -> tuple[str, ...]:
        value = self._get(name, (FlagKind.STRING_SLICE,))
        assert isinstance(value, tuple)
        return value

    def is_set(self, name: str) -> bool:
        """Set on the command line or via env (aliases resolve to their flag)."""
        return self.table.flag(name).name in self.explicit

    def check_numbers(self) -> None:
        """Reject values Go would panic on or silently misuse: a negative duration or int, a negative or
        non-finite float. Run after the Go checks (which keep their own text); ValueError names the flag."""
        for flag in self.table.flags:
            value = self.values[flag.name]
            if flag.kind is FlagKind.DURATION and isinstance(value, int) and value < 0:
                raise ValueError(f"--{flag.name} must not be negative, got {format_duration(value)}")
            if flag.kind is FlagKind.INT and isinstance(value, int) and value < 0:
                raise ValueError(f"--{flag.name} must not be negative, got {value}")
            bad_float = isinstance(value, float | int) and (not math.isfinite(value) or value < 0)
            if flag.kind is FlagKind.FLOAT and bad_float:
                raise ValueError(f"--{flag.name} must be a finite non-negative number, got {value}")

    def address(self, name: str) -> bytes | None:
        """A 20-byte address flag (hex, ``0x`` optional); unset -> None, malformed -> ValueError naming it."""
        text = self.get_str(name)
        if not text:
            return None
        if not _ADDRESS_RE.fullmatch(text):
            raise ValueError(f"--{name}: invalid address {go_quote(text)} (want 20 bytes in hex)")
        return bytes.fromhex(text[-40:])

    def check_required(self) -> None:
        """op-service CheckRequired: the first required flag not set -> ``flag <name> is required``."""
        for flag in self.table.flags:
            if flag.required and flag.name not in self.explicit:
                raise ConfigError(f"flag {flag.name} is required")


# --------------------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, slots=True)
class FlagTable:
    """All flags of one binary plus the texts urfave prints around them."""

    app_name: str
    usage: str
    description: str
    env_prefix: str
    """E.g. ``OP_BATCHER`` (no trailing underscore, like Go's EnvVarPrefix)."""
    flags: tuple[Flag, ...]
    version: str = "v0.0.0"
    commands: tuple[Command, ...] = ()
    irregular_env: frozenset[str] = frozenset()
    """Env names documented as not following ``PREFIX_`` + upper-snake(name)."""
    _index: dict[str, Flag] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for flag in self.flags:
            for name in flag.names:
                if name in self._index or name in ("help", "h", "version", "v"):
                    raise ValueError(f"duplicate flag name {name!r} in the {self.app_name} table")
                self._index[name] = flag

    def flag(self, name: str) -> Flag:
        """The row for a flag name or alias (KeyError names the flag)."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no flag named {name!r} in the {self.app_name} table") from None

    def regular_env(self, name: str) -> str:
        return f"{self.env_prefix}_{upper_snake(name)}"

    def env_names(self) -> frozenset[str]:
        return frozenset(env for flag in self.flags for env in flag.env)

    # -- parsing --------------------------------------------------------------------------------------

    def parse(self, argv: Sequence[str], environ: Mapping[str, str]) -> ParsedFlags:
        """Parse ``argv`` (without the program name) and ``environ``; raises a :class:`CliError`."""
        values: dict[str, FlagValue] = {f.name: f.zero() for f in self.flags}
        explicit: set[str] = set()
        self._apply_env(environ, values, explicit)
        cli_set: set[str] = set()
        args = self._parse_argv(list(argv), values, cli_set)
        explicit |= cli_set
        self._run_actions(values, explicit)
        return ParsedFlags(self, values, frozenset(explicit), tuple(args), self.unknown_env_vars(environ))

    def _apply_env(
        self, environ: Mapping[str, str], values: dict[str, FlagValue], explicit: set[str]
    ) -> None:
        """urfave applies env values before the command line; an unparsable env value fails at once."""
        for flag in self.flags:
            for env in flag.env:
                text = environ.get(env)
                if text is None:
                    continue
                if text == "":
                    break
                source = f'environment variable "{env}"'
                shown = "<redacted>" if flag.secret else text
                try:
                    value = _convert(flag, text)
                    if flag.validator is not None and flag.validate_on_set:
                        flag.validator(value)
                except (GoNumError, DurationError) as exc:
                    word = _ENV_TYPE_WORD.get(flag.kind, "string")
                    raise EnvError(
                        f'could not parse "{shown}" as {word} value from {source} for flag {flag.name}: {exc}'
                    ) from None
                except ValueError as exc:
                    raise EnvError(
                        f'could not parse "{shown}" from {source} as value for flag {flag.name}: {exc}'
                    ) from None
                values[flag.name] = value
                explicit.add(flag.name)
                break

    def _parse_argv(self, args: list[str], values: dict[str, FlagValue], cli_set: set[str]) -> list[str]:
        """Go flag.FlagSet.Parse: flags until the first non-flag argument or ``--``."""
        want_help = want_version = False
        while args:
            arg = args[0]
            if len(arg) < 2 or arg[0] != "-":
                break
            dashes = 2 if arg[1] == "-" else 1
            if arg == "--":
                args.pop(0)
                break
            name = arg[dashes:]
            if not name or name[0] in "-=":
                raise UsageError(f"bad flag syntax: {arg}")
            args.pop(0)
            name, eq, text = name.partition("=")
            has_value = bool(eq)
            if name in ("help", "h", "version", "v"):
                try:
                    on = parse_go_bool(text) if has_value else True
                except GoNumError:
                    raise UsageError(f'invalid boolean value "{text}" for -{name}: parse error') from None
                if name in ("help", "h"):
                    want_help = want_help or on
                else:
                    want_version = want_version or on
                continue
            flag = self._index.get(name)
            if flag is None:
                raise UsageError(f"flag provided but not defined: -{name}")
            if flag.kind is FlagKind.BOOL:
                if not has_value:
                    text = "true"
                try:
                    values[flag.name] = parse_go_bool(text)
                except GoNumError:
                    raise UsageError(f'invalid boolean value "{text}" for -{name}: parse error') from None
            else:
                if not has_value:
                    if not args:
                        raise UsageError(f"flag needs an argument: -{name}")
                    text = args.pop(0)
                values[flag.name] = self._set_value(flag, name, text, values[flag.name], flag.name in cli_set)
            cli_set.add(flag.name)
        if want_help:
            raise HelpRequested(flag_help.help_text(self))
        if want_version:
            raise VersionRequested(flag_help.version_text(self))
        return args

    def _set_value(self, flag: Flag, used_name: str, text: str, current: FlagValue, seen: bool) -> FlagValue:
        """flag.Value.Set for one occurrence (slices append after the first command-line use)."""
        shown = "<redacted>" if flag.secret else text
        try:
            value = _convert(flag, text)
            if flag.validator is not None and flag.validate_on_set:
                flag.validator(value)
        except GoNumError as exc:
            raise UsageError(f'invalid value "{shown}" for flag -{used_name}: {exc.flag_text}') from None
        except DurationError:
            raise UsageError(f'invalid value "{shown}" for flag -{used_name}: parse error') from None
        except ValueError as exc:
            raise UsageError(f'invalid value "{shown}" for flag -{used_name}: {exc}') from None
        if flag.kind is FlagKind.STRING_SLICE and seen:
            assert isinstance(current, tuple) and isinstance(value, tuple)
            return current + value
        return value

    def _run_actions(self, values: Mapping[str, FlagValue], explicit: set[str]) -> None:
        """urfave runs flag Actions after parsing, only for flags that were set, in table order."""
        for flag in self.flags:
            if flag.validator is not None and not flag.validate_on_set and flag.name in explicit:
                try:
                    flag.validator(values[flag.name])
                except ValueError as exc:
                    raise UsageError(str(exc)) from None

    def unknown_env_vars(self, environ: Mapping[str, str]) -> tuple[str, ...]:
        """Env names starting with the prefix that no flag declares (names only: values may be secrets)."""
        known = self.env_names()
        return tuple(sorted(k for k in environ if k.startswith(self.env_prefix) and k not in known))
