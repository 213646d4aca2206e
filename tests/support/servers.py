"""Real ots processes for tests: the CLI, servers, ports, processes and memory, a TCP relay."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from ots.config import Settings
from tests.support.settings import settings_env


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ots ARGS`` in a subprocess with ``settings`` in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        env=settings_env(settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def race_cli(
    env: dict[str, str], *args: str, count: int, cwd: Path | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Start ``count`` processes of ``ots ARGS`` at once with ``env``; return each one's result."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ots.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def run_bare(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``ots ARGS`` in ``cwd`` with no OTS_* variable but ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        env={**env, **variables},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def server_command(settings: Settings, kind: str = "ots-serve") -> list[str]:
    """Return the command line of a real server: ``ots serve`` or uvicorn on ``ots.asgi:app``."""
    if kind == "uvicorn":
        # As the README starts it: with no proxy in front, uvicorn takes no client address
        # from X-Forwarded-For (tests/integration/test_asgi_proxy.py runs the README's own).
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "ots.asgi:app",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--no-proxy-headers",
        ]
    return [sys.executable, "-m", "ots.cli", "serve"]


@contextlib.contextmanager
def running_server(
    settings: Settings,
    log_path: Path,
    cwd: Path | None = None,
    kind: str = "ots-serve",
    command: list[str] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Start a real server process; yield its base URL; stop it with SIGTERM.

    ``command`` replaces the ``kind``'s command line, and ``environment``'s
    variables are set over those of ``settings``.
    """
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command or server_command(settings, kind),
            env={**settings_env(settings), **(environment or {})},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A group of its own, so that a server that will not stop goes whole.
            start_new_session=True,
        )
        base = f"http://{settings.host}:{settings.port}"
        try:
            wait_until_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_until_healthy(
    base: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    """Poll ``/health`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            # A generous timeout: a probe abandoned under load is logged as a 500.
            if httpx.get(f"{base}/health", timeout=10).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{base} did not become healthy")


class TcpProxy:
    """A TCP relay between the app and PostgreSQL that a test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        """Relay a free local port to ``target_host:target_port`` once started."""
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TcpProxy:
        """Start relaying."""
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        """Stop relaying and close everything."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones, like a dead database."""
        self.up = False
        self._loop.call_soon_threadsafe(self._close_all)

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def server_processes(port: int) -> list[int]:
    """Return the pids of the processes of a server started with ``OTS_PORT=port`` (Linux).

    Workers inherit the environment, so the variable finds the main process and each worker.
    """
    wanted = f"OTS_PORT={port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            pids.append(int(entry.name))
    return pids


def process_memory(pid: int) -> bytes:
    """Return every readable byte of a process's memory (Linux, as root or its owner)."""
    chunks = []
    with (
        open(f"/proc/{pid}/maps") as maps,
        open(f"/proc/{pid}/mem", "rb", 0) as mem,
    ):
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(part, 16) for part in span.split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, OverflowError, ValueError):
                continue  # [vvar] and the like cannot be read; nothing of ours is there
    return b"".join(chunks)
