#!/usr/bin/env bash
# Builds the addon for Linux targets other than this machine's, with zig as
# the C compiler and linker (cargo-zigbuild, through `napi build -x`), then
# checks each file's headers (scripts/check-binary.sh).
#
# Usage: scripts/cross-build.sh [platform...]
#   default: linux-arm64-gnu linux-x64-musl linux-arm64-musl
#   linux-x64-gnu is accepted too: the release builds it the same way, so its
#   binary needs no newer glibc than the other gnu builds.
# Writes iron-runtime-analytics.<platform>.node at the repository root, as
# `npm run build:native` does for this machine. .github/workflows/release.yml
# runs this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cross-env.sh
. scripts/cross-env.sh

platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-arm64-gnu linux-x64-musl linux-arm64-musl)
ensure_cross_toolchain "${platforms[@]}"

for platform in "${platforms[@]}"; do
  target=$(zigbuild_target "$platform")
  echo "== $platform: napi build --target $target -x (cargo-zigbuild, zig $ZIGLANG_VERSION)"
  start=$SECONDS
  # The development build's command (npm run build:native: release profile,
  # output at the root, the same type declarations) plus: --strip drops the
  # symbol table (-C link-arg=-s), -x builds with cargo-zigbuild. For musl
  # targets napi adds -C target-feature=-crt-static: a .node links libc
  # dynamically.
  nice -n 10 npm run --silent build:native -- --strip -x --target "$target"
  echo "== $platform: built in $((SECONDS - start)) s"
  scripts/check-binary.sh "$platform" "iron-runtime-analytics.$platform.node"
done
