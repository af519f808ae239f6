# shellcheck shell=bash
# Sourced by the cross-build scripts here and in .github/workflows/release.yml:
# installs the pinned cross toolchain if it is missing (idempotent) and puts
# it on PATH. Everything comes from registries: the Rust standard libraries
# from rustup, zig (`ziglang`) and cargo-zigbuild as wheels from PyPI, in a
# virtualenv.
#
# zig is the C compiler and linker for every Linux target: it carries the
# glibc and musl headers and stubs for all of them, so one toolchain builds
# arm64 and musl on an x64 host, and pins the oldest glibc a gnu build needs.

ZIGLANG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1
# The glibc a linux-*-gnu binary may need at most: the floor of Rust's own
# linux-gnu targets, and what napi-rs's cross toolchain targets too.
GLIBC_FLOOR=2.17

# napi platform name -> Rust target, and the spelling cargo-zigbuild takes
# (a `.2.17` suffix pins the glibc version zig links against).
rust_target() {
  case "$1" in
    linux-x64-gnu) echo x86_64-unknown-linux-gnu ;;
    linux-arm64-gnu) echo aarch64-unknown-linux-gnu ;;
    linux-x64-musl) echo x86_64-unknown-linux-musl ;;
    linux-arm64-musl) echo aarch64-unknown-linux-musl ;;
    *) echo "unknown platform $1 (expected linux-{x64,arm64}-{gnu,musl})" >&2; return 1 ;;
  esac
}

zigbuild_target() {
  local target
  target=$(rust_target "$1") || return 1
  case "$target" in
    *-gnu) echo "$target.$GLIBC_FLOOR" ;;
    *) echo "$target" ;;
  esac
}

# A virtualenv of its own, outside the work tree so that fresh clones on one
# machine share it (and system Pythons that refuse `pip install --user`, as
# Debian's does, are no obstacle).
CROSS_VENV=${IRON_CROSS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/iron-runtime-analytics/cross-venv}

ensure_cross_toolchain() {
  if [ ! -x "$CROSS_VENV/bin/python" ]; then
    echo "== creating $CROSS_VENV"
    python3 -m venv "$CROSS_VENV"
  fi
  case ":$PATH:" in *":$CROSS_VENV/bin:"*) ;; *) export PATH="$CROSS_VENV/bin:$PATH" ;; esac
  local installed_zig installed_zigbuild
  installed_zig=$("$CROSS_VENV/bin/python" -m ziglang version 2>/dev/null || true)
  installed_zigbuild=$("$CROSS_VENV/bin/cargo-zigbuild" --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$installed_zig" != "$ZIGLANG_VERSION" ] || [ "$installed_zigbuild" != "$CARGO_ZIGBUILD_VERSION" ]; then
    echo "== installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION into $CROSS_VENV"
    "$CROSS_VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
      "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
  # With no `zig` on PATH, cargo-zigbuild runs `python3 -m ziglang`: the venv's python3, first on PATH.
  local platform target missing=()
  for platform in "$@"; do
    target=$(rust_target "$platform") || return 1
    rustup target list --installed | grep -qx "$target" || missing+=("$target")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== rustup target add ${missing[*]}"
    rustup target add "${missing[@]}"
  fi
}
