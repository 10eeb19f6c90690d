"""Alt-DA (op-alt-da): commitments to data kept by a DA server, and the HTTP client that stores them.

:mod:`common.altda.commitment` is pure (wire format: commitment type byte, derivation version 1 tx data);
:mod:`common.altda.client` is the asyncio shell (op-alt-da's ``/put`` and ``/get`` HTTP protocol).
"""
