//! Container state under `--root`: one directory per container, holding
//! `state.json` and the sandbox's control socket.
//!
//! Every command that reads or changes a container holds an exclusive
//! `flock` on its directory, so concurrent commands on one container are
//! serialised. `state.json` is replaced atomically (write, fsync, rename),
//! so a reader never sees half of it, and it outlives the `husk` process
//! that wrote it. Whether the container still runs is not stored: it is
//! read from the host, by the sandbox process's pid and start time (so a
//! reused pid is not mistaken for the sandbox).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// A container's life, as OCI's `state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created; the program is loaded but has not started.
    Created,
    /// Running.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Its sandbox process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// The container id.
    pub id: String,
    /// The sandbox process's host pid (the pid file's pid).
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub pid_start: u64,
    /// The bundle directory, absolute.
    pub bundle: PathBuf,
    /// The rootfs, absolute.
    pub rootfs: PathBuf,
    /// When it was created, RFC 3339.
    pub created: String,
    /// The status last recorded (`stopped` is never recorded but derived).
    pub status: Status,
    /// The bundle's annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup directories made for it, one per hierarchy.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The uid that created it.
    pub owner: u32,
    /// The overlay root's store on disk, which delete removes.
    #[serde(default)]
    pub overlay_dir: Option<PathBuf>,
}

impl State {
    /// The status now: the recorded one while the sandbox process lives,
    /// else stopped.
    pub fn current_status(&self) -> Status {
        if process_alive(self.pid, self.pid_start) {
            self.status
        } else {
            Status::Stopped
        }
    }

    /// The OCI state JSON (`husk state`).
    pub fn oci_json(&self) -> serde_json::Value {
        let status = self.current_status();
        let mut v = serde_json::json!({
            "ociVersion": oci_spec::runtime::VERSION,
            "id": self.id,
            "status": status.to_string(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }
}

/// Whether host process `pid` is alive (not a zombie) and started at
/// `start` (0: any start time).
pub fn process_alive(pid: i32, start: u64) -> bool {
    match proc_stat(pid) {
        Some(st) => st.state != 'Z' && st.state != 'X' && (start == 0 || st.start == start),
        None => false,
    }
}

/// What Husk reads of `/proc/PID/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter (field 3).
    pub state: char,
    /// The parent's pid (field 4).
    pub ppid: i32,
    /// The start time in clock ticks since boot (field 22).
    pub start: u64,
}

/// `/proc/PID/stat` of host process `pid`.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its last `)`.
pub fn parse_stat(stat: &str) -> Option<ProcStat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 is fields[0].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Checks a container id as runc does: letters, digits, `_`, `+`, `-`, `.`,
/// and not `.` or `..`.
pub fn validate_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        bail!("invalid container id format {id:?}")
    }
}

/// A container's directory, locked for as long as this lives.
pub struct ContainerDir {
    path: PathBuf,
    lock: Flock<File>,
}

impl ContainerDir {
    /// Makes the directory of a new container `id` under `root` and locks it.
    pub fn create(root: &Path, id: &str) -> anyhow::Result<ContainerDir> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_context(|| format!("creating the state directory {}", root.display()))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container with id exists: {id}"),
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        let lock = lock_dir(&path)?;
        Ok(ContainerDir { path, lock })
    }

    /// Opens and locks the directory of existing container `id`.
    pub fn open(root: &Path, id: &str) -> anyhow::Result<ContainerDir> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match lock_dir(&path) {
            Ok(l) => l,
            Err(_) if !path.exists() => bail!("container does not exist: {id}"),
            Err(e) => return Err(e),
        };
        // It may have been deleted while we waited for the lock.
        if !path.join(STATE_FILE).exists() {
            bail!("container does not exist: {id}");
        }
        Ok(ContainerDir { path, lock })
    }

    /// An fd of the directory (for paths too long for a socket address).
    pub fn dir_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }

    /// Reads `state.json`.
    pub fn load(&self) -> anyhow::Result<State> {
        let p = self.path.join(STATE_FILE);
        let data = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&data).with_context(|| format!("parsing {}", p.display()))
    }

    /// Replaces `state.json` atomically.
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        let data = serde_json::to_vec(state)?;
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> anyhow::Result<()> {
        fs::remove_dir_all(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }
}

const STATE_FILE: &str = "state.json";

fn lock_dir(path: &Path) -> anyhow::Result<Flock<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| anyhow!("locking {}: {e}", path.display()))
}

/// Writes `data` to `path` through a temporary file and a rename, so
/// readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(stat), Some(ProcStat { state: 'S', ppid: 1, start: 123456 }));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn ids_are_checked_like_runc() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_bogus_start_time_is_not() {
        let me = std::process::id() as i32;
        let start = proc_stat(me).unwrap().start;
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
        assert!(!process_alive(-1, 0));
    }

    #[test]
    fn container_dirs_lock_save_load_and_remove() {
        let root = tempfile::tempdir().unwrap();
        let d = ContainerDir::create(root.path(), "c1").unwrap();
        assert!(ContainerDir::create(root.path(), "c1").is_err());
        let st = State {
            id: "c1".into(),
            pid: 1,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            status: Status::Created,
            annotations: BTreeMap::new(),
            cgroups: Vec::new(),
            owner: 0,
            overlay_dir: None,
        };
        d.save(&st).unwrap();
        assert_eq!(d.load().unwrap().status, Status::Created);
        d.remove().unwrap();
        assert!(ContainerDir::open(root.path(), "c1").is_err());
    }
}
