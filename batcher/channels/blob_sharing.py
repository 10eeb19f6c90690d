"""Blob sharing: frames of two channels in one blob (our addition, off by default; ``--blob-sharing``).

A channel can only end on a block boundary, so its closing frame leaves part of its last blob empty.
A blob's data is ``version ++ frame ++ frame ...`` (specs derivation.md §Batcher Transaction Format),
and Holocene derivation accepts the next channel's frame 0 right after the previous channel's closing
frame (op-node ``pruneFrameQueue``: only a frame 0 after an *unclosed* channel discards it; the
``ChannelAssembler`` then opens a new staging channel on frame 0). Pre-Holocene channel banks accept
interleaved channels anyway. So when channel N's last tx would leave room in its last blob, the manager
holds that tx until channel N+1 has closed, cuts N+1's frame 0 to exactly that room, and sends both in
one tx: N's closing frame, then N+1's frame 0, in the same blob.

The price is latency: N's last blob waits for N+1 to close (its compressed bytes exist only then). The
wait is bounded by ``max_wait`` seconds; after it N's tail goes alone. A flush (``force_publish``) never
waits. A failed shared tx rewinds both channels (N to its last tx, N+1 to frame 0), so both are sent
again in order, and the same pairing is rebuilt.

Pure: the manager passes ``now`` (a monotonic clock reading) in; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.derive.frame import FRAME_OVERHEAD

MIN_SHARED_DATA = 64
"""Rooms that would carry fewer frame-data bytes than this are not worth a wait."""


class BlobSharingError(ValueError):
    """A bad blob-sharing setting (names the flag)."""


@dataclass(frozen=True, slots=True)
class BlobSharing:
    """How the manager shares the last blob of a channel with the next channel's first frame."""

    max_wait: float
    """Seconds N's last tx may wait for N+1 (``--blob-sharing-max-wait``)."""
    min_data: int = MIN_SHARED_DATA
    """Smallest frame-0 data worth waiting for."""

    def __post_init__(self) -> None:
        if self.max_wait < 0:
            raise BlobSharingError(f"--blob-sharing-max-wait must be >= 0, got {self.max_wait}")
        if self.min_data < 1:
            raise BlobSharingError(f"blob sharing min data must be >= 1, got {self.min_data}")

    def worth_sharing(self, room: int) -> bool:
        """Does ``room`` bytes left in a blob fit a frame with at least ``min_data`` bytes of data?"""
        return room - FRAME_OVERHEAD >= self.min_data

    def expired(self, held_since: float, now: float) -> bool:
        """Has a tail held since ``held_since`` waited long enough to go alone?"""
        return now - held_since >= self.max_wait


@dataclass(slots=True)
class SharingHold:
    """The tail currently held back: which channel, since when, and the room its last blob leaves."""

    channel_id: bytes
    since: float
    room: int
