"""NodeService's default gRPC limits (node.toml's grpc_* keys default to these).

Apart from node.service so that node.config, and with it ``cb-node --help`` and ``cb-node status``,
does not import grpc.
"""

from __future__ import annotations

from typing import Final

from chainbeasts.rpc_limits import RpcLimits

# Every NodeService request is a few integers; 64 KiB bounds what one queued request may hold.
MAX_REQUEST_BYTES: Final = 64 * 1024
# A response carries at most one state blob (<= 320 KiB) or 10,000 WindowInfo rows (~2.5 MiB).
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
DEFAULT_LIMITS: Final = RpcLimits(
    streams_per_client=4, streams_total=16, calls_per_client=8, calls_total=16, light_per_client=4, light_total=8,
    stream_lifetime_s=3600.0, stream_idle_s=600.0, max_request_bytes=MAX_REQUEST_BYTES, max_response_bytes=MAX_RESPONSE_BYTES,
)
