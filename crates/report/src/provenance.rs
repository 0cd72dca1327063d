//! What every report records about the run that produced it: the code (git commit), the machine (CPU
//! model, device, thread count), the seeds and the wall time of each step.

use std::process::Command;

use serde::{Deserialize, Serialize};

/// Where and how a run happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the working directory at run time, or `"unknown"` (no git, not a checkout).
    pub git_commit: String,
    /// The privsplit version (`CARGO_PKG_VERSION`).
    pub privsplit_version: String,
    /// Host CPU model (`model name` in `/proc/cpuinfo`), or `"unknown CPU"`.
    pub cpu_model: String,
    /// The compute device of the run (`--device`: `"flex"`, `"cuda"`, ...).
    pub device: String,
    /// Worker threads of the rayon pool (`rayon::current_num_threads`).
    pub threads: usize,
    /// Every seed of the run, by the config key that set it.
    pub seeds: Vec<(String, u64)>,
    /// Wall time of each step, in order: (step, seconds).
    pub step_seconds: Vec<(String, f64)>,
}

impl Provenance {
    /// Reads the commit, the CPU model and the thread count of this process, for a run on `device`.
    pub fn capture(device: impl Into<String>) -> Self {
        Self {
            git_commit: git_commit(),
            privsplit_version: env!("CARGO_PKG_VERSION").into(),
            cpu_model: cpu_model(),
            device: device.into(),
            threads: rayon::current_num_threads(),
            seeds: Vec::new(),
            step_seconds: Vec::new(),
        }
    }

    /// Records a seed.
    pub fn seed(&mut self, key: impl Into<String>, seed: u64) -> &mut Self {
        self.seeds.push((key.into(), seed));
        self
    }

    /// Records the wall time of a step (s).
    pub fn step(&mut self, step: impl Into<String>, seconds: f64) -> &mut Self {
        self.step_seconds.push((step.into(), seconds));
        self
    }

    /// One line for a human report: commit, CPU, device and threads.
    pub fn summary(&self) -> String {
        format!(
            "privsplit {} at commit {}, {} on {} with {} threads",
            self.privsplit_version, self.git_commit, self.device, self.cpu_model, self.threads
        )
    }
}

/// `git rev-parse HEAD` in the current directory, or `"unknown"`.
pub fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The `model name` line of `/proc/cpuinfo`, or `"unknown CPU"`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_records_the_machine_and_keeps_seeds_and_steps_in_order() {
        let mut p = Provenance::capture("cpu");
        p.seed("collateral.seed", 3).seed("fonts.seed", 0);
        p.step("dataset", 1.5).step("sweep", 2.0);
        assert!(p.threads >= 1);
        assert!(!p.git_commit.is_empty() && !p.cpu_model.is_empty());
        assert_eq!(p.seeds[1], ("fonts.seed".to_string(), 0));
        assert_eq!(p.step_seconds.len(), 2);
        let json = serde_json::to_string(&p).expect("json");
        let back: Provenance = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, p);
        assert!(p.summary().contains(&p.git_commit));
    }
}
