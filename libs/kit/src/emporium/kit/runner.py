"""The process runner: ``<PREFIX>WORKERS`` HTTP worker processes, background loops once.

``serve`` runs uvicorn on uvloop and httptools (named, not ``auto``: a missing one fails at
start instead of silently falling back to the slower pure-Python loop and parser; both
come with ``uvicorn[standard]``).

Connections are accepted in batches (``BatchAcceptLoop``), not by uvloop's own server:
libuv (since 1.45, libuv PR 3696) accepts one connection per turn of the loop, so a busy
process whose turns take 20-800 ms accepted 1-50 connections a second however many were
waiting. Measured at the gateway under 120 % load: the kernel's accept queue full (2,049),
~200,000 connections dropped by it in 25 s (``TcpExtListenOverflows``), 44-77 % client
timeouts, while the process held only ~300 connections and used half a core. Accepted at
once, the waiting is inside the process, where the gateway can see it and refuse the
excess with a 503 (``gateway/.../shedding.py``) instead of leaving clients to time out.

- ``workers == 1`` (the default): one process serves HTTP and runs the service's
  background loops (relay, consumers, payment worker, sweeper), as before.
- ``workers > 1``: this process binds the socket and supervises ``workers`` children that
  share it (the kernel hands each connection to one of them). Only child 0 (the *leader*)
  runs the background loops; the others (*followers*) serve HTTP only. The leader writes
  its loops' health and readiness to a status file every second and the followers report
  it in their own ``/healthz`` and ``/readyz``, so a probe that lands on any child sees the
  loops. A child that dies is started again with the same role, so the loops are back as
  soon as the leader is.

Why a leader among the HTTP children rather than a lock or a process of its own: an
advisory lock would make one process per *service* run the loops, across pods, while
consumers must scale with the pods (one group member each); and a separate process costs
another interpreter's memory for loops that are mostly waiting. Once per pod is what the
loops need: the relay already takes a per-database lock, consumers share partitions
through their group, the payment worker claims with ``SKIP LOCKED``.

Why uvicorn and not granian: the services need exactly this supervision (a role per child,
sockets bound once), which uvicorn's ``Server.run(sockets=...)`` gives in a few lines;
granian's workers are all alike and its Rust runtime is one more thing to build and trust,
for a gain the benchmark does not need (``bench/results/``).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Literal

import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "ACCEPT_BATCH",
    "ROLE_VARIABLE",
    "STATUS_VARIABLE",
    "TRIM_VARIABLE",
    "BatchAcceptLoop",
    "LeaderStatus",
    "LeanHttpToolsProtocol",
    "Role",
    "heap_trimmer",
    "process_role",
    "serve",
    "status_path",
    "trim_seconds",
    "write_status",
]

#: Set by the supervisor in each child: ``leader`` or ``follower``.
ROLE_VARIABLE = "EMPORIUM_PROCESS_ROLE"
#: The leader's status file (set by the supervisor in each child).
STATUS_VARIABLE = "EMPORIUM_LEADER_STATUS"

#: ``single``: the only process (it runs everything); ``leader``/``follower``: see above.
Role = Literal["single", "leader", "follower"]

#: A follower reports the loops unhealthy when the leader's status is older than this.
STATUS_STALE_SECONDS = 30.0
#: ... or when the leader has written none this long after the follower started.
STATUS_FIRST_GRACE_SECONDS = 120.0


def process_role() -> Role:
    """This process's role (``single`` unless started by a supervising ``serve``)."""
    role = os.environ.get(ROLE_VARIABLE, "single")
    if role in ("leader", "follower"):
        return role  # type: ignore[return-value]
    return "single"


def status_path() -> Path | None:
    """Where the leader writes its loops' status (None outside a supervised child)."""
    value = os.environ.get(STATUS_VARIABLE)
    return Path(value) if value else None


def write_status(path: Path, workers: list[Any]) -> None:
    """Write the health and readiness of ``workers`` (kit ``Worker``s) to ``path``, atomically."""
    report = {}
    for worker in workers:
        readiness = getattr(worker, "readiness", None)
        report[worker.name] = {
            "health": worker.health(),
            "readiness": readiness() if callable(readiness) else None,
        }
    payload = json.dumps({"at": time.time(), "pid": os.getpid(), "workers": report})
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(payload, encoding="utf-8")
    os.replace(temporary, path)


class LeaderStatus:
    """In a follower: the leader's background loops, as one ``Worker`` for the probes."""

    def __init__(self, path: Path, *, stale_after: float = STATUS_STALE_SECONDS) -> None:
        self.path = path
        self.stale_after = stale_after
        self._started = time.time()

    @property
    def name(self) -> str:
        return "background loops (worker 0)"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _read(self) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return loaded

    def health(self) -> str | None:
        status = self._read()
        now = time.time()
        if status is None:
            if now - self._started < STATUS_FIRST_GRACE_SECONDS:
                return None  # the leader is starting
            return "the process running the background loops has reported nothing"
        age = now - float(status.get("at", 0))
        if age > self.stale_after:
            return f"the process running the background loops last reported {age:.0f} s ago"
        problems = [
            f"{name}: {entry['health']}"
            for name, entry in status.get("workers", {}).items()
            if entry.get("health")
        ]
        return "; ".join(problems) or None

    def readiness(self) -> str | None:
        status = self._read()
        if status is None:
            return None
        waiting = [
            f"{name}: {entry['readiness']}"
            for name, entry in status.get("workers", {}).items()
            if entry.get("readiness")
        ]
        return "; ".join(waiting) or None


