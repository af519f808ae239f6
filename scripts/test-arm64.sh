#!/usr/bin/env bash
# The linux-arm64-gnu addon on an arm64 Node (Debian trixie's, under
# qemu-aarch64): builds what is missing (the arm64 addon with
# scripts/cross-build.sh, this machine's addon and dist/ for the
# wrong-platform check), then runs scripts/test-cross.sh linux-arm64-gnu.
# Not part of `npm test`; `npm run test:arm64` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f iron-runtime-analytics.linux-arm64-gnu.node ] || scripts/cross-build.sh linux-arm64-gnu
[ -f iron-runtime-analytics.linux-x64-gnu.node ] || nice -n 10 npm run build:native
[ -f dist/index.cjs ] || npm run build
exec scripts/test-cross.sh linux-arm64-gnu
