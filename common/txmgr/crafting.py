"""Crafting: fee suggestions (with floors, caps and the dynamic blob tip), gas, nonce, sidecar, signature.

Go's ``craftTx`` / ``SuggestGasPriceCaps`` / ``increaseGasPrice``: the fee arithmetic itself lives in
``common.txmgr.fees``; this part talks to L1 for the inputs and signs the result.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from common.rpc.errors import RpcError, RpcResponseError
from common.rpc.eth import as_revert
from common.rpc.types import Header
from common.txmgr import fees as feemath
from common.txmgr.blobs import BlobSidecar, build_sidecar, strip_sidecar, use_cell_proofs
from common.txmgr.errors import CraftError, TxManagerClosedError
from common.txmgr.fees import FeeSuggestion
from common.txmgr.nonce_gaps import NonceGaps
from common.txmgr.send_state import TxMgrError
from common.txmgr.tx import BLOB_TX_TYPE, SignedTx, TxCandidate, UnsignedTx, keccak256, to_hex, tx_log_fields


def _with_revert_reason(err: BaseException) -> str:
    """Go ``errutil.TryAddRevertReason``: append the revert reason/data of an RPC error."""
    if isinstance(err, RpcResponseError):
        reverted = as_revert(err)
        reason = getattr(reverted, "reason", None)
        if reason:
            return f"{err}, reason: {reason}"
    return str(err)


class Crafting(NonceGaps):
    """Turns candidates into signed txs and bumps their fees."""

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
                    sidecar = await build_sidecar(candidate.blobs, cell_proofs=cell_proofs)
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

    async def craft_tx(
        self, candidate: TxCandidate, sidecar: BlobSidecar | None = None, *, nonce: int | None = None
    ) -> SignedTx:
        """One crafting attempt: fees, gas, nonce and signature (``sidecar`` built for blob candidates).

        ``nonce`` given (a filler for a lost nonce) is used as is and leaves the nonce cursor alone.
        """
        await self.init()
        assert self._chain_id is not None and self._cell_proof_time is not None
        is_blob = bool(candidate.blobs)
        if is_blob and sidecar is None:
            if candidate.to is None:
                raise TxMgrError("blob txs cannot deploy contracts")
            cell_proofs = use_cell_proofs(self._cell_proof_time, self.clock.unix())
            sidecar = await build_sidecar(candidate.blobs, cell_proofs=cell_proofs)
        suggestion = await self.suggest_gas_price_caps(for_blob=is_blob)
        fees = feemath.initial_fees(suggestion, self.settings, is_blob=is_blob)
        msg: dict[str, Any] = {
            "from": to_hex(self.from_address),
            "maxPriorityFeePerGas": hex(fees.tip),
            "maxFeePerGas": hex(fees.fee_cap),
            "input": to_hex(candidate.data),
            "value": hex(candidate.value),
        }
        if candidate.to is not None:
            msg["to"] = to_hex(candidate.to)
        if sidecar is not None:
            msg["maxFeePerBlobGas"] = hex(fees.blob_fee_cap)
            msg["blobVersionedHashes"] = [to_hex(h) for h in sidecar.versioned_hashes]
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
        if nonce is not None:
            return await self._sign(replace(unsigned, nonce=nonce), sidecar)
        return await self._sign_with_next_nonce(unsigned, sidecar)

    async def _sign_with_next_nonce(self, unsigned: UnsignedTx, sidecar: BlobSidecar | None) -> SignedTx:
        """Take the next nonce (chain ``latest`` once, then cached + 1) and sign; undo on failure.

        The cached + 1 is checked against the node first: a nonce the node lost is taken again
        (``NonceGaps._healed_next_nonce``).
        """
        async with self._nonce_lock:
            if self._nonce is None:
                try:
                    latest = await self._call(
                        "eth_getTransactionCount", [to_hex(self.from_address), "latest"]
                    )
                    # After a reset, nonces still held by sends in flight (fillers too) are skipped.
                    self._nonce = self._first_free_nonce(int(latest, 16))
                except RpcError as err:
                    self.metrics.rpc_error()
                    raise TxMgrError(f"failed to get nonce: {err}") from err
            else:
                self._nonce = await self._healed_next_nonce(self._nonce + 1)
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
        self.log.info("bumping gas price for transaction", **tx_log_fields(tx))
        suggestion = await self.suggest_gas_price_caps(for_blob=tx.tx.is_blob)
        bumped = feemath.bump_fees(tx.tx.fees, suggestion, self.settings, is_blob=tx.tx.is_blob)
        msg: dict[str, Any] = {
            "from": to_hex(self.from_address),
            "maxPriorityFeePerGas": hex(bumped.tip),
            "maxFeePerGas": hex(bumped.fee_cap),
            "input": to_hex(tx.tx.data),
            "value": hex(tx.tx.value),
        }
        if tx.tx.to is not None:
            msg["to"] = to_hex(tx.tx.to)
        try:
            gas = int(await self._call("eth_estimateGas", [msg]), 16)
        except RpcError as err:
            self.log.warn("failed to re-estimate gas", err=str(err), tx=to_hex(tx.hash))
            raise
        unsigned = replace(tx.tx, fees=bumped, gas=max(gas, tx.tx.gas))
        try:
            return await self._sign(unsigned, tx.sidecar)
        except Exception as err:
            self.log.warn("failed to sign new transaction", err=str(err), tx=to_hex(tx.hash))
            return tx
