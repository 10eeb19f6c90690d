"""op-batcher service wiring: the console entry's outcomes (help, doc metrics, Go's start-up failures).

The full start-up against real anvils is exercised by tests/test_batcher_e2e.py; these tests stay
in-process and fast. An unreachable endpoint is a closed local port (nothing is mocked).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from batcher import cli
from batcher.batcher_config import parse_batcher_args
from batcher.service import BatcherService, SetupError
from devnet.anvil import free_port
from tests.test_batcher_driver import ROLLUP

KEY = "0x" + "11" * 32


def base_args(rollup_url: str) -> list[str]:
    return ["--l1-eth-rpc", "http://127.0.0.1:1", "--l2-eth-rpc", "http://127.0.0.1:1", "--rollup-rpc",
            rollup_url, "--private-key", KEY]  # fmt: skip


def test_doc_metrics_lists_every_go_series_and_the_additions(capsys):
    """``op-batcher doc metrics`` prints the Go names under op_batcher_default_ and ours."""
    assert cli.main(["doc", "metrics"]) == 0
    out = capsys.readouterr().out
    for name in ("channel_closed_reason", "blob_used_bytes", "pending_da_bytes", "unsafe_da_bytes",
                 "throttle_intensity", "txmgr_pending_txs", "safe_head_lag_blocks", "blob_fill_ratio",
                 "seq_window_expired_total", "empty_channels_total"):  # fmt: skip
        assert f"op_batcher_default_{name}" in out, name


def test_doc_metrics_json_is_a_list_of_typed_entries(capsys):
    """``--format json`` gives {type, name, help, labels} entries; an unknown format fails."""
    assert cli.main(["doc", "metrics", "--format", "json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    by_name = {d["name"]: d for d in docs}
    assert by_name["op_batcher_default_channel_total"]["labels"] == ["stage"]
    assert by_name["op_batcher_default_channel_compr_ratio"]["type"] == "histogram"
    assert cli.main(["doc", "metrics", "--format", "yaml"]) == 1


def test_help_exits_zero_with_the_go_usage_line(capsys):
    """``--help`` prints the urfave-style help and exits 0."""
    assert cli.main(["--help"]) == 0
    assert "Batch Submitter Service" in capsys.readouterr().out


def test_a_missing_required_flag_fails_setup_with_gos_message(capsys):
    """No --rollup-rpc: CRIT ``Application failed`` with ``flag rollup-rpc is required``, exit 1."""
    assert cli.main(["--l1-eth-rpc", "http://127.0.0.1:1", "--l2-eth-rpc", "http://127.0.0.1:1"]) == 1
    out = capsys.readouterr().out
    assert "Application failed" in out and "flag rollup-rpc is required" in out


def test_an_unreachable_rollup_node_fails_setup_after_warning_about_unknown_env_vars(capsys):
    """Start-up logs ``Initializing Batch Submitter``, warns on OP_BATCHER_* typos, fails naming the step."""
    env = {"OP_BATCHER_NOT_A_FLAG": "1"}
    from batcher.service import main

    assert main([*base_args(f"http://127.0.0.1:{free_port()}"), "--network-timeout", "1s"], env) == 1
    out = capsys.readouterr().out
    assert "Initializing Batch Submitter" in out
    assert "Unknown env var" in out and "OP_BATCHER_NOT_A_FLAG" in out
    assert "failed to setup: failed to load rollup config" in out
    assert KEY[2:] not in out


@pytest.mark.parametrize(
    ("forks", "args", "message"),
    [
        ({"ecotone": 10**12}, ["--data-availability-type", "blobs"], "cannot use Blobs before Ecotone"),
        ({"fjord": 10**12}, ["--compression-algo", "brotli"], "cannot use brotli compression before Fjord"),
    ],
)
def test_channel_config_startup_checks_use_gos_messages(forks, args, message):
    """Blobs before Ecotone and brotli before Fjord are fatal at start-up."""
    cfg = parse_batcher_args([*base_args("http://127.0.0.1:1"), *args], {})
    rollup = replace(ROLLUP, fork_times={**ROLLUP.fork_times, **forks})
    service = BatcherService(cfg, lambda _err: None)
    with pytest.raises(SetupError, match=message):
        service._channel_manager(rollup)


def test_the_default_calldata_config_builds_a_manager_with_gos_frame_size():
    """calldata DA: frame size = max-l1-tx-size-bytes - 1, not auto."""
    cfg = parse_batcher_args(base_args("http://127.0.0.1:1"), {})
    manager, is_auto = BatcherService(cfg, lambda _err: None)._channel_manager(ROLLUP)
    assert not is_auto
    assert manager.default_config.max_frame_size == 119_999 and not manager.default_config.use_blobs
