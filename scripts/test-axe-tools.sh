#!/usr/bin/env bash
# axe-core for tests/browser/test_accessibility.py, from npm at the version pinned in
# tests/browser/axe/package.json, into var/cache/npm/axe (outside the tracked tree; no
# package-lock). Idempotent: a second run finds it and only prints the path.
#
#   bash scripts/test-axe-tools.sh      # prints the path of axe.min.js
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec="$ROOT/tests/browser/axe/package.json"
dest="$ROOT/var/cache/npm/axe"
want="$(node -p "require('$spec').dependencies['axe-core']")"
script="$dest/node_modules/axe-core/axe.min.js"
have="$(node -p "require('$dest/node_modules/axe-core/package.json').version" 2>/dev/null || true)"
if [ "$have" != "$want" ] || [ ! -s "$script" ]; then
  command -v npm >/dev/null 2>&1 || { echo "[axe] npm is missing (Node 20 is expected)" >&2; exit 1; }
  echo "[axe] installing axe-core $want into $dest" >&2
  mkdir -p "$dest"
  cp "$spec" "$dest/package.json"
  npm install --prefix "$dest" --no-package-lock --no-audit --no-fund --silent >&2
fi
echo "$script"