# -- accepting ------------------------------------------------------------------------------

#: Most connections accepted per turn of the loop (the rest wait for the next turn, so a
#: flood of connects cannot take a whole turn; asyncio's own loop takes up to the backlog).
#: Accepting one costs ~50 us; 256 a turn was measured too few once turns took over a
#: second (800 connects/s: the accept queue full again, 1,661 dropped in 25 s).
ACCEPT_BATCH = 1024
#: After the process ran out of file descriptors (or buffers), accepting pauses this long,
#: as asyncio's loop does, instead of spinning on a listening socket it cannot serve.
ACCEPT_PAUSE_SECONDS = 1.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_log = logging.getLogger("emporium.kit.runner")


class _Acceptor:
    """A listening socket served by ``BatchAcceptLoop``: what uvicorn uses of an asyncio
    ``Server`` (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, factory: Callable[[], Any]
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._pending: set[asyncio.Task[Any]] = set()
        self._closed = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def is_serving(self) -> bool:
        return not self._closed

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except ConnectionAbortedError:
                continue  # the client gave up while it waited: the next one
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                _log.error("cannot accept (%s); pausing %.0f s", error, ACCEPT_PAUSE_SECONDS)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(ACCEPT_PAUSE_SECONDS, self._resume)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("an accepted connection could not be set up: %r", task.exception())

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        return None


class BatchAcceptLoop(uvloop.Loop):
    """uvloop, with plain TCP servers accepting up to ``ACCEPT_BATCH`` connections per turn.

    Everything else is uvloop's (the accepted sockets become uvloop transports through
    ``connect_accepted_socket``); TLS and Unix sockets keep uvloop's own server.
    """

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], Any],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **options: Any,
    ) -> Any:
        if ssl is not None or options or (sock is not None and sock.family == socket.AF_UNIX):
            parent: Any = super()  # uvloop's typed overloads do not take these as passed on
            return await parent.create_server(
                protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **options
            )
        if sock is None:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
            except OSError:
                sock.close()
                raise
        sock.listen(backlog)
        return _Acceptor(self, sock, protocol_factory)


# -- memory ----------------------------------------------------------------------------------

#: Seconds between two returns of the C heap's free pages to the system (0: never).
TRIM_VARIABLE = "EMPORIUM_MALLOC_TRIM_SECONDS"
#: glibc gives back only the top of its heap by itself: the pages freed inside it (request
#: buffers, headers, bodies, once a burst of connections is over) stay counted in the
#: process's RSS until ``malloc_trim``. Measured at the gateway: 11 MB of 125 MB right
#: after start, 20 MB after 4,000 connections. A call costs ~0.5 ms when little is free,
#: ~15 ms when it gives back 60 MB (so at most that, once per interval).
TRIM_SECONDS = 5.0


def trim_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """The trim interval from ``EMPORIUM_MALLOC_TRIM_SECONDS`` (default 5 s; 0 turns it off)."""
    raw = environ.get(TRIM_VARIABLE, "").strip()
    if not raw:
        return TRIM_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{TRIM_VARIABLE}={raw!r}: not a number of seconds") from None
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"{TRIM_VARIABLE}={raw!r}: must be 0 (off) or more")
    return seconds


def heap_trimmer() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``; None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


def _trim_every(loop: asyncio.AbstractEventLoop, trim: Callable[[], int], seconds: float) -> None:
    # On the loop's own thread: the trim holds the heap's lock, so a thread would only
    # make the loop wait for it at its next allocation instead.
    trim()
    loop.call_later(seconds, _trim_every, loop, trim, seconds)


def batch_accept_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (``loop="emporium.kit.runner:batch_accept_loop"``): the
    batched accept loop, returning the heap's free pages every ``trim_seconds()``."""
    loop = BatchAcceptLoop()
    seconds = trim_seconds()
    trim = heap_trimmer() if seconds > 0 else None
    if trim is not None:
        loop.call_later(seconds, _trim_every, loop, trim, seconds)
    return loop


# -- serving ---------------------------------------------------------------------------------


