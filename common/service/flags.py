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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1
_ADDRESS_RE = re.compile(r"(0[xX])?[0-9a-fA-F]{40}")

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
    """``--help``/``-h`` was given: print :meth:`FlagTable.help_text` and exit 0."""

    exit_code = 0


class VersionRequested(CliError):
    """``--version``/``-v`` was given: print :meth:`FlagTable.version_text` and exit 0."""

    exit_code = 0


class ConfigError(Exception):
    """A parsed configuration the service refuses (``flag X is required``, ``invalid CLI flags: ...``)."""


# --------------------------------------------------------------------------------------------------------
# Go number / bool / duration syntax


class GoNumError(ValueError):
    """A strconv error ``strconv.<func>: parsing "<s>": <reason>``; ``flag_text``: the flag package text."""

    def __init__(self, func: str, text: str, reason: str) -> None:
        super().__init__(f'strconv.{func}: parsing "{text}": {reason}')
        self.reason = reason

    @property
    def flag_text(self) -> str:
        """Go's flag package reduces strconv errors to ``parse error`` / ``value out of range``."""
        return "value out of range" if self.reason == "value out of range" else "parse error"


_SYNTAX = "invalid syntax"
_RANGE = "value out of range"


def _underscore_ok(s: str) -> bool:
    """Go's rule: underscores only between digits (a base prefix counts as a digit)."""
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if c.isascii() and (c.isdigit() or (hexa and c.lower() in "abcdef")):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint_base0(s: str, func: str, orig: str, bits: int) -> int:
    """Go's ParseUint(s, 0, bits) body: base prefixes 0x/0o/0b, leading 0 = octal, underscores."""
    if not s:
        raise GoNumError(func, orig, _SYNTAX)
    body, base = s, 10
    if s[0] == "0":
        if len(s) >= 3 and s[1].lower() in "box":
            base = {"b": 2, "o": 8, "x": 16}[s[1].lower()]
            body = s[2:]
        else:
            base, body = 8, s[1:]
    value = 0
    underscores = False
    for c in body:
        if c == "_":
            underscores = True
            continue
        digit = int(c, 36) if c.isascii() and c.isalnum() else 99
        if digit >= base:
            raise GoNumError(func, orig, _SYNTAX)
        value = value * base + digit
    if underscores and not _underscore_ok(s):
        raise GoNumError(func, orig, _SYNTAX)
    if value > (1 << bits) - 1:
        raise GoNumError(func, orig, _RANGE)
    return value


def parse_go_uint(text: str, bits: int = 64) -> int:
    """strconv.ParseUint(text, 0, bits): no sign allowed."""
    return _parse_uint_base0(text, "ParseUint", text, bits)


def parse_go_int(text: str, bits: int = 64) -> int:
    """strconv.ParseInt(text, 0, bits): optional sign, base auto-detection, range-checked."""
    if not text:
        raise GoNumError("ParseInt", text, _SYNTAX)
    body, neg = text, False
    if text[0] in "+-":
        neg, body = text[0] == "-", text[1:]
    try:
        magnitude = _parse_uint_base0(body, "ParseInt", text, bits)
    except GoNumError as exc:
        raise GoNumError("ParseInt", text, exc.reason) from None
    limit = 1 << (bits - 1)
    if (neg and magnitude > limit) or (not neg and magnitude > limit - 1):
        raise GoNumError("ParseInt", text, _RANGE)
    return -magnitude if neg else magnitude


_FLOAT_SPECIAL = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}
_DEC_FLOAT = re.compile(r"[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX][\da-fA-F_]*\.?[\da-fA-F_]*[pP][+-]?\d+")


