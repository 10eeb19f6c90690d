"""Flag-table machinery: Go number/duration syntax, urfave/cli parsing semantics, env handling, --help."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.service import flag_help
from common.service.flags import (
    MAX_INT64,
    MINUTE,
    SECOND,
    ConfigError,
    DurationError,
    EnvError,
    Flag,
    FlagKind,
    FlagTable,
    GoNumError,
    HelpRequested,
    UsageError,
    VersionRequested,
    choice_validator,
    format_duration,
    format_go_float,
    parse_duration,
    parse_go_bool,
    parse_go_float,
    parse_go_int,
    parse_go_uint,
    upper_snake,
)

# ---------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("6s", 6 * SECOND),
        ("2m0s", 2 * MINUTE),
        ("1h30m", 90 * MINUTE),
        ("500ms", SECOND // 2),
        ("1.5h", 90 * MINUTE),
        ("0", 0),
        ("-1.5s", -3 * SECOND // 2),
        ("+3s", 3 * SECOND),
        ("1us", 1000),
        ("1µs", 1000),
        ("1μs", 1000),
        ("300ns", 300),
        (".5s", SECOND // 2),
        ("1.s", SECOND),
        ("1h2m3.004005006s", 3723004005006),
    ],
)
def test_parse_duration_accepts_go_syntax(text, ns):
    """Go's time.ParseDuration forms, including fractions, signs and both micro signs, parse exactly."""
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("abc", 'time: invalid duration "abc"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        (".s", 'time: invalid duration ".s"'),
        ("9223372037s", 'time: invalid duration "9223372037s"'),
    ],
)
def test_parse_duration_rejects_with_go_messages(text, message):
    """Malformed or overflowing durations fail with time.ParseDuration's exact error text."""
    with pytest.raises(DurationError) as exc:
        parse_duration(text)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (SECOND // 2, "500ms"),
        (6 * SECOND, "6s"),
        (2 * MINUTE, "2m0s"),
        (90 * MINUTE, "1h30m0s"),
        (-1500 * 1000 * 1000, "-1.5s"),
        (MAX_INT64, "2562047h47m16.854775807s"),
    ],
)
def test_format_duration_matches_go_string(ns, text):
    """format_duration reproduces time.Duration.String() including the 2m0s / 1h30m0s forms."""
    assert format_duration(ns) == text


@given(st.integers(min_value=-MAX_INT64, max_value=MAX_INT64))
def test_duration_text_round_trips(ns):
    """Every int64 duration survives format -> parse unchanged."""
    assert parse_duration(format_duration(ns)) == ns


# ---------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x10", 16),
        ("0X1f", 31),
        ("0o17", 15),
        ("0b101", 5),
        ("1_000", 1000),
        ("010", 8),
        ("0", 0),
        ("-5", -5),
        ("0x_1f", 31),
        ("+7", 7),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_parse_go_int_detects_the_base(text, value):
    """strconv.ParseInt(s, 0, 64): prefixes, leading-zero octal and digit-separating underscores."""
    assert parse_go_int(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1__0", "invalid syntax"),
        ("_1", "invalid syntax"),
        ("0x", "invalid syntax"),
        ("09", "invalid syntax"),
        ("1_", "invalid syntax"),
        ("", "invalid syntax"),
        ("9223372036854775808", "value out of range"),
        ("abc", "invalid syntax"),
    ],
)
def test_parse_go_int_rejects_like_strconv(text, reason):
    """Bad syntax and overflow raise GoNumError carrying strconv's reason and message shape."""
    with pytest.raises(GoNumError) as exc:
        parse_go_int(text)
    assert exc.value.reason == reason
    assert str(exc.value) == f'strconv.ParseInt: parsing "{text}": {reason}'


def test_parse_go_uint_rejects_signs_and_accepts_max():
    """ParseUint takes no sign and accepts the full uint64 range."""
    assert parse_go_uint("18446744073709551615") == 2**64 - 1
    with pytest.raises(GoNumError):
        parse_go_uint("-1")
    with pytest.raises(GoNumError) as exc:
        parse_go_uint("18446744073709551616")
    assert exc.value.flag_text == "value out of range"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.6", 0.6),
        ("1e3", 1000.0),
        ("-2.5", -2.5),
        ("0x1p-2", 0.25),
        ("Inf", float("inf")),
        ("1_000.5", 1000.5),
    ],
)
def test_parse_go_float_accepts_go_literals(text, value):
    """Decimal, exponent, hex and Inf float literals parse like strconv.ParseFloat."""
    assert parse_go_float(text) == value


@pytest.mark.parametrize("text", ["", " 1", "1.2.3", "0x1", "abc", "1e400"])
def test_parse_go_float_rejects_malformed(text):
    """Whitespace, garbage, hex without exponent and overflow are errors."""
    with pytest.raises(GoNumError):
        parse_go_float(text)


