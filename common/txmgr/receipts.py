"""Receipt watching: poll each published version's receipt until one is ``num_confirmations`` deep.

Every version of a tx that may be in the pool is watched (a pre-bump version may be the one that lands);
each poll also refreshes the base-fee and blob-base-fee gauges from the L1 tip.
"""

from __future__ import annotations

import asyncio

from common.rpc.errors import RpcError
from common.rpc.types import Header, Receipt
from common.txmgr.base import TxManagerBase
from common.txmgr.send_state import SendState
from common.txmgr.tx import to_hex

BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE = 5007716
MIN_BLOB_BASE_FEE = 1


def _fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844 ``fake_exponential``: the blob base fee from the excess blob gas."""
    i, output, acc = 1, 0, factor * denominator
    while acc > 0:
        output += acc
        acc = acc * numerator // (denominator * i)
        i += 1
    return output // denominator


class ReceiptWatching(TxManagerBase):
    """Receipt polling for the send loop."""

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
            result = await self._call("eth_getTransactionReceipt", [to_hex(tx_hash)])
        except RpcError as err:
            self.metrics.rpc_error()
            self.log.info("Receipt retrieval failed", tx=to_hex(tx_hash), err=str(err))
            return None
        if result is None:
            state.tx_not_mined(tx_hash)
            return None
        try:
            receipt = Receipt.from_json(result)
        except ValueError as err:
            self.metrics.rpc_error()
            self.log.warn("Malformed receipt", tx=to_hex(tx_hash), err=str(err))
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
                tx=to_hex(tx_hash),
                block=receipt.block_number,
                effectiveGasPrice=receipt.effective_gas_price,
            )
            return receipt
        return None
