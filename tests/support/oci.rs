//! OCI runtimes under test and the private containerd they run under.
//!
//! - [`Runtime`]: runc (the reference: its behaviour is the spec) and
//!   husk, each an OCI runtime binary with runc's command line.
//! - [`containerd`]: the containerd of `tests/containerd/containerd.sh`,
//!   started if it is not running, with the offline busybox image imported.
//! - [`leftovers`]: what a container left on the host after its deletion
//!   (processes, mounts, state and bundle directories, cgroups).
//! - [`runtime_test!`]: one `#[test]` per runtime, `<name>_runc` and
//!   `<name>_husk`, skipped when listed in `tests/blocklist.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::paths;
use crate::procs;

/// An OCI runtime with runc's command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Runc,
    Husk,
}

impl Runtime {
    /// `runc` or `husk`, as in test names.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Husk => "husk",
        }
    }

    /// The runtime's binary: Debian's runc, or [`paths::husk_bin`].
    pub fn bin(self) -> PathBuf {
        match self {
            Runtime::Runc => ["/usr/sbin/runc", "/usr/bin/runc", "/sbin/runc"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .expect("runc is not installed (apt-get install runc; .ci/run does)"),
            Runtime::Husk => paths::husk_bin(),
        }
    }
}

/// A container id unique in this machine's test runs:
/// `husk-t-<case>-<runtime>-<test pid>-<n>`.
pub fn unique_id(case: &str, runtime: Runtime) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("husk-t-{case}-{}-{}-{}", runtime.name(), std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The private containerd (see `tests/containerd/containerd.sh`).
#[derive(Debug)]
pub struct Containerd {
    /// Its gRPC socket.
    pub address: String,
    /// The containerd namespace the tests use.
    pub namespace: String,
    /// The busybox image's name.
    pub image: String,
    /// `overlayfs`, or `native` where overlay cannot be mounted.
    pub snapshotter: String,
}

/// `tests/containerd/containerd.sh`.
pub fn containerd_script() -> PathBuf {
    paths::manifest_dir().join("tests").join("containerd").join("containerd.sh")
}

fn script(arg: &str) -> String {
    let out = Command::new("bash")
        .arg(containerd_script())
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("running containerd.sh {arg}: {e}"));
    assert!(
        out.status.success(),
        "containerd.sh {arg} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("containerd.sh prints text")
}

/// The private containerd, started (once per test process) if it is not
/// running, with the busybox image imported.
pub fn containerd() -> &'static Containerd {
    static CTD: OnceLock<Containerd> = OnceLock::new();
    CTD.get_or_init(|| {
        let env = script("env");
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("containerd.sh env printed no {key}:\n{env}"))
                .to_owned()
        };
        let image = script("image").trim().to_owned();
        Containerd { address: get("ADDRESS"), namespace: get("NAMESPACE"), image, snapshotter: get("SNAPSHOTTER") }
    })
}

impl Containerd {
    /// `ctr --address SOCK --namespace NS`, to which the caller adds a command.
    pub fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.address).arg("--namespace").arg(&self.namespace);
        cmd
    }

    /// The bundle directory the runc.v2 shim makes for container `id`
    /// (`<state>/io.containerd.runtime.v2.task/<ns>/<id>`).
    pub fn bundle(&self, id: &str) -> PathBuf {
        let state = Path::new(&self.address).parent().expect("the socket is in the state directory");
        state.join("io.containerd.runtime.v2.task").join(&self.namespace).join(id)
    }

    /// The `--root` the runc.v2 shim passes to the runtime:
    /// `/run/containerd/runc/<namespace>`, whatever containerd's own state is.
    pub fn runtime_root(&self) -> PathBuf {
        Path::new("/run/containerd/runc").join(&self.namespace)
    }

    /// The cgroup path ctr gives a container: `/<namespace>/<id>`.
    pub fn cgroup(&self, id: &str) -> String {
        format!("{}/{id}", self.namespace)
    }
}

/// Whether a command line mentions container `id`: an argument equal to
/// it, or a path with it as a component.
fn mentions(cmdline: &str, id: &str) -> bool {
    cmdline.split(' ').any(|arg| arg == id || arg.ends_with(&format!("/{id}")) || arg.contains(&format!("/{id}/")))
}

