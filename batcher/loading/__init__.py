"""Loading: the sync status, the sync actions it implies, and the L2 blocks they load into the channel manager
(reorg detection, the DA-size estimate for throttling, restart recovery of channels already on L1).

May import: batcher.channels, batcher.throttling, the shell's batcher.clients, batcher.driver_config and
batcher.metrics, and common. Runs in the driver's state task.
"""