def parse_go_float(text: str) -> float:
    """strconv.ParseFloat(text, 64): decimal, hex (with p exponent), Inf/NaN; overflow is a range error."""
    special = _FLOAT_SPECIAL.get(text.lower())
    if special is not None:
        return special
    if "_" in text and not _underscore_ok(text):
        raise GoNumError("ParseFloat", text, _SYNTAX)
    clean = text.replace("_", "")
    if _DEC_FLOAT.fullmatch(text):
        value = float(clean)
    elif _HEX_FLOAT.fullmatch(text):
        value = float.fromhex(clean)
    else:
        raise GoNumError("ParseFloat", text, _SYNTAX)
    if math.isinf(value):
        raise GoNumError("ParseFloat", text, _RANGE)
    return value


_BOOL_TEXT = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}


def parse_go_bool(text: str) -> bool:
    """strconv.ParseBool: exactly the twelve spellings Go accepts."""
    try:
        return _BOOL_TEXT[text]
    except KeyError:
        raise GoNumError("ParseBool", text, _SYNTAX) from None


class DurationError(ValueError):
    """A ``time.ParseDuration`` failure with Go's message."""


_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,
    "μs": MICROSECOND,
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


def _leading_digits(s: str) -> int:
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    return i


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration: ``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`` -> integer nanoseconds."""
    orig, s, neg = text, text, False
    invalid = DurationError(f'time: invalid duration "{orig}"')
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        i = _leading_digits(s)
        whole, pre, s = int(s[:i] or "0"), i > 0, s[i:]
        frac, scale, post = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            i = _leading_digits(s)
            post = i > 0
            for ch in s[:i]:
                # Like Go: stop accumulating precision once the fraction would overflow int64.
                if frac > MAX_INT64 // 10:
                    break
                frac, scale = frac * 10 + int(ch), scale * 10
            s = s[i:]
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationError(f'time: missing unit in duration "{orig}"')
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(f'time: unknown unit "{unit_text}" in duration "{orig}"')
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if frac > 0:
            value += int(float(frac) * (float(unit) / scale))
        total += value
        if total > 1 << 63:
            raise invalid
    if neg:
        return -total
    if total > MAX_INT64:
        raise invalid
    return total


def _frac_digits(value: int, prec: int) -> tuple[str, int]:
    """Go fmtFrac: the fraction of value/10**prec without trailing zeros, plus the integer part."""
    if prec == 0:
        return "", value
    whole, frac = divmod(value, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return ("." + digits if digits else ""), whole


def format_duration(ns: int) -> str:
    """Go's time.Duration.String(): ``0s``, ``1.5µs``, ``500ms``, ``6s``, ``2m0s``, ``1h30m0s``."""
    if ns == 0:
        return "0s"
    u = abs(ns)
    if u < SECOND:
        prec, unit = (0, "ns") if u < MICROSECOND else (3, "µs") if u < MILLISECOND else (6, "ms")
        frac, whole = _frac_digits(u, prec)
        text = f"{whole}{frac}{unit}"
    else:
        frac, secs = _frac_digits(u, 9)
        text = f"{secs % 60}{frac}s"
        minutes = secs // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            if minutes // 60:
                text = f"{minutes // 60}h{text}"
    return "-" + text if ns < 0 else text


