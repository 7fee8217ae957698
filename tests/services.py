"""Private Redis and PostgreSQL servers that fault tests start, stop, pause and restart.

Never the machine's shared services: each instance has its own port and data folder and
is gone when its test ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout_s: float = 15.0) -> None:
    """Return once something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


class PrivateRedis:
    """A Redis of the test's own that keeps nothing on disk."""

    def __init__(self, folder: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed (the CI script installs the services)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [
            server,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def pause(self) -> None:
        """Freeze the server: connections open, nothing answers (a stalled store)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen process cannot die cleanly
            self.process.kill()
            self.process.wait()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (trust auth on loopback)."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        pg_ctl = shutil.which("pg_ctl") or (str(found[-1]) if found else None)
        if pg_ctl is None:
            pytest.fail("PostgreSQL is not installed (the CI script installs the services)")
        self._bin = Path(pg_ctl).parent
        # initdb refuses to run as root, so the cluster runs as `postgres`, in a folder
        # that user can reach (pytest's tmp_path is private to root)
        self._folder = Path(tempfile.mkdtemp(prefix="tierwise-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._folder, "postgres", "postgres")
        self.data = self._folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust"])

    def _run(self, command: Sequence[str]) -> None:
        argv = [str(self._bin / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        log = self._folder / "postgres.log"
        self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start"])
        wait_for_port(self.port)
        return self

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash, as far as clients can tell."""
        self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"])

    def remove(self) -> None:
        """Stop the server if it runs and delete its files."""
        if (self.data / "postmaster.pid").exists():
            self.stop(mode="immediate")
        shutil.rmtree(self._folder, ignore_errors=True)


class LlamaServer:
    """``python -m llama_cpp.server`` on a fixed port, which can be stopped and restarted."""

    def __init__(self, model: Path, port: int, *extra: str) -> None:
        self.model = model
        self.port = port
        self.extra = extra
        self.url = f"http://127.0.0.1:{port}/v1"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048"]
        command += ["--verbose", "False", *self.extra]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed or OOM-killed one does."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
