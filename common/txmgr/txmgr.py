"""SimpleTxManager: craft, sign, publish, bump and confirm L1 transactions (op-service/txmgr semantics).

The contract, per ``send(candidate)``:

1. *Craft* (retried ``CRAFT_RETRIES`` x ``CRAFT_RETRY_INTERVAL``): fee suggestion with floors and caps
   (``fees.suggest_fees``), fee cap ``tip + 2*baseFee``, blob sidecar (v0 or cell proofs), gas from
   ``eth_estimateGas`` when the candidate's limit is 0 (else the limit is checked with ``eth_call``), then
   sign with the next nonce: ``eth_getTransactionCount(latest)`` once, then cached + 1.
2. *Send loop*: publish; classify errors by substring (order matters); after each successful publish
   watch that hash's receipt (older hashes stay watched: a pre-bump version may be the one that lands)
   and re-send the identical tx every ``rebroadcast_interval``; every ``resubmission_timeout`` bump the
   fees; retry ``nonce too high`` after ``retry_interval`` at most ``max_retries`` times; abort on the
   critical errors of ``SendState``; return the first receipt ``num_confirmations`` deep.
3. Any failure resets the cached nonce so the next tx re-reads it from the chain.

Times come from an injectable :class:`Clock`, so tests can run the loop without real waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from Crypto.Hash import keccak
from eth_utils.address import to_checksum_address

from common.rpc.errors import RpcError, RpcResponseError
from common.rpc.eth import as_revert
from common.rpc.types import Header, Receipt
from common.service.log import Logger, get_logger
from common.txmgr import fees as feemath
from common.txmgr.blobs import (
    BlobSidecar,
    make_sidecar,
    pooled_blob_tx,
    resolve_cell_proof_time,
    strip_sidecar,
    use_cell_proofs,
)
from common.txmgr.config import TxMgrConfig
from common.txmgr.fees import FeeError, FeeSettings, FeeSuggestion, TxFees
from common.txmgr.metrics import NoopTxMetrics, TxMetricer
from common.txmgr.send_state import (
    ERR_ALREADY_KNOWN,
    ERR_ALREADY_RESERVED,
    ERR_CONTEXT_CANCELED,
    ERR_NONCE_TOO_HIGH,
    ERR_NONCE_TOO_LOW,
    ERR_REPLACE_UNDERPRICED,
    ERR_UNDERPRICED,
    AlreadyReservedError,
    CriticalSendError,
    SendState,
    TxMgrError,
    err_contains,
)
from common.txmgr.signer import Signer

_log = get_logger("txmgr")

CRAFT_RETRIES = 30
"""Attempts to craft a tx (fee suggestion, estimation, signing) before ``send`` fails (Go: 30)."""
CRAFT_RETRY_INTERVAL = 2.0
"""Seconds between crafting attempts (Go: fixed 2 s)."""
MIN_RETRY_WAIT = 1e-9
"""Go waits at least 1 ns after a transient publish error, even with ``retry_interval <= 0``."""
BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE = 5007716
MIN_BLOB_BASE_FEE = 1
DYNAMIC_FEE_TX_TYPE = 2
BLOB_TX_TYPE = 3

__all__ = [
    "AlreadyReservedError",
    "Clock",
    "CraftError",
    "CriticalSendError",
    "SendAbortedError",
    "SendTimeoutError",
    "SignedTx",
    "Signer",
    "SystemClock",
    "TransientPublishError",
    "TxCandidate",
    "TxManager",
    "TxManagerClosedError",
    "TxMgrError",
    "UnsignedTx",
    "cancellation_candidate",
    "is_already_reserved",
]


class TxManagerClosedError(TxMgrError):
    """``send`` after ``close()`` (Go ``ErrClosed``)."""

    def __init__(self) -> None:
        super().__init__("transaction manager is closed")


class SendAbortedError(TxMgrError):
    """The send loop gave up: ``aborted tx send due to critical error: <cause>`` (``cause`` kept)."""

    def __init__(self, cause: CriticalSendError) -> None:
        super().__init__(f"aborted tx send due to critical error: {cause}")
        self.cause = cause

    @property
    def already_reserved(self) -> bool:
        """True when geth's pool holds a pending tx of the other kind (send a cancellation)."""
        return isinstance(self.cause, AlreadyReservedError)


class SendTimeoutError(TxMgrError):
    """``txmgr.send-timeout`` elapsed (Go: ``context deadline exceeded``)."""


