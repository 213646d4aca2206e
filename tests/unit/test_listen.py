"""Each worker's own listening socket (ots.listen): the kernel spreads connections over them."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from types import SimpleNamespace

import pytest

from ots import listen

pytestmark = pytest.mark.skipif(not listen.can_share_port(), reason="no SO_REUSEPORT here")


def accepted(server: socket.socket) -> int:
    """Accept every connection waiting on ``server``; return how many there were."""
    server.setblocking(False)
    count = 0
    while True:
        try:
            peer, _ = server.accept()
        except BlockingIOError:
            return count
        peer.close()
        count += 1


def test_the_reserved_address_takes_no_connection_until_a_worker_listens() -> None:
    """The main process binds without listening: the port is taken, nothing is accepted there."""
    reserved = listen.reserve("127.0.0.1", 0)
    with reserved:
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(reserved.getsockname())
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(reserved.getsockname())


def test_a_second_server_cannot_reserve_the_same_address() -> None:
    """Sockets may share the port, servers may not: the second reservation is refused."""
    first = listen.reserve("127.0.0.1", 0)
    with first, pytest.raises(OSError, match="in use"):
        listen.reserve("127.0.0.1", first.getsockname()[1])


def test_each_worker_listens_on_its_own_socket_and_gets_a_share() -> None:
    """Two inherited copies, each replaced and listened on: 64 connections land on both."""
    reserved = listen.reserve("127.0.0.1", 0)
    address = reserved.getsockname()
    # What each worker process holds: a descriptor of the main process's socket.
    workers = [socket.socket(fileno=os.dup(reserved.fileno())) for _ in range(2)]
    clients: list[socket.socket] = []
    try:
        for worker in workers:
            asyncio.run(listen.own_socket(app_with(worker)))
            worker.listen(128)
        assert workers[0].getsockname() == workers[1].getsockname() == address
        for _ in range(64):
            client = socket.create_connection(address)
            clients.append(client)
        counts = [accepted(worker) for worker in workers]
    finally:
        for sock in [*clients, *workers, reserved]:
            sock.close()
    assert sum(counts) == 64
    # Spread by a hash of the client's port: one side empty is a 2**-63 chance.
    assert min(counts) > 0, counts


def test_a_worker_without_a_handed_socket_changes_nothing() -> None:
    """An app served without a socket of Sanic's (tests, ASGI) has nothing to replace."""
    asyncio.run(listen.own_socket(SimpleNamespace(state=SimpleNamespace(server_info=[]))))


def app_with(sock: socket.socket) -> SimpleNamespace:
    """A stand-in for a worker's app, holding ``sock`` where Sanic keeps it."""
    info = SimpleNamespace(settings={listen.SOCKET_SETTING: sock})
    return SimpleNamespace(state=SimpleNamespace(server_info=[info]))


def test_the_main_process_learns_when_a_worker_listens() -> None:
    """``when_listening`` waits through refused connections, then calls back once, and ends."""
    reserved = listen.reserve("0.0.0.0", 0)
    stopping = threading.Event()
    said = threading.Event()
    try:
        port = reserved.getsockname()[1]
        thread = listen.when_listening("0.0.0.0", port, said.set, stopping.is_set)
        assert not said.wait(0.2), "nothing listens yet"
        listen.listen_alone(reserved)
        reserved.listen()
        assert said.wait(5)
        thread.join(5)
        assert not thread.is_alive()
    finally:
        stopping.set()
        reserved.close()


def test_the_wait_for_a_worker_ends_with_the_stop() -> None:
    """A server stopped before any worker listened never says it serves."""
    reserved = listen.reserve("127.0.0.1", 0)
    stopping = threading.Event()
    said = threading.Event()
    try:
        port = reserved.getsockname()[1]
        thread = listen.when_listening("127.0.0.1", port, said.set, stopping.is_set)
        stopping.set()
        thread.join(5)
        assert (thread.is_alive(), said.is_set()) == (False, False)
    finally:
        reserved.close()