def test_parse_go_bool_accepts_exactly_go_spellings():
    """The twelve strconv.ParseBool spellings work; others (yes, on) do not."""
    for text in ("1", "t", "T", "TRUE", "true", "True"):
        assert parse_go_bool(text) is True
    for text in ("0", "f", "F", "FALSE", "false", "False"):
        assert parse_go_bool(text) is False
    for text in ("yes", "on", "tRuE", ""):
        with pytest.raises(GoNumError):
            parse_go_bool(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.6, "0.6"),
        (1.0, "1"),
        (100.0, "100"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (-2.5, "-2.5"),
        (1234567.0, "1.234567e+06"),
    ],
)
def test_format_go_float_matches_percent_v(value, text):
    """Go's %v for float64 (shortest digits, exponent from 1e+06 and below 1e-04)."""
    assert format_go_float(value) == text


def test_upper_snake_replaces_dots_and_dashes():
    """The env suffix rule: dots and dashes become underscores, letters upper-case."""
    assert upper_snake("txmgr.min-tip-cap") == "TXMGR_MIN_TIP_CAP"


# ---------------------------------------------------------------------------------------------- parsing

S, B, INT, U, D, SL = (
    FlagKind.STRING,
    FlagKind.BOOL,
    FlagKind.INT,
    FlagKind.UINT,
    FlagKind.DURATION,
    FlagKind.STRING_SLICE,
)


def _table() -> FlagTable:
    return FlagTable(
        app_name="op-test",
        usage="Test Service",
        description="A table for the parser tests",
        env_prefix="OP_TEST",
        version="v1.2.3",
        flags=(
            Flag("name", S, "a string", default="dflt", env=("OP_TEST_NAME",)),
            Flag("on", B, "a bool", env=("OP_TEST_ON",)),
            Flag("count", INT, "an int", default=3, env=("OP_TEST_COUNT",)),
            Flag("size", U, "a uint", default=10, env=("OP_TEST_SIZE",)),
            Flag("wait", D, "a duration", default=6 * SECOND, env=("OP_TEST_WAIT",)),
            Flag("urls", SL, "a slice", env=("OP_TEST_URLS",), aliases=("url",)),
            Flag(
                "mode",
                FlagKind.ENUM,
                "an enum",
                default="a",
                env=("OP_TEST_MODE",),
                choices=("a", "b"),
                validator=choice_validator("unknown mode: {quoted}", ("a", "b")),
            ),
            Flag(
                "kind",
                FlagKind.ENUM,
                "an action-checked enum",
                default="x",
                env=("OP_TEST_KIND",),
                choices=("x", "y"),
                validate_on_set=False,
                validator=choice_validator("kind must be one of [x y], got {value}", ("x", "y")),
            ),
            Flag("key", S, "a secret", env=("OP_TEST_KEY",), secret=True, required=True),
        ),
    )


def test_parse_accepts_every_urfave_spelling():
    """--n v, --n=v, -n v and -n=v all set a flag; bools take bare or =true/false forms."""
    parsed = _table().parse(["--name", "a", "-count=0x10", "-size", "1_000", "--wait=1h30m", "-on"], {})
    assert parsed.get_str("name") == "a"
    assert parsed.get_int("count") == 16
    assert parsed.get_int("size") == 1000
    assert parsed.seconds("wait") == 5400.0
    assert parsed.get_bool("on") is True
    assert parsed.is_set("name") and not parsed.is_set("mode")


def test_defaults_apply_when_nothing_is_given():
    """Unset flags keep their typed defaults and are not marked explicit."""
    parsed = _table().parse([], {})
    assert (parsed.get_str("name"), parsed.get_int("count"), parsed.duration_ns("wait")) == (
        "dflt",
        3,
        6 * SECOND,
    )
    assert parsed.get_bool("on") is False and parsed.get_list("urls") == ()
    assert parsed.explicit == frozenset()


def test_bool_false_after_space_is_a_positional_argument():
    """Like Go, `--on false` sets on=true and stops flag parsing at the positional `false`."""
    parsed = _table().parse(["--on", "false", "--name", "x"], {})
    assert parsed.get_bool("on") is True
    assert parsed.args == ("false", "--name", "x")
    assert parsed.get_str("name") == "dflt"


def test_bool_explicit_false_value():
    """--on=false turns a bool off and still counts as set."""
    parsed = _table().parse(["--on=false"], {"OP_TEST_ON": "true"})
    assert parsed.get_bool("on") is False and parsed.is_set("on")


def test_slices_combine_repeats_and_commas():
    """Repeated slice flags append; each value is split on commas and trimmed; aliases share the value."""
    parsed = _table().parse(["--urls", "a, b", "--url=c", "--urls=d"], {"OP_TEST_URLS": "z"})
    assert parsed.get_list("urls") == parsed.get_list("url") == ("a", "b", "c", "d")
    assert parsed.is_set("url")