class TransientPublishError(TxMgrError):
    """A publish error worth retrying after ``retry_interval`` (today only ``nonce too high``)."""


class CraftError(TxMgrError):
    """Crafting failed after all retries: ``failed to create the tx: <last error>``."""


class RpcCaller(Protocol):
    """The part of ``common.rpc.eth.EthClient`` used here: raw JSON-RPC calls with a timeout."""

    async def call(
        self, method: str, params: Any = None, *, timeout: float | None = None, retry: bool | None = None
    ) -> Any: ...


class Clock(Protocol):
    """Time source of the send loop (monotonic deadlines, unix times, sleeping)."""

    def monotonic(self) -> float: ...
    def unix(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def unix(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True, slots=True)
class TxCandidate:
    """What a caller wants sent; the tx manager picks nonce, fees and (if 0) the gas limit."""

    to: bytes | None
    """20-byte recipient; None = contract creation (not allowed with blobs)."""
    data: bytes = b""
    gas_limit: int = 0
    """0 = estimate with ``eth_estimateGas``."""
    value: int = 0
    blobs: tuple[bytes, ...] = field(default=(), repr=False)
    """Full 131072-byte blobs; non-empty makes a type-3 tx."""


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    """A type-2 or type-3 transaction before signing."""

    chain_id: int
    nonce: int
    to: bytes | None
    value: int
    data: bytes
    gas: int
    fees: TxFees
    blob_hashes: tuple[bytes, ...] = ()

    @property
    def is_blob(self) -> bool:
        return bool(self.blob_hashes)

    def signer_dict(self) -> dict[str, Any]:
        """The tx in eth-account / ``eth_signTransaction`` form (ints, checksummed address, hex data)."""
        tx: dict[str, Any] = {
            "type": BLOB_TX_TYPE if self.is_blob else DYNAMIC_FEE_TX_TYPE,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "value": self.value,
            "data": "0x" + self.data.hex(),
            "gas": self.gas,
            "maxFeePerGas": self.fees.fee_cap,
            "maxPriorityFeePerGas": self.fees.tip,
            "accessList": [],
        }
        if self.to is not None:
            tx["to"] = to_checksum_address(self.to)
        if self.is_blob:
            tx["maxFeePerBlobGas"] = self.fees.blob_fee_cap
            tx["blobVersionedHashes"] = ["0x" + h.hex() for h in self.blob_hashes]
        return tx


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed tx, its hash and (blob txs) the sidecar sent along with it."""

    tx: UnsignedTx
    raw: bytes = field(repr=False)
    """Canonical signed encoding (no sidecar); ``hash = keccak(raw)``."""
    hash: bytes
    sidecar: BlobSidecar | None = None

    @property
    def network_bytes(self) -> bytes:
        """What ``eth_sendRawTransaction`` gets: the pooled form for blob txs."""
        return self.raw if self.sidecar is None else pooled_blob_tx(self.raw, self.sidecar)


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _with_revert_reason(err: BaseException) -> str:
    """Go ``errutil.TryAddRevertReason``: append the revert reason/data of an RPC error."""
    if isinstance(err, RpcResponseError):
        reverted = as_revert(err)
        reason = getattr(reverted, "reason", None)
        if reason:
            return f"{err}, reason: {reason}"
    return str(err)


def _fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844 ``fake_exponential``: the blob base fee from the excess blob gas."""
    i, output, acc = 1, 0, factor * denominator
    while acc > 0:
        output += acc
        acc = acc * numerator // (denominator * i)
        i += 1
    return output // denominator


class TxManager:
    """Sends transactions from one account; safe for concurrent ``send`` calls (nonce lock)."""

    def __init__(
        self,
        cfg: TxMgrConfig,
        eth: RpcCaller,
        signer: Signer,
        metrics: TxMetricer | None = None,
        *,
        chain_id: int | None = None,
        clock: Clock | None = None,
        name: str = "",
        craft_retries: int = CRAFT_RETRIES,
        craft_retry_interval: float = CRAFT_RETRY_INTERVAL,
    ) -> None:
        self.cfg = cfg
        self.eth = eth
        self.signer = signer
        self.metrics: TxMetricer = metrics or NoopTxMetrics()
        self.clock: Clock = clock or SystemClock()
        self.name = name
        self.log: Logger = _log.new(service=name) if name else _log
        self.craft_retries = craft_retries
        self.craft_retry_interval = craft_retry_interval
        self.settings = FeeSettings(
            min_tip_cap=cfg.min_tip_cap,
            min_base_fee=cfg.min_base_fee,
            max_tip_cap=cfg.max_tip_cap,
            max_base_fee=cfg.max_base_fee,
            min_blob_tx_fee=cfg.min_blob_tx_fee,
            fee_limit_multiplier=cfg.fee_limit_multiplier,
            fee_limit_threshold=cfg.fee_limit_threshold,
        )
        """Runtime-mutable fee knobs (the ``txmgr_*`` admin API writes these)."""
        self.resubmission_timeout = cfg.resubmission_timeout
        self.rebroadcast_interval = cfg.rebroadcast_interval
        self.blob_tip_cap_dynamic = cfg.blob_tip_cap_dynamic
        self._chain_id = chain_id
        self._cell_proof_time = (
            resolve_cell_proof_time(cfg.cell_proof_time, chain_id) if chain_id is not None else None
        )
        self._init_lock = asyncio.Lock()
        self._nonce: int | None = None
        self._nonce_lock = asyncio.Lock()
        self._pending = 0
        self._closed = False
        self._closed_event = asyncio.Event()
        self._blob_tip_cache: dict[int, list[int]] = {}

    # ------------------------------------------------------------------------------------------ basics

    @property
    def from_address(self) -> bytes:
        return self.signer.address

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def chain_id(self) -> int | None:
        return self._chain_id

    def close(self) -> None:
        """Refuse new sends; sends not waiting for a mined tx stop with ``TxManagerClosedError``.

        The L1 client is not closed here: its owner (the service) closes it after the drivers stop.
        """
        self._closed = True
        self._closed_event.set()

    async def init(self) -> None:
        """Read the L1 chain id (``eth_chainId``) and resolve ``txmgr.cell-proof-time`` from it."""
        async with self._init_lock:
            if self._chain_id is None:
                self._chain_id = int(await self._call("eth_chainId", []), 16)
            if self._cell_proof_time is None:
                self._cell_proof_time = resolve_cell_proof_time(self.cfg.cell_proof_time, self._chain_id)

    async def block_number(self) -> int:
        return int(await self._call("eth_blockNumber", []), 16)

    def api(self) -> dict[str, Callable[..., Awaitable[Any]]]:
        """The ``txmgr_*`` admin methods, for the service's RPC server to register."""
        from common.txmgr.api import txmgr_api

        return txmgr_api(self)

    def reset_nonce(self) -> None:
        """Forget the cached nonce; the next tx reads ``eth_getTransactionCount(latest)`` again."""
        self._nonce = None

    async def _call(self, method: str, params: list[Any], *, retry: bool | None = None) -> Any:
        return await self.eth.call(method, params, timeout=self.cfg.network_timeout, retry=retry)

    # ---------------------------------------------------------------------------------------- sending

    async def send(self, candidate: TxCandidate) -> Receipt:
        """Send ``candidate`` until a receipt is ``num_confirmations`` deep (reverted receipts included)."""
        task = await self.send_async(candidate)
        return await task

    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]:
        """Craft and sign now (so nonces follow call order), then publish and confirm in a task.

        Go ``SendAsync``: a crafting failure raises here; later failures surface from the task.
        """
        if self._closed:
            raise TxManagerClosedError()
        self._pending += 1
        self.metrics.record_pending_tx(self._pending)
        deadline = self.clock.monotonic() + self.cfg.tx_send_timeout if self.cfg.tx_send_timeout > 0 else None
        try:
            tx: SignedTx = await self._bounded(self._prepare(candidate), deadline)
        except BaseException:
            self.reset_nonce()
            self._pending -= 1
            self.metrics.record_pending_tx(self._pending)
            raise
        return asyncio.get_running_loop().create_task(self._send_prepared(tx, deadline))

    async def _send_prepared(self, tx: SignedTx, deadline: float | None) -> Receipt:
        try:
            receipt: Receipt = await self._bounded(self._send_tx(tx), deadline)
            return receipt
        except BaseException:
            self.reset_nonce()
            raise
        finally:
            self._pending -= 1
            self.metrics.record_pending_tx(self._pending)

    async def _bounded(self, aw: Awaitable[Any], deadline: float | None) -> Any:
        if deadline is None:
            return await aw
        remaining = deadline - self.clock.monotonic()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                return await aw
        except TimeoutError:
            raise SendTimeoutError(
                f"context deadline exceeded (txmgr.send-timeout {self.cfg.tx_send_timeout:g}s)"
            ) from None

    # --------------------------------------------------------------------------------------- crafting

    async def _prepare(self, candidate: TxCandidate) -> SignedTx:
        """``craft_tx`` with fixed-interval retries; stops early once closed.

        The blob sidecar is computed once, before the retries (cell proofs cost ~0.3-0.9 s per blob).
        """
        sidecar: BlobSidecar | None = None
        if candidate.blobs and candidate.to is not None:
            with contextlib.suppress(RpcError):  # else craft_tx retries the chain-id lookup
                await self.init()
            if self._cell_proof_time is not None:
                cell_proofs = use_cell_proofs(self._cell_proof_time, self.clock.unix())
                try:
                    sidecar = await asyncio.to_thread(make_sidecar, candidate.blobs, cell_proofs=cell_proofs)
                except ValueError as err:
                    raise CraftError(f"failed to create the tx: failed to make sidecar: {err}") from err
        last: BaseException | None = None
        for attempt in range(max(1, self.craft_retries)):
            if self._closed:
                raise TxManagerClosedError()
            try:
                return await self.craft_tx(candidate, sidecar)
            except Exception as err:  # Go retries every crafting error alike
                last = err
                self.log.warn("Failed to create a transaction, will retry", err=str(err))
            if attempt + 1 < self.craft_retries:
                await self.clock.sleep(self.craft_retry_interval)
        raise CraftError(f"failed to create the tx: {last}") from last

    async def craft_tx(self, candidate: TxCandidate, sidecar: BlobSidecar | None = None) -> SignedTx:
        """One crafting attempt: fees, gas, nonce and signature (``sidecar`` built for blob candidates)."""
        await self.init()
        assert self._chain_id is not None and self._cell_proof_time is not None
        is_blob = bool(candidate.blobs)
        if is_blob and sidecar is None:
            if candidate.to is None:
                raise TxMgrError("blob txs cannot deploy contracts")
            cell_proofs = use_cell_proofs(self._cell_proof_time, self.clock.unix())
            sidecar = await asyncio.to_thread(make_sidecar, candidate.blobs, cell_proofs=cell_proofs)
        suggestion = await self.suggest_gas_price_caps(for_blob=is_blob)
        fees = feemath.initial_fees(suggestion, self.settings, is_blob=is_blob)
        msg: dict[str, Any] = {
            "from": _hex(self.from_address),
            "maxPriorityFeePerGas": hex(fees.tip),
            "maxFeePerGas": hex(fees.fee_cap),
            "input": _hex(candidate.data),
            "value": hex(candidate.value),
        }
        if candidate.to is not None:
            msg["to"] = _hex(candidate.to)
        if sidecar is not None:
            msg["maxFeePerBlobGas"] = hex(fees.blob_fee_cap)
            msg["blobVersionedHashes"] = [_hex(h) for h in sidecar.versioned_hashes]
        gas = candidate.gas_limit
        if gas == 0:
            try:
                gas = int(await self._call("eth_estimateGas", [msg]), 16)
            except RpcError as err:
                raise TxMgrError(f"failed to estimate gas: {_with_revert_reason(err)}") from err
        else:
            try:
                await self._call("eth_call", [{**msg, "gas": hex(gas)}, "latest"])
            except RpcError as err:
                raise TxMgrError(f"failed to call: {_with_revert_reason(err)}") from err
        unsigned = UnsignedTx(
            chain_id=self._chain_id,
            nonce=0,
            to=candidate.to,
            value=candidate.value,
            data=candidate.data,
            gas=gas,
            fees=fees,
            blob_hashes=sidecar.versioned_hashes if sidecar else (),
        )
        return await self._sign_with_next_nonce(unsigned, sidecar)

    async def _sign_with_next_nonce(self, unsigned: UnsignedTx, sidecar: BlobSidecar | None) -> SignedTx:
        """Take the next nonce (chain ``latest`` once, then cached + 1) and sign; undo on failure."""
        async with self._nonce_lock:
            if self._nonce is None:
                try:
                    self._nonce = int(
                        await self._call("eth_getTransactionCount", [_hex(self.from_address), "latest"]), 16
                    )
                except RpcError as err:
                    self.metrics.rpc_error()
                    raise TxMgrError(f"failed to get nonce: {err}") from err
            else:
                self._nonce += 1
            nonce = self._nonce
            try:
                signed = await self._sign(replace(unsigned, nonce=nonce), sidecar)
            except BaseException:
                self._nonce = nonce - 1 if nonce > 0 else None
                raise
            self.metrics.record_nonce(nonce)
            return signed

    async def _sign(self, unsigned: UnsignedTx, sidecar: BlobSidecar | None) -> SignedTx:
        try:
            async with asyncio.timeout(self.cfg.network_timeout):
                raw = bytes(await self.signer.sign_transaction(unsigned.signer_dict()))
        except TimeoutError:
            raise TxMgrError(f"signing timed out after {self.cfg.network_timeout:g}s") from None
        raw = strip_sidecar(raw)
        return SignedTx(tx=unsigned, raw=raw, hash=keccak256(raw), sidecar=sidecar)

    # ------------------------------------------------------------------------------------------- fees

    async def suggest_gas_price_caps(self, *, for_blob: bool = False) -> FeeSuggestion:
        """Tip (``eth_maxPriorityFeePerGas``), base fee (latest header), blob fee (``eth_blobBaseFee``)."""
        try:
            async with asyncio.timeout(self.cfg.network_timeout):
                tip_hex, header_json, blob_hex = await asyncio.gather(
                    self._call("eth_maxPriorityFeePerGas", []),
                    self._call("eth_getBlockByNumber", ["latest", False]),
                    self._call("eth_blobBaseFee", []),
                )
        except (RpcError, TimeoutError) as err:
            self.metrics.rpc_error()
            raise TxMgrError(
                f"failed to get gas price info: failed to get gas price estimates: {err}"
            ) from err
        header = Header.from_json(header_json)
        if header.base_fee is None:
            raise TxMgrError("txmgr does not support pre-london blocks")
        tip, blob_base_fee = int(tip_hex, 16), int(blob_hex, 16)
        self.metrics.record_tip_cap(tip)
        self.metrics.record_base_fee(header.base_fee)
        self.metrics.record_blob_base_fee(blob_base_fee)
        dynamic_tip = await self._dynamic_blob_tip() if for_blob and self.blob_tip_cap_dynamic else None
        return feemath.suggest_fees(
            tip, header.base_fee, blob_base_fee, self.settings, dynamic_blob_tip=dynamic_tip
        )

    async def _dynamic_blob_tip(self) -> int:
        """Percentile of the effective tips of blob txs in the last ``blob_tip_cap_range`` + 1 L1 blocks.

        Falls back to ``min_tip_cap`` when no blob tx is found (Go ``bgpo`` oracle behaviour). Blocks are
        cached by number and hash-checked against the latest head's ancestry only through re-fetching the
        newest block, so a reorg deeper than one block may keep stale tips until they leave the range.
        """
        latest = await self.block_number()
        first = max(0, latest - self.cfg.blob_tip_cap_range)
        tips: list[int] = []
        for number in range(first, latest + 1):
            cached = self._blob_tip_cache.get(number)
            if cached is None or number == latest:
                block = await self._call("eth_getBlockByNumber", [hex(number), True])
                if not isinstance(block, dict):
                    continue
                base_fee = int(block.get("baseFeePerGas", "0x0"), 16)
                cached = [
                    feemath.effective_tip(
                        int(t["maxPriorityFeePerGas"], 16), int(t["maxFeePerGas"], 16), base_fee
                    )
                    for t in block.get("transactions", [])
                    if isinstance(t, dict) and int(t.get("type", "0x0"), 16) == BLOB_TX_TYPE
                ]
                self._blob_tip_cache[number] = cached
            tips.extend(cached)
        for number in [n for n in self._blob_tip_cache if n < first]:
            del self._blob_tip_cache[number]
        value = feemath.percentile_value(tips, self.cfg.blob_tip_cap_percentile)
        return self.settings.min_tip_cap if value is None else value

    async def increase_gas_price(self, tx: SignedTx) -> SignedTx:
        """A replacement of ``tx`` with bumped fees (raises when the caps forbid it or estimation fails)."""
        self.log.info("bumping gas price for transaction", **self._tx_fields(tx))
        suggestion = await self.suggest_gas_price_caps(for_blob=tx.tx.is_blob)
        bumped = feemath.bump_fees(tx.tx.fees, suggestion, self.settings, is_blob=tx.tx.is_blob)
        msg: dict[str, Any] = {
            "from": _hex(self.from_address),
            "maxPriorityFeePerGas": hex(bumped.tip),
            "maxFeePerGas": hex(bumped.fee_cap),
            "input": _hex(tx.tx.data),
            "value": hex(tx.tx.value),
        }
        if tx.tx.to is not None:
            msg["to"] = _hex(tx.tx.to)
        try:
            gas = int(await self._call("eth_estimateGas", [msg]), 16)
        except RpcError as err:
            self.log.warn("failed to re-estimate gas", err=str(err), tx=_hex(tx.hash))
            raise
        unsigned = replace(tx.tx, fees=bumped, gas=max(gas, tx.tx.gas))
        try:
            return await self._sign(unsigned, tx.sidecar)
        except Exception as err:
            self.log.warn("failed to sign new transaction", err=str(err), tx=_hex(tx.hash))
            return tx

    # ------------------------------------------------------------------------------------- send loop

    async def _send_tx(self, tx: SignedTx) -> Receipt:
        clock = self.clock
        state = SendState(
            self.cfg.safe_abort_nonce_too_low_count, self.cfg.tx_not_in_mempool_timeout, clock.monotonic
        )
        receipt_fut: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        waiters: dict[bytes, asyncio.Task[None]] = {}
        published: set[bytes] = set()
        resubmission = max(self.resubmission_timeout, MIN_RETRY_WAIT)
        next_bump = clock.monotonic() + resubmission
        wake_at: float | None = None
        retries = 0
        publish_now = True
        try:
            while True:
                if publish_now and not state.waiting_for_confirmation:
                    if self._closed:
                        self.log.warn(
                            "TxManager closed, aborting transaction submission", **self._tx_fields(tx)
                        )
                        raise TxManagerClosedError()
                    tx, ok, transient = await self._publish(tx, state, published)
                    wake_at = None
                    if ok:
                        published.add(tx.hash)
                        if tx.hash not in waiters:
                            waiters[tx.hash] = asyncio.create_task(
                                self._wait_for_tx(tx.hash, state, receipt_fut)
                            )
                        if self.rebroadcast_interval > 0:
                            wake_at = clock.monotonic() + self.rebroadcast_interval
                        retries = 0
                    elif transient is not None:
                        if retries >= self.cfg.max_retries:
                            self.log.warn(
                                "Aborting transaction submission retry",
                                **self._tx_fields(tx),
                                err=str(transient),
                            )
                            raise transient
                        retries += 1
                        wake_at = clock.monotonic() + max(self.cfg.retry_interval, MIN_RETRY_WAIT)
                crit = state.critical_error()
                if crit is not None:
                    self.log.warn("Aborting transaction submission", **self._tx_fields(tx), err=str(crit))
                    raise SendAbortedError(crit) from crit
                publish_now = False
                while not publish_now:
                    now = clock.monotonic()
                    until = min(next_bump, wake_at if wake_at is not None else math.inf)
                    await self._wait_any(receipt_fut, until - now)
                    if receipt_fut.done():
                        receipt: Receipt = receipt_fut.result()
                        self.metrics.record_gas_bump_count(state.bump_count)
                        self.metrics.tx_confirmed(
                            status=receipt.status,
                            effective_gas_price=receipt.effective_gas_price,
                            gas_used=receipt.gas_used,
                            tx_type=receipt.type,
                        )
                        return receipt
                    now = clock.monotonic()
                    if now >= next_bump:
                        state.bump_fees = True
                        while next_bump <= now:
                            next_bump += resubmission
                        publish_now = True
                    if wake_at is not None and now >= wake_at:
                        wake_at = None
                        publish_now = True
                    if self._closed and not state.waiting_for_confirmation:
                        publish_now = True
        finally:
            for task in waiters.values():
                task.cancel()
            if waiters:
                await asyncio.gather(*waiters.values(), return_exceptions=True)

    async def _wait_any(self, fut: asyncio.Future[Receipt], timeout: float) -> None:
        """Wait until ``fut`` resolves, ``timeout`` passes, or the manager closes."""
        if fut.done():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, timeout)))
        closer = asyncio.ensure_future(self._closed_event.wait())
        waiting: set[asyncio.Future[Any]] = {fut, sleeper}
        if not self._closed:
            waiting.add(closer)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()
            for aux in (sleeper, closer):
                with contextlib.suppress(asyncio.CancelledError):
                    await aux

    async def _publish(
        self, tx: SignedTx, state: SendState, published: set[bytes]
    ) -> tuple[SignedTx, bool, TransientPublishError | None]:
        """Publish ``tx`` (bumping first if flagged): (current tx, published?, transient error)."""
        self.log.info("Publishing transaction", **self._tx_fields(tx, gas=True))
        while True:
            if state.bump_fees:
                try:
                    new_tx = await self.increase_gas_price(tx)
                except (FeeError, RpcError, TxMgrError, ValueError) as bump_err:
                    # Re-send the old tx anyway: it may have been dropped from the mempool meanwhile.
                    self.log.warn("unable to increase gas, will try to re-publish the tx", err=str(bump_err))
                    self.metrics.tx_published("bump_failed")
                else:
                    if state.waiting_for_confirmation:
                        return tx, False, None
                    if new_tx is not tx:
                        state.bump_count += 1
                        tx = new_tx
                    state.bump_fees = False
            send_err = await self._send_raw(tx)
            if send_err is None or any(
                s and err_contains(send_err, s) for s in self.cfg.already_published_custom_errs
            ):
                state.process_send_error(None)
                self.metrics.tx_published("")
                msg = "Transaction successfully published" + (
                    "" if send_err is None else " (custom RPC error)"
                )
                self.log.info(msg, **self._tx_fields(tx))
                return tx, True, None
            err: BaseException = send_err
            if tx.hash in published and (
                err_contains(err, ERR_NONCE_TOO_LOW) or err_contains(err, ERR_ALREADY_KNOWN)
            ):
                state.process_send_error(None)
                self.log.debug("Re-sent transaction already published", **self._tx_fields(tx), err=str(err))
                return tx, True, None
            state.process_send_error(err)
            if err_contains(err, ERR_ALREADY_RESERVED):
                self.log.warn("txpool contains pending tx of incompatible type", err=str(err))
                self.metrics.tx_published("pending_tx_of_incompatible_type")
            elif err_contains(err, ERR_NONCE_TOO_LOW):
                self.log.warn("nonce too low", err=str(err))
                self.metrics.tx_published("nonce_too_low")
            elif err_contains(err, ERR_CONTEXT_CANCELED):
                self.metrics.rpc_error()
                self.log.warn("transaction send canceled", err=str(err))
                self.metrics.tx_published("context_canceled")
            elif err_contains(err, ERR_ALREADY_KNOWN):
                self.log.warn("resubmitted already known transaction", err=str(err))
                self.metrics.tx_published("tx_already_known")
                state.process_send_error(None)
                return tx, True, None
            elif err_contains(err, ERR_REPLACE_UNDERPRICED) or err_contains(err, ERR_UNDERPRICED):
                replacement = err_contains(err, ERR_REPLACE_UNDERPRICED)
                self.log.warn(
                    "transaction replacement is underpriced" if replacement else "transaction is underpriced",
                    err=str(err),
                )
                self.metrics.tx_published("tx_replacement_underpriced" if replacement else "tx_underpriced")
                if not state.bump_fees:
                    state.bump_fees = True
                    continue
            elif err_contains(err, ERR_NONCE_TOO_HIGH):
                self.log.error("nonce too high", err=str(err))
                self.metrics.tx_published("nonce_too_high")
                return tx, False, TransientPublishError(str(err))
            else:
                self.metrics.rpc_error()
                self.log.error("unable to publish transaction", err=str(err))
                self.metrics.tx_published("unknown_error")
            return tx, False, None

    async def _send_raw(self, tx: SignedTx) -> BaseException | None:
        """``eth_sendRawTransaction`` once (never retried by the client); the error, if any."""
        try:
            await self._call("eth_sendRawTransaction", [_hex(tx.network_bytes)], retry=False)
        except RpcError as err:
            return _RpcErrorText(err)
        return None

    # ------------------------------------------------------------------------------------- receipts

    async def _wait_for_tx(self, tx_hash: bytes, state: SendState, out: asyncio.Future[Receipt]) -> None:
        """Poll the receipt of one hash every ``receipt_query_interval`` until it is deep enough."""
        started = self.clock.monotonic()
        while not out.done():
            await self.clock.sleep(self.cfg.receipt_query_interval)
            receipt = await self._query_receipt(tx_hash, state)
            if receipt is not None and not out.done():
                out.set_result(receipt)
                self.metrics.record_tx_confirmation_latency(int((self.clock.monotonic() - started) * 1000))
                return

    async def _query_receipt(self, tx_hash: bytes, state: SendState) -> Receipt | None:
        try:
            result = await self._call("eth_getTransactionReceipt", [_hex(tx_hash)])
        except RpcError as err:
            self.metrics.rpc_error()
            self.log.info("Receipt retrieval failed", tx=_hex(tx_hash), err=str(err))
            return None
        if result is None:
            state.tx_not_mined(tx_hash)
            return None
        try:
            receipt = Receipt.from_json(result)
        except ValueError as err:
            self.metrics.rpc_error()
            self.log.warn("Malformed receipt", tx=_hex(tx_hash), err=str(err))
            return None
        state.tx_mined(tx_hash)
        try:
            tip = Header.from_json(await self._call("eth_getBlockByNumber", ["latest", False]))
        except (RpcError, ValueError) as err:
            self.metrics.rpc_error()
            self.log.error("Unable to fetch tip", err=str(err))
            return None
        if tip.base_fee is not None:
            self.metrics.record_base_fee(tip.base_fee)
        if tip.excess_blob_gas is not None:
            self.metrics.record_blob_base_fee(
                _fake_exponential(
                    MIN_BLOB_BASE_FEE, tip.excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
                )
            )
        if receipt.block_number + self.cfg.num_confirmations <= tip.number + 1:
            self.log.info(
                "Transaction confirmed",
                tx=_hex(tx_hash),
                block=receipt.block_number,
                effectiveGasPrice=receipt.effective_gas_price,
            )
            return receipt
        return None

    # ---------------------------------------------------------------------------------- cancellation

    async def send_cancellation(self, to: bytes, *, blocked_blob: bool) -> Receipt:
        """Unblock geth's pool after ``AlreadyReservedError`` (op-batcher ``cancelBlockingTx``).

        ``blocked_blob`` tells whether the *refused* tx was a blob tx, i.e. a non-blob tx is stuck. The
        cancellation is of the other kind than the refused tx (the stuck tx's kind): an empty-calldata tx
        when ``blocked_blob``, else a 1-blob tx whose blob carries ``0x00``. The failed send reset the
        cached nonce, so it takes the stuck nonce from the chain and replaces the stuck tx (an
        underpriced reply makes the send loop bump at once).
        """
        return await self.send(cancellation_candidate(to, blocked_blob=blocked_blob))

    @staticmethod
    def _tx_fields(tx: SignedTx, *, gas: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {"tx": _hex(tx.hash), "nonce": tx.tx.nonce}
        if gas:
            fields.update(gasTipCap=tx.tx.fees.tip, gasFeeCap=tx.tx.fees.fee_cap, gasLimit=tx.tx.gas)
        if tx.tx.is_blob:
            fields.update(blobs=len(tx.tx.blob_hashes), blobFeeCap=tx.tx.fees.blob_fee_cap)
        return fields


class _RpcErrorText(Exception):
    """An RPC error reduced to the node's message (what Go's substring matching sees)."""

    def __init__(self, err: RpcError) -> None:
        text = err.message if isinstance(err, RpcResponseError) else str(err)
        super().__init__(text)
        self.rpc_error = err


EMPTY_CALLDATA_GAS = 21_000
"""Intrinsic gas of an empty-calldata tx (the batcher's EIP-7623 floor for empty data)."""


def cancellation_candidate(to: bytes, *, blocked_blob: bool) -> TxCandidate:
    """The op-batcher cancellation candidate of the kind that is *not* blocked."""
    if blocked_blob:
        return TxCandidate(to=to, data=b"", gas_limit=EMPTY_CALLDATA_GAS)
    from common.derive.blob import encode_blob

    return TxCandidate(to=to, data=b"", gas_limit=EMPTY_CALLDATA_GAS, blobs=(encode_blob(b"\x00"),))


def is_already_reserved(err: BaseException) -> bool:
    """True for a send failure caused by geth's "address already reserved" (blob/non-blob conflict)."""
    return isinstance(err, SendAbortedError) and err.already_reserved


SendFn = Callable[[TxCandidate], Awaitable[Receipt]]
"""A ``send``-like callable (``TxManager.send``), for callers that take one."""
