"""Go-compatible logging (op-service/log + geth's slog handlers) on top of the stdlib ``logging`` module.

Formats (``--log.format``): ``terminal`` (geth's coloured ``INFO [11-21|20:19:43.123] msg  k=v``),
``logfmt`` / ``logfmtms`` (``t=... lvl=info msg="..." k=v``, seconds / milliseconds), ``json`` /
``jsonms`` (``{"t":...,"lvl":"info","msg":...}``), and ``text`` = terminal when colour is on (default: stdout
is a TTY) else logfmt, exactly as Go decides it.

API: :func:`get_logger` returns a :class:`Logger` with ``.info("msg", key=value)`` style methods and
``.new(**ctx)`` for bound context; plain ``logging.getLogger(...)`` records are formatted the same way.
:func:`set_level` changes the level at runtime (``admin_setLogLevel``). Values of fields named like a
private key or mnemonic are always printed as ``<redacted>``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, Any

from common.service.flags import Flag, FlagKind, FlagValue, ParsedFlags, format_duration, format_go_float

TRACE = 5
DEBUG = logging.DEBUG
INFO = logging.INFO
WARN = logging.WARNING
ERROR = logging.ERROR
CRIT = logging.CRITICAL
logging.addLevelName(TRACE, "TRACE")

_LEVELS = {
    "trace": TRACE,
    "trce": TRACE,
    "debug": DEBUG,
    "dbug": DEBUG,
    "info": INFO,
    "warn": WARN,
    "error": ERROR,
    "eror": ERROR,
    "crit": CRIT,
}
_LEVEL_WORD = {TRACE: "trace", DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error", CRIT: "crit"}
_LEVEL_ALIGNED = {TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO ", WARN: "WARN ", ERROR: "ERROR", CRIT: "CRIT "}
_LEVEL_COLOR = {TRACE: 34, DEBUG: 36, INFO: 32, WARN: 33, ERROR: 31, CRIT: 35}
_SLOG_NAME = {TRACE: "DEBUG-4", DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", ERROR: "ERROR", CRIT: "ERROR+4"}

REDACTED = "<redacted>"
SECRET_FIELDS = frozenset({"private_key", "privatekey", "mnemonic", "secret", "password"})
"""Field names (lower-case, ``-`` read as ``_``) whose values are never printed."""
TERM_MSG_JUST = 40
TERM_CTX_MAX_PADDING = 40
ROOT_LOGGER = "op"
"""Name of the stdlib logger our :class:`Logger` objects live under (handlers sit on the root logger)."""


class LogFormat(StrEnum):
    """``--log.format`` values (op-service/log FormatType)."""

    TEXT = "text"
    TERMINAL = "terminal"
    LOGFMT = "logfmt"
    LOGFMTMS = "logfmtms"
    JSON = "json"
    JSONMS = "jsonms"


def level_from_string(text: str) -> int:
    """op-service LevelFromString: case-insensitive, ``unknown level: x`` otherwise."""
    lowered = text.lower()
    try:
        return _LEVELS[lowered]
    except KeyError:
        raise ValueError(f"unknown level: {lowered}") from None


def level_name(level: int) -> str:
    """Lower-case Go level word for a stdlib level number (rounded down to the nearest Go level)."""
    for lvl in (CRIT, ERROR, WARN, INFO, DEBUG):
        if level >= lvl:
            return _LEVEL_WORD[lvl]
    return "trace"


def _go_level(level: int) -> int:
    for lvl in (CRIT, ERROR, WARN, INFO, DEBUG):
        if level >= lvl:
            return lvl
    return TRACE


# --------------------------------------------------------------------------------------------------------
# Flags and config


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The ``log.*`` flags."""

    level: int = INFO
    format: LogFormat = LogFormat.TEXT
    color: bool | None = None
    """None: colour iff stdout is a terminal (Go's default); set only when ``--log.color`` was given."""
    pid: bool = False


def _check_level(value: FlagValue) -> None:
    level_from_string(str(value))


def _check_format(value: FlagValue) -> None:
    if value not in tuple(LogFormat):
        raise ValueError(f'unrecognized log-format: "{value}"')


def log_flags(env_prefix: str) -> tuple[Flag, ...]:
    """op-service/log CLI flags (uncategorised, as the batcher and proposer mount them)."""
    formats = ", ".join(f.value for f in LogFormat)
    return (
        Flag(
            "log.level",
            FlagKind.ENUM,
            "The lowest log level that will be output",
            default="info",
            env=(f"{env_prefix}_LOG_LEVEL",),
            choices=tuple(_LEVELS),
            validator=_check_level,
            default_text="INFO",
        ),
        Flag(
            "log.format",
            FlagKind.ENUM,
            f"Format the log output. Supported formats: {formats}",
            default="text",
            env=(f"{env_prefix}_LOG_FORMAT",),
            choices=tuple(LogFormat),
            validator=_check_format,
        ),
        Flag(
            "log.color",
            FlagKind.BOOL,
            "Color the log output if in terminal mode",
            env=(f"{env_prefix}_LOG_COLOR",),
        ),
        Flag("log.pid", FlagKind.BOOL, "Show pid in the log", env=(f"{env_prefix}_LOG_PID",)),
    )


