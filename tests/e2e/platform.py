"""The whole platform as separate processes, for the end-to-end suites.

``start_platform()`` runs the gateway, catalog, customers and orders (and with
``storefront=True`` the web storefront, which the gateway then passes every non-API path)
as their own processes
(``python -m emporium.<name> serve --migrate``, as ``deploy/local/services.sh`` does) on free
ports and on the real infrastructure named by ``var/infra.env``:

- PostgreSQL: a fresh database per service, dropped at the end;
- Kafka: topics and consumer groups of its own, under the run's topic prefix
  (``<SERVICE>_TOPIC_PREFIX=<run>.`` for every service, ``Platform.topic_prefix``): fresh and
  empty, so any number of platforms (the e2e, security and browser suites at once) share
  the broker without one's catalog answering another's orders. ``close()`` deletes them;
- Redis: database 3, so the gateway's rate-limit windows and response cache stay apart from
  the dev services' (the gateway and customers share it: that is the token denylist); the
  services' and the gateway's cache namespaces (their ``SERVICE_NAME``) carry the run's
  name, so two platforms on the same database keep their cached answers apart;
- SeaweedFS: a bucket of its own for the product images.

``Platform`` is also what the suites get when ``EMPORIUM_E2E_BASE_URL`` names an already
running gateway (``make dev``): then nothing is started and ``controls`` is False.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

__all__ = ["SERVICES", "Platform", "Process", "delete_topics", "start_platform"]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("customers", "catalog", "orders")
ADMIN_EMAIL = "admin@e2e.emporium.test"
ADMIN_PASSWORD = "e2e-Admin-password-9"  # a throwaway account of the test run
DEV_ADMIN = ("admin@emporium.local", "emporium-admin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """One service (or the gateway) as a child process, logging to ``log``."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [sys.executable, "-m", f"emporium.{self.name}", "serve"]
        if self.name not in ("gateway", "storefront"):
            args.append("--migrate")
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen(
                args, env=self.env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 300) -> None:
        """Poll ``/readyz`` until it answers 200 (the process dying fails at once).

        Generous: suites start their platforms side by side, and a dozen services importing,
        migrating and joining Kafka at once on two cores can take minutes."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, as a crash."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Platform:
    """The gateway's ``base_url`` (``.../api/v1`` is ``api``) and, when started here, its parts."""

    base_url: str
    admin_email: str
    admin_password: str
    processes: dict[str, Process] = field(default_factory=dict)
    log_dir: Path | None = None
    #: In front of every topic the platform's services use (empty: an already running one).
    topic_prefix: str = ""

    @property
    def api(self) -> str:
        return self.base_url.rstrip("/") + "/api/v1"

    @property
    def controls(self) -> bool:
        """Whether this run started the processes (and so may kill and restart them)."""
        return bool(self.processes)

    def kill(self, name: str) -> None:
        """SIGKILL one service."""
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        """Start a (killed) service again and wait until it is ready."""
        process = self.processes[name]
        if process.popen is not None and process.popen.poll() is None:
            process.kill()
        process.start()
        process.wait_ready()

    def logs(self) -> str:
        """The tail of every process's log (printed when a test fails)."""
        return "\n".join(
            f"----- {p.name} ({p.log}) -----\n{p.tail()}" for p in self.processes.values()
        )


