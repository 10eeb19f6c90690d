"""The op-proposer flag table (era C + accepted era-D spellings) and ProposerConfig validation."""

from __future__ import annotations

import pytest

from common.service import flag_help
from common.service.flags import ConfigError, FlagKind, UsageError, upper_snake
from proposer.flags import (
    ENV_PREFIX,
    IRREGULAR_ENV,
    ProposerConfig,
    parse_proposer_args,
    proposer_table,
)

L2OO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SUPERVISOR_UNSUPPORTED = (
    "--supervisor-rpcs: op-supervisor proposal sources are not supported by this op-proposer "
    "(upstream replaced them with super-root RPCs); use --superroot-rpcs"
)
SUPER_DGF = [
    "--l1-eth-rpc=http://l1",
    f"--game-factory-address=0x{'cd' * 20}",
    "--proposal-interval=1h",
    "--superroot-rpcs=http://sn",
]
DGF = "0x" + "cd" * 20

# Every flag of op-proposer-txmgr.md §1.1 (era C + era-D super-root spellings), §1.3 and §1.4.
REFERENCE_FLAGS = {
    "l1-eth-rpc", "rollup-rpc", "supervisor-rpcs", "superroot-rpcs", "l2oo-address", "poll-interval",
    "allow-non-finalized", "game-factory-address", "proposal-interval", "game-type",
    "active-sequencer-check-duration", "wait-node-sync", "l2-output-hd-path", "output-retry-interval",
    "rpc.addr", "rpc.port", "rpc.enable-admin", "log.level", "log.format", "log.color", "log.pid",
    "metrics.enabled", "metrics.addr", "metrics.port", "pprof.enabled", "pprof.addr", "pprof.port",
    "pprof.path",
    "pprof.type",
    "mnemonic", "hd-path", "private-key", "num-confirmations", "safe-abort-nonce-too-low-count",
    "fee-limit-multiplier", "txmgr.fee-limit-threshold", "txmgr.min-tip-cap", "txmgr.max-tip-cap",
    "txmgr.min-basefee", "txmgr.max-basefee", "resubmission-timeout", "network-timeout", "txmgr.send-timeout",
    "txmgr.not-in-mempool-timeout", "txmgr.receipt-query-interval", "txmgr.already-published-custom-errs",
    "txmgr.retry-interval", "txmgr.max-retries", "txmgr.rebroadcast-interval", "txmgr.cell-proof-time",
    "signer.endpoint", "signer.address", "signer.header", "signer.tls.ca", "signer.tls.cert",
    "signer.tls.key",
}  # fmt: skip

TUTORIAL_ARGV = [
    "--poll-interval=12s",
    "--rpc.port=8560",
    "--rollup-rpc=http://localhost:8547",
    f"--l2oo-address={L2OO}",
    "--private-key=0x" + "22" * 32,
    "--l1-eth-rpc=https://sepolia.example/v2/key",
]
"""op-stack-deployment-tutorial.zh.md section 十三, shell substitutions expanded."""

L2OO_MODE = ["--l1-eth-rpc=http://l1", "--rollup-rpc=http://rn", f"--l2oo-address={L2OO}"]
DGF_MODE = [
    "--l1-eth-rpc=http://l1",
    "--rollup-rpc=http://rn",
    f"--game-factory-address={DGF}",
    "--proposal-interval=1h",
]


def _config(*args: str, env: dict[str, str] | None = None) -> ProposerConfig:
    return parse_proposer_args(list(args), env or {})


def _error(*args: str) -> str:
    with pytest.raises(ConfigError) as exc:
        _config(*args)
    return str(exc.value)


def test_table_lists_every_reference_flag():
    """The table holds exactly the era-C flags, the accepted era-D spelling and the shared groups."""
    assert {f.name for f in proposer_table().flags} == REFERENCE_FLAGS


def test_env_vars_follow_prefix_plus_upper_snake():
    """Env = OP_PROPOSER_ + UPPER_SNAKE of the name or an alias; only the three txmgr names are irregular."""
    irregular = set()
    for flag in proposer_table().flags:
        regular = {f"{ENV_PREFIX}_{upper_snake(n)}" for n in flag.names}
        irregular |= {env for env in flag.env if env not in regular}
    assert (
        irregular
        == set(IRREGULAR_ENV)
        == {
            "OP_PROPOSER_TXMGR_FEE_LIMIT_MULTIPLIER",
            "OP_PROPOSER_TXMGR_TX_SEND_TIMEOUT",
            "OP_PROPOSER_TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT",
        }
    )


def test_tutorial_command_line_parses_unchanged():
    """The deployment tutorial's op-proposer invocation selects L2OutputOracle mode with its values."""
    cfg = parse_proposer_args(TUTORIAL_ARGV, {})
    assert cfg.poll_interval == 12.0 and cfg.rpc.port == 8560
    assert cfg.rollup_rpc == "http://localhost:8547" and cfg.rollup_rpcs == ("http://localhost:8547",)
    assert cfg.l2oo_address == bytes.fromhex(L2OO[2:]) and cfg.game_factory_address is None
    assert cfg.txmgr.signer.private_key == "0x" + "22" * 32
    assert cfg.txmgr.l1_rpc_url == cfg.l1_eth_rpc == "https://sepolia.example/v2/key"