def test_env_slices_split_on_commas():
    """A slice env var is comma-separated and trimmed."""
    assert _table().parse([], {"OP_TEST_URLS": "http://a , http://b"}).get_list("urls") == (
        "http://a",
        "http://b",
    )


def test_flag_beats_env_and_env_beats_default():
    """Command line wins over env; env wins over the default and marks the flag as set."""
    table = _table()
    assert table.parse(["--count=7"], {"OP_TEST_COUNT": "9"}).get_int("count") == 7
    parsed = table.parse([], {"OP_TEST_COUNT": "9", "OP_TEST_WAIT": "2m"})
    assert parsed.get_int("count") == 9 and parsed.seconds("wait") == 120.0 and parsed.is_set("count")


def test_empty_env_value_is_ignored():
    """urfave skips env vars whose value is empty."""
    parsed = _table().parse([], {"OP_TEST_COUNT": ""})
    assert parsed.get_int("count") == 3 and not parsed.is_set("count")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nope"], "flag provided but not defined: -nope"),
        (["-nope=1"], "flag provided but not defined: -nope"),
        (["--name"], "flag needs an argument: -name"),
        (["--count=abc"], 'invalid value "abc" for flag -count: parse error'),
        (
            ["--count=99999999999999999999"],
            'invalid value "99999999999999999999" for flag -count: value out of range',
        ),
        (["--size=-1"], 'invalid value "-1" for flag -size: parse error'),
        (["--wait", "5"], 'invalid value "5" for flag -wait: parse error'),
        (["--on=maybe"], 'invalid boolean value "maybe" for -on: parse error'),
        (["---x"], "bad flag syntax: ---x"),
        (["--mode=c"], 'invalid value "c" for flag -mode: unknown mode: "c"'),
        (["--kind=z"], "kind must be one of [x y], got z"),
        (["--key=0xsecret", "--count=x"], 'invalid value "x" for flag -count: parse error'),
    ],
)
def test_usage_errors_carry_go_flag_messages(argv, message):
    """Command-line mistakes raise UsageError with the Go flag package / urfave text and exit code 1."""
    with pytest.raises(UsageError) as exc:
        _table().parse(argv, {})
    assert str(exc.value) == message
    assert exc.value.exit_code == 1


def test_action_validation_only_runs_for_set_flags():
    """An Action-style validator does not judge defaults, and does judge env values."""
    table = FlagTable(
        "t",
        "u",
        "",
        "T",
        (
            Flag(
                "kind",
                FlagKind.ENUM,
                "k",
                default="bad",
                validate_on_set=False,
                validator=choice_validator("no {value}", ("x",)),
                env=("T_KIND",),
            ),
        ),
    )
    assert table.parse([], {}).get_str("kind") == "bad"
    with pytest.raises(UsageError, match="no y"):
        table.parse([], {"T_KIND": "y"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OP_TEST_COUNT": "x"},
            'could not parse "x" as int value from environment variable "OP_TEST_COUNT" '
            'for flag count: strconv.ParseInt: parsing "x": invalid syntax',
        ),
        (
            {"OP_TEST_WAIT": "5"},
            'could not parse "5" as duration value from environment variable "OP_TEST_WAIT" '
            'for flag wait: time: missing unit in duration "5"',
        ),
        (
            {"OP_TEST_ON": "yes"},
            'could not parse "yes" as bool value from environment variable "OP_TEST_ON" '
            'for flag on: strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        (
            {"OP_TEST_MODE": "q"},
            'could not parse "q" from environment variable "OP_TEST_MODE" as value for flag '
            'mode: unknown mode: "q"',
        ),
    ],
)
def test_env_errors_use_urfave_messages(env, message):
    """A bad env value fails with urfave's `could not parse ...` text, even if the flag is also given."""
    with pytest.raises(EnvError) as exc:
        _table().parse(["--count=1", "--wait=1s", "--on", "--mode=a"], env)
    assert str(exc.value) == message


def test_secret_values_are_not_echoed_in_errors():
    """A secret flag's unparsable value is shown as <redacted>, never verbatim."""
    table = FlagTable("t", "u", "", "T", (Flag("pk", FlagKind.INT, "k", env=("T_PK",), secret=True),))
    with pytest.raises(UsageError) as exc:
        table.parse(["--pk=deadbeefsecret"], {})
    assert "deadbeefsecret" not in str(exc.value) and "<redacted>" in str(exc.value)


def test_double_dash_ends_flag_parsing():
    """`--` stops parsing; everything after it is positional."""
    parsed = _table().parse(["--name=x", "--", "--count=5"], {})
    assert parsed.args == ("--count=5",) and parsed.get_int("count") == 3


