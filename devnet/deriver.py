"""The devnet's derivation stand-in: the safe head moves only by deriving the batcher's L1 data.

``Deriver`` reads the L1 chain block by block, keeps the batcher's transactions (to = batch inbox, sender =
the SystemConfig batcher, type 0-3; blob data from ``anvil_getBlobsByTransactionHash``), parses frames,
assembles channels with the core channel bank (Holocene: frames in order, one staging channel, timeout),
decompresses them and decodes their batches with the protocol core (common/derive), applies op-node's
batch checks (next timestamp, parent, epoch and epoch hash, sequencing window, drift, tx types) and
compares each derived block with the L2 block the sequencer made: timestamp, parent, L1 origin and the
exact list of non-deposit txs. A match moves the safe head; a batch that differs from the chain is logged
at ERROR and halts the safe head for good (op-node would reorg the unsafe chain to it; a devnet must not
hide a batcher bug). Finalized L2 = the newest safe block derived from an L1 block at or below L1 finalized.

Like op-node (op-node/rollup/derive, op-node/rollup/sync) the deriver also follows the two events a
healthy chain has:

* An L1 reorg below what it read: it walks back to the common ancestor, rewinds the safe head to the last
  step derived from that ancestor or below, and re-reads L1 from the block that step came from with an
  empty channel bank. op-node rewinds further (``FindL2Heads`` steps back a sequencing window) and then
  re-derives the blocks whose batches are still on L1; the safe head settles where this one is put at
  once, and since a step holds the lock, no sync status shows the half-way state.
* An expired sequencing window (the safe head's epoch + ``seq_window_size`` reached with no batch): it
  derives forced deposit-only blocks as op-node's ``deriveNextEmptyBatch`` does (same epoch until the
  next L1 block's time, then the next epoch), and when the unsafe chain differs, the ``L2Engine`` (the
  sequencer) reorgs the L2 anvil to them with ``anvil_rollback``.

Not emulated: unsafe blocks whose L1 origin an L1 reorg removed stay (op-node's sequencer would rebuild
them); the deriver without an engine halts where it would have to reorg the L2 chain.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from eth_utils.crypto import keccak

from common.derive.block_ref import L1BlockRef, L2BlockRef
from common.derive.channel import read_channel
from common.derive.channel_bank import BatcherTx, ChannelBank, ChannelBankRules
from common.derive.derived_block import DerivedBlock, payload_blocks
from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from common.derive.transaction import BATCHABLE_TX_TYPES, SET_CODE_TX_TYPE, raw_tx_from_json
from devnet.anvil import rpc_call
from devnet.data_source import BatchTxInfo, DAInputUnavailable, batcher_data
from devnet.sequencer import l1_ref_from_json, l2_ref_from_json

log = logging.getLogger("devnet.rollup_node")
"""The rollup node's logger: derivation is what it logs."""


class L2Engine(Protocol):
    """What the deriver needs to reorg the unsafe chain to a derived block (devnet/sequencer.py)."""

    def rebuild_on(self, parent: L2BlockRef, timestamp: int, origin: L1BlockRef) -> L2BlockRef:
        """Drop the L2 blocks above ``parent``; make a deposit-only block of ``origin`` at ``timestamp``."""
        ...


