"""Metrics plumbing: namespace, Go event pairs, exact counter names, server, balance poller, doc catalogue."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from common.service.balance import BalancePoller, wei_to_ether
from common.service.exposition import go_exposition
from common.service.metrics import (
    Factory,
    MetricsConfig,
    RpcClientMetrics,
    ServiceMetrics,
    namespace_for,
    new_registry,
)
from common.service.metrics_doc import doc_metrics
from common.service.metrics_server import MetricsServer
from docs.catalogue import family_series

NS = "op_batcher_default"


def _factory(process: bool = False) -> Factory:
    return Factory(NS, new_registry(process_collectors=process))


def _exposition(factory: Factory) -> str:
    return go_exposition(factory.registry).decode()


def test_namespace_is_service_plus_default():
    """op-batcher / op_proposer map to op_batcher_default / op_proposer_default."""
    assert namespace_for("op-batcher") == NS
    assert namespace_for("op_proposer") == "op_proposer_default"


def test_info_and_up_gauges():
    """info{version} = 1 and up = 1 are exported under the namespace."""
    factory = _factory()
    metrics = ServiceMetrics(factory)
    metrics.record_info("v1.2.3")
    metrics.record_up()
    assert factory.value(f"{NS}_info", {"version": "v1.2.3"}) == 1
    assert factory.value(f"{NS}_up") == 1


def test_events_make_total_and_last_unix_pairs():
    """An event yields `<name>_total` and `last_<name>_unix`, with a subsystem and labels when given."""
    factory = _factory()
    channel = factory.event("channel", "channel", labels=("stage",))
    publish = factory.event("publish", "publish", subsystem="txmgr")
    channel.clock = lambda: 1_700_000_000.0
    channel.record("opened")
    channel.record("opened")
    publish.record()
    assert factory.value(f"{NS}_channel_total", {"stage": "opened"}) == 2
    assert factory.value(f"{NS}_last_channel_unix", {"stage": "opened"}) == 1_700_000_000.0
    assert factory.value(f"{NS}_txmgr_publish_total") == 1
    assert (factory.value(f"{NS}_txmgr_last_publish_unix") or 0) > 0


def test_counters_keep_go_names_and_have_no_created_series():
    """`*_total` counters stay as named, exact counters get no suffix, and no `_created` series exist."""
    factory = _factory()
    factory.counter("pending_blocks_bytes_total", "bytes").inc(5)
    factory.exact_counter("rpc_error_count", "errors", subsystem="txmgr").inc()
    text = _exposition(factory)
    assert f"{NS}_pending_blocks_bytes_total 5\n" in text
    assert f"# TYPE {NS}_txmgr_rpc_error_count counter\n{NS}_txmgr_rpc_error_count 1\n" in text
    assert "rpc_error_count_total" not in text
    assert any(d.name == f"{NS}_txmgr_rpc_error_count" and d.type == "counter" for d in factory.docs)
    assert "_created" not in text
    with pytest.raises(ValueError, match="exact_counter"):
        factory.counter("tx_publish_error_count", "needs the exact form")


def test_rpc_client_metrics_record_requests_durations_and_error_labels():
    """record(method, seconds, label) feeds rpc_client_requests_total, the histogram and responses_total."""
    factory = _factory()
    rpc = RpcClientMetrics(factory)
    rpc.record("eth_chainId", 0.01, "<nil>")
    rpc.record("eth_chainId", 0.2, "rpc_-32000")
    assert factory.value(f"{NS}_rpc_client_requests_total", {"method": "eth_chainId"}) == 2
    assert (
        factory.value(f"{NS}_rpc_client_responses_total", {"method": "eth_chainId", "error": "rpc_-32000"})
        == 1
    )
    assert (
        factory.value(
            f"{NS}_rpc_client_request_duration_seconds_bucket", {"method": "eth_chainId", "le": "0.01"}
        )
        == 1
    )
    assert factory.value(f"{NS}_rpc_client_request_duration_seconds_count", {"method": "eth_chainId"}) == 2


def test_standard_process_collectors_are_registered():
    """A service registry carries the process_* collectors next to our series."""
    factory = _factory(process=True)
    text = _exposition(factory)
    assert "process_cpu_seconds_total" in text or "python_info" in text


async def test_metrics_server_serves_metrics_and_root():
    """The server answers /metrics and / with the Prometheus exposition of its registry."""
    factory = _factory()
    ServiceMetrics(factory).record_up()
    server = MetricsServer(factory.registry, "127.0.0.1", 0)
    await server.start()
    try:
        assert server.port > 0
        async with aiohttp.ClientSession() as session:
            for path in ("/metrics", "/"):
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain")
                    assert f"{NS}_up 1\n" in await r.text()
    finally:
        await server.stop()


def test_wei_to_ether_is_exact_division():
    """Balances convert to ETH as the nearest float of wei / 1e18."""
    assert wei_to_ether(1_500_000_000_000_000_000) == 1.5
    assert wei_to_ether(1) == 1e-18


async def test_balance_poller_polls_and_survives_errors():
    """The poller sets `balance` (ETH) from the injected fetch, and keeps the last value when fetch fails."""
    factory = _factory()
    answers: list[int | Exception] = [2 * 10**18, RuntimeError("rpc down"), 3 * 10**18]
    polled = asyncio.Event()

    async def fetch() -> int:
        answer = answers.pop(0)
        if not answers:
            polled.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = BalancePoller(factory, "0xabc", fetch, interval=0.01)
    await poller.poll_once()
    assert factory.value(f"{NS}_balance") == 2.0
    await poller.poll_once()
    assert factory.value(f"{NS}_balance") == 2.0
    poller.start()
    await asyncio.wait_for(polled.wait(), 2)
    await asyncio.sleep(0)
    await poller.stop()
    assert factory.value(f"{NS}_balance") == 3.0
    assert any(d.name == f"{NS}_balance" and "0xabc" in d.help for d in factory.docs)


def test_doc_metrics_lists_every_created_metric():
    """`doc metrics` prints each created series with type and labels, as a table or JSON."""
    factory = _factory()
    ServiceMetrics(factory)
    factory.event("channel", "channel", labels=("stage",))
    factory.histogram("channel_compr_ratio", "ratio", (0.1, 0.2))
    table = doc_metrics(factory.docs)
    header, rule, *rows = table.splitlines()
    assert header.split("|")[1:5] == [" METRIC ", " DESCRIPTION ", " LABELS ", " TYPE "] or header.startswith(
        "| METRIC"
    )
    assert rule.startswith("|--")
    names = [row.split("|")[1].strip() for row in rows]
    assert names == [
        f"{NS}_info",
        f"{NS}_up",
        f"{NS}_stopped",
        f"{NS}_channel_total",
        f"{NS}_last_channel_unix",
        f"{NS}_channel_compr_ratio",
    ]
    decoded = json.loads(doc_metrics(factory.docs, "json"))
    assert decoded[3] == {
        "type": "counter",
        "name": f"{NS}_channel_total",
        "help": "Count of channel events",
        "labels": ["stage"],
    }
    with pytest.raises(ValueError, match=r"^invalid format: xml$"):
        doc_metrics(factory.docs, "xml")


def test_metrics_port_check_only_when_enabled():
    """An out-of-range metrics port is an error only with metrics enabled."""
    MetricsConfig(enabled=False, port=99999).check()
    with pytest.raises(ValueError, match=r"^invalid metrics port$"):
        MetricsConfig(enabled=True, port=99999).check()


def _family_names(factory: Factory) -> set[str]:
    """Exported family names, counters with the ``_total`` prometheus_client strips from the family."""
    families = factory.registry.collect()
    return {family_series(f.name, f.type)[0] if f.type == "counter" else f.name for f in families}


def test_txmgr_metrics_document_every_series_with_labels_before_any_sample():
    """TxMetrics.from_factory catalogues each txmgr series it registers, labelled ones with label names."""
    from common.txmgr.metrics import TxMetrics

    factory = _factory()
    metrics = TxMetrics.from_factory(factory)
    documented = {d.name: d for d in factory.docs}
    assert metrics.docs is factory.docs
    assert set(documented) == _family_names(factory) and len(documented) == 17
    assert documented[f"{NS}_txmgr_tx_publish_error_count"].labels == ("error",)
    assert documented[f"{NS}_txmgr_confirm_total"].labels == ("status",)
    assert documented[f"{NS}_txmgr_last_confirm_unix"].labels == ("status",)
    assert documented[f"{NS}_txmgr_tx_fee_histogram_gwei"].type == "histogram"
    metrics.tx_published("nonce_too_low")
    metrics.rpc_error()
    text = _exposition(factory)
    assert f'{NS}_txmgr_tx_publish_error_count{{error="nonce_too_low"}} 1\n' in text
    assert f"{NS}_txmgr_rpc_error_count 1\n" in text and "rpc_error_count_total" not in text


def test_op_proposer_doc_metrics_lists_every_txmgr_series_with_labels(capsys):
    """`op-proposer doc metrics` prints the 17 txmgr rows, labels included, next to the proposer's own."""
    from proposer.service import main

    assert main(["doc", "metrics"]) == 0
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()]
    txmgr = {r[0]: r for r in rows if r[0].startswith("op_proposer_default_txmgr_")}
    assert len(txmgr) == 17
    assert txmgr["op_proposer_default_txmgr_tx_publish_error_count"][2:] == ["error", "counter"]
    assert txmgr["op_proposer_default_txmgr_confirm_total"][2:] == ["status", "counter"]
    assert txmgr["op_proposer_default_txmgr_last_confirm_unix"][2:] == ["status", "gauge"]
    assert any(r[0] == "op_proposer_default_up" for r in rows)


