"""L1-attributes ("L1 info") deposit: the first transaction of every L2 block.

The batcher reads each L2 block's L1 origin (number, hash) and its sequence number from this
deposit's calldata. The calldata layout changed at Ecotone, Isthmus and Jovian; the first block
of each fork still uses the previous layout (the L1Block contract is upgraded inside that
block), so parsing dispatches on the 4-byte selector, never on timestamps.

Layouts (wire-formats.md §5, specs ``deposits.md`` / ``l1-attributes``):

* Bedrock ``setL1BlockValues`` 0x015d8eb9: ABI, 8 words, 260 bytes.
* Ecotone ``setL1BlockValuesEcotone()`` 0x440a5e20: packed, 164 bytes.
* Isthmus ``setL1BlockValuesIsthmus()`` 0x098999be: Ecotone + uint32 + uint64, 176 bytes.
* Jovian ``setL1BlockValuesJovian()`` 0x3db6be2b: Isthmus + uint16, 178 bytes.

The deposit envelope is ``0x7e ++ rlp([sourceHash, from, to, mint, value, gas, isSystemTx, data])``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from common.derive.rlp import UINT64_MAX, RlpError, decode_bytes, decode_list, decode_uint, rlp_encode
from common.derive.transaction import DEPOSIT_TX_TYPE, keccak256

L1_INFO_DEPOSITOR_ADDRESS = bytes.fromhex("deaddeaddeaddeaddeaddeaddeaddeaddead0001")
"""``from`` of every L1-info deposit (the depositor account, specs deposits.md)."""
L1_BLOCK_ADDRESS = bytes.fromhex("4200000000000000000000000000000000000015")
"""The L1Block predeploy, ``to`` of every L1-info deposit."""
REGOLITH_SYSTEM_TX_GAS = 1_000_000
"""Gas of the L1-info deposit since Regolith."""
L1_INFO_DEPOSIT_SOURCE_DOMAIN = 1
"""Source-hash domain of L1-info deposits (user deposits are 0, upgrade deposits 2)."""

L1_INFO_FUNC_BEDROCK_SELECTOR = bytes.fromhex("015d8eb9")
L1_INFO_FUNC_ECOTONE_SELECTOR = bytes.fromhex("440a5e20")
L1_INFO_FUNC_ISTHMUS_SELECTOR = bytes.fromhex("098999be")
L1_INFO_FUNC_JOVIAN_SELECTOR = bytes.fromhex("3db6be2b")

L1_INFO_BEDROCK_LEN = 4 + 32 * 8
L1_INFO_ECOTONE_LEN = 4 + 32 * 5
L1_INFO_ISTHMUS_LEN = L1_INFO_ECOTONE_LEN + 4 + 8
L1_INFO_JOVIAN_LEN = L1_INFO_ISTHMUS_LEN + 2

DEFAULT_DA_FOOTPRINT_GAS_SCALAR = 400
"""Jovian: value the L1Block contract uses when SystemConfig holds 0 (informational)."""

_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1
_U16 = (1 << 16) - 1
_U256 = (1 << 256) - 1


class L1InfoError(ValueError):
    """L1-info calldata or deposit bytes that do not match any known layout."""


class L1InfoLayout(enum.Enum):
    """Calldata layout of the L1-info deposit; the value is the fork that introduced it."""

    BEDROCK = "bedrock"
    ECOTONE = "ecotone"
    ISTHMUS = "isthmus"
    JOVIAN = "jovian"

    @property
    def selector(self) -> bytes:
        return _SELECTORS[self]

    @property
    def length(self) -> int:
        return _LENGTHS[self]


_SELECTORS = {
    L1InfoLayout.BEDROCK: L1_INFO_FUNC_BEDROCK_SELECTOR,
    L1InfoLayout.ECOTONE: L1_INFO_FUNC_ECOTONE_SELECTOR,
    L1InfoLayout.ISTHMUS: L1_INFO_FUNC_ISTHMUS_SELECTOR,
    L1InfoLayout.JOVIAN: L1_INFO_FUNC_JOVIAN_SELECTOR,
}
_LENGTHS = {
    L1InfoLayout.BEDROCK: L1_INFO_BEDROCK_LEN,
    L1InfoLayout.ECOTONE: L1_INFO_ECOTONE_LEN,
    L1InfoLayout.ISTHMUS: L1_INFO_ISTHMUS_LEN,
    L1InfoLayout.JOVIAN: L1_INFO_JOVIAN_LEN,
}
_BY_SELECTOR = {sel: layout for layout, sel in _SELECTORS.items()}


@dataclass(frozen=True, slots=True)
class L1Info:
    """Decoded L1-info calldata; fields absent from a layout are 0."""

    number: int
    """L1 origin block number."""
    timestamp: int
    """L1 origin block timestamp (unix seconds)."""
    base_fee: int
    """L1 origin base fee (wei)."""
    hash: bytes
    """32-byte L1 origin block hash."""
    sequence_number: int
    """Position of the L2 block in its epoch; 0 for the first block of an L1 origin."""
    batcher_hash: bytes
    """32-byte batcherHash: 12 zero bytes ++ batcher address (system-config.md)."""
    layout: L1InfoLayout = L1InfoLayout.ECOTONE
    """Calldata layout this value was decoded from / is encoded to."""
    l1_fee_overhead: int = 0
    """Bedrock only: l1FeeOverhead word."""
    l1_fee_scalar: int = 0
    """Bedrock only: l1FeeScalar word."""
    blob_base_fee: int = 0
    """Ecotone+: L1 blob base fee (wei)."""
    base_fee_scalar: int = 0
    """Ecotone+: uint32 baseFeeScalar."""
    blob_base_fee_scalar: int = 0
    """Ecotone+: uint32 blobBaseFeeScalar."""
    operator_fee_scalar: int = 0
    """Isthmus+: uint32 operatorFeeScalar."""
    operator_fee_constant: int = 0
    """Isthmus+: uint64 operatorFeeConstant."""
    da_footprint_gas_scalar: int = 0
    """Jovian+: uint16 daFootprintGasScalar."""

    @property
    def fork(self) -> str:
        """Name of the fork whose calldata layout this is ("bedrock", "ecotone", ...)."""
        return self.layout.value

    @property
    def batcher_address(self) -> bytes:
        """The 20-byte batcher address held in ``batcher_hash``."""
        return self.batcher_hash[12:]

    def with_layout(self, layout: L1InfoLayout) -> L1Info:
        return replace(self, layout=layout)

    def encode(self, layout: L1InfoLayout | None = None) -> bytes:
        """Calldata in ``layout`` (default: the value's own layout)."""
        layout = layout or self.layout
        self._check_ranges()
        if layout is L1InfoLayout.BEDROCK:
            return self.encode_bedrock()
        out = self.encode_ecotone(layout.selector)
        if layout is L1InfoLayout.ECOTONE:
            return out
        out += self.operator_fee_scalar.to_bytes(4, "big") + self.operator_fee_constant.to_bytes(8, "big")
        if layout is L1InfoLayout.ISTHMUS:
            return out
        return out + self.da_footprint_gas_scalar.to_bytes(2, "big")

    def encode_bedrock(self) -> bytes:
        """``setL1BlockValues`` ABI calldata (260 bytes)."""
        words = (
            self.number,
            self.timestamp,
            self.base_fee,
            int.from_bytes(self.hash, "big"),
            self.sequence_number,
            int.from_bytes(self.batcher_hash, "big"),
            self.l1_fee_overhead,
            self.l1_fee_scalar,
        )
        return L1_INFO_FUNC_BEDROCK_SELECTOR + b"".join(w.to_bytes(32, "big") for w in words)

    def encode_ecotone(self, selector: bytes = L1_INFO_FUNC_ECOTONE_SELECTOR) -> bytes:
        """``setL1BlockValuesEcotone()`` packed calldata (164 bytes); Isthmus/Jovian extend it."""
        return b"".join(
            (
                selector,
                self.base_fee_scalar.to_bytes(4, "big"),
                self.blob_base_fee_scalar.to_bytes(4, "big"),
                self.sequence_number.to_bytes(8, "big"),
                self.timestamp.to_bytes(8, "big"),
                self.number.to_bytes(8, "big"),
                self.base_fee.to_bytes(32, "big"),
                self.blob_base_fee.to_bytes(32, "big"),
                self.hash,
                self.batcher_hash,
            )
        )

    def encode_isthmus(self) -> bytes:
        return self.encode(L1InfoLayout.ISTHMUS)

    def encode_jovian(self) -> bytes:
        return self.encode(L1InfoLayout.JOVIAN)

    def _check_ranges(self) -> None:
        """Refuse values that would not fit their wire width instead of truncating them."""
        limits = (
            ("number", self.number, _U64),
            ("timestamp", self.timestamp, _U64),
            ("sequence_number", self.sequence_number, _U64),
            ("base_fee", self.base_fee, _U256),
            ("blob_base_fee", self.blob_base_fee, _U256),
            ("l1_fee_overhead", self.l1_fee_overhead, _U256),
            ("l1_fee_scalar", self.l1_fee_scalar, _U256),
            ("base_fee_scalar", self.base_fee_scalar, _U32),
            ("blob_base_fee_scalar", self.blob_base_fee_scalar, _U32),
            ("operator_fee_scalar", self.operator_fee_scalar, _U32),
            ("operator_fee_constant", self.operator_fee_constant, _U64),
            ("da_footprint_gas_scalar", self.da_footprint_gas_scalar, _U16),
        )
        for name, value, limit in limits:
            if not 0 <= value <= limit:
                raise L1InfoError(f"L1 info field {name}: value {value} does not fit its wire width")
        for name, raw in (("hash", self.hash), ("batcher_hash", self.batcher_hash)):
            if len(raw) != 32:
                raise L1InfoError(f"L1 info field {name}: expected 32 bytes, got {len(raw)}")


def _word_uint64(data: bytes, offset: int, name: str) -> int:
    """A Bedrock ABI word that must hold a uint64 (op-node rejects larger values)."""
    word = data[offset : offset + 32]
    if any(word[:24]):
        raise L1InfoError(f"bedrock L1 info: field {name} at byte {offset} does not fit uint64")
    return int.from_bytes(word[24:], "big")


def parse_l1_info(calldata: bytes) -> L1Info:
    """Decode L1-info calldata, choosing the layout by its 4-byte selector."""
    selector = bytes(calldata[:4])
    layout = _BY_SELECTOR.get(selector)
    if layout is None:
        raise L1InfoError(
            f"L1 info: unknown function selector 0x{selector.hex()} (calldata of {len(calldata)} bytes)"
        )
    if len(calldata) != layout.length:
        raise L1InfoError(
            f"L1 info ({layout.value}, selector 0x{selector.hex()}): expected "
            f"{layout.length} bytes, got {len(calldata)}"
        )
    if layout is L1InfoLayout.BEDROCK:
        return _parse_bedrock(bytes(calldata))
    return _parse_packed(bytes(calldata), layout)


def _parse_bedrock(d: bytes) -> L1Info:
    return L1Info(
        number=_word_uint64(d, 4, "number"),
        timestamp=_word_uint64(d, 36, "timestamp"),
        base_fee=int.from_bytes(d[68:100], "big"),
        hash=d[100:132],
        sequence_number=_word_uint64(d, 132, "sequenceNumber"),
        batcher_hash=d[164:196],
        layout=L1InfoLayout.BEDROCK,
        l1_fee_overhead=int.from_bytes(d[196:228], "big"),
        l1_fee_scalar=int.from_bytes(d[228:260], "big"),
    )


def _parse_packed(d: bytes, layout: L1InfoLayout) -> L1Info:
    extended = layout in (L1InfoLayout.ISTHMUS, L1InfoLayout.JOVIAN)
    return L1Info(
        base_fee_scalar=int.from_bytes(d[4:8], "big"),
        blob_base_fee_scalar=int.from_bytes(d[8:12], "big"),
        sequence_number=int.from_bytes(d[12:20], "big"),
        timestamp=int.from_bytes(d[20:28], "big"),
        number=int.from_bytes(d[28:36], "big"),
        base_fee=int.from_bytes(d[36:68], "big"),
        blob_base_fee=int.from_bytes(d[68:100], "big"),
        hash=d[100:132],
        batcher_hash=d[132:164],
        layout=layout,
        operator_fee_scalar=int.from_bytes(d[164:168], "big") if extended else 0,
        operator_fee_constant=int.from_bytes(d[168:176], "big") if extended else 0,
        da_footprint_gas_scalar=int.from_bytes(d[176:178], "big") if layout is L1InfoLayout.JOVIAN else 0,
    )


def l1_info_deposit_source_hash(l1_hash: bytes, sequence_number: int) -> bytes:
    """sourceHash = keccak256(uint256(1) ++ keccak256(l1_hash ++ uint256(seq))) (L1-info domain)."""
    if len(l1_hash) != 32:
        raise L1InfoError(f"L1 info source hash: L1 block hash must be 32 bytes, got {len(l1_hash)}")
    inner = keccak256(l1_hash + sequence_number.to_bytes(32, "big"))
    return keccak256(L1_INFO_DEPOSIT_SOURCE_DOMAIN.to_bytes(32, "big") + inner)


@dataclass(frozen=True, slots=True)
class DepositTx:
    """A deposit transaction (type 0x7e) as carried in L2 blocks."""

    source_hash: bytes
    from_address: bytes
    to: bytes | None
    """20-byte recipient, or None for a contract creation."""
    mint: int
    value: int
    gas: int
    is_system_tx: bool
    data: bytes

    def encode(self) -> bytes:
        """EIP-2718 envelope: 0x7e ++ rlp([sourceHash, from, to, mint, value, gas, isSystemTx, data])."""
        for name, value in (("mint", self.mint), ("value", self.value), ("gas", self.gas)):
            if value < 0:
                raise L1InfoError(f"deposit tx {name}: negative integer {value}")
        fields = [
            self.source_hash,
            self.from_address,
            self.to or b"",
            self.mint,
            self.value,
            self.gas,
            1 if self.is_system_tx else 0,
            self.data,
        ]
        return bytes([DEPOSIT_TX_TYPE]) + rlp_encode(fields)

    @property
    def hash(self) -> bytes:
        return keccak256(self.encode())

    @classmethod
    def decode(cls, raw: bytes) -> DepositTx:
        """Parse a 0x7e envelope, naming the field that is malformed."""
        if not raw or raw[0] != DEPOSIT_TX_TYPE:
            first = f"0x{raw[0]:02x}" if raw else "nothing"
            raise L1InfoError(f"deposit tx: expected type byte 0x7e, got {first}")
        try:
            items = decode_list(memoryview(raw)[1:], "deposit tx")
        except RlpError as exc:
            raise L1InfoError(f"invalid RLP: {exc}") from exc
        if len(items) != 8 or not all(isinstance(i, bytes) for i in items):
            raise L1InfoError(f"deposit tx: expected an RLP list of 8 byte strings, got {len(items)} items")
        source_hash, from_addr, to, mint, value, gas, is_system, data = items
        if len(to) not in (0, 20):
            raise L1InfoError(f"deposit tx to: expected 20 bytes or empty, got {len(to)}")
        if is_system not in (b"", b"\x01"):
            raise L1InfoError(f"deposit tx isSystemTx: must be a boolean, got 0x{is_system.hex()}")
        try:
            return cls(
                decode_bytes(source_hash, "sourceHash", 32),
                decode_bytes(from_addr, "from", 20),
                to or None,
                decode_uint(mint, "mint"),
                decode_uint(value, "value"),
                decode_uint(gas, "gas", UINT64_MAX),
                is_system == b"\x01",
                data,
            )
        except RlpError as exc:
            raise L1InfoError(f"deposit tx {exc}") from exc


def l1_info_deposit(info: L1Info, *, gas: int = REGOLITH_SYSTEM_TX_GAS) -> DepositTx:
    """The post-Regolith L1-info deposit carrying ``info`` in its own layout."""
    return DepositTx(
        source_hash=l1_info_deposit_source_hash(info.hash, info.sequence_number),
        from_address=L1_INFO_DEPOSITOR_ADDRESS,
        to=L1_BLOCK_ADDRESS,
        mint=0,
        value=0,
        gas=gas,
        is_system_tx=False,
        data=info.encode(),
    )


def l1_info_deposit_tx_bytes(info: L1Info, *, gas: int = REGOLITH_SYSTEM_TX_GAS) -> bytes:
    """Full 0x7e envelope of the L1-info deposit for ``info`` (what a sequencer puts first)."""
    return l1_info_deposit(info, gas=gas).encode()


def parse_l1_info_deposit_tx(raw: bytes) -> L1Info:
    """L1 info from a whole deposit tx envelope; checks it targets the L1Block predeploy."""
    tx = DepositTx.decode(raw)
    if tx.to != L1_BLOCK_ADDRESS:
        to = tx.to.hex() if tx.to else "contract creation"
        raise L1InfoError(f"deposit tx is not an L1-info deposit: to {to}")
    return parse_l1_info(tx.data)
