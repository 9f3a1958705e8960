//! `husk run --memory, --pids, --cpus`: the sandbox's host processes (the
//! Sentry, its stubs and the Gofer) in a cgroup of their own, with a small
//! supervisor outside it.
//!
//! The supervisor (this process) makes the cgroup `husk/run-PID`, starts
//! `husk run` again with the same arguments inside it, and waits. When the
//! kernel's OOM killer ends the sandbox (the whole cgroup goes at once:
//! `memory.oom.group`), the supervisor is still there to say so and exits
//! with 137, as Docker does; otherwise it exits with the sandbox's status.
//! Either way it removes the cgroup, with anything left in it.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use crate::oci::bundle::Resources;
use crate::oci::cgroup::Cgroups;

/// Set in the inner `husk run`: it is already in its cgroup.
pub const INNER_ENV: &str = "HUSK_RUN_IN_CGROUP";

/// The CPU period `--cpus` quotas are of, in microseconds (Docker's).
const CPU_PERIOD_US: u64 = 100_000;

/// `husk run`'s resource limits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunLimits {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// The app's tasks (processes and threads).
    pub pids: Option<u64>,
    /// CPUs' worth of time per period.
    pub cpus: Option<f64>,
}

/// A size: bytes, or with a suffix k, m or g (powers of 1024), as Docker's
/// `--memory` takes it.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().with_context(|| format!("{s:?} is not a size (like 512m or 2g)"))?;
    n.checked_mul(1 << shift).filter(|&b| b > 0).with_context(|| format!("{s:?} is not a usable size"))
}

impl RunLimits {
    /// From the command line's values; each must be positive.
    pub fn new(memory: Option<&str>, pids: Option<u64>, cpus: Option<f64>) -> anyhow::Result<RunLimits> {
        let memory = memory.map(parse_size).transpose().context("--memory")?;
        if let Some(m) = memory.filter(|&m| m < 6 << 20) {
            bail!("--memory {m}: a sandbox needs at least 6 MiB");
        }
        if pids == Some(0) {
            bail!("--pids 0: a sandbox needs at least one task");
        }
        if let Some(c) = cpus.filter(|c| !(c.is_finite() && *c > 0.0)) {
            bail!("--cpus {c}: must be a positive number");
        }
        Ok(RunLimits { memory, pids, cpus })
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.pids.is_some() || self.cpus.is_some()
    }

    fn quota(&self) -> Option<i64> {
        self.cpus.map(|c| ((c * CPU_PERIOD_US as f64) as i64).max(1000))
    }

    /// As cgroup settings.
    fn resources(&self) -> Resources {
        Resources {
            memory: self.memory.and_then(|m| i64::try_from(m).ok()),
            // The Sentry holds the app to N tasks itself (EAGAIN, as
            // Linux); each app task is a host thread, each app process a
            // stub process besides, and the Sentry and the Gofer have a
            // few threads of their own: room for those on the host.
            pids: self.pids.and_then(|p| i64::try_from(p.saturating_mul(2).saturating_add(64)).ok()),
            cpu_shares: None,
            cpu_quota: self.quota(),
            cpu_period: self.cpus.map(|_| CPU_PERIOD_US),
        }
    }

    /// As the sandbox's view of its cgroup (/sys/fs/cgroup) and its
    /// overlays' memory limit.
    pub fn sentry_limits(&self) -> sentry::CgroupLimits {
        sentry::CgroupLimits {
            memory_max: self.memory,
            pids_max: self.pids,
            cpu_max: self.quota().and_then(|q| u64::try_from(q).ok()).map(|q| (q, CPU_PERIOD_US)),
            cpu_weight: None,
        }
    }
}

/// Runs this same `husk run` again inside a new cgroup with `limits`, made
/// under `parent` (`husk` by default), and waits for it.
///
/// Rootless, the parent must be a cgroup delegated to this user (owned by
/// it in each hierarchy): the user namespace comes later, so the cgroup is
/// made, joined and removed with the user's own rights, and limits the
/// whole sandbox as it does for root.
pub fn supervise(limits: &RunLimits, parent: Option<&Path>) -> anyhow::Result<ExitCode> {
    let rootless = !nix::unistd::geteuid().is_root();
    let parent = match parent {
        Some(p) => cgroup_parent(p)?,
        None if rootless => bail!(
            "--memory, --pids and --cpus need a cgroup when run by a user other than root: pass --cgroup-parent \
             PATH, a cgroup delegated to uid {} (owned by it under each cgroup hierarchy)",
            nix::unistd::geteuid()
        ),
        None => PathBuf::from("husk"),
    };
    let relative = parent.join(format!("run-{}", std::process::id()));
    let cg = Cgroups::create(&relative, &limits.resources()).with_context(|| {
        format!("making the sandbox's cgroup {}", relative.display())
            + if rootless { " (is --cgroup-parent delegated to this user?)" } else { "" }
    })?;
    let result = run_inside(&cg, limits);
    cg.kill_all();
    cg.remove();
    result
}

