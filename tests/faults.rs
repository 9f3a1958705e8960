//! Faults (issue 11): each ends in a clean error for the app or a sandbox
//! that is gone, with nothing of it left on the host.
//!
//! - the Gofer killed mid-run: the app's next file access fails with EIO;
//! - `husk` itself killed with SIGKILL: no stub or Gofer survives it;
//! - the overlay's disk store full: ENOSPC for the app, the sandbox goes on;
//! - stdout closed early: the app gets SIGPIPE (EPIPE where it ignores it),
//!   as natively.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use husk_suite::run::{husk_command, run_command};
use husk_suite::{husk_test, paths, procs, Case, Rootfs};

fn busybox_root() -> Rootfs {
    let rootfs = Rootfs::new();
    rootfs.busybox(&["sh", "cat", "echo", "sleep", "dd", "yes", "read", "true"]);
    rootfs.file("/a", "first\nfrom the open fd\n").file("/b", "second\n");
    rootfs
}

/// Starts `case` under husk with its stdin and stdout piped.
fn spawn(platform: &str, case: &Case) -> (Child, BufReader<ChildStdout>) {
    let mut child = husk_command(platform, case)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start husk");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

fn line(out: &mut BufReader<ChildStdout>) -> String {
    let mut s = String::new();
    out.read_line(&mut s).expect("read a line");
    s
}

/// Waits up to 10 s for every pid in `pids` to be gone (or a zombie).
fn all_gone(pids: &[i32]) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let live: Vec<i32> =
            procs::all().iter().filter(|p| pids.contains(&p.pid) && !p.is_zombie()).map(|p| p.pid).collect();
        if live.is_empty() {
            return true;
        }
        if Instant::now() > until {
            eprintln!("still alive: {live:?}");
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

husk_test! {
    /// The Gofer killed while the app runs: a file the Sentry had not yet
    /// looked up fails with EIO, what it holds open keeps working, and
    /// husk ends with the app's status, leaving no process behind.
    fn fault_gofer_killed(platform) {
        let rootfs = busybox_root();
        let case = Case::new(&rootfs, "/bin/sh").args([
            "-c",
            "exec 3</a; read l <&3; echo $l; echo ready; read x; read l </b; echo \"read: $?\"; \
             read l <&3; echo $l; echo done",
        ]);
        let (mut child, mut out) = spawn(platform, &case);
        assert_eq!(line(&mut out), "first\n");
        assert_eq!(line(&mut out), "ready\n");
        let tree = procs::descendants(child.id() as i32);
        let gofer: Vec<i32> = tree.iter().filter(|p| p.cmdline.contains(" gofer ")).map(|p| p.pid).collect();
        assert_eq!(gofer.len(), 1, "one Gofer among {tree:?}");
        rustix::process::kill_process(rustix::process::Pid::from_raw(gofer[0]).expect("pid"), rustix::process::Signal::KILL)
            .expect("kill the Gofer");
        assert!(all_gone(&gofer));
        child.stdin.take().expect("stdin").write_all(b"\n").expect("go on");
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("the rest");
        let status = child.wait().expect("wait");
        let mut err = String::new();
        child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
        assert_eq!(rest, "read: 1\nfrom the open fd\ndone\n", "stderr: {err}");
        assert!(err.contains("can't open /b: Input/output error"), "the app saw EIO: {err}");
        assert_eq!(status.code(), Some(0), "{status:?}");
        assert!(all_gone(&tree.iter().map(|p| p.pid).collect::<Vec<_>>()), "processes left behind");
    }
}

husk_test! {
    /// husk killed with SIGKILL: its stubs and its Gofer die with it.
    fn fault_husk_killed(platform) {
        let rootfs = busybox_root();
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", "sleep 100 & sleep 100 & echo ready; wait"]);
        let (mut child, mut out) = spawn(platform, &case);
        assert_eq!(line(&mut out), "ready\n");
        // The app's two children have stubs of their own by now.
        thread::sleep(Duration::from_millis(200));
        let tree: Vec<i32> = procs::descendants(child.id() as i32).iter().map(|p| p.pid).collect();
        assert!(tree.len() >= 2, "a Gofer and stubs: {tree:?}");
        child.kill().expect("SIGKILL husk");
        let status = child.wait().expect("wait");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
        assert!(all_gone(&tree), "processes outlived husk");
    }
}

husk_test! {
    /// `--overlay disk:DIR` on a full disk (a 2 MiB tmpfs): the app's
    /// write fails with ENOSPC, and the sandbox goes on and ends cleanly.
    fn fault_overlay_disk_full(platform) {
        let rootfs = busybox_root();
        let store = rootfs.outside().join("small-disk");
        std::fs::create_dir_all(&store).expect("mkdir");
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; echo \"dd: $?\"; echo fine > /small; cat /small"])
            .husk_flags(["--overlay".to_string(), format!("disk:{}", store.display())]);
        let husk = husk_command(platform, &case);
        let mut cmd = Command::new(paths::unshare_bin());
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(format!("set -e; mount -t tmpfs -o size=2m husk-test {}; exec \"$@\"", store.display()))
            .arg("sh")
            .arg(husk.get_program())
            .args(husk.get_args());
        let out = run_command(cmd, None, Duration::from_secs(120), "husk on a full disk").split_husk_log();
        // The 2 MiB are full of the failed file's data, so the small write
        // may fail too; what must hold is the ENOSPC and a clean end.
        assert!(out.stdout_str().starts_with("dd: 1\n"), "{}", out.describe());
        assert_eq!(out.status, 0, "{}", out.describe());
    }
}

