"""Batches as channels carry them: a type byte, then the body; dispatch by type byte.

The type bytes and the error tree live in :mod:`common.derive.batch_type` (the codecs import only that);
they are re-exported here for callers that decode any batch.

Inside a channel each batch is wrapped as an RLP byte string (wire-formats.md §2.1):
``rlp_string`` and ``rlp_string_size`` (re-exported from ``common.derive.rlp``) give the wrapping
and its size, so a channel can track its input bytes without encoding.
"""

from __future__ import annotations

from common.derive.batch_type import SINGULAR_BATCH_TYPE as SINGULAR_BATCH_TYPE
from common.derive.batch_type import SPAN_BATCH_TYPE as SPAN_BATCH_TYPE
from common.derive.batch_type import SPAN_BATCH_V2_TYPE as SPAN_BATCH_V2_TYPE
from common.derive.batch_type import SPAN_BATCH_V2_UNSUPPORTED
from common.derive.batch_type import BatchError as BatchError
from common.derive.batch_type import SingularBatchError as SingularBatchError
from common.derive.batch_type import SpanBatchError as SpanBatchError
from common.derive.batch_type import UnsupportedBatchTypeError as UnsupportedBatchTypeError

# Re-exported: channel builders import the channel's batch wrapping from here.
from common.derive.rlp import rlp_string as rlp_string
from common.derive.rlp import rlp_string_size as rlp_string_size
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch


def decode_batch(payload: bytes, *, allow_trailing: bool = False) -> SingularBatch | SpanBatch:
    """Decode a typed batch (type byte ++ body) as read from a channel.

    ``allow_trailing`` ignores bytes after a span batch body, as op-node does; by default they
    are an error so our own encoder output is checked exactly.
    """
    if not payload:
        raise BatchError("empty batch payload (no batch type byte)")
    kind = payload[0]
    if kind == SINGULAR_BATCH_TYPE:
        return SingularBatch.decode(payload)
    if kind == SPAN_BATCH_TYPE:
        return SpanBatch.decode(payload, allow_trailing=allow_trailing)
    if kind == SPAN_BATCH_V2_TYPE:
        raise UnsupportedBatchTypeError(SPAN_BATCH_V2_UNSUPPORTED)
    raise UnsupportedBatchTypeError(f"unknown batch type 0x{kind:02x} ({len(payload)}-byte payload)")
