"""Calldata and return decoding for L2OutputOracle, DisputeGameFactory and dispute games."""

import pytest
from eth_abi import encode

from proposer import contracts as c

# Selectors as listed in op-proposer-txmgr.md §6 (computed independently there).
SELECTORS = {
    "proposeL2Output(bytes32,uint256,bytes32,uint256)": "9aaab648",
    "nextBlockNumber()": "dcec3348",
    "version()": "54fd4d50",
    "latestBlockNumber()": "4599c788",
    "create(uint32,bytes32,bytes)": "82ecf2f6",
    "gameCount()": "4d1975b4",
    "gameAtIndex(uint256)": "bb8aa1fc",
    "initBonds(uint32)": "6593dc6e",
    "gameImpls(uint32)": "1b685b9e",
    "games(uint32,bytes32,bytes)": "5f0150cb",
    "claimData(uint256)": "c6f0308c",
    "gameCreator()": "37b1b229",
    "rootClaim()": "bcef3b55",
    "GameAlreadyExists(bytes32)": "014f6fe5",
    "IncorrectBondAmount()": "8620aa19",
    "NoImplementation(uint32)": "031c6de4",
    "BadAuth()": "d386ef3e",
}


@pytest.mark.parametrize(("signature", "expected"), sorted(SELECTORS.items()))
def test_selector_matches_reference(signature, expected):
    """Each selector equals the value recorded in the reference."""
    assert c.selector(signature).hex() == expected


def test_propose_l2_output_calldata_matches_reference_example():
    """The 132-byte layout from the reference: root 0x11.., l2 1800, l1 hash 0x22.., l1 12345."""
    data = c.propose_l2_output_calldata(b"\x11" * 32, 1800, b"\x22" * 32, 12345)
    assert len(data) == 132
    assert data.hex() == (
        "9aaab648"
        + "11" * 32
        + (1800).to_bytes(32, "big").hex()
        + "22" * 32
        + (12345).to_bytes(32, "big").hex()
    )


def test_create_calldata_matches_reference_example():
    """create(0, 0x11.., extraData=block 1000) is 164 bytes with offset 0x60 and length 0x20."""
    data = c.create_calldata(0, b"\x11" * 32, c.output_extra_data(1000))
    assert len(data) == 164
    words = [data[4 + 32 * i : 4 + 32 * (i + 1)] for i in range(5)]
    assert words[0] == b"\x00" * 32 and words[1] == b"\x11" * 32
    assert int.from_bytes(words[2], "big") == 0x60 and int.from_bytes(words[3], "big") == 0x20
    assert int.from_bytes(words[4], "big") == 1000


def test_game_at_index_decodes_type_timestamp_and_proxy():
    """gameAtIndex returns (uint32, uint64, address)."""
    raw = encode(["uint32", "uint64", "address"], [1, 1_700_000_000, "0x" + "ab" * 20])
    game = c.decode_game_at_index(raw)
    assert (game.game_type, game.timestamp, game.proxy) == (1, 1_700_000_000, b"\xab" * 20)


def test_describe_revert_names_custom_errors_and_error_strings():
    """Reverts are turned into names an operator can grep."""
    assert c.describe_revert(c.selector("GameAlreadyExists(bytes32)") + b"\x01" * 32).startswith(
        "GameAlreadyExists(0x0101"
    )
    msg = c.selector("Error(string)") + encode(["string"], ["L2OutputOracle: only the proposer"])
    assert c.describe_revert(msg) == "L2OutputOracle: only the proposer"
    assert c.describe_revert(b"") == "execution reverted"
