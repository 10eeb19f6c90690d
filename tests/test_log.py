"""Go log formats, levels, redaction, and the service lifecycle's signal handling and `Application failed`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import threading

import pytest

from common.service import flag_help
from common.service.lifecycle import LifecycleError, fail, run_lifecycle, run_service
from common.service.log import (
    CRIT,
    DEBUG,
    ERROR,
    INFO,
    TRACE,
    WARN,
    GoDuration,
    LogConfig,
    LogFormat,
    Logger,
    current_level,
    get_logger,
    level_from_string,
    set_level,
    setup_logging,
)


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: LogFormat, **kwargs) -> tuple[io.StringIO, Logger]:
    out = io.StringIO()
    log = setup_logging(LogConfig(format=fmt, **kwargs), stream=out)
    return out, log


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_logfmt_line_shape():
    """logfmt: t=<2006-01-02T15:04:05-0700> lvl=info msg=... then fields, quoting only when needed."""
    out, log = _capture(LogFormat.LOGFMT)
    log.info("Starting batcher", notSubmittingOnStart=False, count=5, url="http://x", empty="", ratio=0.6)
    (line,) = _lines(out)
    assert re.fullmatch(
        r't=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} lvl=info msg="Starting batcher" '
        r"notSubmittingOnStart=false "
        r'count=5 url=http://x empty="" ratio=0.6',
        line,
    ), line


def test_logfmtms_has_millisecond_timestamps():
    """logfmtms adds .000 milliseconds to t."""
    out, log = _capture(LogFormat.LOGFMTMS)
    log.warn("x")
    assert re.match(r"t=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} lvl=warn msg=x$", _lines(out)[0])


def test_json_lines_use_short_keys():
    """json: one object per line with t (RFC 3339), lvl, msg and the fields as JSON values."""
    out, log = _capture(LogFormat.JSON)
    log.error("Transaction failed to send", nonce=7, ok=True, err=ValueError("nonce too low"), fee=2.0)
    obj = json.loads(_lines(out)[0])
    assert list(obj)[:3] == ["t", "lvl", "msg"]
    assert (obj["lvl"], obj["msg"], obj["nonce"], obj["ok"], obj["err"], obj["fee"]) == (
        "error",
        "Transaction failed to send",
        7,
        True,
        "nonce too low",
        2,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)", obj["t"])


def test_jsonms_timestamps_have_milliseconds():
    """jsonms uses millisecond precision in t."""
    out, log = _capture(LogFormat.JSONMS)
    log.info("x")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", json.loads(_lines(out)[0])["t"]
    )


def test_terminal_format_aligns_message_and_level():
    """terminal: `INFO [MM-DD|hh:mm:ss.mmm] msg` padded to 40 columns before fields; big ints get commas."""
    out, log = _capture(LogFormat.TERMINAL, color=False)
    log.info("Added L2 block to local state", block=12345678, hash=b"\xab\xcd")
    log.error("short")
    first, second = _lines(out)
    assert re.match(
        r"INFO \[\d\d-\d\d\|\d\d:\d\d:\d\d\.\d{3}\] Added L2 block to local state {12}block=12,345,678 "
        r"hash=0xabcd$",
        first,
    ), first
    assert re.fullmatch(r"ERROR\[\d\d-\d\d\|\d\d:\d\d:\d\d\.\d{3}\] short", second)


def test_terminal_colour_wraps_level_and_keys():
    """With colour the level and each key are wrapped in ANSI escapes."""
    out, log = _capture(LogFormat.TERMINAL, color=True)
    log.warn("careful", k="v")
    line = _lines(out)[0]
    assert line.startswith("\x1b[33mWARN \x1b[0m[") and "\x1b[33mk\x1b[0m=v" in line


def test_text_format_is_logfmt_off_a_terminal():
    """text picks logfmt when the stream is not a TTY (and colour was not forced)."""
    out, log = _capture(LogFormat.TEXT)
    log.info("hello")
    assert _lines(out)[0].startswith("t=")
    out, log = _capture(LogFormat.TEXT, color=True)
    log.info("hello")
    assert _lines(out)[0].startswith("\x1b[32mINFO ")


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_secrets_are_redacted_in_every_format(fmt):
    """Values of private_key / mnemonic / private-key fields never reach the output."""
    out, log = _capture(fmt)
    secret = "0x" + "ab" * 32
    log.info("signer", private_key=secret, mnemonic="test test junk", **{"private-key": secret})
    text = out.getvalue()
    assert secret not in text and "test test junk" not in text
    assert text.count("<redacted>") == 3


def test_levels_filter_and_change_at_runtime():
    """Records below the level are dropped; set_level (admin_setLogLevel) changes it immediately."""
    out, log = _capture(LogFormat.LOGFMT, level=INFO)
    log.debug("hidden")
    set_level("debug")
    log.debug("shown")
    log.trace("still hidden")
    set_level("TRACE")
    log.trace("trace shown")
    lines = _lines(out)
    matches = [re.search(r'msg=("[^"]+"|\S+)', line) for line in lines]
    assert [m.group(1) for m in matches if m] == ["shown", '"trace shown"']
    assert "lvl=trace" in lines[1] and current_level() == TRACE


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("trace", TRACE),
        ("TRCE", TRACE),
        ("Debug", DEBUG),
        ("dbug", DEBUG),
        ("info", INFO),
        ("WARN", WARN),
        ("eror", ERROR),
        ("error", ERROR),
        ("crit", CRIT),
    ],
)
def test_level_names_are_case_insensitive(text, level):
    """op-service LevelFromString spellings (including trce/dbug/eror) map to levels."""
    assert level_from_string(text) == level


def test_unknown_level_has_go_message():
    """An unknown level fails with `unknown level: <lower-case text>`."""
    with pytest.raises(ValueError, match=r"^unknown level: loud$"):
        level_from_string("LOUD")


def test_bound_context_pid_and_stdlib_records():
    """new(**ctx) fields come first, log.pid adds pid, and plain stdlib loggers render the same way."""
    out, log = _capture(LogFormat.LOGFMT, pid=True)
    log.new(service="batcher").info("hello", n=1)
    logging.getLogger("some.library").warning("library says %s", "hi")
    first, second = _lines(out)
    assert first.endswith(f"msg=hello pid={os.getpid()} service=batcher n=1")
    assert second.endswith(f'lvl=warn msg="library says hi" pid={os.getpid()}')


def test_durations_and_exceptions_render_like_go():
    """GoDuration values print as Go durations; exceptions print their message."""
    out, log = _capture(LogFormat.LOGFMT)
    log.info("waiting", interval=GoDuration.of_seconds(120), err=RuntimeError("boom"))
    assert _lines(out)[0].endswith("msg=waiting interval=2m0s err=boom")


# ------------------------------------------------------------------------------------------------ lifecycle


class _FakeService:
    """Records calls; stop() can be made slow to exercise the forced path (no mock library needed)."""

    def __init__(self, stop_delay: float = 0.0, fail_start: bool = False) -> None:
        self.calls: list[str] = []
        self.stop_delay = stop_delay
        self.fail_start = fail_start
        self.stop_cancelled = False

    async def start(self) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise RuntimeError("cannot dial L1")

    async def stop(self) -> None:
        self.calls.append("stop")
        try:
            await asyncio.sleep(self.stop_delay)
        except asyncio.CancelledError:
            self.stop_cancelled = True
            raise


async def test_close_hook_triggers_a_graceful_stop():
    """A component calling close() stops the service; setup, start, stop happen once, in order."""
    service = _FakeService()

    async def setup(close):
        asyncio.get_running_loop().call_later(0.01, close, None)
        return service

    await run_lifecycle(setup, signals=())
    assert service.calls == ["start", "stop"]


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main thread"
)
async def test_first_signal_stops_second_signal_forces():
    """The first signal starts a graceful stop; a second one cancels it, failing with `context canceled`."""
    service = _FakeService(stop_delay=30.0)
    sig = signal.SIGUSR2

    async def setup(close):
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, os.kill, os.getpid(), sig)
        loop.call_later(0.10, os.kill, os.getpid(), sig)
        return service

    with pytest.raises(LifecycleError, match=r"^failed to stop: context canceled$"):
        await asyncio.wait_for(run_lifecycle(setup, signals=(sig,)), 5)
    assert service.calls == ["start", "stop"] and service.stop_cancelled


async def test_setup_and_start_errors_are_prefixed_like_go():
    """Setup failures read `failed to setup: ...`; start failures `failed to start: ...`."""

    async def bad_setup(close):
        raise ValueError("invalid CLI flags: must set PollInterval")

    with pytest.raises(LifecycleError, match=r"^failed to setup: invalid CLI flags: must set PollInterval$"):
        await run_lifecycle(bad_setup, signals=())

    async def setup(close):
        return _FakeService(fail_start=True)

    with pytest.raises(LifecycleError, match=r"^failed to start: cannot dial L1$"):
        await run_lifecycle(setup, signals=())


def test_run_service_logs_application_failed_and_exits_1():
    """A fatal setup error becomes CRIT `Application failed` with a message field and exit code 1."""
    out, log = _capture(LogFormat.LOGFMT)

    async def bad_setup(close):
        raise ValueError("flag l1-eth-rpc is required")

    assert run_service(bad_setup, log=log) == 1
    assert _lines(out)[-1].endswith(
        'lvl=crit msg="Application failed" message="failed to setup: flag l1-eth-rpc is required"'
    )
    assert fail(get_logger(), "x") == 1


def test_cli_errors_print_like_urfave_and_fail_like_go():
    """Usage errors print `Incorrect Usage` + help and log CRIT; help/version print and exit 0."""
    from common.service.flags import Flag, FlagKind, FlagTable, HelpRequested, UsageError
    from common.service.lifecycle import report_cli_error

    table = FlagTable(
        "op-x", "X", "", "OP_X", (Flag("a", FlagKind.STRING, "a", env=("OP_X_A",)),), version="v9"
    )
    logs, log = _capture(LogFormat.LOGFMT)
    stdout = io.StringIO()
    try:
        table.parse(["--b"], {})
    except UsageError as exc:
        assert report_cli_error(table, exc, out=stdout, log=log) == 1
    assert stdout.getvalue().startswith(
        "Incorrect Usage: flag provided but not defined: -b\n\nNAME:\n   op-x - X"
    )
    assert _lines(logs)[-1].endswith('msg="Application failed" message="flag provided but not defined: -b"')
    stdout = io.StringIO()
    with pytest.raises(HelpRequested) as help_exc:
        table.parse(["-h"], {})
    assert report_cli_error(table, help_exc.value, out=stdout, log=log) == 0
    assert stdout.getvalue() == flag_help.help_text(table)


def test_unknown_env_var_warnings_name_the_variable_only():
    """Each unknown OP_* name is logged as WARN `Unknown env var` with prefix and env_var, never its value."""
    from common.service.log import warn_unknown_env_vars

    out, log = _capture(LogFormat.LOGFMT)
    warn_unknown_env_vars(log, "OP_BATCHER", ("OP_BATCHER_PRIVATEKEY", "OP_BATCHER_X"))
    lines = _lines(out)
    assert lines[0].endswith('lvl=warn msg="Unknown env var" prefix=OP_BATCHER env_var=OP_BATCHER_PRIVATEKEY')
    assert len(lines) == 2 and lines[1].endswith("env_var=OP_BATCHER_X")