def test_subcommand_words_stay_positional():
    """A non-flag word (e.g. `doc metrics`) ends flag parsing and is returned as args."""
    assert _table().parse(["doc", "metrics", "--format=json"], {}).args == ("doc", "metrics", "--format=json")


def test_help_and_version_requests():
    """-h/--help raises HelpRequested with the help text; -v/--version prints `<app> version <v>`."""
    for argv in (["--help"], ["-h"], ["--name=x", "-help"]):
        with pytest.raises(HelpRequested) as exc:
            _table().parse(argv, {})
        assert exc.value.exit_code == 0 and "GLOBAL OPTIONS:" in str(exc.value)
    for argv in (["--version"], ["-v"]):
        with pytest.raises(VersionRequested) as ver:
            _table().parse(argv, {})
        assert str(ver.value) == "op-test version v1.2.3\n"


def test_unknown_prefixed_env_vars_are_reported_by_name_only():
    """Env names with the prefix but no flag are listed (values never), other env vars are ignored."""
    parsed = _table().parse([], {"OP_TEST_TYPO": "0xprivate", "OP_TEST_NAME": "n", "HOME": "/root"})
    assert parsed.unknown_env == ("OP_TEST_TYPO",)


def test_required_flags_are_checked_after_parsing():
    """check_required raises `flag <name> is required` for the first unset required flag."""
    with pytest.raises(ConfigError, match=r"^flag key is required$"):
        _table().parse([], {}).check_required()
    _table().parse([], {"OP_TEST_KEY": "k"}).check_required()


def test_typed_accessors_refuse_the_wrong_kind():
    """Reading an int flag as a string is a programming error, reported with the flag name."""
    parsed = _table().parse([], {})
    with pytest.raises(TypeError, match="count"):
        parsed.get_str("count")
    with pytest.raises(KeyError, match="missing"):
        parsed.get_str("missing")


def test_duplicate_names_are_rejected_at_table_build():
    """Two flags (or a flag and an alias) with one name make the table invalid."""
    with pytest.raises(ValueError, match="duplicate flag name 'a'"):
        FlagTable("t", "u", "", "T", (Flag("a", S, "x"), Flag("b", S, "y", aliases=("a",))))


def test_help_text_layout():
    """Help has urfave's sections, `--name value` columns, quoted string defaults and $ENV hints."""
    text = flag_help.help_text(_table())
    assert text.startswith("NAME:\n   op-test - Test Service\n\nUSAGE:\n   op-test [global options]")
    assert "VERSION:\n   v1.2.3" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("   --")}
    assert lines["--name"].endswith('a string (default: "dflt") [$OP_TEST_NAME]')
    assert lines["--wait"].endswith("a duration (default: 6s) [$OP_TEST_WAIT]")
    assert lines["--on"].endswith("a bool (default: false) [$OP_TEST_ON]")
    assert lines["--urls"].startswith("   --urls value, --url value [ --urls value, --url value ]")
    assert lines["--key"].endswith("a secret [$OP_TEST_KEY]")
    assert "   --help, -h" in text and "   --version, -v" in text
    columns = {line.index(line.split("  ")[-1].lstrip()) for line in lines.values() if "  " in line.strip()}
    assert len(columns) == 1, "usage column is aligned"
    ordered = [line.split()[0] for line in text.splitlines() if line.startswith("   --")]
    assert ordered == sorted(ordered)


def test_usage_error_text_prints_incorrect_usage_then_help():
    """The text printed for a parse error is `Incorrect Usage: <err>` + blank line + help."""
    table = _table()
    with pytest.raises(UsageError) as exc:
        table.parse(["--bogus"], {})
    text = flag_help.usage_error_text(table, exc.value)
    assert text.startswith("Incorrect Usage: flag provided but not defined: -bogus\n\nNAME:\n")


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_go_int_parses_decimal_hex_octal_binary_renderings(n):
    """Any int64 written in decimal, 0x, 0o or 0b form (with sign) parses back to itself."""
    sign, mag = ("-" if n < 0 else ""), abs(n)
    for text in (str(n), f"{sign}0x{mag:x}", f"{sign}0o{mag:o}", f"{sign}0b{mag:b}", f"{sign}{mag:_d}"):
        assert parse_go_int(text) == n, text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_text_round_trips(x):
    """format_go_float keeps the shortest exact digits: parsing its output gives the same float."""
    assert parse_go_float(format_go_float(x)) == x


def test_markdown_docs_have_one_row_per_visible_flag():
    """The generated docs list every visible flag with its env var, kind and default."""
    text = flag_help.markdown(_table())
    rows = text.splitlines()[2:]
    assert len(rows) == len(_table().flags)
    assert "| `--wait` | `OP_TEST_WAIT` | duration | 6s | a duration |" in rows
    assert "| `--urls`, `--url` | `OP_TEST_URLS` | string-slice |  | a slice |" in rows