/// What container `id` left behind, after its deletion: live processes
/// whose command line names it or that are in its cgroup, mounts under `bundle`, `state_root/<id>`,
/// the `bundle` directory itself when `bundle_must_go`, and cgroup
/// directories `/sys/fs/cgroup/*/<cgroup>` (`cgroup` relative, e.g.
/// `ns/id`). Empty when the host is clean.
pub fn leftovers_now(id: &str, bundle: &Path, bundle_must_go: bool, state_root: &Path, cgroup: &str) -> Vec<String> {
    let mut left = Vec::new();
    let me = i32::try_from(std::process::id()).expect("pid fits i32");
    let in_cgroup = |pid: i32| {
        // "HIERARCHY:CONTROLLERS:PATH" lines: the container's own processes
        // (whose command lines need not name it) sit in its cgroup.
        fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.rsplit(':').next().is_some_and(|path| path.trim_start_matches('/') == cgroup))
    };
    for p in procs::all() {
        if p.pid != me && !p.is_zombie() && (mentions(&p.cmdline, id) || in_cgroup(p.pid)) {
            left.push(format!("process {} ({})", p.pid, p.cmdline));
        }
    }
    let bundle_s = bundle.to_string_lossy().into_owned();
    for line in fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the mount point is field 5.
        if let Some(point) = line.split(' ').nth(4) {
            if point == bundle_s || point.starts_with(&format!("{bundle_s}/")) {
                left.push(format!("mount {point}"));
            }
        }
    }
    let state = state_root.join(id);
    if state.exists() {
        left.push(format!("state directory {}", state.display()));
    }
    if bundle_must_go && bundle.exists() {
        left.push(format!("bundle directory {}", bundle.display()));
    }
    if let Ok(controllers) = fs::read_dir("/sys/fs/cgroup") {
        for c in controllers.flatten() {
            let dir = c.path().join(cgroup);
            if dir.is_dir() {
                left.push(format!("cgroup {}", dir.display()));
            }
        }
    }
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // cgroup v2 unified at the top.
        let dir = Path::new("/sys/fs/cgroup").join(cgroup);
        if dir.is_dir() && !left.iter().any(|l| l.ends_with(&dir.display().to_string())) {
            left.push(format!("cgroup {}", dir.display()));
        }
    }
    left
}

/// [`leftovers_now`], waiting up to 5 s for things on their way out
/// (a shim or sandbox process exits a moment after the command returns).
pub fn leftovers(id: &str, bundle: &Path, bundle_must_go: bool, state_root: &Path, cgroup: &str) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers_now(id, bundle, bundle_must_go, state_root, cgroup);
        if left.is_empty() || Instant::now() >= until {
            return left;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Defines one test per OCI runtime: `fn NAME(rt) { ... }` becomes
/// `NAME_runc` and `NAME_husk`, with `rt: Runtime` in scope; each skips
/// itself when listed in `tests/blocklist.txt`.
#[macro_export]
macro_rules! runtime_test {
    ($(#[$attr:meta])* fn $name:ident($rt:ident) $body:block) => {
        $crate::__paste::paste! {
            $(#[$attr])*
            #[test]
            fn [<$name _runc>]() {
                if $crate::blocklist::skip(concat!(stringify!($name), "_runc")) {
                    return;
                }
                let $rt = $crate::oci::Runtime::Runc;
                $body
            }
            $(#[$attr])*
            #[test]
            fn [<$name _husk>]() {
                if $crate::blocklist::skip(concat!(stringify!($name), "_husk")) {
                    return;
                }
                let $rt = $crate::oci::Runtime::Husk;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_whole_ids_only() {
        assert!(mentions("runc --root /r delete x-1", "x-1"));
        assert!(mentions("sh /run/b/x-1/rootfs", "x-1"));
        assert!(mentions("shim -id x-1 -address s", "x-1"));
        assert!(!mentions("runc delete x-10", "x-1"));
        assert!(!mentions("cat /b/x-10/log", "x-1"));
    }
}
