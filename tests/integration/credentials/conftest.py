from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes] | None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)

    def stop(self) -> None:
        if self.process is None:
            raise RuntimeError("this Redis was not started by the test; cannot stop it")
        self.process.terminate()
        self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis_server() -> RedisServer:
    port = _free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(f"redis://127.0.0.1:{port}/0", process)
    deadline = time.monotonic() + 10
    while True:
        try:
            server.client().ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Our own redis-server on a free port, else REDIS_URL (default the local :6379)."""
    if os.environ.get("LOCKSTEP_SKIP_SERVICES") == "1":
        pytest.skip("LOCKSTEP_SKIP_SERVICES=1: Redis-backed credential tests skipped")
    if shutil.which("redis-server"):
        server = start_redis_server()
        yield server
        server.stop()
        return
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    server = RedisServer(url, None)
    server.client().ping()  # a missing Redis is an error, not a skip
    yield server


@pytest.fixture
def lock_prefix() -> str:
    return f"lockstep:test:{uuid.uuid4().hex[:8]}:"
