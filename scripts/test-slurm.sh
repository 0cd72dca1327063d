#!/usr/bin/env bash
# End-to-end check of `privsplit plan` on a single-node Slurm cluster on this machine (scripts/slurm-local.sh):
# plans a tiny partition-point sweep (one shard per point) and a 3-alpha collateral grid (one shard per
# alpha), submits both (job array + afterok merge job), waits, and checks that the merged reports equal
# single-process runs with the same seeds. Then it plans shards whose binary fails (`--bin /bin/false`) and
# checks that the merge job does not run and `privsplit plan merge` names each shard's index and log path.
# The cluster is shut down on exit.
#   bash scripts/test-slurm.sh            (PRIVSPLIT_BIN: the binary, default $CARGO_TARGET_DIR/release/privsplit)
#   TEST_SLURM_TIMEOUT=300                seconds to wait for the jobs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PRIVSPLIT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/privsplit}
[ -x "$bin" ] || { echo "test-slurm: no binary at $bin (cargo build --release -p privsplit-cli)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
# Slurm copies the submitting shell's environment into every task (sbatch --export=ALL): keep a working
# binary in PRIVSPLIT_BIN so the failing plan below also proves that no variable can swap a plan's binary.
export PRIVSPLIT_BIN=$bin
timeout_s=${TEST_SLURM_TIMEOUT:-300}
start=$(date +%s)
work=$(mktemp -d /tmp/privsplit-slurm.XXXXXX)
chmod 0755 "$work"   # munged runs as user munge and must reach its folder inside
cluster=$work/cluster
finish() {
    rc=$?
    bash "$root/scripts/slurm-local.sh" down "$cluster" >/dev/null 2>&1 || true
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test-slurm: FAILED (rc $rc); files kept in $work" >&2; fi
    echo "test-slurm: wall time $(( $(date +%s) - start )) s"
}
trap finish EXIT
# wait_jobs IDS SECONDS: until none of the comma-separated jobs is queued or running; fails after SECONDS.
wait_jobs() {
    local deadline=$(( $(date +%s) + $2 ))
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            squeue -j "$1" >&2 || true
            echo "test-slurm: jobs $1 not finished after $2 s" >&2; exit 1
        fi
        sleep 1
    done
}

eval "$(bash "$root/scripts/slurm-local.sh" up "$cluster" | grep '^export SLURM_CONF=')"
[ -n "${SLURM_CONF:-}" ] || { echo "test-slurm: the cluster did not come up" >&2; exit 1; }
export SLURM_CONF

sweep_args=(--preset tiny --train-epochs 1 --eval-images 8 --rmle-steps 10)
coll_args=(--synthetic --train 240 --test 120 --epochs 1 --attackers mlp,logistic,knn)
res=(--cpus 1 --mem-mb 2048 --time-min 10)
"$bin" plan sweep --dir "$work/sweep" --name tiny-sweep "${res[@]}" "${sweep_args[@]}" --points 0,2,4
"$bin" plan collateral --dir "$work/coll" --name alpha-grid "${res[@]}" "${coll_args[@]}" --alpha 0,1.5,3 --seeds 0
sh "$work/sweep/submit.sh"
sh "$work/coll/submit.sh"
jobs="$(cat "$work/sweep/array.jobid"),$(cat "$work/sweep/merge.jobid"),$(cat "$work/coll/array.jobid"),$(cat "$work/coll/merge.jobid")"
wait_jobs "$jobs" "$timeout_s"
echo "test-slurm: cluster jobs done after $(( $(date +%s) - start )) s"
for d in sweep coll; do
    if ! ls -d "$work/$d"/merged-* >/dev/null 2>&1; then
        echo "test-slurm: the merge job of $d did not run; logs:" >&2
        tail -n 20 "$work/$d"/logs/*.log >&2 || true
        "$bin" plan merge "$work/$d" >&2 || true
        exit 1
    fi
done

# Single-process runs with the same settings and seeds.
RAYON_NUM_THREADS=1 "$bin" sweep "${sweep_args[@]}" --points 0,2,4 --out "$work/single" --name sweep >/dev/null
for a in 0 1.5 3; do
    RAYON_NUM_THREADS=1 "$bin" collateral "${coll_args[@]}" --alpha "$a" --seed 0 --json "$work/single/coll-$a.json" >/dev/null
done
python3 - "$work" <<'PY'
import glob, json, sys
w = sys.argv[1]
one = lambda pat: json.load(open(sorted(glob.glob(pat))[-1]))
m, s = one(f"{w}/sweep/merged-*/report.json"), one(f"{w}/single/sweep-*/report.json")
def numbers(r):
    return (r["model_accuracy"], r["test_accuracy"], r["baseline"], r["recommendation"] and {k: v for k, v in r["recommendation"].items() if k != "trusted_ms"},
            [(p["k"], p["feature_shape"], p["trusted_flops"], [(a["attack"], a["ssim"], a["ssim_std"], a["psnr"], a["accuracy"], a["grid"]) for a in p["attacks"]]) for p in r["points"]])
assert [p["k"] for p in m["points"]] == [0, 2, 4], m["points"]
def same(a, b):
    # Equal up to the last bits of a float that went through a JSON write + read (serde_json without float_roundtrip).
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b
assert same(numbers(m), numbers(s)), "merged sweep differs from the single-process sweep"
g = one(f"{w}/coll/merged-*/grid.json")
assert len(g["rows"]) == 3
for row, a in zip(g["rows"], ["0", "1.5", "3"]):
    o = json.load(open(f"{w}/single/coll-{a}.json"))
    pa = o["per_alpha"][0]
    assert row["alpha"] == pa["alpha"] and row["main_accuracy"] == pa["main_accuracy"], (row, pa["main_accuracy"])
    assert row["undefended_accuracy"] == o["float_test_accuracy"]
    assert [v for _, v in row["collateral"]] == [r["collateral_accuracy"] for r in pa["attacks"]], (row, pa["attacks"])
print("test-slurm: merged sweep (points 0,2,4) and collateral grid (alphas 0,1.5,3) equal the single-process runs")
PY

# A failing shard: the merge job is cancelled (afterok), and `plan merge` names each shard and its log.
"$bin" plan collateral --dir "$work/bad" --name bad-grid "${res[@]}" "${coll_args[@]}" --alpha 0,2 --seeds 0 \
    --bin /bin/false
sh "$work/bad/submit.sh"
jobs="$(cat "$work/bad/array.jobid"),$(cat "$work/bad/merge.jobid")"
wait_jobs "$jobs" 60
if ls -d "$work/bad"/merged-* >/dev/null 2>&1; then echo "test-slurm: the failed plan was merged" >&2; exit 1; fi
if out=$("$bin" plan merge "$work/bad" 2>&1); then echo "test-slurm: merge of a failed plan succeeded" >&2; exit 1; fi
for i in 0 1; do
    echo "$out" | grep -qF "shard $i: failed with exit status 1 (log: $work/bad/logs/shard-$i.log)" \
        || { echo "test-slurm: shard $i not named in the merge error: $out" >&2; exit 1; }
done
echo "test-slurm: failed shards are reported with their index and log path"
echo "test-slurm: OK"
