"""Ways to take the database away from running replicas, and give it back."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading


class DatabaseOutage:
    """Takes the database away (``begin``) and gives it back (``end``)."""

    async def begin(self) -> None:
        raise NotImplementedError

    async def end(self) -> None:
        raise NotImplementedError


class CutConnections(DatabaseOutage):
    """A TCP proxy in front of PostgreSQL that can drop every connection and refuse new ones.

    To the replicas behind it this is a database restart: open connections break mid-query
    (their transactions are rolled back by the server), connecting is refused, and after
    ``end`` the same address works again. PostgreSQL itself keeps running, so other users of
    the server are not disturbed. The proxy runs on an event loop of its own, in a thread, so
    that the test's own work never slows the replicas' database traffic.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def start(self) -> CutConnections:
        self._thread.start()
        await self._call(self._listen())
        return self

    async def begin(self) -> None:
        await self._call(self._cut())

    async def end(self) -> None:
        await self._call(self._listen())

    async def close(self) -> None:
        await self._call(self._cut())
        await self._call(self._finish_pipes())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        self._loop.close()

    async def _call(self, coroutine) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        self._server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _finish_pipes(self) -> None:
        pipes = asyncio.all_tasks() - {asyncio.current_task()}
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()
        self._transports.discard(sink.transport)


class RestartPostgres(DatabaseOutage):
    """Stops the PostgreSQL server and starts it again with an operator's command.

    ``command`` is a control command taking ``stop`` or ``start``, e.g.
    ``pg_ctlcluster --skip-systemctl-redirect 15 main``. Every user of the server notices.
    """

    def __init__(self, command: str) -> None:
        self._command = shlex.split(command)

    async def _run(self, action: str) -> None:
        process = await asyncio.create_subprocess_exec(*self._command, action)
        assert await process.wait() == 0, f"{shlex.join(self._command)} {action} failed"

    async def begin(self) -> None:
        await self._run("stop")

    async def end(self) -> None:
        await self._run("start")
