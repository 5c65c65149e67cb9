"""The commands the containers run, run natively: no Docker engine here, so each compose
service of the platform is started as the image would start it (its ENTRYPOINT script and
command, with compose's environment) in compose's dependency order, and must pass its own
compose health check and answer ``/readyz``.

The infrastructure addresses in compose's environment (``postgres:5432``, ``kafka:9092``,
...) are the values changed: they point at the real local infrastructure when ``make test``
started it (EMPORIUM_POSTGRES_URL, ...), else at the embedded default (SQLite, in-process
bus, memory cache, local media folder). Ports are free ones on 127.0.0.1. On the shared
local infrastructure each part also gets its own database, bucket and Redis namespace, and
runs no event consumers (``<PREFIX>RUN_WORKERS=false``): other tests use the same broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from emporium.kit.testing import eventually

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("catalog", "customers", "orders", "gateway")
INFRA_VARIABLES = (
    "EMPORIUM_POSTGRES_URL",
    "EMPORIUM_KAFKA_BOOTSTRAP",
    "EMPORIUM_REDIS_URL",
    "EMPORIUM_S3_ENDPOINT",
)
#: compose's infrastructure services: stood in for by the local infrastructure.
INFRA_HOSTS = ("postgres", "kafka", "redis", "seaweedfs")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+]([^}]*))?\}")


def _interpolate(value: object) -> str:
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value)).replace("$$", "$")


def _infra_mode() -> bool:
    """True to run on the real infrastructure, False for the embedded default."""
    present = [name for name in INFRA_VARIABLES if os.environ.get(name)]
    if len(present) == len(INFRA_VARIABLES):
        return True
    if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
        missing = sorted(set(INFRA_VARIABLES) - set(present))
        pytest.fail(f"{', '.join(missing)} not set: start the infrastructure (make test)")
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _to_host_path(argument: str, mounts: Mapping[str, Path]) -> str:
    """A path inside the container (image /app, or a bind mount) as the path in the repo."""
    for inside, outside in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if argument == inside or argument.startswith(inside.rstrip("/") + "/"):
            return str(outside) + argument[len(inside.rstrip("/")) :]
    return argument


@dataclass
class Platform:
    """compose's view of the platform, turned into native commands and environments."""

    compose: dict[str, Any]
    image_command: list[str]
    prefix_of: Callable[[str], str]
    readable_env: Callable[[str], frozenset[str]]
    workdir: Path
    infra: bool
    databases: dict[str, str] = field(default_factory=dict)
    bucket: str = "emporium-media"
    namespace: str = "emporium"
    ports: dict[str, int] = field(default_factory=lambda: {p: _free_port() for p in PARTS})

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services: dict[str, dict[str, Any]] = self.compose["services"]
        return services

    def part_of(self, name: str) -> str | None:
        environment = self.services[name].get("environment") or {}
        part = environment.get("SERVICE") if isinstance(environment, dict) else None
        return str(part) if part in PARTS else None

    def start_levels(self) -> list[list[str]]:
        """compose's services that run a part (not the optional profiles), grouped the way
        compose starts them: each group after every group it depends on."""
        names = {
            name
            for name, service in self.services.items()
            if self.part_of(name) and not service.get("profiles")
        }
        levels: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in levels:
                dependencies = [d for d in self.services[name].get("depends_on", {}) if d in names]
                levels[name] = 1 + max((level(d) for d in dependencies), default=-1)
            return levels[name]

        for name in names:
            level(name)
        return [
            sorted(n for n, at in levels.items() if at == i)
            for i in range(max(levels.values()) + 1)
        ]

    def is_one_shot(self, name: str) -> bool:
        return str(self.services[name].get("restart", "no")) == "no"

    def mounts(self, name: str) -> dict[str, Path]:
        """Container path -> host path: the repository's bind mounts, and each named volume
        as a folder of the work directory (shared by the services that mount it)."""
        mounts = {"/app": ROOT}
        for volume in self.services[name].get("volumes", []):
            source, _, rest = str(volume).partition(":")
            if source.startswith("."):
                mounts[rest.split(":")[0]] = (ROOT / source).resolve()
            elif source in (self.compose.get("volumes") or {}):
                mounts[rest.split(":")[0]] = self.workdir / "volumes" / source
        return mounts

    def setup_tasks(self) -> list[str]:
        """One-shot services of our image that prepare the parts (init-secrets): no part
        of their own, but parts wait for them."""
        waited = {
            dependency
            for name in self.services
            if self.part_of(name)
            for dependency in self.services[name].get("depends_on", {})
        }
        return sorted(
            name
            for name, service in self.services.items()
            if name in waited
            and "build" in service
            and self.is_one_shot(name)
            and not self.part_of(name)
            and not service.get("profiles")
        )

    def argv(self, name: str) -> list[str]:
        """The image's ENTRYPOINT + CMD, as compose overrides them, with host paths."""
        service = self.services[name]
        entrypoint_end = next(
            i for i, word in enumerate(self.image_command) if word.endswith("entrypoint.sh")
        )
        entrypoint = service.get("entrypoint", self.image_command[: entrypoint_end + 1])
        command = service.get("command", self.image_command[entrypoint_end + 1 :])
        mounts = self.mounts(name)
        return [_to_host_path(str(word), mounts) for word in [*entrypoint, *command]]

    def healthcheck(self, name: str) -> list[str]:
        test = list(self.services[name]["healthcheck"]["test"])
        assert test[0] == "CMD", f"{name}: a native run needs the exec form of the check"
        return [_to_host_path(str(word), self.mounts(name)) for word in test[1:]]

    def environment(self, name: str) -> dict[str, str]:
        """compose's environment for ``name``, with the infrastructure pointed at ours."""
        part = self.part_of(name)
        prefixes = (*(self.prefix_of(p) for p in PARTS), "EMPORIUM_ADMIN_")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        mounts = self.mounts(name)
        given = {
            k: _to_host_path(_interpolate(v), mounts)
            for k, v in self.services[name]["environment"].items()
        }
        env.update(self.localize(given, part))
        return env

    def localize(self, given: dict[str, str], part: str | None) -> dict[str, str]:
        env = dict(given)
        for key, value in env.items():
            env[key] = re.sub(
                r"\b(catalog|customers|orders|gateway):\d+\b",
                lambda m: f"127.0.0.1:{self.ports[m.group(1)]}",
                value,
            )
        if part is None:
            return env
        prefix = self.prefix_of(part)
        env[prefix + "HOST"] = "127.0.0.1"
        env[prefix + "PORT"] = str(self.ports[part])
        readable = self.readable_env(part)
        if self.infra:
            s3 = urlsplit(os.environ["EMPORIUM_S3_ENDPOINT"])
            replacements = {
                r"\bkafka:9092\b": os.environ["EMPORIUM_KAFKA_BOOTSTRAP"],
                r"redis://redis:\d+(/\d+)?": os.environ["EMPORIUM_REDIS_URL"],
                r"http://seaweedfs:\d+": f"{s3.scheme}://{s3.netloc}",
            }
            for key, value in env.items():
                for pattern, local in replacements.items():
                    value = re.sub(pattern, local, value)
                env[key] = value
            if prefix + "DATABASE_URL" in env:
                env[prefix + "DATABASE_URL"] = self.databases[part]
            if prefix + "S3_ACCESS_KEY_ID" in env:
                env[prefix + "S3_ACCESS_KEY_ID"] = os.environ.get("AWS_ACCESS_KEY_ID", "")
                env[prefix + "S3_SECRET_ACCESS_KEY"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
            if prefix + "S3_BUCKET" in env:
                env[prefix + "S3_BUCKET"] = self.bucket
            # The local broker and Redis are shared with other tests and `make up`: no
            # consumer of ours may join the services' real groups (it would take their
            # events), and our Redis keys (caches, rate limits) get a namespace of their own.
            if prefix + "RUN_WORKERS" in readable:
                env[prefix + "RUN_WORKERS"] = "false"
            if prefix + "SERVICE_NAME" in readable:
                env[prefix + "SERVICE_NAME"] = f"{self.namespace}-{part}"
        else:
            embedded = {
                "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir}/{part}.db",
                "BUS": "memory",
                "STORAGE": "local",
                "MEDIA_DIR": str(self.workdir / "media"),
            }
            for suffix, value in embedded.items():
                if prefix + suffix in env or (suffix == "MEDIA_DIR" and prefix + "STORAGE" in env):
                    env[prefix + suffix] = value
            for suffix in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "S3_ENDPOINT_URL"):
                env.pop(prefix + suffix, None)
        leftover = {
            key: value
            for key, value in env.items()
            if re.search(rf"(?:^|[/@,])({'|'.join(INFRA_HOSTS)}):\d", value)
        }
        assert not leftover, f"compose addresses with no local stand-in: {leftover}"
        return env


