"""A misbehaving OpenAI-compatible server on a real loopback socket, for fault tests.

Each mode is one way a model server fails in production; the test switches modes while
the server runs. Raw asyncio streams, not a web framework, so a fault can be exactly as
rude as a real one (a half-written stream, a socket that never answers).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from tests.services import free_port

Mode = Literal["ok", "stall", "500", "garbage", "cut", "invalid_output"]

_COMPLETION = {
    "model": "fault-model",
    "choices": [{"message": {"role": "assistant", "content": '{"label": "billing"}'}}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
}


class FaultServer:
    """Answers chat completions according to ``mode``; counts the requests it saw."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.requests = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            self.requests += 1
            await self._answer(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "stall":
            await asyncio.sleep(3600)
        if mode == "500":
            writer.write(_response(500, b"internal error", "text/plain"))
        elif mode == "garbage":
            writer.write(_response(200, b"<html>bad gateway</html>", "application/json"))
        elif mode == "cut":  # headers and one event, then the process "dies"
            event = {"model": "fault-model", "choices": [{"delta": {"content": '{"la'}}]}
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
                + _chunk(f"data: {json.dumps(event)}\n\n".encode())
            )
        else:
            body = dict(_COMPLETION)
            if mode == "invalid_output":
                message = {"role": "assistant", "content": "I think it is billing"}
                body["choices"] = [{"message": message}]
            writer.write(_response(200, json.dumps(body).encode(), "application/json"))
        await writer.drain()

    @contextmanager
    def running(self) -> Iterator[FaultServer]:
        """Serve on a thread of its own until the block ends."""
        loop = asyncio.new_event_loop()
        started, stop = threading.Event(), asyncio.Event()

        async def main() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            started.set()
            async with server:
                await stop.wait()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:  # a stalled answer ends with the server
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()


def _response(status: int, body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n"
    return f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
