"""The batcher's real /metrics page, family by family, against the text Go's client_golang writes.

A MetricsServer on 127.0.0.1 (port 0) serves the batcher's registry (batcher, txmgr and RPC server series);
each test records through the same methods the services call, scrapes over HTTP and compares a family's
lines byte for byte with Go's exposition of the same family (``# TYPE`` line, sample names, label order
and values, ``le``/``quantile`` and value formatting as strconv.FormatFloat(f, 'g', -1, 64)).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from batcher.channels.channel import CloseReason
from batcher.metrics import BatcherMetrics, new_batcher_metrics
from common.service.exposition import go_float
from common.service.metrics import RpcServerMetrics
from common.service.metrics_server import MetricsServer

NS = "op_batcher_default"


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[BatcherMetrics, RpcServerMetrics, MetricsServer]]:
    """The batcher's registry served live; built inside the test so the server runs on the test's loop."""
    metrics = new_batcher_metrics(process_collectors=False)
    rpc = RpcServerMetrics(metrics.factory)
    server = MetricsServer(metrics.factory.registry, "127.0.0.1", 0)
    await server.start()
    try:
        yield metrics, rpc, server
    finally:
        await server.stop()


async def scrape_family(server: MetricsServer, name: str) -> str:
    """The HELP/TYPE/sample lines of family ``name`` on the live page ('' if it is absent)."""
    async with aiohttp.ClientSession() as session, session.get(f"http://{server.addr}/metrics") as r:
        text = await r.text()
    blocks = text.split("# HELP ")
    return next(("# HELP " + b for b in blocks if b.split(" ", 1)[0] == name), "")


@pytest.mark.parametrize(
    ("value", "go"),
    [
        (1.0, "1"),
        (0.005, "0.005"),
        (2.5, "2.5"),
        (10.0, "10"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-3.0, "-3"),
        (0.1 + 0.2, "0.30000000000000004"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_are_written_as_go_formats_them(value: float, go: str) -> None:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form from 1e+06 and below 1e-04."""
    assert go_float(value) == go


async def test_byte_counters_are_typed_counter_under_their_go_names() -> None:
    """input_bytes_total / output_bytes_total: ``# TYPE ... counter`` (was untyped), integer values."""
    async with serving() as (metrics, _, server):
        metrics.record_channel_closed(CloseReason.COMPRESSOR_FULL, 3, 1, 1000, 400, 0)
        assert await scrape_family(server, f"{NS}_input_bytes_total") == (
            f"# HELP {NS}_input_bytes_total Total number of bytes to a channel.\n"
            f"# TYPE {NS}_input_bytes_total counter\n"
            f"{NS}_input_bytes_total 1000\n"
        )
        assert await scrape_family(server, f"{NS}_output_bytes_total") == (
            f"# HELP {NS}_output_bytes_total Total number of compressed output bytes from a channel.\n"
            f"# TYPE {NS}_output_bytes_total counter\n"
            f"{NS}_output_bytes_total 400\n"
        )


async def test_txmgr_suffixless_counters_keep_their_names_and_counter_type() -> None:
    """tx_fee_gwei_total, tx_publish_error_count{error} and rpc_error_count read as Go writes them."""
    async with serving() as (metrics, _, server):
        tx = metrics.txmgr
        tx.tx_confirmed(status=1, effective_gas_price=3 * 10**9, gas_used=21_000, tx_type=2)
        tx.tx_published("nonce_too_low")
        tx.tx_published("nonce_too_low")
        tx.tx_published("bump_failed")
        sub = f"{NS}_txmgr"
        assert await scrape_family(server, f"{sub}_tx_fee_gwei_total") == (
            f"# HELP {sub}_tx_fee_gwei_total Sum of fees spent for all transactions in GWEI\n"
            f"# TYPE {sub}_tx_fee_gwei_total counter\n"
            f"{sub}_tx_fee_gwei_total 63000\n"
        )
        assert await scrape_family(server, f"{sub}_tx_publish_error_count") == (
            f"# HELP {sub}_tx_publish_error_count "
            "Count of publish errors. Labels are sanitized error strings\n"
            f"# TYPE {sub}_tx_publish_error_count counter\n"
            f'{sub}_tx_publish_error_count{{error="bump_failed"}} 1\n'
            f'{sub}_tx_publish_error_count{{error="nonce_too_low"}} 2\n'
        )
        assert await scrape_family(server, f"{sub}_rpc_error_count") == (
            f"# HELP {sub}_rpc_error_count Temporary: Count of RPC errors\n"
            f"# TYPE {sub}_rpc_error_count counter\n"
            f"{sub}_rpc_error_count 0\n"
        )