@dataclass
class Running:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


async def _run_to_completion(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def _stop(running: Running) -> int:
    process = running.process
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode is not None
    return process.returncode


@contextlib.asynccontextmanager
async def _processes() -> AsyncIterator[list[Running]]:
    started: list[Running] = []
    try:
        yield started
    finally:
        for running in reversed(started):
            await _stop(running)


async def _start(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Running:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    return Running(name, process, log)


async def _wait_healthy(platform: Platform, running: Running, env: dict[str, str]) -> None:
    check = platform.healthcheck(running.name)

    async def healthy() -> bool:
        if running.process.returncode is not None:
            raise RuntimeError(
                f"{running.name} exited with {running.process.returncode}:\n{running.tail()}"
            )
        code, _output = await _run_to_completion(check, env, platform.workdir)
        return code == 0

    try:
        await eventually(healthy, timeout=90, interval=0.3, message=f"{running.name} healthy")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- {running.name} log ---\n{running.tail()}") from None


@pytest.fixture
async def databases(unique: str) -> AsyncIterator[dict[str, str]]:
    """On the real infrastructure: a fresh PostgreSQL database per service (dropped after)."""
    if not _infra_mode():
        yield {}
        return
    admin_url = os.environ["EMPORIUM_POSTGRES_URL"]
    names = {part: f"{unique}_{part}".replace("-", "_") for part in PARTS if part != "gateway"}
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = admin_url.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield {part: f"{base}/{name}" for part, name in names.items()}
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def platform(
    compose: dict[str, Any],
    image_command: list[str],
    prefix_of: Callable[[str], str],
    readable_env: Callable[[str], frozenset[str]],
    tmp_path: Path,
    databases: dict[str, str],
    unique: str,
) -> Platform:
    return Platform(
        compose=compose,
        image_command=image_command,
        prefix_of=prefix_of,
        readable_env=readable_env,
        workdir=tmp_path,
        infra=_infra_mode(),
        databases=databases,
        bucket=unique,
        namespace=unique,
    )


async def test_the_compose_commands_start_the_platform_natively(platform: Platform) -> None:
    levels = platform.start_levels()
    assert {platform.part_of(name) for level in levels for name in level} == set(PARTS)

    async def run_one_shot(name: str, argv: list[str], env: dict[str, str]) -> None:
        code, output = await _run_to_completion(argv, env, platform.workdir)
        assert code == 0, f"{name} ({' '.join(argv[2:])}) failed:\n{output[-4000:]}"

    for name in platform.setup_tasks():  # init-secrets: the secret key file, first
        for inside, outside in platform.mounts(name).items():
            if inside != "/app":
                outside.mkdir(parents=True, exist_ok=True)
        code, output = await _run_to_completion(
            platform.argv(name), platform.environment(name), platform.workdir
        )
        assert code == 0, f"{name} failed:\n{output[-4000:]}"
    assert platform.setup_tasks() == ["init-secrets"]

    async with _processes() as started:
        for level in levels:
            steps = []
            for name in level:
                argv = platform.argv(name)
                assert argv[:2] == ["/bin/sh", str(ROOT / "deploy" / "docker" / "entrypoint.sh")], (
                    f"{name} does not run the image's entrypoint script: {argv}"
                )
                env = platform.environment(name)
                if platform.is_one_shot(name):
                    steps.append(run_one_shot(name, argv, env))
                    continue
                running = await _start(name, argv, env, platform.workdir)
                started.append(running)
                steps.append(_wait_healthy(platform, running, env))
            await asyncio.gather(*steps)

        async with httpx.AsyncClient(timeout=10) as client:
            for part, port in platform.ports.items():
                base = f"http://127.0.0.1:{port}"
                ready = await client.get(f"{base}/readyz")
                assert ready.status_code == 200, f"{part}: {ready.status_code} {ready.text}"
                assert (await client.get(f"{base}/healthz")).status_code == 200
                assert (await client.get(f"{base}/metrics")).status_code == 200

        # The loadgen profile, bounded to a couple of seconds, against this gateway.
        loadgen = dict(platform.services["loadgen"]["environment"])
        given = platform.localize({k: _interpolate(v) for k, v in loadgen.items()}, None)
        given.update(LOADGEN_DURATION_SECONDS="1.5", LOADGEN_MAX_REQUESTS="100")
        env = {**os.environ, **given}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        code, output = await _run_to_completion(platform.argv("loadgen"), env, platform.workdir)
        assert code == 0, output
        summary = json.loads(output.strip().splitlines()[-1])
        assert summary["requests"] > 0, summary
        assert summary["statuses"], summary

        # SIGTERM (what `docker stop` and Kubernetes send) stops each part cleanly: uvicorn
        # finishes its shutdown, then exits by the signal (143 in a container) or with 0.
        for running in reversed(started):
            code = await _stop(running)
            assert code in (0, -signal.SIGTERM), f"{running.name} exited {code}:\n{running.tail()}"
            assert "Application shutdown complete" in running.tail(), running.tail()


async def test_run_migrations_migrates_then_serves_in_one_container(
    image_command: list[str], prefix_of: Callable[[str], str], tmp_path: Path
) -> None:
    """``docker run -e SERVICE=catalog -e RUN_MIGRATIONS=1 emporium`` on an empty database."""
    port = _free_port()
    prefix = prefix_of("catalog")
    database = tmp_path / "catalog.db"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefix)}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "SERVICE": "catalog",
            "RUN_MIGRATIONS": "1",
            prefix + "HOST": "127.0.0.1",
            prefix + "PORT": str(port),
            prefix + "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            prefix + "BUS": "memory",
            prefix + "STORAGE": "local",
            prefix + "MEDIA_DIR": str(tmp_path / "media"),
        }
    )
    argv = [_to_host_path(word, {"/app": ROOT}) for word in image_command]
    async with _processes() as started:
        running = await _start("catalog", argv, env, tmp_path)
        started.append(running)

        async def ready() -> bool:
            if running.process.returncode is not None:
                raise RuntimeError(f"catalog exited:\n{running.tail()}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=90, interval=0.2, message="catalog ready")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "outbox_message"} <= tables


async def test_the_entrypoint_refuses_an_unknown_part(image_command: list[str]) -> None:
    argv = [_to_host_path(word, {"/app": ROOT}) for word in image_command]
    env = {**os.environ, "SERVICE": "warehouse"}
    code, output = await _run_to_completion(argv, env, ROOT)
    assert code == 64
    assert "SERVICE" in output
    assert "catalog" in output


def _psql_environment(admin_url: str) -> dict[str, str]:
    url = urlsplit(admin_url)
    return {
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGPASSWORD": url.password or "",
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.path.lstrip("/") or "postgres",
    }


@pytest.fixture
def roles(unique: str) -> Iterator[list[str]]:
    """Two database/login names for the init script, dropped after."""
    if not _infra_mode():
        pytest.skip("needs the real PostgreSQL (EMPORIUM_POSTGRES_URL)")
    names = [f"{unique}_a".replace("-", "_"), f"{unique}_b".replace("-", "_")]
    yield names
    admin_url = os.environ["EMPORIUM_POSTGRES_URL"]

    async def drop() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        finally:
            await admin.close()

    asyncio.run(drop())


def test_the_postgres_init_script_gives_each_service_its_own_database_and_login(
    roles: list[str],
) -> None:
    psql = shutil.which("psql")
    assert psql, "psql not found (it comes with PostgreSQL: deploy/local/infra.sh installs it)"
    admin_url = os.environ["EMPORIUM_POSTGRES_URL"]
    env = {**os.environ, **_psql_environment(admin_url), "DATABASES": " ".join(roles)}
    passwords = {name: f"pw-{name}-'quote\"" for name in roles}
    for name, password in passwords.items():
        env[f"DB_PASSWORD_{name.upper()}"] = password
    script = ROOT / "deploy" / "compose" / "postgres" / "init-databases.sh"
    for _ in range(2):  # the second run changes nothing
        result = subprocess.run(
            ["sh", str(script)], env=env, capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr

    url = urlsplit(admin_url)

    async def connect(user: str, database: str) -> None:
        connection = await asyncpg.connect(
            host=url.hostname,
            port=url.port,
            user=user,
            password=passwords[user],
            database=database,
        )
        await connection.execute("CREATE TABLE IF NOT EXISTS probe (id int)")
        await connection.close()

    first, second = roles
    asyncio.run(connect(first, first))
    asyncio.run(connect(second, second))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(connect(first, second))
