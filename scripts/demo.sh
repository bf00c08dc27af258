#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a
# burst through headroom against the built-in loopback API; then, in a
# terminal, serves the live dashboard (www/) until Ctrl-C (--no-serve: not).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec node demo/burst.mjs "$@"