def format_go_float(value: float) -> str:
    """Go's ``%v`` / ``'g', -1`` for float64: shortest digits, exponent form below 1e-4 or from 1e6
    (``fmt.Println(1000000.0)`` prints ``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign_bit, digit_tuple, exp = Decimal(repr(value)).as_tuple()
    assert isinstance(exp, int)
    raw = "".join(map(str, digit_tuple)).lstrip("0")
    digits = raw.rstrip("0") or "0"
    exp += len(raw) - len(digits)
    sci_exp = len(digits) - 1 + exp
    sign = "-" if sign_bit else ""
    if sci_exp < -4 or sci_exp >= 6:
        rest = digits[1:]
        return (
            f"{sign}{digits[0]}{'.' + rest if rest else ''}e{'-' if sci_exp < 0 else '+'}{abs(sci_exp):02d}"
        )
    if exp >= 0:
        return sign + digits + "0" * exp
    point = len(digits) + exp
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}0.{'0' * -point}{digits}"


def upper_snake(name: str) -> str:
    """The env-var suffix Go derives from a flag name: ``txmgr.min-tip-cap`` -> ``TXMGR_MIN_TIP_CAP``."""
    return name.upper().replace(".", "_").replace("-", "_")


# --------------------------------------------------------------------------------------------------------
# Table rows


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


HELP_FLAG = Flag("help", FlagKind.BOOL, "show help", aliases=("h",), show_default=False)
VERSION_FLAG = Flag("version", FlagKind.BOOL, "print the version", aliases=("v",), show_default=False)


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand listed under COMMANDS in --help (dispatch is up to the service's cli module)."""

    name: str
    usage: str
    aliases: tuple[str, ...] = ()


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
            raise HelpRequested(self.help_text())
        if want_version:
            raise VersionRequested(self.version_text())
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

    # -- help -----------------------------------------------------------------------------------------

    def version_text(self) -> str:
        return f"{self.app_name} version {self.version}\n"

    def flag_help_line(self, flag: Flag) -> tuple[str, str]:
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

    def help_text(self) -> str:
        """urfave/cli v2 app help: NAME, USAGE, VERSION, DESCRIPTION, COMMANDS, GLOBAL OPTIONS."""
        out = [
            "NAME:",
            f"   {self.app_name} - {self.usage}",
            "",
            "USAGE:",
            f"   {self.app_name} [global options]"
            + (" command [command options]" if self.commands else "")
            + " [arguments...]",
            "",
            "VERSION:",
            f"   {self.version}",
        ]
        if self.description:
            out += ["", "DESCRIPTION:", f"   {self.description}"]
        if self.commands:
            commands = [
                *self.commands,
                Command("help", "Shows a list of commands or help for one command", ("h",)),
            ]
            out += ["", "COMMANDS:"]
            out += _tabulate([(", ".join((c.name, *c.aliases)), c.usage) for c in commands])
        out += ["", "GLOBAL OPTIONS:"]
        categories: dict[str, list[Flag]] = {}
        for flag in (*self.flags, HELP_FLAG, VERSION_FLAG):
            if not flag.hidden:
                categories.setdefault(flag.category, []).append(flag)
        for index, category in enumerate(sorted(categories)):
            if index:
                out.append("")
            if category:
                out += [f"   {category}", ""]
            rows = sorted(categories[category], key=lambda f: f.name)
            out += _tabulate([self.flag_help_line(f) for f in rows])
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """Operator docs generated from the table: one row per flag (name, env, type, default, usage)."""
        rows = ["| Flag | Env | Type | Default | Usage |", "|---|---|---|---|---|"]
        for flag in self.flags:
            if flag.hidden:
                continue
            names = ", ".join(f"`--{n}`" for n in flag.names)
            env = ", ".join(f"`{e}`" for e in flag.env)
            usage = flag.usage.replace("|", "\\|")
            rows.append(f"| {names} | {env} | {flag.kind.value} | {flag.help_default()} | {usage} |")
        return "\n".join(rows) + "\n"

    def usage_error_text(self, error: UsageError) -> str:
        """What urfave prints to stdout for a parse error before the process fails."""
        return f"Incorrect Usage: {error}\n\n{self.help_text()}"


def _tabulate(rows: Sequence[tuple[str, str]]) -> list[str]:
    """Go tabwriter(minwidth 1, padding 2): the first column padded to the widest cell + 2."""
    width = max((len(left) for left, _ in rows), default=0) + 2
    return [f"   {left.ljust(width)}{right}".rstrip() for left, right in rows]


def choice_validator(message: str, choices: Sequence[str]) -> Validator:
    """A validator rejecting values outside ``choices``; ``message`` may use ``{value}`` / ``{value!r}``."""
    allowed = tuple(choices)

    def check(value: FlagValue) -> None:
        if value not in allowed:
            raise ValueError(message.format(value=value, quoted=go_quote(str(value))))

    return check


def go_quote(text: str) -> str:
    """Go's %q for plain text (double quotes, backslash escapes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