husk_test! {
    /// stdout closed after one line: `yes`, a child of the shell, dies of
    /// SIGPIPE (the shell's status 141, as natively), and nothing is left.
    /// (As pid 1 it would get EPIPE instead: a pid namespace's init
    /// ignores the kernel's SIGPIPE, in Husk as in Linux.)
    fn fault_stdout_closed(platform) {
        let rootfs = busybox_root();
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", "yes; exit $?"]);
        let (mut child, mut out) = spawn(platform, &case);
        assert_eq!(line(&mut out), "y\n");
        let tree: Vec<i32> = procs::descendants(child.id() as i32).iter().map(|p| p.pid).collect();
        drop(out);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(141), "{status:?}");
        assert!(all_gone(&tree), "processes left behind");
    }
}

husk_test! {
    /// `--pids N`: a fork bomb stops with EAGAIN at N tasks (the app's
    /// view of /sys/fs/cgroup/pids.max says N), the sandbox goes on, and
    /// its cgroup is gone afterwards; `--cpus` shows in cpu.max.
    fn limits_pids_and_cpus(platform) {
        let rootfs = busybox_root();
        let prog = rootfs.prog("forkbomb", husk_suite::Link::Static);
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", &format!("cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; {prog} 500")])
            .husk_flags(["--pids", "30", "--cpus", "1.5"])
            .expect_stdout(
                "30\n150000 100000\nfork stopped: EAGAIN\nchildren: some\nall reaped: yes\na fork afterwards: exited 7\n",
            );
        let out = husk_suite::run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        let husk_dirs: Vec<_> = cgroup_hierarchies().into_iter().map(|h| h.join("husk")).collect();
        assert_eq!(runs_left(&husk_dirs), 0, "a husk/run-* cgroup was left behind");
    }
}

/// Each cgroup hierarchy's root: the unified one on cgroup v2, else each
/// v1 controller's that Husk uses.
fn cgroup_hierarchies() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    ["memory", "pids", "cpu", "cpuacct", "freezer"]
        .iter()
        .map(|c| root.join(c))
        .filter(|h| h.join("cgroup.procs").exists())
        .collect()
}

/// How many `run-PID` cgroups under `dirs` outlived their supervisor
/// (`husk run` as PID): left behind. (Other tests' sandboxes may be running
/// at the same time, with cgroups of their own there.)
fn runs_left(dirs: &[std::path::PathBuf]) -> usize {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|d| d.flatten())
        .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("run-")?.parse::<u32>().ok())
        .filter(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .count()
}

/// A cgroup delegated to a user under every hierarchy, as an administrator
/// (or systemd's Delegate=) gives one: the directory and the files that
/// move processes are the user's. Removed when dropped.
struct DelegatedCgroup {
    name: String,
    dirs: Vec<std::path::PathBuf>,
}

