"""Running a service the way op-service's cliapp.LifecycleCmd does.

``setup(close)`` builds the service (``close`` lets a component ask for shutdown, Go's app-close hook),
then ``start()`` runs; the process waits for SIGINT/SIGTERM (or ``close``) and calls ``stop()``. A second
signal while stopping cancels the stop coroutine (forced stop: in-flight work is abandoned). Failures
surface as :class:`LifecycleError` with Go's prefixes (``failed to setup: ...``, ``failed to start: ...``,
``failed to stop: ...``); :func:`run_service` turns them into CRIT ``Application failed`` and exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, Protocol, TypeVar

from common.service import flag_help
from common.service.flags import CliError, FlagTable, ParsedFlags, UsageError
from common.service.log import LogConfig, Logger, get_logger, setup_logging, warn_unknown_env_vars


class Lifecycle(Protocol):
    """What a service exposes to the runner."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Graceful stop; it is cancelled (CancelledError) if a second signal asks for a forced stop."""
        ...


CloseApp = Callable[[BaseException | None], None]
"""Ask the runner to stop the service (optionally with the error that caused it)."""
Setup = Callable[[CloseApp], Awaitable[Lifecycle]]
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LifecycleError(Exception):
    """A setup/start/stop failure, message prefixed like Go's."""


def fail(log: Logger, error: BaseException | str) -> int:
    """Log CRIT ``Application failed`` with ``message`` and return exit code 1 (Go's main)."""
    log.crit("Application failed", message=str(error))
    return 1


def report_cli_error(table: FlagTable, error: CliError, *, out: IO[str], log: Logger) -> int:
    """What the Go binary does for a CLI outcome; returns the exit code.

    Help / version: print the text, exit 0. Usage error: print ``Incorrect Usage: <err>`` and the help,
    then CRIT ``Application failed``, exit 1. Env error: CRIT ``Application failed``, exit 1.
    """
    if error.exit_code == 0:
        out.write(str(error))
        return 0
    if isinstance(error, UsageError):
        out.write(flag_help.usage_error_text(table, error))
    return fail(log, error)


class _Shutdown:
    """Counts stop requests: the first asks for a graceful stop, the second forces it."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()
        self.cause: BaseException | None = None
        self.count = 0

    def request(self, cause: BaseException | None = None) -> None:
        self.count += 1
        if self.count == 1:
            self.cause = cause
            self.requested.set()
        else:
            self.forced.set()


async def _race(coro: Awaitable[None], forced: asyncio.Event) -> bool:
    """Run ``coro`` unless ``forced`` fires first (then cancel it); True if it was forced."""
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future(forced.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task in done:
        task.result()
        return False
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return True


async def run_lifecycle(
    setup: Setup, *, log: Logger | None = None, signals: Sequence[signal.Signals] = SIGNALS
) -> None:
    """Setup, start, wait for a signal or ``close``, stop. Raises LifecycleError on failure."""
    log = log or get_logger()
    loop = asyncio.get_running_loop()
    shutdown = _Shutdown()

    def on_signal(sig: signal.Signals) -> None:
        if shutdown.count == 0:
            log.info("Received signal, stopping", signal=sig.name)
        else:
            log.warn("Received second signal, forcing shutdown", signal=sig.name)
        shutdown.request()

    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        try:
            service = await setup(shutdown.request)
        except Exception as exc:
            raise LifecycleError(f"failed to setup: {exc}") from exc
        try:
            start_forced = await _race(service.start(), shutdown.requested)
        except Exception as exc:
            raise LifecycleError(f"failed to start: {exc}") from exc
        if not start_forced:
            await shutdown.requested.wait()
        try:
            if await _race(service.stop(), shutdown.forced):
                raise LifecycleError("failed to stop: context canceled")
        except LifecycleError:
            raise
        except Exception as exc:
            raise LifecycleError(f"failed to stop: {exc}") from exc
        if start_forced:
            raise LifecycleError("failed to start: context canceled")
        if shutdown.cause is not None:
            raise LifecycleError(str(shutdown.cause)) from shutdown.cause
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_service(setup: Setup, *, log: Logger | None = None) -> int:
    """Blocking entry for ``main()``: run the lifecycle in a fresh event loop; returns the exit code."""
    log = log or get_logger()
    try:
        asyncio.run(run_lifecycle(setup, log=log))
    except LifecycleError as exc:
        return fail(log, exc)
    except KeyboardInterrupt:
        return fail(log, "interrupted")
    return 0


class ServiceConfig(Protocol):
    """What ``service_main`` reads from a service's config."""

    @property
    def log(self) -> LogConfig: ...

    @property
    def unknown_env(self) -> tuple[str, ...]: ...


class ManagedService(Lifecycle, Protocol):
    async def setup(self) -> None:
        """Dial, build and check everything; may fail (``failed to setup: ...``)."""
        ...

    async def close_clients(self) -> None:
        """Release connections opened by a setup that failed part-way."""
        ...


C = TypeVar("C", bound=ServiceConfig)


def service_main(
    table: FlagTable,
    argv: Sequence[str],
    environ: dict[str, str],
    *,
    build_config: Callable[[ParsedFlags], C],
    create: Callable[[C, CloseApp], ManagedService],
    init_message: str,
    doc: Callable[[list[str]], int],
) -> int:
    """A Go-style service ``main``: ``doc`` subcommand, flag parsing, logging, unknown-env warnings, setup
    inside the lifecycle (so config errors read ``failed to setup: invalid CLI flags: ...``), run."""
    if list(argv[:1]) == ["doc"]:
        return doc(list(argv[1:]))
    boot = setup_logging()
    try:
        parsed = table.parse(argv, environ)
    except CliError as err:
        return report_cli_error(table, err, out=sys.stdout, log=boot)
    log = get_logger()

    async def setup(close: CloseApp) -> ManagedService:
        cfg = build_config(parsed)
        setup_logging(cfg.log)
        warn_unknown_env_vars(log, table.env_prefix, cfg.unknown_env)
        log.info(init_message)
        service = create(cfg, close)
        try:
            await service.setup()
        except BaseException:
            await service.close_clients()
            raise
        return service

    return run_service(setup, log=log)
