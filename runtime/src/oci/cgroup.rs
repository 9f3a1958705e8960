//! Cgroup limits on a sandbox's host processes (the sandbox process, its
//! Gofer and its stubs), and the freezer behind `pause` and `resume`.
//!
//! Both layouts are handled: cgroup v2 (one unified hierarchy) and v1 (one
//! hierarchy per controller, as on hybrid hosts). The app's memory is pages
//! of the Sentry's memory file, charged to whichever sandbox process touched
//! them first, so a memory limit on the sandbox's cgroup bounds the app.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::bundle::Resources;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers a sandbox gets a directory in.
const V1_CONTROLLERS: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "freezer"];

/// The cgroup directories of one sandbox.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cgroups {
    /// One per hierarchy; on v2, just one.
    pub dirs: Vec<PathBuf>,
}

fn is_v2() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// The relative path for a container: `linux.cgroupsPath` (absolute, or
/// relative to Husk's own parent), or `/husk/ID`.
pub fn relative_path(cgroups_path: Option<&str>, id: &str) -> anyhow::Result<PathBuf> {
    let p = match cgroups_path {
        Some(p) if p.contains(':') => bail!("linux.cgroupsPath {p:?}: systemd cgroup paths are not supported"),
        Some(p) if !p.is_empty() => p.trim_start_matches('/').to_string(),
        _ => format!("husk/{id}"),
    };
    if p.split('/').any(|c| c == ".." || c == ".") {
        bail!("linux.cgroupsPath {p:?} must not contain . or ..");
    }
    Ok(PathBuf::from(p))
}

