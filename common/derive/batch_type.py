"""Batch type bytes and the batch error tree, shared by every batch codec (they import only this).

Error tree (all are ValueError, so callers may catch broadly)::

    BatchError
    ├── SingularBatchError        malformed type-0 batch
    ├── SpanBatchError            malformed type-1 batch, or a block that cannot join one
    └── UnsupportedBatchTypeError type byte 2 (span batch v2, unreleased) or unknown
"""

from __future__ import annotations

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
