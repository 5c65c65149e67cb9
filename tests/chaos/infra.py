"""Private PostgreSQL and Kafka for the chaos suite, which it may break at will.

The shared infrastructure (``deploy/local/infra.sh``) serves every other suite; these
instances run on ports and in temporary folders of their own, so killing, pausing or
holding them breaks nobody else's tests.

- ``PrivatePostgres``: a cluster made by ``initdb`` with the Debian binaries
  (``/usr/lib/postgresql/*/bin``). ``stop(mode)``/``start()`` (fast or immediate, data kept),
  ``hold_in_startup()`` (a real postmaster in standby mode with ``hot_standby = off``: every
  connection gets FATAL 57P03 "the database system is starting up" until ``release()``),
  and ``hog_connections(role)`` (takes every free connection slot, so the next client gets
  FATAL 53300 "sorry, too many clients already").
- ``PrivateKafka``: a KRaft broker+controller with the jars ``deploy/local/kafka.sh`` cached,
  ``kill()`` (SIGKILL), ``pause()``/``resume()`` (SIGSTOP/SIGCONT), ``stop()``/``start()``
  (data kept).

As root (the build machines) PostgreSQL runs as the ``postgres`` system user, like
``deploy/local/postgres.sh`` does.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "APP_ROLE",
    "PrivateKafka",
    "PrivatePostgres",
    "free_port",
    "missing_tools",
    "topic_sizes",
]

ROOT = Path(__file__).resolve().parents[2]
KAFKA_VERSION = os.environ.get("EMPORIUM_KAFKA_VERSION", "4.1.1")
CACHE = Path(os.environ.get("EMPORIUM_CACHE", Path.home() / ".cache" / "emporium"))
KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
LOG4J = ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"
USER = "emporium"
PASSWORD = "emporium"
#: The non-superuser role the kit consumers of the suite connect as (the reserved slots are
#: not its, so "too many clients" can be made real).
APP_ROLE = "chaos_app"


def free_port() -> int:
    """A free TCP port below Linux's ephemeral range (so no client socket takes it later)."""
    for _ in range(200):
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 12000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pg_bin() -> Path | None:
    wanted = os.environ.get("EMPORIUM_PG_BIN")
    if wanted and (Path(wanted) / "initdb").exists():
        return Path(wanted)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def missing_tools() -> str | None:
    """Why the private instances cannot run here, or None."""
    if _pg_bin() is None:
        return "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (infra.sh up pg)"
    if not (KAFKA_LIBS / ".complete").exists():
        return f"no Kafka jars in {KAFKA_LIBS} (deploy/local/infra.sh up kafka fetches them)"
    if shutil.which("java") is None:
        return "no java on PATH"
    return None


def _is_root() -> bool:
    return os.geteuid() == 0


