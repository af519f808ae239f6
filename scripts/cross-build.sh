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
  # --strip drops the symbol table (-C link-arg=-s); for musl targets napi adds
  # -C target-feature=-crt-static, since a .node must link libc dynamically.
  nice -n 10 npx napi build --platform --release --strip -x --target "$target" \
    --manifest-path crates/iron_runtime_analytics_node/Cargo.toml --package-json-path package.json \
    --output-dir . --no-js --dts crates/iron_runtime_analytics_node/binding.d.ts
  echo "== $platform: built in $((SECONDS - start)) s"
  scripts/check-binary.sh "$platform" "iron-runtime-analytics.$platform.node"
done
