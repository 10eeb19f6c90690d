"""The rollup configuration in op-node's ``rollup.json`` / ``optimism_rollupConfig`` format.

Only what the batcher, the proposer, the decoder and the devnet need; unknown keys are ignored, and
``to_json`` writes what op-node would accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.derive.block_ref import BlockID, hex_to_bytes, json_uint

MAX_RLP_BYTES_PER_CHANNEL_BEDROCK = 10_000_000
"""Bedrock: the channel reader reads at most this many uncompressed RLP bytes."""
MAX_RLP_BYTES_PER_CHANNEL_FJORD = 100_000_000
"""Fjord raised the per-channel RLP limit."""
GRANITE_CHANNEL_TIMEOUT = 50
"""Granite: channel timeout in L1 blocks, replacing the rollup config's ``channel_timeout``."""
MAX_SEQUENCER_DRIFT_FJORD = 1800
"""Fjord: max sequencer drift became a constant (seconds)."""

FORKS = (
    "regolith",
    "canyon",
    "delta",
    "ecotone",
    "fjord",
    "granite",
    "holocene",
    "isthmus",
    "jovian",
    "interop",
)
"""OP hard forks in activation order, as named by the ``<fork>_time`` keys of rollup.json."""


@dataclass(frozen=True, slots=True)
class ForkSchedule:
    """Fork activation times and the pre-Granite channel timeout: every rule that depends only on a
    timestamp. The rollup config exposes its own (``RollupConfig.forks``); tools without a rollup.json
    (``op-batcher decode``) take ``ForkSchedule.current()``."""

    fork_times: Mapping[str, int] = field(hash=False)
    """Activation timestamp per fork name in ``FORKS``; absent = not scheduled."""
    channel_timeout: int = 300
    """Pre-Granite channel timeout in L1 blocks (rollup config ``channel_timeout``)."""

    @classmethod
    def current(cls, channel_timeout: int = 300) -> ForkSchedule:
        """Every fork up to Holocene active from genesis: today's rules when no rollup config is given."""
        return cls({fork: 0 for fork in FORKS[: FORKS.index("holocene") + 1]}, channel_timeout)

    def is_active(self, fork: str, timestamp: int) -> bool:
        """Whether ``fork`` is active at an L2 (or L1) ``timestamp``."""
        if fork not in FORKS:
            raise ValueError(f"unknown fork {fork!r}")
        t = self.fork_times.get(fork)
        return t is not None and timestamp >= t

    def max_rlp_bytes_per_channel(self, timestamp: int) -> int:
        return (
            MAX_RLP_BYTES_PER_CHANNEL_FJORD
            if self.is_active("fjord", timestamp)
            else MAX_RLP_BYTES_PER_CHANNEL_BEDROCK
        )

    def effective_channel_timeout(self) -> int:
        """Go batcher rule: the Granite constant as soon as Granite is scheduled at all."""
        return GRANITE_CHANNEL_TIMEOUT if "granite" in self.fork_times else self.channel_timeout

    def channel_timeout_at(self, l1_timestamp: int) -> int:
        """Derivation rule: Granite takes effect by the L1 inclusion block's timestamp."""
        return GRANITE_CHANNEL_TIMEOUT if self.is_active("granite", l1_timestamp) else self.channel_timeout


@dataclass(frozen=True, slots=True)
class GenesisSystemConfig:
    """``genesis.system_config``: the L1 SystemConfig values at L2 genesis."""

    batcher_addr: bytes
    """20-byte batcher address; batch transactions must be signed by it."""
    overhead: bytes = b"\x00" * 32
    scalar: bytes = b"\x00" * 32
    gas_limit: int = 30_000_000


