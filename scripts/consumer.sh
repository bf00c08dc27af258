#!/usr/bin/env bash
# Packs pkg/ with `npm pack` and installs the tarball into a fresh temporary
# project, .tmp/consumer, next to copies of tests/, mock/, demo/ and www/.
# Tests run from there, so they import "headroom" exactly as a user's project
# does.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .tmp/consumer .tmp/headroom-*.tgz
mkdir -p .tmp/consumer
tarball=$(cd pkg && npm pack --silent --pack-destination ../.tmp | tail -n 1)
cat > .tmp/consumer/package.json <<JSON
{ "name": "headroom-consumer", "private": true, "type": "module", "dependencies": { "headroom": "file:../$tarball" } }
JSON
(cd .tmp/consumer && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
cp -r tests mock demo www README.md .tmp/consumer/
echo "consumer: .tmp/consumer has $tarball installed" >&2