def test_defaults_match_the_reference():
    """Era C code defaults: poll 12s, proposal interval 0, game type 0, sequencer check 2m, batcher txmgr."""
    cfg = _config(*L2OO_MODE)
    assert (cfg.poll_interval, cfg.proposal_interval, cfg.game_type) == (12.0, 0.0, 0)
    assert (cfg.active_sequencer_check_duration, cfg.wait_node_sync, cfg.allow_non_finalized) == (
        120.0,
        False,
        False,
    )
    assert (cfg.txmgr.num_confirmations, cfg.txmgr.resubmission_timeout, cfg.txmgr.network_timeout) == (
        10,
        48.0,
        10.0,
    )
    assert (cfg.rpc.port, cfg.metrics.port, cfg.pprof.port) == (8545, 7300, 6060)


def test_blob_tip_cap_flags_are_batcher_only():
    """op-proposer rejects txmgr.blob-tip-cap-* as undefined flags (PR #19061)."""
    with pytest.raises(UsageError) as exc:
        _config(*L2OO_MODE, "--txmgr.blob-tip-cap-dynamic")
    assert str(exc.value) == "flag provided but not defined: -txmgr.blob-tip-cap-dynamic"


def test_comma_rollup_rpc_selects_several_endpoints():
    """A comma in --rollup-rpc yields the endpoint list for the active rollup provider."""
    cfg = _config("--l1-eth-rpc=http://l1", "--rollup-rpc=http://a, http://b", f"--l2oo-address={L2OO}")
    assert cfg.rollup_rpcs == ("http://a", "http://b")


def test_dispute_game_factory_mode():
    """DGF mode takes the factory address, the proposal interval and the game type."""
    cfg = _config(*DGF_MODE, "--game-type=1")
    assert cfg.game_factory_address == bytes.fromhex("cd" * 20)
    assert (cfg.proposal_interval, cfg.game_type, cfg.l2oo_address) == (3600.0, 1, None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--rollup-rpc=http://rn", "--l2oo-address=not-an-address"],
            '--l2oo-address: invalid address "not-an-address"',
        ),
        (["--rollup-rpc=http://rn", "--l2oo-address=0x1234"], '--l2oo-address: invalid address "0x1234"'),
        (
            [*DGF_MODE[1:2], "--game-factory-address=nothex", "--proposal-interval=1h"],
            "--game-factory-address: invalid",
        ),
        ([*DGF_MODE[1:], "--proposal-interval=-10s"], "--proposal-interval must not be negative, got -10s"),
        ([*DGF_MODE[1:], "--game-type=99999999999"], "--game-type must fit in 32 bits"),
        ([*L2OO_MODE[1:], "--poll-interval=-1s"], "--poll-interval must not be negative, got -1s"),
        ([*L2OO_MODE[1:], "--poll-interval=0s"], "--poll-interval must be positive"),
        ([*L2OO_MODE[1:], "--network-timeout=-5s"], "--network-timeout must not be negative"),
        ([*L2OO_MODE[1:], "--txmgr.fee-limit-threshold=-1"], "--txmgr.fee-limit-threshold must be a finite"),
        (
            [*L2OO_MODE[1:], "--signer.endpoint=http://s", "--signer.address=0xzz"],
            "--signer.address: invalid",
        ),
    ],
)
def test_bad_numbers_and_addresses_are_errors_naming_the_flag(extra: list[str], message: str) -> None:
    """Values Go would wrap, panic on or treat as unset fail validation naming the flag (before any dial)."""
    with pytest.raises(ConfigError) as exc:
        _config("--l1-eth-rpc=http://l1", *extra)
    assert str(exc.value).startswith("invalid CLI flags: ") and message in str(exc.value)


def test_l2_output_hd_path_is_the_hd_path_fallback():
    """The deprecated OP_PROPOSER_L2_OUTPUT_HD_PATH is used when --hd-path is empty."""
    cfg = _config(*L2OO_MODE, "--mnemonic=a b c", env={"OP_PROPOSER_L2_OUTPUT_HD_PATH": "m/44'/60'/0'/0/3"})
    assert cfg.txmgr.signer.hd_path == "m/44'/60'/0'/0/3"


