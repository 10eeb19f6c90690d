"""Frames and batcher transaction data (derivation version 0).

A channel's compressed bytes are cut into frames; an L1 batcher transaction (calldata, or one
decoded blob) carries ``0x00 ++ frame ++ frame ...`` (wire-formats.md §1, specs derivation.md
§Batcher Transaction Format / §Frame Format)::

    frame = channel_id(16) ++ frame_number(uint16) ++ frame_data_length(uint32) ++ frame_data ++ is_last(1)

Derivation parses all frames of a transaction or none, so :func:`parse_frames` is all-or-nothing
and its errors name the frame index and the byte offset where parsing failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DERIVATION_VERSION_0 = 0
"""Batcher transaction data version whose payload is a sequence of frames."""
CHANNEL_ID_LENGTH = 16
"""Bytes in a channel id."""
FRAME_OVERHEAD = 23
"""channel_id(16) + frame_number(2) + frame_data_length(4) + is_last(1)."""
MAX_FRAME_LEN = 1_000_000
"""Largest frame_data_length derivation accepts (specs derivation.md §Frame Format)."""
MAX_FRAME_NUMBER = 0xFFFF
"""frame_number is a uint16."""

_HEADER_LEN = CHANNEL_ID_LENGTH + 2 + 4


class FrameError(ValueError):
    """Malformed frame or batcher transaction data; names the frame index and byte offset."""

    def __init__(self, message: str, *, frame_index: int | None = None, offset: int | None = None) -> None:
        where = []
        if frame_index is not None:
            where.append(f"frame {frame_index}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.frame_index = frame_index
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a channel."""

    channel_id: bytes
    """16-byte channel id."""
    number: int
    """Index of the frame in its channel, from 0 (uint16)."""
    data: bytes
    """The next slice of the channel's compressed bytes (≤ MAX_FRAME_LEN)."""
    is_last: bool
    """True on the frame that closes the channel."""

    def __post_init__(self) -> None:
        if len(self.channel_id) != CHANNEL_ID_LENGTH:
            raise FrameError(f"channel id must be {CHANNEL_ID_LENGTH} bytes, got {len(self.channel_id)}")
        if not 0 <= self.number <= MAX_FRAME_NUMBER:
            raise FrameError(f"frame number {self.number} does not fit uint16")
        if len(self.data) > MAX_FRAME_LEN:
            raise FrameError(f"frame data of {len(self.data)} bytes exceeds MAX_FRAME_LEN {MAX_FRAME_LEN}")

    @property
    def size(self) -> int:
        """Encoded size in bytes (data + FRAME_OVERHEAD)."""
        return len(self.data) + FRAME_OVERHEAD

    def encode(self) -> bytes:
        """Wire bytes of this frame (without the derivation-version byte)."""
        return b"".join(
            (
                self.channel_id,
                self.number.to_bytes(2, "big"),
                len(self.data).to_bytes(4, "big"),
                self.data,
                b"\x01" if self.is_last else b"\x00",
            )
        )

    def __repr__(self) -> str:
        return (
            f"Frame(channel_id={self.channel_id.hex()}, number={self.number}, "
            f"data_len={len(self.data)}, is_last={self.is_last})"
        )


def parse_frame(data: bytes | memoryview, offset: int = 0, *, frame_index: int = 0) -> tuple[Frame, int]:
    """Parse one frame at ``offset``; returns it and the offset just past it."""
    view = memoryview(data)
    end = len(view)
    if end - offset < _HEADER_LEN:
        raise FrameError(
            f"truncated frame header: need {_HEADER_LEN} bytes, {end - offset} left",
            frame_index=frame_index,
            offset=offset,
        )
    channel_id = bytes(view[offset : offset + CHANNEL_ID_LENGTH])
    number = int.from_bytes(view[offset + 16 : offset + 18], "big")
    length = int.from_bytes(view[offset + 18 : offset + 22], "big")
    if length > MAX_FRAME_LEN:
        raise FrameError(
            f"frame_data_length {length} exceeds MAX_FRAME_LEN {MAX_FRAME_LEN}",
            frame_index=frame_index,
            offset=offset + 18,
        )
    data_start = offset + _HEADER_LEN
    if end - data_start < length + 1:
        raise FrameError(
            f"truncated frame data: frame_data_length {length} but {max(end - data_start, 0)} "
            f"bytes left including is_last",
            frame_index=frame_index,
            offset=data_start,
        )
    is_last = view[data_start + length]
    if is_last > 1:
        raise FrameError(
            f"invalid is_last byte 0x{is_last:02x} (must be 0 or 1)",
            frame_index=frame_index,
            offset=data_start + length,
        )
    frame = Frame(channel_id, number, bytes(view[data_start : data_start + length]), is_last == 1)
    return frame, data_start + length + 1


def parse_frame_sequence(data: bytes | memoryview) -> list[Frame]:
    """Parse concatenated frames with no version byte (e.g. kona's examples); at least one."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        frame, offset = parse_frame(data, offset, frame_index=len(frames))
        frames.append(frame)
    if not frames:
        raise FrameError("no frames in data", offset=0)
    return frames


def parse_frames(tx_data: bytes | memoryview) -> list[Frame]:
    """All frames of one batcher transaction (``0x00 ++ frames``), or FrameError (all-or-nothing)."""
    if len(tx_data) == 0:
        raise FrameError("empty batcher transaction data", offset=0)
    version = tx_data[0]
    if version != DERIVATION_VERSION_0:
        raise FrameError(f"unknown derivation version 0x{version:02x} (expected 0x00)", offset=0)
    if len(tx_data) == 1:
        raise FrameError("batcher transaction data holds the version byte but no frame", offset=1)
    view = memoryview(tx_data)
    frames: list[Frame] = []
    offset = 1
    while offset < len(view):
        frame, offset = parse_frame(view, offset, frame_index=len(frames))
        frames.append(frame)
    return frames


def encode_tx_data(frames: Iterable[Frame]) -> bytes:
    """Batcher transaction data: the derivation version byte followed by the frames."""
    return bytes([DERIVATION_VERSION_0]) + b"".join(f.encode() for f in frames)


def force_close_tx_data(frames: Sequence[Frame]) -> bytes:
    """Tx data that closes a channel from the frames already seen (op-node ForceCloseTxData).

    If no frame closed the channel, a single empty closing frame 0 is emitted; otherwise the
    missing frame numbers below the first closing frame are filled with empty frames so the
    channel becomes complete (and is then read as empty/garbage and discarded).
    """
    if not frames:
        raise FrameError("force close: must provide at least one frame")
    channel_id = frames[0].channel_id
    seen: set[int] = set()
    close_number: int | None = None
    for i, frame in enumerate(frames):
        if frame.channel_id != channel_id:
            raise FrameError(
                f"force close: frame {i} has channel id {frame.channel_id.hex()}, "
                f"first frame has {channel_id.hex()}"
            )
        if close_number is None and frame.is_last:
            close_number = frame.number
        seen.add(frame.number)
    if close_number is None:
        return encode_tx_data([Frame(channel_id, 0, b"", True)])
    return encode_tx_data(Frame(channel_id, n, b"", False) for n in range(close_number + 1) if n not in seen)
