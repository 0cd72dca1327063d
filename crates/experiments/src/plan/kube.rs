//! The Kubernetes side of a plan (not exercised here; see docs/DEPLOYMENT.md): an Indexed Job
//! (`completionMode: Indexed`, one completion per shard, `JOB_COMPLETION_INDEX` selects the shard) and a
//! merge Job to apply once the first has completed. Both mount the plan folder from a shared volume claim
//! (`privsplit-runs`) at the same path as on the machine that wrote the plan; the image `privsplit:latest`
//! must hold the binary as `privsplit` on `PATH`.

use std::fmt::Write;

use super::slurm::sh_quote;
use super::PlanManifest;

/// Name of the persistent volume claim holding the plan folder.
pub const VOLUME_CLAIM: &str = "privsplit-runs";

/// Container image of the jobs.
pub const IMAGE: &str = "privsplit:latest";

/// The binary inside [`IMAGE`] (on `PATH`); passed to `shard.sh` as its `BIN` argument.
pub const IMAGE_BIN: &str = "privsplit";

/// A YAML double-quoted string.
fn yq(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn pod_spec(
    s: &mut String,
    m: &PlanManifest,
    name: &str,
    command: &str,
    cpus: usize,
    mem_mb: usize,
    gpu: bool,
) {
    let dir = m.dir.display().to_string();
    let _ = writeln!(s, "  template:");
    let _ = writeln!(s, "    spec:");
    let _ = writeln!(s, "      restartPolicy: Never");
    let _ = writeln!(s, "      containers:");
    let _ = writeln!(s, "        - name: {name}");
    let _ = writeln!(s, "          image: {IMAGE}");
    let _ = writeln!(s, "          env:");
    let _ = writeln!(s, "            - name: RAYON_NUM_THREADS");
    let _ = writeln!(s, "              value: {}", yq(&cpus.to_string()));
    let _ = writeln!(s, "          command: [\"sh\", \"-c\", {}]", yq(command));
    let _ = writeln!(s, "          resources:");
    let _ = writeln!(
        s,
        "            requests: {{cpu: {}, memory: {}Mi}}",
        yq(&cpus.to_string()),
        mem_mb
    );
    if gpu {
        let _ = writeln!(
            s,
            "            limits: {{memory: {mem_mb}Mi, nvidia.com/gpu: 1}}"
        );
    } else {
        let _ = writeln!(s, "            limits: {{memory: {mem_mb}Mi}}");
    }
    let _ = writeln!(s, "          volumeMounts:");
    let _ = writeln!(s, "            - name: runs");
    let _ = writeln!(s, "              mountPath: {}", yq(&dir));
    let _ = writeln!(s, "      volumes:");
    let _ = writeln!(s, "        - name: runs");
    let _ = writeln!(s, "          persistentVolumeClaim:");
    let _ = writeln!(s, "            claimName: {VOLUME_CLAIM}");
}

/// `k8s-shards.yaml`: an Indexed Job with `completions = parallelism = shards`; each pod runs
/// `shard.sh $JOB_COMPLETION_INDEX privsplit` (the image's binary) with its log in
/// `logs/shard-<index>.log`, like the Slurm array.
pub fn shards_job(m: &PlanManifest) -> String {
    let r = &m.resources;
    let dir = m.dir.display().to_string();
    let n = m.shards.len();
    let command = format!(
        "sh {} \"$JOB_COMPLETION_INDEX\" {IMAGE_BIN} > {}/logs/shard-\"$JOB_COMPLETION_INDEX\".log 2>&1",
        sh_quote(&format!("{dir}/shard.sh")),
        sh_quote(&dir)
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Shards of the plan {} ({n} indexed completions). Written by `privsplit plan`.",
        m.name
    );
    let _ = writeln!(s, "apiVersion: batch/v1");
    let _ = writeln!(s, "kind: Job");
    let _ = writeln!(s, "metadata:");
    let _ = writeln!(s, "  name: {}-shards", m.name);
    let _ = writeln!(s, "spec:");
    let _ = writeln!(s, "  completionMode: Indexed");
    let _ = writeln!(s, "  completions: {n}");
    let _ = writeln!(s, "  parallelism: {n}");
    let _ = writeln!(s, "  backoffLimit: {n}");
    let _ = writeln!(s, "  activeDeadlineSeconds: {}", r.time_min * 60);
    pod_spec(
        &mut s,
        m,
        "shard",
        &command,
        r.cpus,
        r.mem_mb,
        r.needs_gpu(),
    );
    s
}

/// `k8s-merge.yaml`: one pod running `privsplit plan merge <plan folder>` (apply after
/// `kubectl wait --for=condition=complete job/<name>-shards`).
pub fn merge_job(m: &PlanManifest) -> String {
    let dir = m.dir.display().to_string();
    let command = format!("{IMAGE_BIN} plan merge {}", sh_quote(&dir));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Merge step of the plan {}. Written by `privsplit plan`.",
        m.name
    );
    let _ = writeln!(s, "apiVersion: batch/v1");
    let _ = writeln!(s, "kind: Job");
    let _ = writeln!(s, "metadata:");
    let _ = writeln!(s, "  name: {}-merge", m.name);
    let _ = writeln!(s, "spec:");
    let _ = writeln!(s, "  completions: 1");
    let _ = writeln!(s, "  backoffLimit: 0");
    pod_spec(&mut s, m, "merge", &command, 1, 1024, false);
    s
}