@dataclass(frozen=True, slots=True)
class RollupConfig:
    """op-node rollup.Config (the subset used here)."""

    genesis_l1: BlockID
    genesis_l2: BlockID
    genesis_l2_time: int
    system_config: GenesisSystemConfig
    block_time: int
    """L2 block time in seconds."""
    max_sequencer_drift: int
    seq_window_size: int
    """Sequencing window in L1 blocks: a batch must land within this many blocks of its L1 origin."""
    channel_timeout: int
    """Pre-Granite channel timeout in L1 blocks."""
    l1_chain_id: int
    l2_chain_id: int
    batch_inbox_address: bytes
    deposit_contract_address: bytes = b"\x00" * 20
    l1_system_config_address: bytes = b"\x00" * 20
    fork_times: dict[str, int] = field(default_factory=dict)
    """Activation timestamp per fork name in ``FORKS``; absent = not scheduled."""

    @property
    def forks(self) -> ForkSchedule:
        """This chain's fork schedule (the timestamp rules below live there, once)."""
        return ForkSchedule(self.fork_times, self.channel_timeout)

    def is_active(self, fork: str, timestamp: int) -> bool:
        """Whether ``fork`` is active at an L2 (or L1) ``timestamp``."""
        return self.forks.is_active(fork, timestamp)

    def max_rlp_bytes_per_channel(self, timestamp: int) -> int:
        return self.forks.max_rlp_bytes_per_channel(timestamp)

    def effective_channel_timeout(self) -> int:
        """Go batcher rule: the Granite constant as soon as Granite is scheduled at all."""
        return self.forks.effective_channel_timeout()

    def channel_timeout_at(self, l1_timestamp: int) -> int:
        """Derivation rule: Granite takes effect by the L1 inclusion block's timestamp."""
        return self.forks.channel_timeout_at(l1_timestamp)

    def timestamp_for_block(self, number: int) -> int:
        return self.genesis_l2_time + (number - self.genesis_l2.number) * self.block_time

    @classmethod
    def from_json(cls, obj: Any) -> RollupConfig:
        if not isinstance(obj, dict):
            raise ValueError("rollup config: expected an object")
        try:
            genesis = obj["genesis"]
            sysc = genesis.get("system_config") or {}
            forks = {
                f: json_uint(obj[f"{f}_time"], f"{f}_time") for f in FORKS if obj.get(f"{f}_time") is not None
            }
            return cls(
                genesis_l1=BlockID.from_json(genesis["l1"], "genesis.l1"),
                genesis_l2=BlockID.from_json(genesis["l2"], "genesis.l2"),
                genesis_l2_time=json_uint(genesis["l2_time"], "genesis.l2_time"),
                system_config=GenesisSystemConfig(
                    batcher_addr=hex_to_bytes(
                        sysc.get("batcherAddr", "0x" + "00" * 20), "genesis.system_config.batcherAddr", 20
                    ),
                    overhead=hex_to_bytes(
                        sysc.get("overhead", "0x" + "00" * 32), "genesis.system_config.overhead", 32
                    ),
                    scalar=hex_to_bytes(
                        sysc.get("scalar", "0x" + "00" * 32), "genesis.system_config.scalar", 32
                    ),
                    gas_limit=json_uint(sysc.get("gasLimit", 30_000_000), "genesis.system_config.gasLimit"),
                ),
                block_time=json_uint(obj["block_time"], "block_time"),
                max_sequencer_drift=json_uint(obj.get("max_sequencer_drift", 600), "max_sequencer_drift"),
                seq_window_size=json_uint(obj["seq_window_size"], "seq_window_size"),
                channel_timeout=json_uint(obj.get("channel_timeout", 300), "channel_timeout"),
                l1_chain_id=json_uint(obj["l1_chain_id"], "l1_chain_id"),
                l2_chain_id=json_uint(obj["l2_chain_id"], "l2_chain_id"),
                batch_inbox_address=hex_to_bytes(obj["batch_inbox_address"], "batch_inbox_address", 20),
                deposit_contract_address=hex_to_bytes(
                    obj.get("deposit_contract_address", "0x" + "00" * 20), "deposit_contract_address", 20
                ),
                l1_system_config_address=hex_to_bytes(
                    obj.get("l1_system_config_address", "0x" + "00" * 20), "l1_system_config_address", 20
                ),
                fork_times=forks,
            )
        except KeyError as exc:
            raise ValueError(f"rollup config: missing field {exc.args[0]!r}") from None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "genesis": {
                "l1": self.genesis_l1.to_json(),
                "l2": self.genesis_l2.to_json(),
                "l2_time": self.genesis_l2_time,
                "system_config": {
                    "batcherAddr": "0x" + self.system_config.batcher_addr.hex(),
                    "overhead": "0x" + self.system_config.overhead.hex(),
                    "scalar": "0x" + self.system_config.scalar.hex(),
                    "gasLimit": self.system_config.gas_limit,
                },
            },
            "block_time": self.block_time,
            "max_sequencer_drift": self.max_sequencer_drift,
            "seq_window_size": self.seq_window_size,
            "channel_timeout": self.channel_timeout,
            "l1_chain_id": self.l1_chain_id,
            "l2_chain_id": self.l2_chain_id,
            "batch_inbox_address": "0x" + self.batch_inbox_address.hex(),
            "deposit_contract_address": "0x" + self.deposit_contract_address.hex(),
            "l1_system_config_address": "0x" + self.l1_system_config_address.hex(),
        }
        for fork, t in self.fork_times.items():
            out[f"{fork}_time"] = t
        return out
