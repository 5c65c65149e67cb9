"""Make the platform's secret key file once: compose's one-shot ``init-secrets`` service.

    python /app/deploy/docker/init-secrets.py /secrets/secret_key

- ``EMPORIUM_SECRET_KEY`` set (from your ``.env``): that value is written, after the same
  check the services make outside dev (32+ bytes, not a published value); a different value
  in the file is replaced.
- otherwise a file already there is kept (the volume outlives ``docker compose down``);
- otherwise a random key (48 random bytes, URL-safe base64: 64 characters) is written.

The file is written atomically with mode 0400; every part reads it through
``<PREFIX>SECRET_KEY_FILE``. Exit status 0 on success, 1 with a message otherwise.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

from emporium.kit.settings import secret_key_problem


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value)
        os.chmod(tmp, 0o400)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: init-secrets.py FILE", file=sys.stderr)
        return 1
    path = Path(argv[0])
    given = os.environ.get("EMPORIUM_SECRET_KEY", "")
    if given:
        problem = secret_key_problem(given)
        if problem is not None:
            print(f"init-secrets: EMPORIUM_SECRET_KEY is refused: {problem}", file=sys.stderr)
            return 1
        if path.is_file() and path.read_text(encoding="utf-8") == given:
            print(f"init-secrets: {path} already holds EMPORIUM_SECRET_KEY")
            return 0
        _write(path, given)
        print(f"init-secrets: wrote EMPORIUM_SECRET_KEY to {path}")
        return 0
    if path.is_file() and path.stat().st_size > 0:
        print(f"init-secrets: {path} exists, kept")
        return 0
    _write(path, secrets.token_urlsafe(48))
    print(f"init-secrets: generated a random secret key in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