class Deriver:
    """Derives the safe chain from L1 (blocking RPC; call ``step`` from one thread at a time)."""

    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        rollup: RollupConfig,
        engine: L2Engine | None = None,
        *,
        da_server_url: str | None = None,
    ) -> None:
        self.l1_url = l1_url
        self.da_server_url = da_server_url
        """Alt-DA: version-1 batcher txs carry a commitment whose input is fetched from this DA server."""
        self.da_stalls = 0
        self._da_wait: tuple[int, str] | None = None
        """Alt-DA: derivation steps that stopped at an L1 block whose DA input could not be fetched."""
        self.l2_url = l2_url
        self.rollup = rollup
        self.engine = engine
        self.batcher = rollup.system_config.batcher_addr
        self.inbox = rollup.batch_inbox_address
        self._lock = threading.RLock()
        g1 = self._l1_ref(rollup.genesis_l1.number)
        g2 = rpc_call(l2_url, "eth_getBlockByNumber", [hex(rollup.genesis_l2.number), False])
        if not isinstance(g2, dict):
            raise RuntimeError(f"L2 genesis block {rollup.genesis_l2.number} not found at {l2_url}")
        self.genesis_l2 = L2BlockRef(
            rollup.genesis_l2.hash,
            rollup.genesis_l2.number,
            bytes.fromhex(g2["parentHash"][2:]),
            rollup.genesis_l2_time,
            g1.id,
            0,
        )
        self.current_l1 = g1
        self._l1_read: list[L1BlockRef] = [g1]
        """Every L1 block read, from the genesis on (index = number - genesis number), to find a reorg's
        common ancestor."""
        self.safe = self.genesis_l2
        self._safe_history: list[tuple[int, L2BlockRef]] = [(g1.number, self.genesis_l2)]
        self._bank = ChannelBank(ChannelBankRules.from_rollup(rollup))
        self._reported = (0, 0, 0)
        self.halted: str | None = None
        self.last_batch_tx: BatchTxInfo | None = None
        self.batches_accepted = 0
        self.batches_dropped = 0
        self.resets = 0
        self.forced_blocks = 0

    @property
    def safe_history(self) -> list[tuple[int, L2BlockRef]]:
        """Read-only copy: (L1 block it was derived from, L2 block) for every safe-head step, in order."""
        with self._lock:
            return list(self._safe_history)

    @property
    def lock(self) -> threading.RLock:
        """Held during each derivation step; tests hold it to pause derivation."""
        return self._lock

    # -- L1 reading --

    def _l1_ref(self, number: int) -> L1BlockRef:
        block = rpc_call(self.l1_url, "eth_getBlockByNumber", [hex(number), False])
        if not isinstance(block, dict):
            raise LookupError(f"L1 block {number} not found at {self.l1_url}")
        return l1_ref_from_json(block)

    def step(self) -> int:
        """Derive from every new L1 block up to the head; returns how many L1 blocks were read."""
        with self._lock:
            head = int(str(rpc_call(self.l1_url, "eth_blockNumber")), 16)
            if head < self.current_l1.number:  # a reorg to a shorter chain: no next block to notice it by
                self._reset(self._common_ancestor())
            done = 0
            while self.current_l1.number < head:
                block = rpc_call(self.l1_url, "eth_getBlockByNumber", [hex(self.current_l1.number + 1), True])
                if not isinstance(block, dict):
                    break
                if block["parentHash"] != "0x" + self.current_l1.hash.hex():
                    self._reset(self._common_ancestor())
                    continue
                ref = l1_ref_from_json(block)
                self._l1_read.append(ref)
                try:
                    self._read_l1_block(block)
                except DAInputUnavailable as exc:  # op-node retries the same L1 block until it can fetch
                    self._l1_read.pop()
                    self.da_stalls += 1
                    if self._da_wait != (ref.number, str(exc)):  # once per block and reason, not per poll
                        self._da_wait = (ref.number, str(exc))
                        log.warning("L1 block %d: derivation waits for Alt-DA input: %s", ref.number, exc)
                    break
                self.current_l1 = ref
                done += 1
            return done

    # -- L1 reorgs --

    def _common_ancestor(self) -> L1BlockRef:
        """The newest L1 block read that is still canonical."""
        for ref in reversed(self._l1_read):
            block = rpc_call(self.l1_url, "eth_getBlockByNumber", [hex(ref.number), False])
            if isinstance(block, dict) and block["hash"] == "0x" + ref.hash.hex():
                return ref
        raise RuntimeError(f"L1 reorg below the rollup genesis L1 block {self._l1_read[0].number}")

    def _reset(self, ancestor: L1BlockRef) -> None:
        """op-node's pipeline reset: keep the safe steps derived from ``ancestor`` or below, re-read L1
        from the block the newest of them came from (a channel may have begun after the frame that
        completed it) with an empty channel bank; batches of blocks already safe are skipped as past."""
        kept = [step for step in self._safe_history if step[0] <= ancestor.number]
        first = self._l1_read[0].number
        replay = max(kept[-1][0], first + 1)
        log.warning(
            "L1 reorg: block %d (0x%s) is canonical no more; common ancestor %d: safe head %d -> %d, "
            "re-reading L1 from %d",
            self.current_l1.number,
            self.current_l1.hash.hex(),
            ancestor.number,
            self.safe.number,
            kept[-1][1].number,
            replay,
        )
        self._safe_history = kept
        self.safe = kept[-1][1]
        del self._l1_read[replay - first :]
        self.current_l1 = self._l1_read[-1]
        self._bank = ChannelBank(ChannelBankRules.from_rollup(self.rollup))
        self._reported = (0, 0, 0)
        self.resets += 1

    def _read_l1_block(self, block: dict[str, Any]) -> None:
        """Feed the block's batcher data to the channel bank (common/derive/channel_bank.py) and read
        every channel that becomes ready."""
        number, timestamp = int(block["number"], 16), int(block["timestamp"], 16)
        # All batcher data first: an Alt-DA input that cannot be fetched leaves the bank untouched.
        found = [
            (tx, i, data)
            for tx in block.get("transactions") or []
            for i, data in enumerate(self._batcher_data(tx, number))
        ]
        ready = self._bank.advance_l1(number, timestamp)
        for tx, i, data in found:
            ready += self._bank.ingest(BatcherTx(number, timestamp, data, f"{tx['hash']}#{i}"))
        self._report_bank_drops()
        for channel in ready:
            self._read_channel(channel.data, channel.id, number, timestamp)
        self._force_empty_batches(number)

    # -- expired sequencing windows --

    def _force_empty_batches(self, l1_number: int) -> None:
        """With L1 block ``l1_number`` read: derive every forced deposit-only block it makes due."""
        while self.halted is None and (blk := self._next_forced_block(l1_number)) is not None:
            self._apply(blk, l1_number, forced=True)
            self.forced_blocks += 1

    def _next_forced_block(self, l1_number: int) -> DerivedBlock | None:
        """op-node's deriveNextEmptyBatch once all batch data up to ``l1_number`` is read: an empty block in
        the safe head's epoch while its window has expired and the L2 time is before the next L1 block's;
        else the first block of the next epoch if that epoch's window has expired too; else None."""
        safe, window = self.safe, self.rollup.seq_window_size
        epoch = self._read_ref(safe.l1_origin.number)
        if epoch.number + window > l1_number:
            return None
        timestamp = safe.timestamp + self.rollup.block_time
        following = self._read_ref(epoch.number + 1)
        if timestamp >= following.timestamp:
            epoch = following
            if epoch.number + window > l1_number:
                return None
        return DerivedBlock(timestamp, epoch.number, epoch.hash, safe.hash, ())

    def _read_ref(self, number: int) -> L1BlockRef:
        """An L1 block this deriver has read (the chain it derived from, even mid-reorg)."""
        return self._l1_read[number - self._l1_read[0].number]

    def _report_bank_drops(self) -> None:
        """Log what the channel bank dropped since the last call (frames, channels, unparsable txs)."""
        bank, (nc, nf, nt) = self._bank, self._reported
        for ch in bank.dropped_channels[nc:]:
            log.warning(
                "channel %s dropped at L1 block %d: %s", ch.id.hex(), ch.dropped_at_l1_block, ch.reason.value
            )
        for fr in bank.dropped_frames[nf:]:
            log.warning(
                "frame %d of channel %s (L1 block %d) dropped: %s",
                fr.frame.frame.number,
                fr.frame.frame.channel_id.hex(),
                fr.frame.l1_block,
                fr.reason,
            )
        for err in bank.tx_errors[nt:]:
            log.warning("batcher tx %s at L1 block %d ignored: %s", err.source, err.l1_block, err.error)
        self._reported = (len(bank.dropped_channels), len(bank.dropped_frames), len(bank.tx_errors))

    def _batcher_data(self, tx: dict[str, Any], l1_number: int) -> list[bytes]:
        """Batcher tx data (calldata, or each decoded blob) if the tx counts for derivation."""
        out, info = batcher_data(
            tx,
            l1_number,
            inbox=self.inbox,
            batcher=self.batcher,
            l1_url=self.l1_url,
            da_server_url=self.da_server_url,
        )
        if info is not None:
            self.last_batch_tx = info
        return out

    def _read_channel(self, data: bytes, channel_id: bytes, l1_number: int, l1_time: int) -> None:
        fjord = self.rollup.is_active("fjord", l1_time)
        read = read_channel(data, fjord=fjord)
        if read.error:
            log.warning(
                "channel %s: %s (keeping the %d batches before it)",
                channel_id.hex(),
                read.error,
                len(read.payloads),
            )
        for payload in read.payloads:
            try:
                blocks = payload_blocks(
                    payload,
                    self.rollup.genesis_l2_time,
                    self.rollup.block_time,
                    self.rollup.l2_chain_id,
                    allow_trailing=True,
                )
            except ValueError as exc:
                log.warning(
                    "channel %s: undecodable batch dropped with the rest of the channel: %s",
                    channel_id.hex(),
                    exc,
                )
                self.batches_dropped += 1
                return
            for blk in blocks:
                verdict = self._check_batch(blk, l1_number)
                if verdict == "past":
                    continue
                if verdict != "accept":
                    log.warning(
                        "channel %s: batch for L2 time %d dropped (%s) with the rest of the channel",
                        channel_id.hex(),
                        blk.timestamp,
                        verdict,
                    )
                    self.batches_dropped += 1
                    return
                if self.halted is not None:
                    return
                self._apply(blk, l1_number)
                if self.halted is not None:
                    return
            self.batches_accepted += 1

    def _check_batch(self, blk: DerivedBlock, l1_number: int) -> str:
        """op-node batch-queue rules (Holocene); returns 'accept', 'past' or why it is dropped."""
        rc, safe = self.rollup, self.safe
        next_ts = safe.timestamp + rc.block_time
        if blk.timestamp < next_ts:
            return "past"
        if blk.timestamp > next_ts:
            return f"future batch: timestamp {blk.timestamp}, expected {next_ts}"
        if blk.parent_hash_prefix and not safe.hash.startswith(blk.parent_hash_prefix):
            return (
                f"parent hash 0x{blk.parent_hash_prefix.hex()} does not match safe head 0x{safe.hash.hex()}"
            )
        if blk.epoch_num not in (safe.l1_origin.number, safe.l1_origin.number + 1):
            return f"epoch {blk.epoch_num} is neither {safe.l1_origin.number} nor the next one"
        if blk.epoch_num + rc.seq_window_size < l1_number:
            return f"batch of epoch {blk.epoch_num} included too late, at L1 block {l1_number}"
        epoch = self._l1_ref(blk.epoch_num)
        if blk.epoch_hash_prefix and not epoch.hash.startswith(blk.epoch_hash_prefix):
            return (
                f"epoch hash 0x{blk.epoch_hash_prefix.hex()} is not that of L1 block {epoch.number} "
                f"(0x{epoch.hash.hex()})"
            )
        if blk.timestamp < epoch.timestamp:
            return f"timestamp {blk.timestamp} is before its L1 origin's {epoch.timestamp}"
        if blk.timestamp > epoch.timestamp + rc.max_sequencer_drift and blk.transactions:
            return "block past the max sequencer drift carries transactions"
        isthmus = rc.is_active("isthmus", blk.timestamp)
        for i, raw in enumerate(blk.transactions):
            tx_type = raw[0] if raw and raw[0] < 0x7F else 0
            if not raw or (raw[0] < 0xC0 and tx_type not in BATCHABLE_TX_TYPES):
                return f"transaction {i} is empty or of a type batches cannot carry"
            if tx_type == SET_CODE_TX_TYPE and not isthmus:
                return f"transaction {i} is a SetCode tx before Isthmus"
        return "accept"

    def _apply(self, blk: DerivedBlock, l1_number: int, *, forced: bool = False) -> None:
        """Compare the derived block with the sequencer's block; advance the safe head, or halt (a batch)
        or reorg the unsafe chain to it (a forced block)."""
        number = self.safe.number + 1
        block = rpc_call(self.l2_url, "eth_getBlockByNumber", [hex(number), True])
        if not isinstance(block, dict) and forced:
            self._replace_unsafe(blk, l1_number, "the L2 chain ends before it")
            return
        if not isinstance(block, dict):
            self._halt(
                f"batch describes L2 block {number} (time {blk.timestamp}), which the sequencer has not "
                "produced"
            )
            return
        ref = l2_ref_from_json(block)
        txs = [
            raw_tx_from_json(tx, self.rollup.l2_chain_id, where=f"L2 block {number} tx {i}")
            for i, tx in enumerate(block["transactions"])
            if tx.get("type") != "0x7e"
        ]
        problems = []
        if ref.timestamp != blk.timestamp:
            problems.append(f"timestamp {ref.timestamp} != batch {blk.timestamp}")
        if ref.parent_hash != self.safe.hash:
            problems.append("parent is not the safe head")
        if ref.l1_origin.number != blk.epoch_num:
            problems.append(f"L1 origin {ref.l1_origin.number} != batch epoch {blk.epoch_num}")
        if list(blk.transactions) != txs:
            problems.append(
                f"transactions differ: block has {len(txs)}, batch {len(blk.transactions)}"
                + self._first_tx_difference(txs, list(blk.transactions))
            )
        if problems and forced:
            self._replace_unsafe(blk, l1_number, "; ".join(problems))
            return
        if problems:
            self._halt(
                f"derived L2 block {number} from L1 block {l1_number} does not match the L2 chain: "
                + "; ".join(problems)
            )
            return
        self.safe = ref
        self._safe_history.append((l1_number, ref))

    def _replace_unsafe(self, blk: DerivedBlock, l1_number: int, why: str) -> None:
        """A forced block the unsafe chain lacks: the engine reorgs L2 to it (op-node's engine does the same
        when derived attributes differ from the unsafe block), and it becomes the safe head."""
        number = self.safe.number + 1
        if self.engine is None:
            self._halt(f"forced L2 block {number} differs from the L2 chain ({why}); no engine to reorg it")
            return
        log.warning(
            "sequencing window of epoch %d expired at L1 block %d: L2 block %d replaced by a deposit-only "
            "block (%s)",
            self.safe.l1_origin.number,
            l1_number,
            number,
            why,
        )
        ref = self.engine.rebuild_on(self.safe, blk.timestamp, self._read_ref(blk.epoch_num))
        self.safe = ref
        self._safe_history.append((l1_number, ref))

    @staticmethod
    def _first_tx_difference(chain: list[bytes], batch: list[bytes]) -> str:
        for i, (a, b) in enumerate(zip(chain, batch, strict=False)):
            if a != b:
                return (
                    f" (first difference at tx {i}: chain 0x{keccak(a).hex()} vs batch 0x{keccak(b).hex()})"
                )
        return ""

    def _halt(self, reason: str) -> None:
        self.halted = reason
        log.error("SAFE HEAD HALTED at L2 block %d: %s", self.safe.number, reason)

    # -- status --

    def finalized_l2(self, finalized_l1: int) -> L2BlockRef:
        with self._lock:
            best = self.genesis_l2
            for l1_number, ref in self._safe_history:
                if l1_number > finalized_l1:
                    break
                best = ref
            return best

    def sync_status(self) -> SyncStatus:
        """Blocking: op-node's SyncStatus from the L1/L2 nodes and the derivation state."""

        def l1(tag: str) -> L1BlockRef:
            block = rpc_call(self.l1_url, "eth_getBlockByNumber", [tag, False])
            return l1_ref_from_json(block) if isinstance(block, dict) else L1BlockRef.zero()

        head_l1, safe_l1, fin_l1 = l1("latest"), l1("safe"), l1("finalized")
        unsafe_json = rpc_call(self.l2_url, "eth_getBlockByNumber", ["latest", True])
        unsafe = (
            l2_ref_from_json(unsafe_json, self.genesis_l2) if isinstance(unsafe_json, dict) else self.safe
        )
        with self._lock:
            safe, current = self.safe, self.current_l1
            finalized = self.finalized_l2(fin_l1.number)
        return SyncStatus(
            current_l1=current,
            current_l1_finalized=fin_l1,
            head_l1=head_l1,
            safe_l1=safe_l1,
            finalized_l1=fin_l1,
            unsafe_l2=unsafe,
            safe_l2=safe,
            finalized_l2=finalized,
            pending_safe_l2=safe,
            cross_unsafe_l2=unsafe,
            local_safe_l2=safe,
        )