impl DelegatedCgroup {
    fn new(uid: u32, tag: &str) -> DelegatedCgroup {
        let name = format!("husk-test-delegated-{tag}-{}", std::process::id());
        let dirs: Vec<_> = cgroup_hierarchies().into_iter().map(|h| h.join(&name)).collect();
        assert!(!dirs.is_empty(), "no cgroup hierarchy");
        for d in &dirs {
            std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            for f in ["", "cgroup.procs", "tasks", "cgroup.subtree_control", "cgroup.threads"] {
                let p = d.join(f);
                if p.exists() {
                    std::os::unix::fs::chown(&p, Some(uid), Some(uid)).expect("chown the delegated cgroup");
                }
            }
        }
        DelegatedCgroup { name, dirs }
    }
}

impl Drop for DelegatedCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir(e.path());
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}

husk_test! {
    /// Rootless limits (husk started by user 65534): with `--cgroup-parent`
    /// naming a cgroup delegated to that user, `--pids` stops a fork bomb
    /// and `--memory` ends a memory hog with exit 137, as for root, and the
    /// sandbox's cgroup goes afterwards; without it, a clear error.
    fn limits_rootless(platform) {
        const NOBODY: u32 = 65534;
        let rootfs = busybox_root();
        rootfs.dir_mode("/dev/shm", 0o1777);
        let prog = rootfs.prog("forkbomb", husk_suite::Link::Static);
        let cg = DelegatedCgroup::new(NOBODY, platform);
        let bomb = Case::new(&rootfs, "/bin/sh")
            .args(["-c", &format!("cat /sys/fs/cgroup/pids.max; {prog} 500")])
            .as_host_user(NOBODY)
            .husk_flags(["--cgroup-parent", cg.name.as_str(), "--pids", "30"])
            .expect_stdout("30\nfork stopped: EAGAIN\nchildren: some\nall reaped: yes\na fork afterwards: exited 7\n");
        let out = husk_suite::run_husk(platform, &bomb);
        bomb.verify(&format!("husk --platform {platform} (rootless)"), &out);
        let hog = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=512 2>/dev/null; echo survived"])
            .as_host_user(NOBODY)
            .husk_flags(["--cgroup-parent", cg.name.as_str(), "--memory", "64m"])
            .expect_status(137);
        let out = husk_suite::run_husk(platform, &hog);
        hog.verify(&format!("husk --platform {platform} (rootless)"), &out);
        assert!(out.stderr_str().contains("memory limit"), "{}", out.describe());
        assert_eq!(runs_left(&cg.dirs), 0, "a run-* cgroup was left behind");
        let refused = Case::new(&rootfs, "/bin/true").as_host_user(NOBODY).husk_flags(["--pids", "30"]).expect_status(125);
        let out = husk_suite::run_husk(platform, &refused);
        refused.verify(&format!("husk --platform {platform} (rootless, no parent)"), &out);
        assert!(out.stderr_str().contains("--cgroup-parent"), "{}", out.describe());
    }
}

husk_test! {
    /// `--memory 64m`: an app that fills its memory is killed with the
    /// whole sandbox; husk says why and exits 137. A run within the limit
    /// is unaffected.
    fn limits_memory(platform) {
        let rootfs = busybox_root();
        rootfs.dir_mode("/dev/shm", 0o1777);
        let hog = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=512 2>/dev/null; echo survived"])
            .husk_flags(["--memory", "64m"])
            .expect_status(137);
        let out = husk_suite::run_husk(platform, &hog);
        hog.verify(&format!("husk --platform {platform}"), &out);
        assert!(out.stderr_str().contains("memory limit"), "{}", out.describe());
        assert!(!out.stdout_str().contains("survived"), "{}", out.describe());
        let fine = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=8 2>/dev/null; echo fine"])
            .husk_flags(["--memory", "64m"])
            .expect_stdout("fine\n");
        let out = husk_suite::run_husk(platform, &fine);
        fine.verify(&format!("husk --platform {platform}"), &out);
    }
}
