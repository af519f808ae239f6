#!/usr/bin/env bash
# Runs cross-built addons on a Node of their own platform (see
# scripts/emulation-env.sh for where each Node comes from):
#   1. the Node's own view: version, arch, and the libc its report shows;
#   2. the vitest files that exercise the addon, with IRON_ANALYTICS_IMPL=native,
#      so the loader must pick iron-runtime-analytics.<platform>.node by the
#      platform name it detects, and no test may fall back to JS;
#   3. a binary of another platform under the same name: the package, built
#      (dist/), must refuse it with the error naming the CPU or libc.
#
# Usage: scripts/test-cross.sh [platform...]
#   default: linux-arm64-gnu linux-x64-musl linux-arm64-musl; linux-x64-gnu
#   runs the same on this machine's Node (the release's zig-built binary).
# Needs the addons from scripts/cross-build.sh and dist/ from `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/emulation-env.sh
. scripts/emulation-env.sh

platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-arm64-gnu linux-x64-musl linux-arm64-musl)

# The suites that exercise the addon and start no process of their own
# (under qemu-user a child of the emulated Node would run natively).
SUITES=(test/store.test.ts test/parity.test.ts test/sync.test.ts test/stream.test.ts test/pricing.test.ts
  test/provider.test.ts test/prometheus.test.ts)

for platform in "${platforms[@]}"; do
  [ -f "iron-runtime-analytics.$platform.node" ] ||
    { echo "iron-runtime-analytics.$platform.node is missing: run scripts/cross-build.sh $platform" >&2; exit 1; }
done
[ -f dist/index.cjs ] || { echo "dist/ is missing: run npm run build" >&2; exit 1; }
ensure_host_tools

failed=()
for platform in "${platforms[@]}"; do
  start=$SECONDS
  ensure_sysroot "$platform"
  node_command "$platform"
  echo "== $platform: ${NODE_CMD[*]}"
  "${NODE_CMD[@]}" -p "const h = process.report.getReport().header;
    \`node \${process.version}, \${process.arch}, \${h.glibcVersionRuntime ? 'glibc ' + h.glibcVersionRuntime : 'no glibc (musl)'}\`"

  stage_sources "$platform"
  cp -r dist "$STAGE/"
  suites=("${SUITES[@]}")
  # Run natively (x64), the platform suite can start child Nodes too.
  case "$platform" in linux-x64-*) suites+=(test/platform.test.ts) ;; esac
  esbuild=$(host_esbuild_for "$STAGE")
  echo "== $platform: vitest ${suites[*]}"
  # A failing suite does not stop the wrong-platform check; the script fails at the end.
  if ! (cd "$STAGE" && IRON_ANALYTICS_IMPL=native ESBUILD_BINARY_PATH="$esbuild" \
    "${NODE_CMD[@]}" node_modules/vitest/vitest.mjs run --pool=threads --poolOptions.threads.maxThreads=2 "${suites[@]}"); then
    failed+=("$platform: vitest")
  fi

  # A binary of another platform named as this one's local build.
  case "$platform" in
    linux-x64-gnu) other=linux-arm64-gnu reason='the file is built for arm64, but this process is x64' ;;
    linux-arm64-gnu) other=linux-x64-gnu reason='the file is built for x64, but this process is arm64' ;;
    linux-x64-musl) other=linux-x64-gnu reason='the file links glibc, but this Node runs on musl' ;;
    linux-arm64-musl) other=linux-arm64-gnu reason='the file links glibc, but this Node runs on musl' ;;
  esac
  [ -f "iron-runtime-analytics.$other.node" ] ||
    { echo "iron-runtime-analytics.$other.node is missing (the wrong-platform check uses it): build it first" >&2; exit 1; }
  app="$CROSS_DIR/wrong-$platform"
  rm -rf "$app" && mkdir -p "$app/dist"
  cp dist/index.cjs "$app/dist/"
  echo '{ "name": "iron-runtime-analytics" }' >"$app/package.json"
  cp "iron-runtime-analytics.$other.node" "$app/iron-runtime-analytics.$platform.node"
  if message=$(cd "$app" && IRON_ANALYTICS_IMPL=native "${NODE_CMD[@]}" -e "require('./dist/index.cjs')" 2>&1); then
    echo "$platform: a $other binary loaded" >&2; exit 1
  fi
  if ! grep -qF "no native addon loads on $platform" <<<"$message" ||
    ! grep -qF "$reason (it belongs in iron-runtime-analytics-$other)" <<<"$message"; then
    echo "$platform: unexpected error for a $other binary:" >&2; echo "$message" >&2; exit 1
  fi
  echo "== $platform: a $other binary is refused: $reason"
  echo "== $platform: done in $((SECONDS - start)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-cross: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
