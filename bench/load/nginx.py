"""nginx (Debian) as a keep-alive reverse proxy to the catalog, for the bench's run only."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bench.load.generators import ROOT

__all__ = ["Nginx"]

TEMPLATE = ROOT / "bench/nginx/nginx.conf"
PREFIX = ROOT / "var/bench/nginx"


class Nginx:
    """``async with Nginx(port, upstream):`` nginx listening on 127.0.0.1:``port``."""

    def __init__(self, port: int, upstream: str) -> None:
        self.port = port
        self.upstream = upstream
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        PREFIX.mkdir(parents=True, exist_ok=True)
        conf = PREFIX / "nginx.conf"
        text = TEMPLATE.read_text()
        for key, value in (
            ("@PREFIX@", str(PREFIX)),
            ("@PORT@", str(self.port)),
            ("@UPSTREAM@", self.upstream),
        ):
            text = text.replace(key, value)
        conf.write_text(text)
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-p",
            str(PREFIX),
            "-c",
            str(conf),
            "-e",
            str(PREFIX / "error.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if self._process.returncode is not None:
                    err = await self._process.stderr.read() if self._process.stderr else b""
                    raise RuntimeError(
                        f"nginx did not start: {err.decode(errors='replace')}"
                    ) from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return self
        raise RuntimeError("nginx not listening after 5 s")

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        Path(PREFIX / "nginx.pid").unlink(missing_ok=True)
