"""A throwaway redis-server for tests and benchmarks: free port, no persistence.

Pytest-free so fixtures, benchmarks and scripts can all use it:

    with RedisServer() as server:          # starts on a free 127.0.0.1 port
        client = server.client()           # or redis_client(server.url)
        server.kill()                       # SIGKILL: the server vanishes mid-run
        server.restart()                    # same port, empty data set
        server.pause(); server.resume()     # SIGSTOP / SIGCONT: a server that hangs

`RedisServer.available()` says whether the `redis-server` binary exists; `redis_url()`
gives the shared server's URL (env REDIS_URL, default redis://127.0.0.1:6379/0) for callers
that fall back to it. The pytest fixtures built on this live in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from types import TracebackType

import redis

__all__ = [
    "RedisServer",
    "free_port",
    "ping",
    "redis_client",
    "redis_url",
    "bench_redis",
    "DEFAULT_REDIS_URL",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The shared Redis the local stack runs (REDIS_URL, or the default on :6379)."""
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


def redis_client(url: str) -> redis.Redis:
    """A client with short timeouts, so a dead or frozen server fails a test fast."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)


@contextlib.contextmanager
def bench_redis(url: str | None) -> Iterator[tuple[str, str]]:
    """For a benchmark: `url` when given, else our own redis-server on a free port when the
    binary exists, else the shared one. Yields the URL and how to name it in the figures."""
    if url is None and RedisServer.available():
        with RedisServer() as server:
            yield server.url, "own redis-server"
        return
    chosen = url or redis_url()
    yield chosen, chosen


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ping(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING on host:port (raw RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1, owned by the caller.

    The port stays the same across `kill()` / `restart()`, so clients configured with
    `url` reconnect to the new process. Data is never persisted: a restart is empty.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str = "redis-server",
        extra_args: Sequence[str] = (),
        start_timeout: float = 10.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port(self.host)
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._paused = False

    @staticmethod
    def available(binary: str = "redis-server") -> bool:
        return shutil.which(binary) is not None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new client of this server (see `redis_client`)."""
        return redis_client(self.url)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING; returns self."""
        if self.running:
            raise RuntimeError(f"redis-server already running on port {self.port}")
        executable = shutil.which(self.binary)
        if executable is None:
            raise FileNotFoundError(f"{self.binary} not found on PATH")
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        args = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--logfile",
            os.path.join(self._dir.name, "redis.log"),
            *self.extra_args,
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._paused = False
        deadline = time.monotonic() + self.start_timeout
        while not ping(self.host, self.port):
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                self._process = None
                raise RuntimeError(f"redis-server exited at start on port {self.port}: {err}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; no-op when not running."""
        self._signal_and_reap(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM), falling back to SIGKILL."""
        self._signal_and_reap(signal.SIGTERM)

    def restart(self) -> RedisServer:
        """Kill the server if it runs, then start a fresh, empty one on the same port."""
        self.kill()
        return self.start()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing answers."""
        if self._process is None or not self.running:
            raise RuntimeError("redis-server is not running")
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Thaw a paused process (SIGCONT)."""
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _signal_and_reap(self, sig: signal.Signals) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            if self._paused and sig != signal.SIGKILL:
                process.send_signal(signal.SIGCONT)
            process.send_signal(sig)
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5.0)
        if process.stderr is not None:
            with contextlib.suppress(OSError):
                process.stderr.close()
        self._process = None
        self._paused = False

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RedisServer(port={self.port}, {state})"
