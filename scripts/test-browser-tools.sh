#!/usr/bin/env bash
# What the browser tests (tests/browser) need beyond `uv sync`: Debian's chromium.
# Idempotent; Playwright itself is a Python dev dependency (uv.lock), and no browser is
# ever downloaded (`playwright install` is never run): the tests drive /usr/bin/chromium.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    echo "[browser-tools] installing chromium (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
# Playwright's Node driver ships inside the Python wheel; nothing else to fetch.
cd "$(dirname "$0")/.."
${UV:-uv} run --frozen python -c "import playwright.sync_api" >/dev/null
echo "[browser-tools] ready: $(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
