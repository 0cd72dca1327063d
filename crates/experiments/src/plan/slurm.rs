//! The Slurm side of a plan: `shard.sh` (runs shard `i` of the manifest), `array.sbatch` (a job array, one
//! task per shard), `merge.sbatch` (`privsplit plan merge`) and `submit.sh`, which submits the array and
//! then the merge job with `--dependency=afterok:<array job id>`.

use std::fmt::Write;

use super::PlanManifest;

/// `s` quoted for a POSIX shell (single quotes; a single quote becomes `'\''`).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn hms(minutes: usize) -> String {
    format!("{:02}:{:02}:00", minutes / 60, minutes % 60)
}

/// `shard.sh INDEX [BIN]`: empties the shard's output folder, records the SHA-256 of the weights file as
/// this node reads it (`weights.sha256`), runs the shard's command, and on failure writes its exit status
/// to `FAILED` in the output folder. The binary is `BIN` when given (the Kubernetes pods pass the image's
/// `privsplit`), else the plan's; never taken from the environment, which Slurm copies from the
/// submitting shell (`sbatch --export=ALL`), so a stray variable there cannot swap the binary of a plan.
pub fn shard_script(m: &PlanManifest) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# Runs one shard of the plan {} (index = array index). Written by `privsplit plan`.",
        m.name
    );
    let _ = writeln!(s, "set -u");
    let _ = writeln!(s, "i=\"${{1:?usage: shard.sh INDEX [BIN]}}\"");
    let _ = writeln!(s, "bin=\"${{2:-{}}}\"", sh_quote(&m.bin));
    let _ = writeln!(s, "case \"$i\" in");
    for sh in &m.shards {
        let out = m.dir.join(&sh.output);
        let args: Vec<String> = sh.args.iter().map(|a| sh_quote(a)).collect();
        let _ = writeln!(s, "  {})", sh.index);
        let _ = writeln!(s, "    out={}", sh_quote(&out.display().to_string()));
        let _ = writeln!(s, "    set -- {}", args.join(" "));
        let _ = writeln!(s, "    ;;");
    }
    let _ = writeln!(
        s,
        "  *) echo \"shard.sh: no shard $i in plan {} ({} shards)\" >&2; exit 2 ;;",
        m.name,
        m.shards.len()
    );
    let _ = writeln!(s, "esac");
    let _ = writeln!(s, "rm -rf \"$out\" && mkdir -p \"$out\" || exit 1");
    let _ = writeln!(
        s,
        "echo \"shard $i on $(hostname) at $(date -u +%FT%TZ): $bin $*\""
    );
    if let Some(w) = &m.weights {
        let w = sh_quote(&w.display().to_string());
        let _ = writeln!(
            s,
            "sha256sum {w} | cut -d' ' -f1 > \"$out/weights.sha256.tmp\" && mv \"$out/weights.sha256.tmp\" \"$out/weights.sha256\" \
             || {{ echo 1 > \"$out/FAILED\"; exit 1; }}"
        );
    }
    let _ = writeln!(s, "\"$bin\" \"$@\"");
    let _ = writeln!(s, "rc=$?");
    let _ = writeln!(
        s,
        "if [ \"$rc\" -ne 0 ]; then echo \"$rc\" > \"$out/FAILED\"; fi"
    );
    let _ = writeln!(s, "exit \"$rc\"");
    s
}

fn common_header(s: &mut String, m: &PlanManifest) {
    if let Some(p) = &m.resources.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
}

/// `array.sbatch`: `#SBATCH --array=0-<last>`, `--cpus-per-task`, `--mem` (MiB), `--time`, `--gres=gpu:1`
/// when the plan asks for a GPU, one log per task (`logs/shard-%a.log`); the task runs `shard.sh` with
/// `$SLURM_ARRAY_TASK_ID`, with `RAYON_NUM_THREADS` set to its cores.
pub fn array_script(m: &PlanManifest) -> String {
    let r = &m.resources;
    let dir = m.dir.display().to_string();
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(s, "#SBATCH --job-name={}", m.name);
    let _ = writeln!(s, "#SBATCH --array=0-{}", m.shards.len().saturating_sub(1));
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", r.cpus);
    let _ = writeln!(s, "#SBATCH --mem={}M", r.mem_mb);
    let _ = writeln!(s, "#SBATCH --time={}", hms(r.time_min));
    let _ = writeln!(s, "#SBATCH --output={dir}/logs/shard-%a.log");
    if r.needs_gpu() {
        let _ = writeln!(s, "#SBATCH --gres=gpu:1");
    }
    common_header(&mut s, m);
    let _ = writeln!(
        s,
        "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"",
        r.cpus
    );
    let _ = writeln!(
        s,
        "exec sh {} \"$SLURM_ARRAY_TASK_ID\"",
        sh_quote(&format!("{dir}/shard.sh"))
    );
    s
}

/// `merge.sbatch`: one small task running `privsplit plan merge <plan folder>` (log `logs/merge.log`);
/// `--kill-on-invalid-dep=yes` removes it from the queue when a shard fails.
pub fn merge_script(m: &PlanManifest) -> String {
    let dir = m.dir.display().to_string();
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(s, "#SBATCH --job-name={}-merge", m.name);
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task=1");
    let _ = writeln!(s, "#SBATCH --mem=1024M");
    let _ = writeln!(s, "#SBATCH --time=00:10:00");
    let _ = writeln!(s, "#SBATCH --kill-on-invalid-dep=yes");
    let _ = writeln!(s, "#SBATCH --output={dir}/logs/merge.log");
    common_header(&mut s, m);
    let _ = writeln!(s, "exec {} plan merge {}", sh_quote(&m.bin), sh_quote(&dir));
    s
}

/// `submit.sh`: `sbatch --parsable` the array, then the merge job with `--dependency=afterok:<array id>`;
/// prints both job ids and writes them to `array.jobid` and `merge.jobid`.
pub fn submit_script(m: &PlanManifest) -> String {
    let dir = sh_quote(&m.dir.display().to_string());
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# Submits the plan {}: the shard array, then the merge job after it.",
        m.name
    );
    let _ = writeln!(s, "set -eu");
    let _ = writeln!(s, "dir={dir}");
    let _ = writeln!(s, "array=$(sbatch --parsable \"$dir/array.sbatch\")");
    let _ = writeln!(s, "array=${{array%%;*}}");
    let _ = writeln!(
        s,
        "merge=$(sbatch --parsable --dependency=afterok:\"$array\" \"$dir/merge.sbatch\")"
    );
    let _ = writeln!(s, "merge=${{merge%%;*}}");
    let _ = writeln!(s, "echo \"$array\" > \"$dir/array.jobid\"");
    let _ = writeln!(s, "echo \"$merge\" > \"$dir/merge.jobid\"");
    let _ = writeln!(
        s,
        "echo \"array job $array ({} shards), merge job $merge\"",
        m.shards.len()
    );
    s
}
