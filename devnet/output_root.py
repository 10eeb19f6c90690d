"""L2 output roots (v0) as op-node computes them: block hash, state root and the message passer's
storage root, read from the L2 anvil (shared by the rollup-node stand-in and the devnet tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from devnet.anvil import rpc_call
from devnet.genesis import L2_TO_L1_MESSAGE_PASSER_ADDRESS

OUTPUT_VERSION_V0 = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class Output:
    """An L2 output (v0) and the values it commits to."""

    block: dict[str, Any]
    state_root: bytes
    withdrawal_storage_root: bytes
    block_hash: bytes

    @property
    def root(self) -> bytes:
        """keccak256(version ++ stateRoot ++ messagePasserStorageRoot ++ blockHash)."""
        return keccak(OUTPUT_VERSION_V0 + self.state_root + self.withdrawal_storage_root + self.block_hash)


def fetch_output(l2_url: str, number: int) -> Output:
    """Read block ``number`` and the L2ToL1MessagePasser storage root (eth_getProof; never the header)."""
    block = rpc_call(l2_url, "eth_getBlockByNumber", [hex(number), True])
    if not isinstance(block, dict):
        raise LookupError(f"L2 block {number} not found")
    proof = rpc_call(l2_url, "eth_getProof", ["0x" + L2_TO_L1_MESSAGE_PASSER_ADDRESS.hex(), [], hex(number)])
    if not isinstance(proof, dict):
        raise LookupError(f"eth_getProof for L2 block {number} returned nothing")
    return Output(
        block,
        bytes.fromhex(block["stateRoot"][2:]),
        bytes.fromhex(proof["storageHash"][2:]),
        bytes.fromhex(block["hash"][2:]),
    )