impl Cgroups {
    /// Makes the sandbox's cgroups and writes its limits.
    pub fn create(relative: &Path, res: &Resources) -> anyhow::Result<Cgroups> {
        let mut cg = Cgroups::default();
        let result = cg.create_inner(relative, res);
        if let Err(e) = result {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn create_inner(&mut self, relative: &Path, res: &Resources) -> anyhow::Result<()> {
        if is_v2() {
            let dir = Path::new(CGROUP_ROOT).join(relative);
            enable_v2_controllers(&dir);
            self.make(&dir)?;
            write_if(&dir, "memory.max", res.memory.map(|m| m.to_string()))?;
            write_if(&dir, "pids.max", res.pids.map(|p| p.to_string()))?;
            // v1 shares [2, 262144] map onto v2 weights [1, 10000].
            write_if(
                &dir,
                "cpu.weight",
                res.cpu_shares.map(|s| (1 + ((s.clamp(2, 262144) - 2) * 9999) / 262142).to_string()),
            )?;
            if let Some(q) = res.cpu_quota {
                write(&dir, "cpu.max", &format!("{q} {}", res.cpu_period.unwrap_or(100_000)))?;
            }
            return Ok(());
        }
        for ctrl in V1_CONTROLLERS {
            let hier = Path::new(CGROUP_ROOT).join(ctrl);
            if !hier.join("cgroup.procs").exists() {
                continue;
            }
            let dir = hier.join(relative);
            self.make(&dir)?;
            match ctrl {
                "memory" => write_if(&dir, "memory.limit_in_bytes", res.memory.map(|m| m.to_string()))?,
                "pids" => write_if(&dir, "pids.max", res.pids.map(|p| p.to_string()))?,
                "cpu" => {
                    write_if(&dir, "cpu.shares", res.cpu_shares.map(|s| s.to_string()))?;
                    write_if(&dir, "cpu.cfs_period_us", res.cpu_period.map(|p| p.to_string()))?;
                    write_if(&dir, "cpu.cfs_quota_us", res.cpu_quota.map(|q| q.to_string()))?;
                }
                _ => {}
            }
        }
        if self.dirs.is_empty() && (res.memory.is_some() || res.pids.is_some() || res.cpu_quota.is_some()) {
            bail!("linux.resources: no cgroup hierarchy found under {CGROUP_ROOT}");
        }
        Ok(())
    }

    fn make(&mut self, dir: &Path) -> anyhow::Result<()> {
        if dir.exists() {
            // Reusing a cgroup someone else made would mix our limits and
            // freezer into theirs.
            if fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty()) {
                bail!("cgroup {} already has processes", dir.display());
            }
        } else {
            fs::create_dir_all(dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
        }
        self.dirs.push(dir.to_path_buf());
        Ok(())
    }

    /// Moves this process (and its later threads and children) into the
    /// cgroups. Single-threaded, it moves as one thread, through
    /// [`self_join_file`]: much faster where the host has cgroup v1.
    pub fn join_self(&self) -> anyhow::Result<()> {
        let single_threaded = fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1);
        for d in &self.dirs {
            let file = if single_threaded { self_join_file(d) } else { "cgroup.procs" };
            write(d, file, "0")?;
        }
        Ok(())
    }

    /// Host pids in the sandbox's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(d) = self.dirs.first() else { return Vec::new() };
        let text = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    fn freezer(&self) -> anyhow::Result<Freezer> {
        for d in &self.dirs {
            if d.join("cgroup.freeze").exists() {
                return Ok(Freezer::V2(d.clone()));
            }
            if d.join("freezer.state").exists() {
                return Ok(Freezer::V1(d.clone()));
            }
        }
        bail!("pause and resume need the cgroup freezer, which this host lacks")
    }

    /// Freezes (`pause`) or thaws (`resume`) every process of the sandbox,
    /// waiting until the freezer reports it done.
    pub fn set_frozen(&self, frozen: bool) -> anyhow::Result<()> {
        let freezer = self.freezer()?;
        freezer.request(frozen)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (done, state) = freezer.settled(frozen);
            if done {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the freezer did not settle ({})", state.trim());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kills every process left in the cgroup.
    pub fn kill_all(&self) {
        // Thaw first: a frozen process cannot die.
        let _ = self.freezer().map(|f| f.request(false));
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Removes the cgroup directories, waiting briefly for processes that
    /// are still leaving.
    pub fn remove(&self) {
        for d in &self.dirs {
            let deadline = Instant::now() + Duration::from_secs(2);
            while d.exists() {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        log::warn!("cannot remove cgroup {}: {e}", d.display());
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // Husk's default parent (`husk/ID`) goes with its last container.
            if let Some(parent) = d.parent().filter(|p| p.file_name().is_some_and(|n| n == "husk")) {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// A cgroup's freezer: v2's `cgroup.freeze`, or v1's `freezer.state`.
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    /// Asks for the cgroup to be frozen or thawed.
    fn request(&self, frozen: bool) -> anyhow::Result<()> {
        match self {
            Freezer::V1(d) => write(d, "freezer.state", if frozen { "FROZEN" } else { "THAWED" }),
            Freezer::V2(d) => write(d, "cgroup.freeze", if frozen { "1" } else { "0" }),
        }
    }

    /// Whether every task has reached the state asked for (v1 reads
    /// FREEZING until then; v2 reports it in `cgroup.events`), and what the
    /// state file says.
    fn settled(&self, frozen: bool) -> (bool, String) {
        match self {
            Freezer::V1(d) => {
                let state = fs::read_to_string(d.join("freezer.state")).unwrap_or_default();
                (state.trim() == if frozen { "FROZEN" } else { "THAWED" }, state)
            }
            Freezer::V2(d) => {
                let events = fs::read_to_string(d.join("cgroup.events")).unwrap_or_default();
                (events.lines().any(|l| l == if frozen { "frozen 1" } else { "frozen 0" }), events)
            }
        }
    }
}

/// Makes the v2 controllers Husk uses available to `dir`'s parents' children.
fn enable_v2_controllers(dir: &Path) {
    let root = Path::new(CGROUP_ROOT);
    let mut parents: Vec<&Path> = dir.ancestors().skip(1).take_while(|p| p.starts_with(root)).collect();
    parents.reverse();
    for p in parents {
        let _ = fs::create_dir_all(p);
        for c in ["+memory", "+pids", "+cpu"] {
            let _ = fs::write(p.join("cgroup.subtree_control"), c);
        }
    }
}

/// The file of cgroup `dir` into which a single-threaded process writes
/// "0" to move itself: v1's `tasks`, else `cgroup.procs`.
///
/// Why: moving a whole thread group (`cgroup.procs`) takes the kernel's
/// global `cgroup_threadgroup_rwsem` for writing, whose first writer
/// after a quiet spell waits for an RCU grace period (6-17 ms per move on
/// this VM, measured with a fresh process moving into three hierarchies).
/// A thread moving only itself (pid 0 to `tasks`) needs no such lock
/// (Linux 6.0's "cgroup: Optimize single thread migration"): about 1 ms
/// for the three. For a process with one thread the result is the same.
/// cgroup v2 has no such file for domain cgroups: there, `cgroup.procs`.
pub fn self_join_file(dir: &Path) -> &'static str {
    if dir.join("tasks").exists() {
        "tasks"
    } else {
        "cgroup.procs"
    }
}

fn write(dir: &Path, file: &str, value: &str) -> anyhow::Result<()> {
    let p = dir.join(file);
    fs::write(&p, value).with_context(|| format!("writing {value} to {}", p.display()))
}

fn write_if(dir: &Path, file: &str, value: Option<String>) -> anyhow::Result<()> {
    match value {
        Some(v) => write(dir, file, &v),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_checked() {
        assert_eq!(relative_path(Some("/default/c1"), "c1").unwrap(), PathBuf::from("default/c1"));
        assert_eq!(relative_path(None, "c1").unwrap(), PathBuf::from("husk/c1"));
        assert!(relative_path(Some("/a/../b"), "c").is_err());
        assert!(relative_path(Some("system.slice:husk:c1"), "c").is_err());
    }
}