def test_required_flag_is_only_l1_eth_rpc():
    """Era C requires only --l1-eth-rpc (`flag l1-eth-rpc is required`)."""
    assert _error("--rollup-rpc=http://rn", f"--l2oo-address={L2OO}") == "flag l1-eth-rpc is required"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--l1-eth-rpc=http://l1", "--rollup-rpc=http://rn"],
            "neither the `DisputeGameFactory` nor `L2OutputOracle` address was provided",
        ),
        (
            [*L2OO_MODE, f"--game-factory-address={DGF}"],
            "both the `DisputeGameFactory` and `L2OutputOracle` addresses were provided",
        ),
        (
            ["--l1-eth-rpc=http://l1", "--rollup-rpc=http://rn", f"--game-factory-address={DGF}"],
            "the `DisputeGameFactory` address was provided but the `ProposalInterval` was not set",
        ),
        (
            [*L2OO_MODE, "--proposal-interval=1h"],
            "the `ProposalInterval` was provided but the `DisputeGameFactory` address was not set",
        ),
        (
            [*DGF_MODE, "--supervisor-rpcs=http://sup"],
            "must not specify both a rollup rpc and supervisor rpc",
        ),
        (["--l1-eth-rpc=http://l1", f"--l2oo-address={L2OO}"], "missing rollup rpc"),
        (
            [
                "--l1-eth-rpc=http://l1",
                f"--game-factory-address={DGF}",
                "--proposal-interval=1h",
                "--game-type=254",
            ],
            "missing rollup rpc",
        ),
        ([*DGF_MODE, "--game-type=4"], "missing supernode rpc"),
        ([*DGF_MODE, "--game-type=5"], "missing supernode rpc"),
        (
            [
                "--l1-eth-rpc=http://l1",
                f"--game-factory-address={DGF}",
                "--proposal-interval=1h",
                "--game-type=5",
                "--supervisor-rpcs=http://sup",
            ],
            SUPERVISOR_UNSUPPORTED,
        ),
        (
            [*DGF_MODE, "--superroot-rpcs=http://sn"],
            "must specify exactly one of rollup rpc or supernode rpc",
        ),
        ([*SUPER_DGF, "--game-type=0"], "missing rollup rpc"),
        ([*SUPER_DGF, "--game-type=1"], "missing rollup rpc"),
        (
            ["--l1-eth-rpc=http://l1", f"--l2oo-address={L2OO}", "--superroot-rpcs=http://sn"],
            "missing rollup rpc",
        ),
        (
            [
                "--l1-eth-rpc=http://l1",
                f"--game-factory-address={DGF}",
                "--proposal-interval=1h",
                "--game-type=42",
            ],
            "missing proposal source rpc (rollup or supernode)",
        ),
        ([*L2OO_MODE, "--rpc.port=99999"], "invalid RPC port"),
        ([*L2OO_MODE, "--num-confirmations=0"], "NumConfirmations must not be 0"),
        (
            [*L2OO_MODE, "--private-key=0x1", "--mnemonic=a"],
            "can only provide at most one of: [private key, mnemonic, remote signer]",
        ),
    ],
)
def test_validation_messages_are_go_texts(args, message):
    """Each invalid combination fails with the era-C Go text, wrapped as `invalid CLI flags: <err>`."""
    assert _error(*args) == f"invalid CLI flags: {message}"


def test_validation_checks_shared_groups_first():
    """rpc/metrics/pprof/txmgr checks run before the address checks, as in Go."""
    assert _error("--l1-eth-rpc=http://l1", "--rpc.port=-1") == "invalid CLI flags: invalid RPC port"


def test_unknown_game_types_accept_either_source():
    """A game type outside both lists takes a rollup or a super-root RPC (but needs one, as upstream)."""
    base = (
        "--l1-eth-rpc=http://l1",
        f"--game-factory-address={DGF}",
        "--proposal-interval=1h",
        "--game-type=42",
    )
    assert _config(*base, "--rollup-rpc=http://rn").game_type == 42
    assert _config(*base, "--superroot-rpcs=http://sn").superroot_rpcs == ("http://sn",)


@pytest.mark.parametrize("game_type", [4, 5])
def test_super_root_game_types_run_on_super_root_rpcs_alone(game_type):
    """Game types 4 and 5 start with --superroot-rpcs (either spelling) and no rollup RPC."""
    cfg = _config(*SUPER_DGF, f"--game-type={game_type}", "--supernode-rpcs=http://sn2")
    assert cfg.game_type == game_type and cfg.rollup_rpc == ""
    assert cfg.superroot_rpcs == ("http://sn", "http://sn2")


def test_superroot_and_supernode_spellings_parse_into_one_list():
    """--superroot-rpcs, its alias --supernode-rpcs and both env names feed the same list."""
    table = proposer_table()
    parsed = table.parse(["--superroot-rpcs=http://a", "--supernode-rpcs=http://b"], {})
    assert parsed.get_list("superroot-rpcs") == ("http://a", "http://b")
    assert table.parse([], {"OP_PROPOSER_SUPERNODE_RPCS": "http://c"}).get_list("superroot-rpcs") == (
        "http://c",
    )
    assert table.parse([], {"OP_PROPOSER_SUPERROOT_RPCS": "http://d"}).get_list("superroot-rpcs") == (
        "http://d",
    )


def test_help_lists_every_visible_flag_with_its_env_var():
    """--help shows each visible flag name and env hint; the hidden compatibility flag is left out."""
    table = proposer_table()
    text = flag_help.help_text(table)
    for flag in table.flags:
        placeholder = "" if flag.kind is FlagKind.BOOL else " value"
        present = f"   --{flag.name}{placeholder}" in text
        assert present != flag.hidden, flag.name
    assert "[$OP_PROPOSER_SUPERROOT_RPCS, $OP_PROPOSER_SUPERNODE_RPCS]" in text
    assert "--superroot-rpcs value, --supernode-rpcs value" in text
