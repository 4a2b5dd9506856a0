"""How `clerk-collector serve` starts uvicorn: one process, or several sharing a socket."""

from __future__ import annotations

import argparse
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from . import logs
from .settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Uvicorn with the collector's app factory, one process or `args.workers`."""
    config = uvicorn.Config(
        "collector.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # the app applies FORWARDED_ALLOW_IPS itself
        server_header=False,
        log_level=args.log_level,
        # uvicorn's access lines hold the client's address and the query string; the
        # collector's own (ACCESS_LOG=1) holds neither.
        access_log=False,
        log_config=logs.config(args.log_level, settings.log_format),
        http=args.http,
        loop=args.loop,
    )
    if config.workers == 1:
        uvicorn.Server(config).run()
        return 0
    # As uvicorn.run does for workers, but with TCP_NODELAY on the shared socket (the
    # accepted sockets inherit it): uvicorn's own socket is made with protocol 0, so
    # asyncio never sets it, and each answer's body then waits ~40 ms on a delayed ACK.
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    return 0