def _wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on ``port`` with its data in ``root``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.data = root / "data"
        self.log = root / "postgres.log"
        bin_dir = _pg_bin()
        if bin_dir is None:
            raise RuntimeError(missing_tools() or "no PostgreSQL")
        self.bin = bin_dir
        self._hogs: list[object] = []

    # -- URLs ------------------------------------------------------------------------------

    def url(self, database: str = "postgres", *, user: str = USER, driver: str = "") -> str:
        """``postgresql[+driver]://user:password@127.0.0.1:port/database``."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{user}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------

    def _run(self, *args: str | Path, check: bool = True, timeout: float = 120) -> None:
        command = [str(a) for a in args]
        if _is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        with self.log.open("ab") as handle:
            subprocess.run(
                command,
                check=check,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )

    def init(self) -> None:
        """initdb (superuser ``emporium``, password auth) and our settings."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if _is_root():
            # The postgres user must reach and own what it uses.
            for path in (self.root, *self.root.parents):
                if path == Path("/"):
                    break
                path.chmod(path.stat().st_mode | 0o001)
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.log, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            self.bin / "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth=scram-sha-256",
            "--no-instructions",
        )
        pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tests/chaos\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 60\n"
                "superuser_reserved_connections = 3\n"
                # Commits are durable across a process crash (the OS keeps the writes);
                # only fsync is off, which matters for a machine crash only.
                "fsync = off\n"
                "full_page_writes = off\n"
                "shared_buffers = 32MB\n"
                "hot_standby = off\n"
            )

    def start(self, *, wait: bool = True) -> None:
        """Start the postmaster (data kept); with ``wait``, until it accepts connections."""
        self._run(self.bin / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-W", "start")
        if wait:
            self.wait_ready()

    def ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
            timeout=10,
        )
        return result.returncode == 0

    def wait_ready(self, timeout: float = 60) -> None:
        _wait(self.ready, timeout, f"PostgreSQL on {self.port}")

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate`` (immediate = a crash: recovery at next start)."""
        self.release_hogs()
        if self.running():
            self._run(self.bin / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def hold_in_startup(self) -> None:
        """Restart as a standby that never becomes ready: every connection gets 57P03.

        ``standby.signal`` without a primary puts the postmaster in archive recovery for
        good, and ``hot_standby = off`` refuses clients until recovery ends, with
        ``FATAL: the database system is starting up``.
        """
        self.stop("fast")
        signal_file = self.data / "standby.signal"
        signal_file.touch()
        if _is_root():
            shutil.chown(signal_file, "postgres", "postgres")
        self.start(wait=False)
        _wait(lambda: port_open(self.port), 30, "the held postmaster to listen")

    def release(self) -> None:
        """End ``hold_in_startup``: restart as a normal primary."""
        self.stop("fast")
        (self.data / "standby.signal").unlink(missing_ok=True)
        self.start()

    # -- connections -----------------------------------------------------------------------

    async def hog_connections(self, role: str) -> int:
        """Open connections as ``role`` until the server refuses one (53300); returns how many.

        They stay open until ``release_hogs``; the superuser keeps its reserved slots (so
        the test can still look inside).
        """
        import asyncpg

        while True:
            try:
                connection = await asyncpg.connect(self.url(user=role), timeout=10)
            except asyncpg.TooManyConnectionsError:
                return len(self._hogs)
            self._hogs.append(connection)

    def release_hogs(self) -> None:
        """Close the hogged connections (abruptly: their backends just see the socket close)."""
        hogs, self._hogs = self._hogs, []
        for connection in hogs:
            # A hog of a loop that has ended: its socket goes with the object.
            with contextlib.suppress(RuntimeError):
                connection.terminate()  # type: ignore[attr-defined]

    async def release_hogs_async(self) -> None:
        """Close the hogged connections cleanly (from the loop that opened them)."""
        hogs, self._hogs = self._hogs, []
        for connection in hogs:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)  # type: ignore[attr-defined]

    async def execute(self, statement: str, database: str = "postgres") -> None:
        import asyncpg

        connection = await asyncpg.connect(self.url(database), timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def fetch(self, query: str, *args: object, database: str = "postgres") -> list[object]:
        import asyncpg

        connection = await asyncpg.connect(self.url(database), timeout=10)
        try:
            rows: list[object] = await connection.fetch(query, *args)
            return rows
        finally:
            await connection.close()

    async def fetchval(self, query: str, *args: object, database: str = "postgres") -> object:
        rows = await self.fetch(query, *args, database=database)
        return rows[0][0] if rows else None  # type: ignore[index]

    async def create_database(self, name: str, owner: str = USER) -> str:
        """A new database; returns its asyncpg SQLAlchemy URL (as ``owner``)."""
        await self.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return self.url(name, user=owner, driver="asyncpg")

    async def create_role(self, name: str) -> None:
        """A login role without superuser (so reserved slots are not its)."""
        await self.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{PASSWORD}'")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateKafka:
    """A throwaway single-node KRaft Kafka (broker + controller) with its data in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.controller_port = free_port()
        self.data = root / "data"
        self.conf = root / "server.properties"
        self.log = root / "kafka.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms128m",
            "-Xmx384m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            f"{KAFKA_LIBS}/*",
        ]

    def init(self) -> None:
        """Write server.properties (as kafka.sh does, on our ports) and format the storage."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        self.conf.write_text(
            f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={self.data}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.segment.bytes=104857600
"""
        )
        # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding.
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.log.open("ab") as handle:
            subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    # One argument: an id may start with "-", which a separate value
                    # would be parsed as an option.
                    f"--cluster-id={cid}",
                    "-c",
                    str(self.conf),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=120,
            )

    def start(self, *, wait: bool = True) -> None:
        """Start the broker (data kept); with ``wait``, until it logs that it started."""
        assert self.popen is None or self.popen.poll() is not None, "already running"
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()

    def _started_logged(self) -> bool:
        with self.log.open("rb") as handle:
            handle.seek(self._log_offset)
            return b"Kafka Server started" in handle.read()

    def wait_ready(self, timeout: float = 120) -> None:
        def ready() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"Kafka exited: {self.tail()}")
            return self._started_logged() and port_open(self.port)

        _wait(ready, timeout, f"Kafka on {self.port}", interval=0.25)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)
        self.popen.kill()
        self.popen.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: the broker hangs (connections open, nothing answered)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``."""
        if not self.running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                assert self.popen is not None
                self.popen.send_signal(signal.SIGCONT)
                self.popen.kill()
                self.popen.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_root(prefix: str) -> Iterator[Path]:
    """A temporary folder (short path: PostgreSQL's socket lives in it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def topic_sizes(bootstrap: str, suffix: str = ".dlq") -> dict[str, int]:
    """Records in each topic whose name ends with ``suffix`` (end minus beginning offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.endswith(suffix)]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    sizes = dict.fromkeys(topics, 0)
    for tp in partitions:
        sizes[tp.topic] += ends[tp] - starts[tp]
    return sizes
