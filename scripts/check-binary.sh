#!/usr/bin/env bash
# Checks that a built addon is what its platform package promises, from its
# ELF headers alone (so it runs on any host):
#   - the CPU (readelf -h Machine),
#   - the libraries it needs (readelf -d NEEDED): for musl, only musl's libc;
#     for gnu, only glibc's libraries,
#   - for gnu, no glibc symbol version newer than the floor in cross-env.sh,
#   - no symbol table left (the builds strip it), and its size.
# Usage: scripts/check-binary.sh <platform> <file.node>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cross-env.sh
. "$here/cross-env.sh"
platform=$1
file=$2
fail() { echo "check-binary: $file: $*" >&2; exit 1; }

[ -f "$file" ] || fail "missing"
case "$platform" in
  linux-x64-*) want_machine='Advanced Micro Devices X86-64' ;;
  linux-arm64-*) want_machine='AArch64' ;;
  *) fail "no checks for $platform" ;;
esac
machine=$(readelf -h "$file" | sed -n 's/^ *Machine: *//p')
[ "$machine" = "$want_machine" ] || fail "Machine is '$machine', expected '$want_machine'"
echo "$platform: Machine: $machine"

needed=$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$needed" | sed "s/^/$platform: NEEDED /"
case "$platform" in
  *-musl)
    # musl is one library (libc.so, also the loader); anything else is glibc or a stray dependency.
    [ "$needed" = "libc.so" ] || fail "a musl build must need libc.so only, needs: ${needed//$'\n'/ }"
    ;;
  *-gnu)
    for lib in $needed; do
      case "$lib" in
        libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | libgcc_s.so.1 | ld-linux-*.so.*) ;;
        *) fail "needs $lib, which is not part of glibc" ;;
      esac
    done
    newest=$(readelf -V "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
    [ "$(printf '%s\n%s\n' "$newest" "$GLIBC_FLOOR" | sort -V | tail -1)" = "$GLIBC_FLOOR" ] ||
      fail "needs GLIBC_$newest, newer than the floor GLIBC_$GLIBC_FLOOR"
    echo "$platform: newest glibc symbol version: GLIBC_$newest (floor $GLIBC_FLOOR)"
    ;;
esac

if readelf -S "$file" | grep -q '\.symtab'; then fail "has a symbol table: the build did not strip it"; fi
size=$(stat -c %s "$file")
[ "$size" -lt 5000000 ] || fail "is $size bytes, over the 5 MB budget of a platform package"
echo "$platform: stripped, $size bytes"
