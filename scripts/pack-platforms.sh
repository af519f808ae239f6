#!/usr/bin/env bash
# Packs every platform package under an npm/ folder (after `napi artifacts`
# has put each binary in its package) and checks the tarballs: each one that
# should carry a binary does, and stays under 5 MB packed and unpacked.
#
# Usage: scripts/pack-platforms.sh <npm-dir> <destination> [platform-with-binary...]
#   With no platforms listed, every package must carry its binary (the
#   release); the dry run lists the ones this machine builds.
# Prints one line per package; the tarballs land in <destination>.
set -euo pipefail
npm_dir=$1
dest=$2
shift 2
mkdir -p "$dest"
LIMIT=5000000
status=0
for dir in "$npm_dir"/*/; do
  platform=$(basename "$dir")
  expect_binary=no
  if [ $# -eq 0 ]; then expect_binary=yes; else
    for p in "$@"; do [ "$p" = "$platform" ] && expect_binary=yes; done
  fi
  json=$(npm pack "$dir" --pack-destination "$dest" --ignore-scripts --json)
  line=$(node -e '
    const [p] = JSON.parse(process.argv[1]);
    const binary = p.files.find((f) => f.path.endsWith(".node"));
    console.log([p.filename, p.size, p.unpackedSize, binary ? binary.size : 0].join(" "));
  ' "$json")
  read -r file packed unpacked binary <<<"$line"
  printf '%-22s %-52s packed %9s B  unpacked %9s B  .node %9s B\n' "$platform" "$file" "$packed" "$unpacked" "$binary"
  if [ "$expect_binary" = yes ] && [ "$binary" -eq 0 ]; then
    echo "  $platform: the tarball has no .node: run napi artifacts first" >&2; status=1
  fi
  if [ "$expect_binary" = no ] && [ "$binary" -eq 0 ]; then
    echo "  $platform: no binary on this machine (built on its own runner in the release)"
  fi
  if [ "$packed" -ge $LIMIT ] || [ "$unpacked" -ge $LIMIT ]; then
    echo "  $platform: over the 5 MB budget" >&2; status=1
  fi
done
exit $status