#: What uvicorn writes for ``Expect: 100-continue`` before the response's head.
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadWithBody(asyncio.Transport):
    """The connection's transport as one request cycle writes to it: the response's head is
    held and goes out with the first piece of its body, in one write.

    uvicorn writes the head and the body separately: two system calls (and two packets) per
    answer, the first of them the costliest line of a proxied call (16 % of the gateway's
    samples). A head whose body does not follow at once (a stream waiting for its first
    event, a HEAD answer, which has none) goes at the end of the loop's turn: never later.
    """

    __slots__ = ("_fresh", "_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._fresh = True  # the head not written yet

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fresh and data != _CONTINUE:
            self._fresh = False
            self._head = bytes(data)
            self._loop.call_soon(self._flush)
            return
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        self._transport.write(data)

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._flush()  # a head without its body (the app failed midway): as uvicorn sent it
        self._transport.close()


class LeanHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, forgetting a finished request while its connection
    waits for the next one, and writing each answer's head with its body (``_HeadWithBody``)."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not before and cycle is not None:  # a request's new cycle (not an upgrade)
            cycle.transport = _HeadWithBody(self.transport, self.loop)

    # uvicorn keeps the last request's scope, headers and cycle (with all the app put in
    # the scope: the router's and FastAPI's per-request state) on the connection until the
    # next request comes. With 5,000 keep-alive connections that is 5,000 dead requests.
    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        # Only a request read to its end, with none pipelined behind it: the parser still
        # calls into the cycle while a body is arriving.
        if cycle is not None and cycle.response_complete and not cycle.more_body:
            if not self.pipeline:
                self.cycle = None  # type: ignore[assignment]
                self.scope = None  # type: ignore[assignment]
                self.headers = None  # type: ignore[assignment]


def _config(app_factory: str, *, host: str, port: int, forwarded_allow_ips: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        app_factory,
        factory=True,
        host=host,
        port=port,
        loop="emporium.kit.runner:batch_accept_loop",
        # By name: the config goes to spawned children, and a class is pickled by name.
        http="emporium.kit.runner:LeanHttpToolsProtocol",
        log_config=None,  # the kit's JSON logging is configured by the app
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        # Above the gateway's idle upstream timeout (4 s), so the gateway never sends a
        # request on a connection the service is closing.
        timeout_keep_alive=5,
    )


def serve(app_factory: str, *, host: str, port: int, forwarded_allow_ips: str, workers: int) -> int:
    """Serve ``app_factory`` (``"module:function"``) with ``workers`` processes."""
    import uvicorn

    config = _config(app_factory, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips)
    if workers <= 1:
        uvicorn.Server(config).run()
        return 0
    return _Supervisor(config, workers).run()


def _say(line: str) -> None:
    # The supervisor configures no logging (the apps do, in the children): plain stderr.
    print(f"emporium.runner: {line}", file=sys.stderr, flush=True)


def _child(config: Any, sockets: list[socket.socket], role: str, status: str) -> None:
    """A supervised child: its role in the environment (read by ``create_app``), then serve."""
    import uvicorn

    os.environ[ROLE_VARIABLE] = role
    os.environ[STATUS_VARIABLE] = status
    # The parent's SIGINT (Ctrl-C in a terminal) reaches the whole process group: leave it
    # to the supervisor, which sends SIGTERM to each child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvicorn.Server(config).run(sockets=sockets)


class _Supervisor:
    """Binds the socket, runs the children, restarts any that dies, stops them on SIGTERM."""

    def __init__(self, config: Any, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False
        self._status_dir = Path(tempfile.mkdtemp(prefix="emporium-workers-"))
        self.status = self._status_dir / "leader.json"
        self._children: list[SpawnProcess | None] = [None] * workers

    def _spawn(self, index: int, sockets: list[socket.socket]) -> SpawnProcess:
        role = "leader" if index == 0 else "follower"
        process = self._context.Process(
            target=_child,
            args=(self.config, sockets, role, str(self.status)),
            name=f"emporium-worker-{index}",
        )
        process.start()
        _say(f"HTTP worker {index} ({role}) started, pid {process.pid}")
        return process

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        multiprocessing.allow_connection_pickling()
        sock = self.config.bind_socket()
        sockets = [sock]
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        _say(
            f"{self.workers} HTTP workers on http://{self.config.host}:{self.config.port} "
            f"(worker 0 runs the background loops), supervisor pid {os.getpid()}"
        )
        try:
            for index in range(self.workers):
                self._children[index] = self._spawn(index, sockets)
            while not self._stopping:
                time.sleep(0.5)
                for index, child in enumerate(self._children):
                    if self._stopping or child is None or child.is_alive():
                        continue
                    _say(
                        f"HTTP worker {index} (pid {child.pid}) exited with {child.exitcode}; "
                        "starting it again"
                    )
                    self._children[index] = self._spawn(index, sockets)
        finally:
            self._stop_children()
            sock.close()
            for leftover in self._status_dir.glob("*"):
                leftover.unlink(missing_ok=True)
            self._status_dir.rmdir()
        return 0

    def _stop_children(self, timeout: float = 20.0) -> None:
        alive = [child for child in self._children if child is not None and child.is_alive()]
        for child in alive:
            if child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
        deadline = time.monotonic() + timeout
        for child in alive:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join(5)