/// `--cgroup-parent` as a path relative to each hierarchy's root: leading
/// slashes go; `..` and empty paths are refused.
fn cgroup_parent(p: &Path) -> anyhow::Result<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => bail!("--cgroup-parent {}: no `..`", p.display()),
        }
    }
    if out.as_os_str().is_empty() {
        bail!("--cgroup-parent {}: a cgroup below the root is needed", p.display());
    }
    Ok(out)
}

fn run_inside(cg: &Cgroups, limits: &RunLimits) -> anyhow::Result<ExitCode> {
    if limits.memory.is_some() {
        // The OOM killer ends the whole sandbox, not one of its processes.
        for d in &cg.dirs {
            let _ = std::fs::write(d.join("memory.oom.group"), "1");
        }
    }
    // Open before the fork: the child, single-threaded, only writes "0"
    // (itself) into them.
    let procs: Vec<std::fs::File> = cg
        .dirs
        .iter()
        .map(|d| std::fs::OpenOptions::new().write(true).open(d.join(crate::oci::cgroup::self_join_file(d))))
        .collect::<Result<_, _>>()
        .context("opening the cgroups' tasks or cgroup.procs")?;
    let fds: Vec<i32> = procs.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(std::env::args_os().skip(1)).env(INNER_ENV, "1");
    // The sandbox does not outlive its supervisor, and is born in its cgroup.
    crate::sys::join_cgroup_at_exec(&mut cmd, fds);
    let mut child = cmd.spawn().context("starting the sandbox in its cgroup")?;
    drop(procs);
    crate::sys::forward_signals_to_pid(child.id() as i32);
    let status = child.wait().context("waiting for the sandbox")?;
    // Killed itself, or (when the OOM killer took only its Sentry) passing
    // on its Sentry's SIGKILL.
    let killed = status.signal() == Some(libc::SIGKILL) || status.code() == Some(128 + libc::SIGKILL);
    if killed && oom_killed(cg) {
        let m = limits.memory.unwrap_or(0);
        eprintln!("husk: the sandbox went over its memory limit (--memory {m} bytes) and was killed");
        return Ok(ExitCode::from(137));
    }
    Ok(ExitCode::from(crate::shell_status(status) as u8))
}

/// Whether the OOM killer killed anything in the cgroup.
fn oom_killed(cg: &Cgroups) -> bool {
    cg.dirs.iter().any(|d| {
        let v2 = std::fs::read_to_string(d.join("memory.events")).ok();
        let v1 = std::fs::read_to_string(d.join("memory.oom_control")).ok();
        v2.or(v1).is_some_and(|t| {
            t.lines()
                .any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_parents() {
        assert_eq!(cgroup_parent(Path::new("/user.slice/me")).unwrap(), PathBuf::from("user.slice/me"));
        assert_eq!(cgroup_parent(Path::new("a/./b")).unwrap(), PathBuf::from("a/b"));
        assert!(cgroup_parent(Path::new("a/../../etc")).is_err());
        assert!(cgroup_parent(Path::new("/")).is_err());
        assert!(cgroup_parent(Path::new("")).is_err());
    }

    #[test]
    fn sizes_and_limits() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1024k").unwrap(), 1 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64mb").unwrap(), 64 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999g").is_err());
        assert!(RunLimits::new(Some("1m"), None, None).is_err());
        assert!(RunLimits::new(None, Some(0), None).is_err());
        assert!(RunLimits::new(None, None, Some(-1.0)).is_err());
        let l = RunLimits::new(Some("256m"), Some(40), Some(0.5)).unwrap();
        assert!(l.any());
        assert_eq!(l.resources().cpu_quota, Some(50_000));
        assert_eq!(l.sentry_limits().cpu_max, Some((50_000, 100_000)));
        assert_eq!(l.sentry_limits().pids_max, Some(40));
        assert!(!RunLimits::default().any());
    }
}
