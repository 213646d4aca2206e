"""One listening socket per worker of ``ots serve``, so the kernel spreads connections evenly.

Sanic binds one socket in its main process and every worker accepts on it.
A worker woken by new connections accepts all that are waiting: a client
that opens its keep-alive connections at once (a load balancer's pool, a
benchmark) lands most of them on one worker, which then does most of the
work while the other idles (measured: 24 of 32 connections on one of two
workers). With ``SO_REUSEPORT`` each worker listens on a socket of its
own, bound to the same address, and the kernel hands each new connection
to one of them by a hash of its addresses: an even spread.

The main process binds the address without listening, and holds a lock
named after it (an abstract Unix socket), so that a second ``ots serve`` on
the same address fails at once, as before, even when both start together;
each worker then puts a listening socket of its own in place of the
inherited one, before Sanic starts serving on it. Until the first worker
listens a connection is refused, not queued as on Sanic's own socket: so
the main process says it serves only once a connection is taken
(``when_listening``). Only on Linux, whose
``SO_REUSEPORT`` spreads connections by a hash of their addresses (the BSDs
and macOS give them all to one socket); elsewhere, or where the option is
refused, nothing changes: one shared socket, as Sanic does it. Any process
of the same user could join the group and take a share of the connections:
run ots under a user of its own.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

# The setting under which Sanic hands each worker its listening socket.
SOCKET_SETTING = "sock"


# How often the main process tries to connect while the workers start.
PROBE_INTERVAL: Final = 0.02

# The main process's locks on the addresses it reserved, held until it exits.
_HELD: dict[tuple[str, int], socket.socket] = {}


def can_share_port() -> bool:
    """Tell whether the kernel spreads connections over sockets sharing a port (Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:  # a sandbox that refuses the option
        return False
    return True


def _bound(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    # As Sanic binds (SO_REUSEADDR: a port left in TIME_WAIT is free), and shared.
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """Bind ``host``:``port`` for the workers to share, without listening; the main process's.

    Raises:
        OSError: the address is taken or not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _bound(family, (host, port))
    # Held by one process at a time, whatever sockets share the port: a second server on
    # the address fails here (EADDRINUSE), even one that bound beside this one.
    port = sock.getsockname()[1]
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0ots-serve {host} {port}")
    except BaseException:
        lock.close()
        sock.close()
        raise
    _HELD[(host, port)] = lock
    return sock


def listen_alone(inherited: socket.socket) -> None:
    """Put a socket of this process's own, bound to the same address, under ``inherited``'s fd.

    Sanic listens on ``inherited`` once the server starts: it then listens on
    this worker's own socket, one of the group the kernel spreads connections
    over. The inherited socket stays bound, unlistened, in the main process.
    """
    own = _bound(inherited.family, inherited.getsockname())
    try:
        os.dup2(own.fileno(), inherited.fileno(), inheritable=False)
    finally:
        own.close()


async def own_socket(app: Any) -> None:
    """A worker's start-up listener: listen on a socket of its own (``listen_alone``).

    Runs before Sanic starts serving on the socket it handed the worker.
    """
    for info in app.state.server_info:
        inherited = info.settings.get(SOCKET_SETTING)
        if inherited is not None:
            listen_alone(inherited)


def when_listening(
    host: str, port: int, then: Callable[[], object], stopping: Callable[[], bool]
) -> threading.Thread:
    """Call ``then`` on a thread of its own once a connection to ``host``:``port`` is taken.

    The main process's way to know that a worker listens: it connects (and
    closes at once) until one does. Gives up when ``stopping()`` says so.

    Returns:
        The thread, started.
    """
    # A wildcard address is reached through a loopback: "::" takes IPv4 too, and a
    # machine may have IPv6's loopback turned off.
    targets = {"0.0.0.0": ["127.0.0.1"], "::": ["::1", "127.0.0.1"]}.get(host, [host])  # noqa: S104

    def probe() -> None:
        while not stopping():
            if any(_takes_connections(target, port) for target in targets):
                if not stopping():
                    then()
                return
            time.sleep(PROBE_INTERVAL)

    thread = threading.Thread(target=probe, name="ots-listening", daemon=True)
    thread.start()
    return thread


def _takes_connections(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True