def test_ref_metrics_record_l2_and_origin_and_set_latency_once_per_hash():
    """refs_* follow Go: hash as little-endian float, l1_origin layer, latency only on a new hash."""
    from common.derive.block_ref import BlockID
    from common.service.metrics import Factory, RefMetrics, new_registry

    now = [1000.0]
    factory = Factory("op_test_default", new_registry(process_collectors=False))
    refs = RefMetrics(factory, clock=lambda: now[0])
    block_hash = (5).to_bytes(8, "little") + b"\x00" * 24
    refs.record_l2("proposed", 42, 990, block_hash, BlockID(b"\x07" + b"\x00" * 31, 9), 3)
    value = factory.value
    labels = {"layer": "l2", "type": "proposed"}
    assert value("op_test_default_refs_number", labels) == 42
    assert value("op_test_default_refs_hash", labels) == 5.0
    assert value("op_test_default_refs_latency", labels) == -10.0
    assert value("op_test_default_refs_number", {"layer": "l1_origin", "type": "proposed"}) == 9
    assert value("op_test_default_refs_seqnr", {"type": "proposed"}) == 3
    now[0] = 2000.0
    refs.record_l2("proposed", 42, 990, block_hash, BlockID(b"\x07" + b"\x00" * 31, 9), 3)
    assert value("op_test_default_refs_latency", labels) == -10.0  # same hash: unchanged
