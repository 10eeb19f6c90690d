"""ABI of the L1 contracts the proposer talks to: L2OutputOracle, DisputeGameFactory and dispute games.

Pure encoders and decoders (no I/O): the driver sends the calldata through ``eth_call`` or the tx manager
and hands the returned bytes back here. Selectors are checked against op-proposer-txmgr.md §6 in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Hash import keccak
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from common.rpc.eth import decode_revert_reason


class CallReverted(Exception):
    """An eth_call to one of these contracts reverted; ``data`` is the raw revert payload."""

    def __init__(self, data: bytes) -> None:
        super().__init__(f"call reverted: {describe_revert(data)}")
        self.data = data


def selector(signature: str) -> bytes:
    """First 4 bytes of keccak256 of a canonical function/error signature."""
    return keccak.new(digest_bits=256, data=signature.encode()).digest()[:4]


def _call(signature: str, types: list[str], args: list[object]) -> bytes:
    return selector(signature) + (abi_encode(types, args) if types else b"")


# --- L2OutputOracle -------------------------------------------------------------------------------------


def version_calldata() -> bytes:
    return _call("version()", [], [])


def next_block_number_calldata() -> bytes:
    return _call("nextBlockNumber()", [], [])


def propose_l2_output_calldata(
    output_root: bytes, l2_block_number: int, l1_block_hash: bytes, l1_block_number: int
) -> bytes:
    """``proposeL2Output(bytes32,uint256,bytes32,uint256)``: the L1 anchor must be a recent L1 block."""
    return _call(
        "proposeL2Output(bytes32,uint256,bytes32,uint256)",
        ["bytes32", "uint256", "bytes32", "uint256"],
        [output_root, l2_block_number, l1_block_hash, l1_block_number],
    )


# --- DisputeGameFactory ---------------------------------------------------------------------------------


def game_count_calldata() -> bytes:
    return _call("gameCount()", [], [])


def game_at_index_calldata(index: int) -> bytes:
    return _call("gameAtIndex(uint256)", ["uint256"], [index])


def init_bonds_calldata(game_type: int) -> bytes:
    return _call("initBonds(uint32)", ["uint32"], [game_type])


def output_extra_data(l2_block_number: int) -> bytes:
    """extraData of an output-root game: the L2 block number as one 32-byte big-endian word."""
    return l2_block_number.to_bytes(32, "big")


def create_calldata(game_type: int, root_claim: bytes, extra_data: bytes) -> bytes:
    """``create(uint32,bytes32,bytes)``; msg.value must equal ``initBonds(gameType)``."""
    return _call(
        "create(uint32,bytes32,bytes)", ["uint32", "bytes32", "bytes"], [game_type, root_claim, extra_data]
    )


def games_calldata(game_type: int, root_claim: bytes, extra_data: bytes) -> bytes:
    """``games(uint32,bytes32,bytes)``: the game with this UUID, or the zero address."""
    return _call(
        "games(uint32,bytes32,bytes)", ["uint32", "bytes32", "bytes"], [game_type, root_claim, extra_data]
    )


# --- dispute games --------------------------------------------------------------------------------------


def game_creator_calldata() -> bytes:
    return _call("gameCreator()", [], [])


def claim_data_calldata(index: int) -> bytes:
    return _call("claimData(uint256)", ["uint256"], [index])


# --- decoders -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GameAtIndex:
    """One entry of the factory's game list."""

    game_type: int
    timestamp: int
    """L1 block timestamp of the game's creation."""
    proxy: bytes
    """20-byte address of the game proxy."""


def decode_uint(data: bytes) -> int:
    return int(abi_decode(["uint256"], data)[0])


def decode_string(data: bytes) -> str:
    return str(abi_decode(["string"], data)[0])


def decode_address(data: bytes) -> bytes:
    return bytes.fromhex(str(abi_decode(["address"], data)[0])[2:])


def decode_game_at_index(data: bytes) -> GameAtIndex:
    game_type, timestamp, proxy = abi_decode(["uint32", "uint64", "address"], data)
    return GameAtIndex(int(game_type), int(timestamp), bytes.fromhex(str(proxy)[2:]))


def decode_games(data: bytes) -> tuple[bytes, int]:
    """(proxy address, creation timestamp) of ``games(...)``; a zero address means no such game."""
    proxy, timestamp = abi_decode(["address", "uint64"], data)
    return bytes.fromhex(str(proxy)[2:]), int(timestamp)


def decode_claim_data_claimant(data: bytes) -> tuple[bytes, bytes]:
    """(claimant, claim) of ``claimData(0)`` on a FaultDisputeGame."""
    values = abi_decode(["uint32", "address", "address", "uint128", "bytes32", "uint128", "uint128"], data)
    return bytes.fromhex(str(values[2])[2:]), bytes(values[4])


KNOWN_ERRORS = {
    selector("GameAlreadyExists(bytes32)"): "GameAlreadyExists",
    selector("IncorrectBondAmount()"): "IncorrectBondAmount",
    selector("NoImplementation(uint32)"): "NoImplementation",
    selector("BadAuth()"): "BadAuth",
    selector("UnexpectedRootClaim(bytes32)"): "UnexpectedRootClaim",
    selector("AnchorRootNotFound()"): "AnchorRootNotFound",
}


def describe_revert(data: bytes) -> str:
    """A readable reason for revert data: Error(string)/Panic text or a known custom error name."""
    reason = decode_revert_reason(data)
    if reason is not None:
        return reason
    name = KNOWN_ERRORS.get(data[:4])
    if name:
        return f"{name}(0x{data[4:].hex()})" if len(data) > 4 else f"{name}()"
    return "0x" + data.hex() if data else "execution reverted"
