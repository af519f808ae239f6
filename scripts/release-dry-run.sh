#!/usr/bin/env bash
# The packaging steps of .github/workflows/release.yml, run here without
# publishing:
#   1. the Linux binaries laid out as the workflow's download-artifact step
#      leaves them (artifacts/bindings-<platform>/<file>.node);
#   2. `napi artifacts` moves each into its npm/<platform> package (in a copy
#      of package.json and npm/, so the work tree is left as it was);
#   3. scripts/pack-platforms.sh packs every platform package, and `npm pack`
#      the root package;
#   4. each Linux platform tarball is installed with the root tarball into a
#      fresh folder, for that platform (npm --os/--cpu/--libc), and required
#      there by that platform's Node: natively for linux-x64-gnu, under
#      qemu-aarch64 for arm64, on the musl Node for musl.
# The darwin and win32 binaries are built on their own runners only: their
# packages are packed without a binary here, and `napi artifacts` is given
# the Linux targets alone.
#
# Usage: scripts/release-dry-run.sh   (builds whatever is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/emulation-env.sh
. scripts/emulation-env.sh

LINUX=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl)
# The release builds all four with zig (scripts/cross-build.sh); a file that
# fails the release checks (say, linux-x64-gnu from `npm run build:native`,
# linked against this machine's newer glibc) is built again that way.
for platform in "${LINUX[@]}"; do
  scripts/check-binary.sh "$platform" "iron-runtime-analytics.$platform.node" >/dev/null 2>&1 ||
    scripts/cross-build.sh "$platform"
done
[ -f dist/index.cjs ] || npm run build
ensure_host_tools

work="$CROSS_DIR/release-dry-run"
rm -rf "$work"
mkdir -p "$work/pkg" "$work/tarballs"

echo "== 1. artifacts as download-artifact leaves them"
for platform in "${LINUX[@]}"; do
  mkdir -p "$work/pkg/artifacts/bindings-$platform"
  cp "iron-runtime-analytics.$platform.node" "$work/pkg/artifacts/bindings-$platform/"
done

echo "== 2. napi artifacts (targets: the Linux four)"
cp -r npm "$work/pkg/"
rm -f "$work"/pkg/npm/*/*.node
node -e '
  const fs = require("node:fs");
  const manifest = JSON.parse(fs.readFileSync("package.json", "utf8"));
  manifest.napi.targets = manifest.napi.targets.filter((t) => t.includes("-linux-"));
  fs.writeFileSync(process.argv[1], JSON.stringify(manifest, null, 2));
' "$work/pkg/package.json"
npx napi artifacts --cwd "$work/pkg" --package-json-path package.json --output-dir artifacts --npm-dir npm
for platform in "${LINUX[@]}"; do
  cmp "$work/pkg/npm/$platform/iron-runtime-analytics.$platform.node" "iron-runtime-analytics.$platform.node"
done

echo "== 3. npm pack: every platform package, then the root package"
scripts/pack-platforms.sh "$work/pkg/npm" "$work/tarballs" "${LINUX[@]}"
root_tarball="$work/tarballs/$(npm pack --pack-destination "$work/tarballs" --ignore-scripts --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename)')"
echo "root: $(basename "$root_tarball")"

echo "== 4. install each Linux tarball into a fresh folder, require it on that platform's Node"
probe="const m = require('iron-runtime-analytics');
const s = new m.EventStore(); const p = new m.PricingManager();
s.recordLlmCompleted(p, 'gpt-4', 150, 50);
const r = process.report.getReport().header;
console.log(JSON.stringify({ impl: m.implementation, cost: s.stats().totalCostMicros, arch: process.arch, glibc: r.glibcVersionRuntime ?? null }));"
# npm itself runs on the platform's Node (this machine's npm-cli.js, on the
# emulated or musl Node), so its cpu check sees that platform.
npm_cli="$(npm root -g)/npm/bin/npm-cli.js"
for platform in "${LINUX[@]}"; do
  app="$work/install-$platform"
  mkdir -p "$app"
  tarball=$(ls "$work/tarballs/iron-runtime-analytics-$platform-"*.tgz)
  # The platform package is optional, as it is for a user (through the root
  # package): npm installs it only if its os/cpu/libc fields match the platform.
  cat >"$app/package.json" <<JSON
{ "name": "app", "version": "1.0.0", "private": true,
  "dependencies": { "iron-runtime-analytics": "file:$root_tarball" },
  "optionalDependencies": { "iron-runtime-analytics-$platform": "file:$tarball" } }
JSON
  if [ "$platform" = linux-x64-gnu ]; then
    NODE_CMD=(node)
  else
    ensure_sysroot "$platform"
    node_command "$platform"
  fi
  start=$SECONDS
  # npm reads the libc from /usr/bin/ldd before the process report: on this
  # glibc host a musl Node needs --libc=musl said (on Alpine, ldd says musl).
  # shellcheck disable=SC2046
  (cd "$app" && "${NODE_CMD[@]}" "$npm_cli" install --no-audit --no-fund --ignore-scripts $(npm_platform_flags "$platform") >/dev/null)
  [ -f "$app/node_modules/iron-runtime-analytics-$platform/iron-runtime-analytics.$platform.node" ] ||
    { echo "$platform: the platform package did not install" >&2; exit 1; }
  out=$(cd "$app" && IRON_ANALYTICS_IMPL=native "${NODE_CMD[@]}" -e "$probe")
  echo "$platform: installed and loaded in $((SECONDS - start)) s: $out"
  echo "$out" | grep -q '"impl":"native","cost":7500' || { echo "$platform: not the native addon" >&2; exit 1; }
done
echo "== release dry run: ok ($work)"
