"""L1-info deposit calldata and envelopes: layouts, selectors, source hash, deposit bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.derive.l1_info import (
    L1_BLOCK_ADDRESS,
    L1_INFO_DEPOSITOR_ADDRESS,
    REGOLITH_SYSTEM_TX_GAS,
    DepositTx,
    L1Info,
    L1InfoError,
    L1InfoLayout,
    keccak256,
    l1_info_deposit_source_hash,
    l1_info_deposit_tx_bytes,
    parse_l1_info,
    parse_l1_info_deposit_tx,
)

u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
u256 = st.integers(0, 2**256 - 1)
h32 = st.binary(min_size=32, max_size=32)


def _info(layout: L1InfoLayout, **kw: int) -> L1Info:
    return L1Info(
        number=7,
        timestamp=1700000000,
        base_fee=10**9,
        hash=b"\x11" * 32,
        sequence_number=3,
        batcher_hash=b"\x00" * 12 + b"\xaa" * 20,
        layout=layout,
        **kw,
    )


@st.composite
def l1_infos(draw: st.DrawFn) -> L1Info:
    layout = draw(st.sampled_from(list(L1InfoLayout)))
    bedrock = layout is L1InfoLayout.BEDROCK
    extended = layout in (L1InfoLayout.ISTHMUS, L1InfoLayout.JOVIAN)
    return L1Info(
        number=draw(u64),
        timestamp=draw(u64),
        base_fee=draw(u256),
        hash=draw(h32),
        sequence_number=draw(u64),
        batcher_hash=draw(h32),
        layout=layout,
        l1_fee_overhead=draw(u256) if bedrock else 0,
        l1_fee_scalar=draw(u256) if bedrock else 0,
        blob_base_fee=0 if bedrock else draw(u256),
        base_fee_scalar=0 if bedrock else draw(u32),
        blob_base_fee_scalar=0 if bedrock else draw(u32),
        operator_fee_scalar=draw(u32) if extended else 0,
        operator_fee_constant=draw(u64) if extended else 0,
        da_footprint_gas_scalar=draw(st.integers(0, 0xFFFF)) if layout is L1InfoLayout.JOVIAN else 0,
    )


@given(l1_infos())
def test_every_layout_round_trips_through_its_calldata(info: L1Info) -> None:
    """parse(encode(x)) == x for all four layouts, and the length and selector match the layout."""
    data = info.encode()
    assert len(data) == info.layout.length
    assert data[:4] == info.layout.selector
    assert parse_l1_info(data) == info


def test_selectors_are_keccak_of_the_function_signatures() -> None:
    """The four selectors are the first 4 bytes of keccak256 of the L1Block function signatures."""
    signatures = {
        L1InfoLayout.BEDROCK: "setL1BlockValues(uint64,uint64,uint256,bytes32,uint64,bytes32,"
        "uint256,uint256)",
        L1InfoLayout.ECOTONE: "setL1BlockValuesEcotone()",
        L1InfoLayout.ISTHMUS: "setL1BlockValuesIsthmus()",
        L1InfoLayout.JOVIAN: "setL1BlockValuesJovian()",
    }
    for layout, sig in signatures.items():
        assert keccak256(sig.encode())[:4] == layout.selector, layout


def test_layout_lengths_are_260_164_176_178() -> None:
    """Bedrock ABI 260 bytes; packed Ecotone 164, Isthmus 176, Jovian 178."""
    assert [layout.length for layout in L1InfoLayout] == [260, 164, 176, 178]


def test_jovian_appends_the_da_footprint_scalar_to_the_isthmus_layout() -> None:
    """Jovian calldata = Isthmus calldata (with its own selector) ++ uint16."""
    info = _info(
        L1InfoLayout.JOVIAN, operator_fee_scalar=5, operator_fee_constant=6, da_footprint_gas_scalar=400
    )
    jovian, isthmus = info.encode(), info.encode(L1InfoLayout.ISTHMUS)
    assert jovian[4:176] == isthmus[4:]
    assert jovian[176:] == (400).to_bytes(2, "big")
    assert parse_l1_info(jovian).da_footprint_gas_scalar == 400


def test_unknown_selector_is_rejected_with_its_value() -> None:
    """An unknown selector names itself in the error."""
    with pytest.raises(L1InfoError, match="0x098f4081"):
        parse_l1_info(bytes.fromhex("098f4081") + bytes(176))


@pytest.mark.parametrize("layout", list(L1InfoLayout))
def test_wrong_length_for_a_selector_is_rejected(layout: L1InfoLayout) -> None:
    """Calldata one byte short or long for its selector fails, naming both lengths."""
    data = _info(layout).encode()
    for bad in (data[:-1], data + b"\x00"):
        with pytest.raises(L1InfoError, match=f"expected {layout.length} bytes, got {len(bad)}"):
            parse_l1_info(bad)


def test_bedrock_word_larger_than_uint64_is_rejected() -> None:
    """A Bedrock number word with high bytes set is refused, naming the field."""
    data = bytearray(_info(L1InfoLayout.BEDROCK).encode())
    data[4] = 1
    with pytest.raises(L1InfoError, match="number"):
        parse_l1_info(bytes(data))


def test_encoding_a_value_too_wide_for_its_field_fails() -> None:
    """A uint32 scalar of 2**32 is refused rather than truncated."""
    with pytest.raises(L1InfoError, match="base_fee_scalar"):
        _info(L1InfoLayout.ECOTONE, base_fee_scalar=2**32).encode()


def test_source_hash_follows_the_l1_info_domain_formula() -> None:
    """sourceHash = keccak(uint256(1) ++ keccak(hash ++ uint256(seq)))."""
    h = bytes(range(32))
    expected = keccak256((1).to_bytes(32, "big") + keccak256(h + (9).to_bytes(32, "big")))
    assert l1_info_deposit_source_hash(h, 9) == expected
    assert l1_info_deposit_source_hash(h, 9) != l1_info_deposit_source_hash(h, 10)


def test_deposit_tx_bytes_carry_the_standard_envelope_fields() -> None:
    """The built deposit decodes to depositor -> L1Block, gas 1M, not a system tx, mint/value 0."""
    info = _info(L1InfoLayout.ISTHMUS)
    raw = l1_info_deposit_tx_bytes(info)
    assert raw[0] == 0x7E
    tx = DepositTx.decode(raw)
    assert (tx.from_address, tx.to, tx.gas, tx.is_system_tx, tx.mint, tx.value) == (
        L1_INFO_DEPOSITOR_ADDRESS,
        L1_BLOCK_ADDRESS,
        REGOLITH_SYSTEM_TX_GAS,
        False,
        0,
        0,
    )
    assert tx.source_hash == l1_info_deposit_source_hash(info.hash, info.sequence_number)
    assert parse_l1_info_deposit_tx(raw) == info
    assert tx.encode() == raw


@given(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=20, max_size=20),
    st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
    u256,
    u256,
    u64,
    st.booleans(),
    st.binary(max_size=300),
)
def test_deposit_tx_round_trips(
    src: bytes, frm: bytes, to: bytes | None, mint: int, value: int, gas: int, system: bool, data: bytes
) -> None:
    """DepositTx.decode(encode(x)) == x for arbitrary fields, including contract creations."""
    tx = DepositTx(src, frm, to, mint, value, gas, system, data)
    assert DepositTx.decode(tx.encode()) == tx


def test_malformed_deposit_envelopes_fail_with_a_typed_error() -> None:
    """Wrong type byte, truncated RLP and wrong field count are L1InfoError."""
    good = l1_info_deposit_tx_bytes(_info(L1InfoLayout.ECOTONE))
    with pytest.raises(L1InfoError, match="type byte"):
        DepositTx.decode(b"\x02" + good[1:])
    with pytest.raises(L1InfoError, match="RLP"):
        DepositTx.decode(good[:-5])
    with pytest.raises(L1InfoError, match="8 byte strings"):
        DepositTx.decode(b"\x7e\xc2\x80\x80")


def test_deposit_to_another_contract_is_not_l1_info() -> None:
    """parse_l1_info_deposit_tx refuses a deposit not sent to the L1Block predeploy."""
    tx = DepositTx(
        b"\x00" * 32,
        L1_INFO_DEPOSITOR_ADDRESS,
        b"\x42" * 20,
        0,
        0,
        1,
        False,
        _info(L1InfoLayout.ECOTONE).encode(),
    )
    with pytest.raises(L1InfoError, match="not an L1-info deposit"):
        parse_l1_info_deposit_tx(tx.encode())