def read_log_config(parsed: ParsedFlags) -> LogConfig:
    """LogConfig from parsed flags (colour stays None unless set explicitly)."""
    return LogConfig(
        level=level_from_string(parsed.get_str("log.level")),
        format=LogFormat(parsed.get_str("log.format")),
        color=parsed.get_bool("log.color") if parsed.is_set("log.color") else None,
        pid=parsed.get_bool("log.pid"),
    )


# --------------------------------------------------------------------------------------------------------
# Value rendering


def _is_secret(key: str) -> bool:
    return key.lower().replace("-", "_") in SECRET_FIELDS


def _go_quote(text: str) -> str:
    """strconv.Quote approximation (JSON escaping, non-ASCII kept)."""
    return json.dumps(text, ensure_ascii=False)


def _logfmt_needs_quoting(text: str) -> bool:
    """slog TextHandler rule: empty, space, '=', '"', control or non-printable characters."""
    if not text:
        return True
    return any(c in ' ="' or not c.isprintable() or c.isspace() for c in text)


def _term_needs_quoting(text: str) -> bool:
    """geth terminal rule: anything at or below '"', above '~', or '='."""
    return any(c <= '"' or c > "~" or c == "=" for c in text)


def _comma_int(value: int) -> str:
    """geth terminal ints: |n| >= 100000 get thousands separators."""
    return str(value) if -100000 < value < 100000 else f"{value:,}"


