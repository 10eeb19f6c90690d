"""Batches as channels carry them: a type byte, then the body; dispatch and shared errors.

Error tree (all are ValueError, so callers may catch broadly)::

    BatchError
    ├── SingularBatchError        malformed type-0 batch
    ├── SpanBatchError            malformed type-1 batch, or a block that cannot join one
    └── UnsupportedBatchTypeError type byte 2 (span batch v2, unreleased) or unknown

Inside a channel each batch is wrapped as an RLP byte string (wire-formats.md §2.1):
``rlp_string`` and ``rlp_string_size`` (re-exported from ``common.derive.rlp``) give the wrapping
and its size, so a channel can track its input bytes without encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Re-exported: channel builders import the channel's batch wrapping from here.
from common.derive.rlp import rlp_string as rlp_string
from common.derive.rlp import rlp_string_size as rlp_string_size

if TYPE_CHECKING:
    from common.derive.singular_batch import SingularBatch
    from common.derive.span_batch import SpanBatch

SINGULAR_BATCH_TYPE = 0x00
SPAN_BATCH_TYPE = 0x01
"""Delta and later."""
SPAN_BATCH_V2_TYPE = 0x02
"""op-node's unreleased span batch v2 (``same_ts_bits``); not in the specs, not supported."""


class BatchError(ValueError):
    """A batch could not be decoded or built."""


class SingularBatchError(BatchError):
    """A malformed singular (type 0) batch."""


class SpanBatchError(BatchError):
    """A malformed span (type 1) batch, or input that a span batch cannot represent."""


class UnsupportedBatchTypeError(BatchError):
    """A batch type byte this implementation does not decode."""


SPAN_BATCH_V2_UNSUPPORTED = "span batch v2 (batch type 2) is not supported"


def decode_batch(payload: bytes, *, allow_trailing: bool = False) -> SingularBatch | SpanBatch:
    """Decode a typed batch (type byte ++ body) as read from a channel.

    ``allow_trailing`` ignores bytes after a span batch body, as op-node does; by default they
    are an error so our own encoder output is checked exactly.
    """
    from common.derive.singular_batch import SingularBatch
    from common.derive.span_batch import SpanBatch

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
