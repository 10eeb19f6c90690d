"""The ``txmgr_*`` admin JSON-RPC methods (op-service/txmgr rpc.go), for the service's RPC server.

Fees are big integers in wei sent and returned as JSON *numbers*; the bump retry time (resubmission
timeout) is an integer number of nanoseconds, as Go's ``time.Duration`` marshals. Setters return null.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from common.service.log import get_logger
from common.txmgr.txmgr import TxManager

log = get_logger("txmgr")

NANOS_PER_SECOND = 1_000_000_000

ApiMethod = Callable[..., Awaitable[Any]]


class TxMgrApiError(ValueError):
    """A ``txmgr_set*`` argument that is not a non-negative integer."""


def _uint_arg(method: str, value: Any) -> int:
    """JSON numbers (Go big.Int also accepts decimal or 0x-hex strings)."""
    if isinstance(value, bool):
        raise TxMgrApiError(f"{method}: expected an integer, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise TxMgrApiError(f"{method}: invalid integer {value!r}") from None
    else:
        raise TxMgrApiError(f"{method}: expected an integer, got {type(value).__name__}")
    if result < 0:
        raise TxMgrApiError(f"{method}: expected a non-negative integer, got {result}")
    return result


def txmgr_api(mgr: TxManager) -> dict[str, ApiMethod]:
    """Method name -> async handler taking the JSON params positionally."""
    settings = mgr.settings

    def fee_pair(name: str, attr: str) -> dict[str, ApiMethod]:
        async def get() -> int:
            return int(getattr(settings, attr))

        async def set_(value: Any) -> None:
            new = _uint_arg(f"txmgr_set{name}", value)
            setattr(settings, attr, new)
            log.info(f"txmgr config val changed: Set{name}", newVal=new)

        return {f"txmgr_get{name}": get, f"txmgr_set{name}": set_}

    async def get_bump_fee_retry_time() -> int:
        return round(mgr.resubmission_timeout * NANOS_PER_SECOND)

    async def set_bump_fee_retry_time(value: Any) -> None:
        nanos = _uint_arg("txmgr_setBumpFeeRetryTime", value)
        mgr.resubmission_timeout = nanos / NANOS_PER_SECOND
        log.info("txmgr config val changed: SetBumpFeeRetryTime", newVal=nanos)

    methods: dict[str, ApiMethod] = {}
    methods.update(fee_pair("MinBaseFee", "min_base_fee"))
    methods.update(fee_pair("MinPriorityFee", "min_tip_cap"))
    methods.update(fee_pair("MinBlobFee", "min_blob_tx_fee"))
    methods.update(fee_pair("FeeThreshold", "fee_limit_threshold"))
    methods["txmgr_getBumpFeeRetryTime"] = get_bump_fee_retry_time
    methods["txmgr_setBumpFeeRetryTime"] = set_bump_fee_retry_time
    return methods