def _plain(value: object, terminal: bool) -> str:
    """A field value as text before quoting (bools, numbers, bytes, durations, exceptions)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _comma_int(value) if terminal else str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if terminal else format_go_float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, BaseException):
        return str(value) or type(value).__name__
    if isinstance(value, GoDuration):
        return format_duration(value.ns)
    return str(value)


@dataclass(frozen=True, slots=True)
class GoDuration:
    """Wrap nanoseconds to log a duration the Go way (``12s``, ``2m0s``)."""

    ns: int

    @classmethod
    def of_seconds(cls, seconds: float) -> GoDuration:
        return cls(round(seconds * 1e9))


def _json_value(value: object) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    return _plain(value, terminal=False)


# --------------------------------------------------------------------------------------------------------
# Formatter


FieldList = tuple[tuple[str, object], ...]


def _fields_of(record: logging.LogRecord) -> FieldList:
    fields: FieldList = getattr(record, "go_fields", ())
    if record.exc_info and record.exc_info[1] is not None:
        fields = (*fields, ("err", record.exc_info[1]))
    return fields


class GoFormatter(logging.Formatter):
    """Renders stdlib records as Go log lines in one of the :class:`LogFormat` formats."""

    def __init__(self, fmt: LogFormat, *, color: bool = False, pid: bool = False) -> None:
        super().__init__()
        self.fmt = fmt
        self.color = color
        self.pid = pid
        self._padding: dict[str, int] = {}

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields_of(record)
        if self.pid:
            fields = (("pid", os.getpid()), *fields)
        fields = tuple((k, REDACTED if _is_secret(k) else v) for k, v in fields)
        msg = record.getMessage()
        match self.fmt:
            case LogFormat.TERMINAL:
                return self._terminal(record, msg, fields)
            case LogFormat.JSON | LogFormat.JSONMS:
                return self._json(record, msg, fields)
            case _:
                return self._logfmt(record, msg, fields)

    def _logfmt(self, record: logging.LogRecord, msg: str, fields: FieldList) -> str:
        fmt = "%Y-%m-%dT%H:%M:%S"
        t = time.localtime(record.created)
        stamp = time.strftime(fmt, t)
        if self.fmt is LogFormat.LOGFMTMS:
            stamp += f".{int(record.msecs):03d}"
        stamp += time.strftime("%z", t)
        parts = [f"t={stamp}", f"lvl={level_name(record.levelno)}", "msg=" + _logfmt_text(msg)]
        for key, value in fields:
            parts.append(f"{_logfmt_text(key)}={_logfmt_text(_plain(value, terminal=False))}")
        return " ".join(parts)

    def _json(self, record: logging.LogRecord, msg: str, fields: FieldList) -> str:
        when = datetime.fromtimestamp(record.created).astimezone()
        stamp = when.isoformat(timespec="milliseconds" if self.fmt is LogFormat.JSONMS else "microseconds")
        if stamp.endswith("+00:00"):
            stamp = stamp[:-6] + "Z"
        obj: dict[str, Any] = {"t": stamp, "lvl": level_name(record.levelno), "msg": msg}
        for key, value in fields:
            obj[key] = _json_value(value)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def _terminal(self, record: logging.LogRecord, msg: str, fields: FieldList) -> str:
        level = _go_level(record.levelno)
        color = f"\x1b[{_LEVEL_COLOR[level]}m" if self.color else ""
        stamp = time.strftime("%m-%d|%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        head = f"{color}{_LEVEL_ALIGNED[level]}\x1b[0m" if color else _LEVEL_ALIGNED[level]
        if any((c < " " and c not in "\r\n\t") or c > "~" or c == "=" for c in msg):
            msg = _go_quote(msg)
        line = f"{head}[{stamp}] {msg}"
        if fields and len(msg) < TERM_MSG_JUST:
            line += " " * (TERM_MSG_JUST - len(msg))
        for index, (key, value) in enumerate(fields):
            text = _plain(value, terminal=True)
            if _term_needs_quoting(text):
                text = _go_quote(text)
            key_text = f"{color}{key}\x1b[0m=" if color else f"{key}="
            line += " " + key_text + text
            padding = self._padding.get(key, 0)
            if padding < len(text) <= TERM_CTX_MAX_PADDING:
                padding = self._padding[key] = len(text)
            if padding > len(text) and index != len(fields) - 1:
                line += " " * (padding - len(text))
        return line


def _logfmt_text(text: str) -> str:
    return _go_quote(text) if _logfmt_needs_quoting(text) else text


# --------------------------------------------------------------------------------------------------------
# Logger facade


class Logger:
    """Structured logger: ``log.info("Started", addr=addr)``; ``log.new(component="x")`` binds context."""

    __slots__ = ("_ctx", "_logger")

    def __init__(self, logger: logging.Logger, ctx: FieldList = ()) -> None:
        self._logger = logger
        self._ctx = ctx

    @property
    def stdlib(self) -> logging.Logger:
        return self._logger

    def new(self, **ctx: object) -> Logger:
        """A child logger whose lines carry ``ctx`` before the per-call fields (geth ``log.New``)."""
        return Logger(self._logger, (*self._ctx, *ctx.items()))

    def enabled(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def log(self, level: int, msg: str, fields: Mapping[str, object]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, extra={"go_fields": (*self._ctx, *fields.items())}, stacklevel=3)

    def trace(self, msg: str, /, **fields: object) -> None:
        self.log(TRACE, msg, fields)

    def debug(self, msg: str, /, **fields: object) -> None:
        self.log(DEBUG, msg, fields)

    def info(self, msg: str, /, **fields: object) -> None:
        self.log(INFO, msg, fields)

    def warn(self, msg: str, /, **fields: object) -> None:
        self.log(WARN, msg, fields)

    warning = warn

    def error(self, msg: str, /, **fields: object) -> None:
        self.log(ERROR, msg, fields)

    def crit(self, msg: str, /, **fields: object) -> None:
        """Logs at CRIT. Unlike geth it does not exit; callers decide (see lifecycle.fail)."""
        self.log(CRIT, msg, fields)


def get_logger(name: str = "", **ctx: object) -> Logger:
    """A :class:`Logger` under the ``op`` stdlib logger (``name`` becomes a dotted child)."""
    return Logger(logging.getLogger(f"{ROOT_LOGGER}.{name}" if name else ROOT_LOGGER), tuple(ctx.items()))


_HANDLER_MARK = "_op_go_handler"


def setup_logging(cfg: LogConfig = LogConfig(), stream: IO[str] | None = None) -> Logger:
    """Install one Go-format handler on the root logger (replacing a previous one) and set the level."""
    out = stream if stream is not None else sys.stdout
    color = cfg.color if cfg.color is not None else _isatty(out)
    fmt = cfg.format
    if fmt is LogFormat.TEXT:
        fmt = LogFormat.TERMINAL if color else LogFormat.LOGFMT
    handler = logging.StreamHandler(out)
    handler.setFormatter(GoFormatter(fmt, color=color and fmt is LogFormat.TERMINAL, pid=cfg.pid))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
    root.addHandler(handler)
    set_level(cfg.level)
    return get_logger()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def set_level(level: int | str) -> None:
    """Change the level of every logger at runtime (``admin_setLogLevel``); strings use Go names."""
    value = level_from_string(level) if isinstance(level, str) else level
    logging.getLogger().setLevel(value)


def current_level() -> int:
    return logging.getLogger().level


def slog_level_name(level: int) -> str:
    """slog.Level.String() of a level (``INFO``, ``DEBUG-4`` for trace), as Go's help prints defaults."""
    return _SLOG_NAME[_go_level(level)]


def warn_unknown_env_vars(log: Logger, prefix: str, names: tuple[str, ...]) -> None:
    """WARN ``Unknown env var`` (fields ``prefix``, ``env_var``) per name. Go logs ``NAME=value``; we log
    only the name, because a mistyped ``*_PRIVATE_KEY`` would otherwise print the key."""
    for name in names:
        log.warn("Unknown env var", prefix=prefix, env_var=name)
