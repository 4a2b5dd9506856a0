"""Only for `scripts/bench --force-nodelay`: a diagnostic, not a fix.

asyncio turns TCP_NODELAY on for an accepted socket only when the socket reports
proto == IPPROTO_TCP. uvicorn's multi-worker supervisor binds its listening socket
with proto 0, so with --workers N > 1 the accepted connections keep Nagle's
algorithm, and a response written in two pieces (headers, then body) waits for the
client's delayed ACK (about 40 ms on Linux). Put first on PYTHONPATH of a server,
this module makes asyncio set TCP_NODELAY on every TCP stream it accepts, so that a
run shows what the workers would do without that wait.
"""

import socket
from asyncio import base_events


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in {socket.AF_INET, socket.AF_INET6} and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


base_events._set_nodelay = _set_nodelay  # type: ignore[attr-defined]
