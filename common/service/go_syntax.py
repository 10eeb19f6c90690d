"""Go's text syntax for numbers, bools and durations (strconv, time.ParseDuration, %v, %q).

The flag parser reads flag and env values with these and the services print durations and floats the way
the Go binaries do, so operators see the same texts. Durations are integer nanoseconds, like Go's
``time.Duration``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1


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


def go_quote(text: str) -> str:
    """Go's %q for plain text (double quotes, backslash escapes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