async def _admin_execute(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _drop_bucket(endpoint: str, bucket: str) -> None:
    """Delete the run's image bucket and everything in it (gone already: nothing to do)."""
    from aiobotocore.session import get_session
    from botocore.exceptions import ClientError

    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
    ) as s3:
        try:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    await s3.delete_object(Bucket=bucket, Key=item["Key"])
            await s3.delete_bucket(Bucket=bucket)
        except ClientError:
            pass


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics named ``prefix...`` (a run's), so runs do not pile topics up on the
    shared broker. Best effort: a broker that does not answer keeps them."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    except (KafkaError, OSError) as error:
        print(f"topics {prefix}* not deleted: {error!r}", file=sys.stderr)
    finally:
        await admin.close()


def _redis_db(url: str, number: int) -> str:
    base, _, last = url.rpartition("/")
    return f"{base}/{number}" if base.startswith("redis") and last.isdigit() else f"{url}/{number}"


class _Started:
    """A platform started here; ``close()`` stops it and drops its databases."""

    def __init__(
        self, extra_env: Mapping[str, str] | None = None, *, storefront: bool = False
    ) -> None:
        self.extra_env = dict(extra_env or {})
        self.storefront = storefront
        self.admin_url = os.environ["EMPORIUM_POSTGRES_URL"]
        self.kafka_bootstrap = os.environ["EMPORIUM_KAFKA_BOOTSTRAP"]
        self.run = f"e2e_{uuid.uuid4().hex[:10]}"
        self.topic_prefix = f"{self.run}."
        self.log_dir = Path(tempfile.mkdtemp(prefix="emporium-e2e-"))
        self.databases = {name: f"{self.run}_{name}" for name in SERVICES}
        self.bucket = self.run.replace("_", "-")
        self.processes: dict[str, Process] = {}

    def start(self) -> Platform:
        for database in self.databases.values():
            asyncio.run(_admin_execute(self.admin_url, f'CREATE DATABASE "{database}"'))
        ports = {name: _free_port() for name in (*SERVICES, "gateway", "storefront")}
        # Nothing of the caller's service settings leaks in (a developer's CATALOG_* ...).
        prefixes = tuple(f"{n.upper()}_" for n in (*SERVICES, "gateway", "storefront"))
        base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        redis = _redis_db(os.environ["EMPORIUM_REDIS_URL"], 3)
        jwks = f"http://127.0.0.1:{ports['customers']}/auth/jwks"
        pg_base = self.admin_url.rpartition("/")[0].replace("postgresql:", "postgresql+asyncpg:")
        for name in SERVICES:
            values = {
                "ENVIRONMENT": "dev",
                "HOST": "127.0.0.1",
                "PORT": str(ports[name]),
                "REDIS_URL": redis,
                "DATABASE_URL": f"{pg_base}/{self.databases[name]}",
                "BUS": "kafka",
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "TOPIC_PREFIX": self.topic_prefix,
                "SERVICE_NAME": f"{name}-{self.run}",
                "OUTBOX_POLL_SECONDS": "0.2",
                "HANDLER_BACKOFF_SECONDS": "0.1",
                "LOG_JSON": "false",
                "JWKS_URL": jwks,
            }
            if name == "customers":
                values |= {
                    "ADMIN_EMAIL": ADMIN_EMAIL,
                    "ADMIN_PASSWORD": ADMIN_PASSWORD,
                    # Cheaper hashing: the suite signs in dozens of times on 2 cores.
                    "ARGON2_TIME_COST": "1",
                    "ARGON2_MEMORY_KIB": "8192",
                    "ARGON2_PARALLELISM": "1",
                }
            if name == "catalog":
                values |= {
                    "STORAGE": "s3",
                    "S3_ENDPOINT_URL": os.environ["EMPORIUM_S3_ENDPOINT"],
                    "S3_BUCKET": self.bucket,
                    "S3_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
                    "S3_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                }
            if name == "orders":
                values |= {
                    "PAYMENT_BACKOFF_SECONDS": "0.2",
                    "PAYMENT_BACKOFF_CAP_SECONDS": "1",
                    "PAYMENT_MAX_ATTEMPTS": "3",
                    "PAYMENT_POLL_SECONDS": "0.1",
                    "SSE_POLL_SECONDS": "0.2",
                }
            env = {**base, **{f"{name.upper()}_{k}": v for k, v in values.items()}}
            env |= self.extra_env
            self.processes[name] = Process(name, ports[name], env, self.log_dir / f"{name}.log")
        gateway = {
            "SERVICE_NAME": f"gateway-{self.run}",
            "PORT": str(ports["gateway"]),
            "HOST": "127.0.0.1",
            "LOG_JSON": "false",
            "REDIS_URL": redis,
            "JWKS_URL": jwks,
            # Raised: every simulated shopper has an address of its own, but the anonymous
            # catalog reads and the schemathesis runs come from a few. /auth/* stays low
            # enough for test_storefront_api to reach it (429) in a few seconds.
            "RATE_LIMIT_AUTH": "300",
            # The suite is the proxy in front of the gateway: its X-Forwarded-For names them.
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "RATE_LIMIT_ANONYMOUS": "100000",
            "RATE_LIMIT_CUSTOMER": "100000",
            "UPSTREAM_TIMEOUT_SECONDS": "5",
            "BREAKER_RESET_SECONDS": "1",
            "OPENAPI_RETRY_SECONDS": "1",
            **{f"{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}" for n in SERVICES},
        }
        if self.storefront:
            gateway["STOREFRONT_URL"] = f"http://127.0.0.1:{ports['storefront']}"
        self.processes["gateway"] = Process(
            "gateway",
            ports["gateway"],
            {**base, **{f"GATEWAY_{k}": v for k, v in gateway.items()}, **self.extra_env},
            self.log_dir / "gateway.log",
        )
        if self.storefront:
            storefront = {
                "PORT": str(ports["storefront"]),
                "HOST": "127.0.0.1",
                "LOG_JSON": "false",
                "API_URL": f"http://127.0.0.1:{ports['gateway']}/api/v1",
            }
            self.processes["storefront"] = Process(
                "storefront",
                ports["storefront"],
                {**base, **{f"STOREFRONT_{k}": v for k, v in storefront.items()}, **self.extra_env},
                self.log_dir / "storefront.log",
            )
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready()
        return Platform(
            base_url=self.processes["gateway"].url,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            processes=self.processes,
            log_dir=self.log_dir,
            topic_prefix=self.topic_prefix,
        )

    def close(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()
        for database in self.databases.values():
            asyncio.run(
                _admin_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            )
        asyncio.run(_drop_bucket(os.environ["EMPORIUM_S3_ENDPOINT"], self.bucket))
        asyncio.run(delete_topics(self.kafka_bootstrap, self.topic_prefix))


def start_platform(
    extra_env: Mapping[str, str] | None = None, *, storefront: bool = False
) -> tuple[Platform, _Started | None]:
    """The platform under test: ``EMPORIUM_E2E_BASE_URL``'s, or one started here.

    ``extra_env`` is added to every process's environment (``GATEWAY_TRUSTED_PROXIES``...),
    over the defaults here; ``storefront`` starts the web storefront too (the browser
    suites), behind the gateway. Returns it with the handle to close (None when nothing was
    started here).
    """
    base_url = os.environ.get("EMPORIUM_E2E_BASE_URL")
    if base_url:
        email = os.environ.get("EMPORIUM_ADMIN_EMAIL", DEV_ADMIN[0])
        password = os.environ.get("EMPORIUM_ADMIN_PASSWORD", DEV_ADMIN[1])
        return Platform(base_url.rstrip("/"), email, password), None
    started = _Started(extra_env, storefront=storefront)
    try:
        return started.start(), started
    except BaseException:
        for process in started.processes.values():
            print(f"----- {process.name} -----\n{process.tail()}", file=sys.stderr)
        started.close()
        raise
