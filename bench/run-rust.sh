#!/usr/bin/env bash
# Rust benchmarks (crates/iron_bench): ours vs the published
# iron_runtime_analytics 0.4.0 ("upstream") vs a hand-written Mutex store.
#
#   bash bench/run-rust.sh
#
# Runs the criterion comparison and the dhat heap bench, then writes
# bench/.out/rust.json: per benchmark id the median ns/op with the bounds of
# its 95% confidence interval (criterion's new/estimates.json), the 1 → 2
# thread scaling ratios, and the heap table. The fat-LTO bench build takes
# minutes on 2 cores.
# CRITERION_ARGS overrides the criterion options (default below).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/bench/.out"
mkdir -p "$out"
target="${CARGO_TARGET_DIR:-$root/target}"
criterion_args="${CRITERION_ARGS:---warm-up-time 2 --measurement-time 5}"

# Only estimates written by this run go into the summary (older ids stay on
# disk for criterion's own change reports).
stamp="$out/.rust-run-started"
touch "$stamp"

echo "== cargo bench -p iron_bench --bench compare -- $criterion_args"
# shellcheck disable=SC2086 # word splitting of the options is intended
cargo bench -p iron_bench --bench compare -- $criterion_args 2>&1 | tee "$out/rust-compare.txt"

echo "== cargo bench -p iron_bench --bench heap"
IRON_BENCH_HEAP_JSON="$out/rust-heap.json" cargo bench -p iron_bench --bench heap 2>&1 \
  | tee "$out/rust-heap.txt"

python3 - "$target/criterion" "$stamp" "$out/rust-heap.json" "$out/rust.json" "$criterion_args" <<'PY'
import json, os, subprocess, sys, time

crit, stamp, heap_path, out_path, args = sys.argv[1:6]
since = os.path.getmtime(stamp)
groups = ["record_llm_completed", "record_prebuilt", "stats", "threads"]

benches = {}
for group in groups:
    gdir = os.path.join(crit, group)
    for dirpath, _, files in os.walk(gdir):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(path) < since:
            continue
        bid = os.path.relpath(os.path.dirname(dirpath), crit)
        with open(path) as f:
            est = json.load(f)
        med = est["median"]
        ci = med["confidence_interval"]
        benches[bid] = {
            "median_ns": med["point_estimate"],
            "min_ns": ci["lower_bound"],
            "max_ns": ci["upper_bound"],
            "mean_ns": est["mean"]["point_estimate"],
            "ops_per_sec": 1e9 / med["point_estimate"],
        }

def median(bid):
    b = benches.get(bid)
    return b and b["median_ns"]

# Speed relative to ours (> 1: ours is faster), per group and parameter.
relative = {}
for bid in benches:
    parts = bid.split("/")
    if len(parts) < 2 or parts[1] != "ours":
        continue
    rest = "/".join(parts[2:])
    for other in ("upstream", "hand"):
        oid = "/".join([parts[0], other] + ([rest] if rest else []))
        if oid in benches:
            relative.setdefault(bid, {})[f"{other}_over_ours"] = benches[oid]["median_ns"] / benches[bid]["median_ns"]

# 1 → 2 threads: t(1 thread) / t(2 threads) for the same number of records
# (> 1: two threads get more done; 2.0 is perfect scaling on 2 cores).
scaling = {}
# "control" shares nothing: its ratio is the ceiling the machine allowed during the run.
for impl in ("ours", "ours_private_stores", "upstream", "hand", "control"):
    t1, t2 = median(f"threads/{impl}/1_thread"), median(f"threads/{impl}/2_threads")
    if t1 and t2:
        scaling[impl] = t1 / t2

heap = None
if os.path.exists(heap_path) and os.path.getmtime(heap_path) >= since:
    with open(heap_path) as f:
        heap = json.load(f)

def git(*a):
    try:
        return subprocess.run(["git", *a], capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return None

summary = {
    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "git_rev": git("rev-parse", "HEAD"),
    "git_dirty": bool(git("status", "--porcelain", "--", "crates", "Cargo.toml")),
    "nproc": os.cpu_count(),
    "criterion_args": args,
    "units": "ns per operation (one record, or one stats() call); min/max = 95% CI of the median",
    "benchmarks": dict(sorted(benches.items())),
    "relative_to_ours": relative,
    "thread_scaling_1_to_2": scaling,
    "heap": heap,
}
with open(out_path, "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")

missing = [g for g in groups if not any(b.startswith(g + "/") for b in benches)]
print(f"wrote {out_path}: {len(benches)} benchmark ids" + (f"; MISSING groups: {missing}" if missing else ""))
if missing or heap is None:
    sys.exit(1)
PY