async def test_histogram_buckets_read_le_as_go_writes_them() -> None:
    """``le="1"`` not ``le="1.0"``; buckets, then _sum, then _count, as in Go's exposition."""
    async with serving() as (_, rpc, server):
        rpc.record("health_status", 0.75)
        name = f"{NS}_rpc_server_request_duration_seconds"
        buckets = [("0.005", 0), ("0.01", 0), ("0.025", 0), ("0.05", 0), ("0.1", 0), ("0.25", 0)]
        buckets += [("0.5", 0), ("1", 1), ("2.5", 1), ("5", 1), ("10", 1), ("+Inf", 1)]
        lines = [f'{name}_bucket{{method="health_status",le="{le}"}} {n}' for le, n in buckets]
        assert await scrape_family(server, name) == (
            f"# HELP {name} Histogram of RPC server request durations\n"
            f"# TYPE {name} histogram\n"
            + "".join(line + "\n" for line in lines)
            + f'{name}_sum{{method="health_status"}} 0.75\n'
            + f'{name}_count{{method="health_status"}} 1\n'
        )


async def test_throttle_intensity_history_exports_go_quantiles() -> None:
    """The summary has quantile 0.5/0.9/0.99 samples besides _sum/_count (prometheus_client has none).

    Equal observations make every quantile exact, so the values match Go's CKMS estimate too.
    """
    async with serving() as (metrics, _, server):
        for _ in range(4):
            metrics.record_throttle("linear", 0.25, 1000, 2000, 500, 1000)
        name = f"{NS}_throttle_intensity_history"
        assert await scrape_family(server, name) == (
            f"# HELP {name} Throttling intensity over time\n"
            f"# TYPE {name} summary\n"
            f'{name}{{quantile="0.5"}} 0.25\n'
            f'{name}{{quantile="0.9"}} 0.25\n'
            f'{name}{{quantile="0.99"}} 0.25\n'
            f"{name}_sum 1\n"
            f"{name}_count 4\n"
        )


async def test_fully_submitted_channel_stage_is_a_labelled_event() -> None:
    """channel_total{stage="fully_submitted"} is written as Go writes a labelled event counter; the
    timed_out stage is exported at 0 before the first timeout (primed, so ``increase()`` sees it)."""
    async with serving() as (metrics, _, server):
        metrics.record_channel_fully_submitted()
        assert await scrape_family(server, f"{NS}_channel_total") == (
            f"# HELP {NS}_channel_total Count of Channel events\n"
            f"# TYPE {NS}_channel_total counter\n"
            f'{NS}_channel_total{{stage="fully_submitted"}} 1\n'
            f'{NS}_channel_total{{stage="timed_out"}} 0\n'
        )
        assert f'{NS}_last_channel_unix{{stage="timed_out"}}' not in await scrape_family(
            server, f"{NS}_last_channel_unix"
        )


def test_quantiles_cover_only_the_last_ten_minutes() -> None:
    """Observations older than Go's DefMaxAge (10 min) leave the quantiles; an empty window reads NaN."""
    metrics = new_batcher_metrics(process_collectors=False)
    summary = metrics.throttle_intensity_history
    now = [1000.0]
    summary.clock = lambda: now[0]
    summary.observe(1.0)
    now[0] += 300
    summary.observe(0.0)
    assert summary.quantile(0.99) == 1.0
    now[0] += 301
    assert summary.quantile(0.99) == 0.0
    now[0] += 300
    assert go_float(summary.quantile(0.5)) == "NaN"
