"""Frames and batcher transaction data: encoding, all-or-nothing parsing, typed errors, force close."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.derive.frame import (
    CHANNEL_ID_LENGTH,
    FRAME_OVERHEAD,
    MAX_FRAME_LEN,
    Frame,
    FrameError,
    encode_tx_data,
    force_close_tx_data,
    parse_frame_sequence,
    parse_frames,
)

CID = bytes.fromhex("deadbeef" * 4)

frames_st = st.builds(
    Frame,
    channel_id=st.binary(min_size=CHANNEL_ID_LENGTH, max_size=CHANNEL_ID_LENGTH),
    number=st.integers(0, 0xFFFF),
    data=st.binary(max_size=2000),
    is_last=st.booleans(),
)


@given(st.lists(frames_st, min_size=1, max_size=8))
def test_tx_data_round_trips_through_parse_frames(frames: list[Frame]) -> None:
    """parse_frames(encode_tx_data(fs)) == fs, and the size is 1 + Σ(len(data) + 23)."""
    data = encode_tx_data(frames)
    assert len(data) == 1 + sum(len(f.data) + FRAME_OVERHEAD for f in frames)
    assert parse_frames(data) == frames


def test_frame_layout_matches_the_spec_byte_for_byte() -> None:
    """id(16) ++ uint16 number ++ uint32 length ++ data ++ is_last."""
    f = Frame(CID, 0x0102, b"\xaa\xbb", True)
    assert f.encode() == CID + b"\x01\x02" + b"\x00\x00\x00\x02" + b"\xaa\xbb" + b"\x01"
    assert f.size == 25


def test_version_byte_alone_is_an_error() -> None:
    """A payload of just the derivation version byte has no frame and is rejected."""
    with pytest.raises(FrameError, match="no frame"):
        parse_frames(b"\x00")


def test_empty_and_unknown_version_are_rejected() -> None:
    """Empty data and a version byte other than 0 fail, naming the byte."""
    with pytest.raises(FrameError, match="empty"):
        parse_frames(b"")
    with pytest.raises(FrameError, match="0x01"):
        parse_frames(b"\x01" + Frame(CID, 0, b"x", True).encode())


def test_one_bad_frame_rejects_the_whole_transaction_and_names_it() -> None:
    """The second frame's is_last byte is 2: the error names frame 1 and its byte offset."""
    good = Frame(CID, 0, b"abc", False).encode()
    bad = bytearray(Frame(CID, 1, b"de", True).encode())
    bad[-1] = 2
    data = b"\x00" + good + bytes(bad)
    with pytest.raises(FrameError) as info:
        parse_frames(data)
    assert info.value.frame_index == 1
    assert info.value.offset == len(data) - 1
    assert "frame 1" in str(info.value) and "is_last" in str(info.value)


def test_truncated_header_and_data_are_typed_errors() -> None:
    """A cut header and a cut payload give FrameError with the offset where parsing stopped."""
    enc = Frame(CID, 0, b"hello", True).encode()
    with pytest.raises(FrameError, match="truncated frame header") as info:
        parse_frames(b"\x00" + enc[:10])
    assert info.value.offset == 1
    with pytest.raises(FrameError, match="truncated frame data"):
        parse_frames(b"\x00" + enc[:-2])


def test_frame_length_above_the_maximum_is_rejected() -> None:
    """frame_data_length 1,000,001 is invalid even before the data is read."""
    header = CID + b"\x00\x00" + (MAX_FRAME_LEN + 1).to_bytes(4, "big")
    with pytest.raises(FrameError, match="exceeds MAX_FRAME_LEN") as info:
        parse_frames(b"\x00" + header)
    assert info.value.offset == 1 + 18


def test_frame_constructor_refuses_invalid_fields() -> None:
    """Short channel ids, numbers beyond uint16 and oversized data cannot be built."""
    with pytest.raises(FrameError, match="channel id"):
        Frame(b"\x01" * 15, 0, b"", False)
    with pytest.raises(FrameError, match="uint16"):
        Frame(CID, 0x10000, b"", False)
    with pytest.raises(FrameError, match="MAX_FRAME_LEN"):
        Frame(CID, 0, bytes(MAX_FRAME_LEN + 1), False)


def test_frame_sequence_without_version_byte_parses() -> None:
    """parse_frame_sequence reads concatenated frames with no leading version byte."""
    frames = [Frame(CID, 0, b"a", False), Frame(CID, 1, b"b", True)]
    assert parse_frame_sequence(b"".join(f.encode() for f in frames)) == frames
    with pytest.raises(FrameError):
        parse_frame_sequence(b"")


def test_force_close_of_an_unclosed_channel_sends_an_empty_last_frame_zero() -> None:
    """No closing frame seen: a single empty frame 0 with is_last closes it."""
    out = force_close_tx_data([Frame(CID, 1, b"x", False)])
    assert out.hex() == "00" + CID.hex() + "0000" + "00000000" + "01"


def test_force_close_fills_gaps_below_the_closing_frame() -> None:
    """Seen 1 and 3 (last): empty frames 0 and 2 complete the channel."""
    out = force_close_tx_data([Frame(CID, 1, b"x", False), Frame(CID, 3, b"y", True)])
    assert [(f.number, f.is_last, f.data) for f in parse_frames(out)] == [(0, False, b""), (2, False, b"")]


def test_force_close_rejects_no_frames_and_mixed_channels() -> None:
    """Errors for an empty list and for frames of two channels."""
    with pytest.raises(FrameError, match="at least one frame"):
        force_close_tx_data([])
    with pytest.raises(FrameError, match="channel id"):
        force_close_tx_data([Frame(bytes(16), 0, b"", False), Frame(CID, 1, b"", True)])
