"""op-proposer process-level behaviour that needs no chain: doc metrics, fail-fast start-up."""

import json

import pytest

from proposer.service import main


def test_doc_metrics_json_lists_go_names_with_txmgr_labels(capsys):
    """`op-proposer doc metrics --format json` prints JSON, with Go's help texts and txmgr label names."""
    assert main(["doc", "metrics", "--format", "json"], {}) == 0
    docs = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert docs["op_proposer_default_up"]["help"] == "1 if the op-proposer has finished starting up"
    assert docs["op_proposer_default_txmgr_tx_publish_error_count"]["labels"] == ["error"]
    assert "op_proposer_default_balance" in docs
    assert main(["doc", "metrics", "--format", "yaml"], {}) == 1


def test_unreachable_sequencer_list_fails_start_up_naming_every_url(capsys):
    """With several --rollup-rpc URLs and none active, start-up fails (Go: the provider looks up at once)."""
    code = main(
        [
            "--l1-eth-rpc",
            "http://127.0.0.1:9",
            "--rollup-rpc",
            "http://127.0.0.1:7,http://127.0.0.1:8",
            "--private-key",
            "0x" + "ab" * 32,
            "--l2oo-address",
            "0x" + "11" * 20,
            "--network-timeout",
            "1s",
        ],
        {},
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "failed to setup: failed to find an active sequencer" in out
    assert "http://127.0.0.1:7 http://127.0.0.1:8" in out
    assert "ab" * 32 not in out


def test_a_malformed_address_fails_before_any_endpoint_is_dialled(capsys: pytest.CaptureFixture[str]) -> None:
    """Unreachable endpoints and a bad --game-factory-address: the flag error wins (the dial used to)."""
    argv = [
        "--l1-eth-rpc",
        "http://127.0.0.1:9",
        "--rollup-rpc",
        "http://127.0.0.1:7",
        "--network-timeout",
        "1s",
    ]
    code = main([*argv, "--game-factory-address", "nothex", "--proposal-interval", "1h"], {})
    out = capsys.readouterr().out
    assert code == 1 and 'invalid CLI flags: --game-factory-address: invalid address \\"nothex\\"' in out
