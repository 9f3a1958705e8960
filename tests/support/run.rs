//! Running a case natively and under Husk, and comparing the two.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::rootfs::Rootfs;
use crate::{paths, procs, NATIVE};

/// How long one run may take before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a run's stdout/stderr may stay open after it exited.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Husk's own log lines (`husk: LEVEL: message`, from env_logger) share
/// the app's stderr. [`run_husk`] moves them out of `stderr` into
/// `husk_log`, so that stderr compares equal to the native run's.
pub const HUSK_LOG_PREFIXES: &[&str] =
    &["husk: error: ", "husk: warn: ", "husk: info: ", "husk: debug: ", "husk: trace: "];

/// What a run produced. `status` is the exit status, or 128+N when the
/// process was killed by signal N, as a shell reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Husk's log lines taken out of stderr (see [`HUSK_LOG_PREFIXES`]);
    /// empty for native runs.
    pub husk_log: Vec<u8>,
}

impl Outcome {
    /// stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A readable dump of the outcome, each stream cut at 8 KiB.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "exit status {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status,
            excerpt(&self.stdout),
            excerpt(&self.stderr)
        );
        if !self.husk_log.is_empty() {
            let _ = write!(s, "--- husk log (from stderr) ---\n{}", excerpt(&self.husk_log));
        }
        s.push_str("--- end ---");
        s
    }

    /// Moves Husk's log lines from `stderr` to `husk_log`.
    pub fn split_husk_log(mut self) -> Self {
        let (mut app, mut log) = (Vec::new(), Vec::new());
        for line in self.stderr.split_inclusive(|&b| b == b'\n') {
            if HUSK_LOG_PREFIXES.iter().any(|p| line.starts_with(p.as_bytes())) {
                log.extend_from_slice(line);
            } else {
                app.extend_from_slice(line);
            }
        }
        self.stderr = app;
        self.husk_log.extend(log);
        self
    }
}

fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 8192;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        let _ = write!(s, "\n[... {} more bytes]", bytes.len() - MAX);
    }
    if !s.is_empty() && !s.ends_with('\n') {
        s.push_str("\n[no newline at end]\n");
    }
    s
}

type Check = Box<dyn Fn(&Outcome) + Send + Sync>;

/// One program run: what to run in which root, and what to expect.
///
/// ```no_run
/// use husk_suite::{differential, Case, Rootfs, NATIVE};
///
/// let rootfs = Rootfs::new();
/// rootfs.busybox(&[]);
/// let case = Case::new(&rootfs, "/bin/busybox")
///     .args(["echo", "hi"])
///     .expect_stdout("hi\n");
/// differential(NATIVE, &case);
/// ```
pub struct Case {
    root: PathBuf,
    prog: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    stdin: Option<Vec<u8>>,
    compare_stderr: bool,
    expect_status: Option<i32>,
    expect_stdout: Option<Vec<u8>>,
    checks: Vec<Check>,
    husk_flags: Vec<String>,
    timeout: Duration,
    scratch_mounts: bool,
    host_user: Option<u32>,
}

impl Case {
    /// Runs `prog`, an absolute path inside `rootfs`, with no arguments,
    /// an empty environment, stdin from /dev/null, cwd `/`. By default
    /// exit status 0 is expected and stderr is not compared.
    pub fn new(rootfs: &Rootfs, prog: impl Into<String>) -> Self {
        Self::in_root(rootfs.path(), prog)
    }

    /// Like [`Case::new`], in an existing root directory (such as the
    /// cached Debian root of [`crate::debian::debian_rootfs`]) rather than
    /// a [`Rootfs`] built for the test. A shared root must not be written
    /// to: see [`Case::scratch_mounts`].
    pub fn in_root(root: impl Into<PathBuf>, prog: impl Into<String>) -> Self {
        Case {
            root: root.into(),
            prog: prog.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            stdin: None,
            compare_stderr: false,
            expect_status: Some(0),
            expect_stdout: None,
            checks: Vec::new(),
            husk_flags: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            scratch_mounts: false,
            host_user: None,
        }
    }

    /// Appends arguments (argv[1...]).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable. The program's environment holds
    /// exactly these, sorted by name on both sides.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Feeds `data` to the program's stdin (else stdin is /dev/null).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Compares stderr too in [`differential`].
    pub fn compare_stderr(mut self) -> Self {
        self.compare_stderr = true;
        self
    }

    /// Expects this exit status (128+N for death by signal N); the
    /// default is 0.
    pub fn expect_status(mut self, status: i32) -> Self {
        self.expect_status = Some(status);
        self
    }

    /// Expects exactly this stdout.
    pub fn expect_stdout(mut self, stdout: impl Into<Vec<u8>>) -> Self {
        self.expect_stdout = Some(stdout.into());
        self
    }

    /// Adds an assertion on the outcome, run on each side.
    pub fn check(mut self, f: impl Fn(&Outcome) + Send + Sync + 'static) -> Self {
        self.checks.push(Box::new(f));
        self
    }

    /// Expects no stdout line to contain "bad" (the test programs print
    /// "label: bad" for a failed self-check).
    pub fn expect_no_bad_checks(self) -> Self {
        self.check(|out| {
            let text = out.stdout_str();
            let bad: Vec<_> = text.lines().filter(|l| l.ends_with(": bad")).collect();
            assert!(bad.is_empty(), "failed self-checks:\n{}", bad.join("\n"));
        })
    }

    /// Expects each of `lines` to be a whole line of stdout.
    pub fn expect_lines(self, lines: &[&str]) -> Self {
        let lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        self.check(move |out| {
            let text = out.stdout_str();
            let missing: Vec<_> = lines.iter().filter(|l| !text.lines().any(|t| t == l.as_str())).collect();
            assert!(missing.is_empty(), "stdout lacks the lines {missing:?}");
        })
    }

    /// Passes extra flags to `husk run` (before `--`).
    pub fn husk_flags<I, S>(mut self, flags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.husk_flags.extend(flags.into_iter().map(Into::into));
        self
    }

    /// Replaces [`DEFAULT_TIMEOUT`].
    /// Runs `husk run` as host user `uid` (not root): the rootless mode.
    pub fn as_host_user(mut self, uid: u32) -> Self {
        self.host_user = Some(uid);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the native side with the mounts a Husk sandbox has, and a
    /// root that keeps no writes: see [`NATIVE_SCRATCH_SCRIPT`]. For
    /// programs that use /tmp, /dev or /dev/shm, and for every case in a
    /// shared root (the cached Debian root): natively the program runs as
    /// root in a chroot, and would otherwise write into it.
    pub fn scratch_mounts(mut self) -> Self {
        self.scratch_mounts = true;
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.prog.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }

    /// Asserts the case's expectations on `out`; `side` names the run.
    pub fn verify(&self, side: &str, out: &Outcome) {
        let context = || format!("{side} run of `{}`:\n{}", self.command_line(), out.describe());
        if let Some(status) = self.expect_status {
            assert_eq!(out.status, status, "unexpected exit status; {}", context());
        }
        if let Some(stdout) = &self.expect_stdout {
            if &out.stdout != stdout {
                panic!("unexpected stdout; expected:\n{}\n{}", excerpt(stdout), context());
            }
        }
        for check in &self.checks {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(out)));
            if let Err(e) = result {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("check failed: {msg}\n{}", context());
            }
        }
    }
}

/// What [`Case::scratch_mounts`] runs natively, as `sh -c SCRIPT sh ROOT
/// SCRATCH COMMAND...` inside `unshare --mount --propagation private`:
/// in that private mount namespace it
///
/// - mounts a tmpfs at SCRATCH (an empty host directory) and, on it, an
///   overlay at SCRATCH/root whose lower layer is ROOT: the program sees
///   ROOT, but its writes land in the tmpfs;
/// - mounts a tmpfs at /tmp (mode 1777) and one at /dev holding null,
///   zero, full, random and urandom (the host's devices, bind-mounted),
///   a /dev/shm directory (mode 1777), and /dev/pts with a /dev/ptmx
///   link into it, as Husk does in the sandbox;
/// - mounts procfs at /proc and sysfs (read-only) at /sys, which the
///   sandbox always has ([`NATIVE_SYSTEM_MOUNTS`]);
/// - execs COMMAND, which is `env -i K=V... chroot SCRATCH/root PROG
///   ARGS...` (sh adds PWD to its environment; `env -i` leaves the
///   program exactly the case's).
///
/// It runs in a network namespace of its own too, as a sandbox does, with
/// only its loopback, brought up: that is where Linux keeps abstract Unix
/// socket names and ports, so parallel native runs never see each other's.
///
/// The mounts exist only in the namespace, which ends with the program:
/// nothing is ever left mounted on the host, even when the run is killed,
/// and ROOT is never written to. A setup failure exits 125 with a `native
/// setup:` message.
pub const NATIVE_SCRATCH_SCRIPT: &str = r#"
root=$1 scratch=$2
shift 2
fail() { echo "native setup: $*" >&2; exit 125; }
mount -t tmpfs -o mode=0755 husk-native "$scratch" || fail "tmpfs at $scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root" || fail "mkdir in $scratch"
mount -t overlay husk-native -o "lowerdir=$root,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root" ||
    fail "overlay of $root"
new=$scratch/root
mkdir -p "$new/tmp" "$new/dev" || fail "mkdir /tmp /dev"
mount -t tmpfs -o mode=1777 husk-native "$new/tmp" || fail "tmpfs at /tmp"
mount -t tmpfs -o mode=0755 husk-native "$new/dev" || fail "tmpfs at /dev"
for dev in null zero full random urandom; do
    : >"$new/dev/$dev" && mount --bind "/dev/$dev" "$new/dev/$dev" || fail "/dev/$dev"
done
mkdir -m 1777 "$new/dev/shm" || fail "/dev/shm"
mkdir "$new/dev/pts" && ln -s pts/ptmx "$new/dev/ptmx" || fail "/dev/pts"
system_mounts "$new"
exec "$@"
"#;

/// The part of the native scripts that mounts procfs at ROOT/proc and a
/// read-only sysfs at ROOT/sys (making the directories if the root lacks
/// them), as the sandbox always has its own there, and a new devpts
/// instance at ROOT/dev/pts where the root has that directory. Defines the shell
/// function `system_mounts ROOT`; the caller defines `fail`.
pub const NATIVE_SYSTEM_MOUNTS: &str = r#"
system_mounts() {
    mkdir -p "$1/proc" "$1/sys" || fail "mkdir /proc /sys"
    mount -t proc husk-native "$1/proc" || fail "procfs at /proc"
    mount -t sysfs -o ro husk-native "$1/sys" || fail "sysfs at /sys"
    # Pseudo-terminals of the run's own (the root's /dev/ptmx should be a
    # link to pts/ptmx), as the sandbox has.
    if [ -d "$1/dev/pts" ]; then
        mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 husk-native "$1/dev/pts" || fail "devpts"
    fi
    # The new network namespace's loopback starts down; a sandbox's is up.
    ip link set lo up || fail "loopback up (iproute2's ip)"
}
"#;

/// What a plain native run (no [`Case::scratch_mounts`]) runs, as `sh -c
/// SCRIPT sh ROOT COMMAND...` inside `unshare --mount --propagation
/// private`: procfs and sysfs on ROOT ([`NATIVE_SYSTEM_MOUNTS`]), then
/// COMMAND (`env -i K=V... chroot ROOT PROG ARGS...`).
pub const NATIVE_CHROOT_SCRIPT: &str = r#"
root=$1
shift
fail() { echo "native setup: $*" >&2; exit 125; }
system_mounts "$root"
exec "$@"
"#;

/// Runs `case` natively: `chroot ROOT PROG ARGS` with only the case's
/// environment (chroot starts the program in `/`) and procfs and sysfs
/// mounted as in the sandbox, through [`NATIVE_CHROOT_SCRIPT`]; with
/// [`Case::scratch_mounts`], through [`NATIVE_SCRATCH_SCRIPT`].
pub fn run_native(case: &Case) -> Outcome {
    // The scratch mount point; the mounts on it vanish with the run's
    // mount namespace, and the empty directory when this is dropped.
    let mut scratch = None;
    let cmd = if case.scratch_mounts {
        let root = case.root.to_str().expect("the root is a UTF-8 path");
        assert!(!root.contains([',', ':']), "overlayfs cannot take a lower directory with ',' or ':': {root}");
        let parent = paths::work_dir().join("tmp");
        fs::create_dir_all(&parent).expect("create target/husk-test/tmp");
        let dir = tempfile::Builder::new()
            .prefix("native-scratch-")
            .tempdir_in(&parent)
            .expect("create the scratch mount point");
        let mut cmd = Command::new(paths::unshare_bin());
        let script = format!("{NATIVE_SYSTEM_MOUNTS}{NATIVE_SCRATCH_SCRIPT}");
        cmd.args(["--mount", "--net", "--propagation", "private", "--", "/bin/sh", "-c", &script, "sh"])
            .arg(&case.root)
            .arg(dir.path())
            .arg(paths::env_bin())
            .arg("-i")
            .args(case.env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(paths::chroot_bin())
            .arg(dir.path().join("root"))
            .arg(&case.prog)
            .args(&case.args)
            .env_clear()
            .current_dir("/");
        scratch = Some(dir);
        cmd
    } else {
        let mut cmd = Command::new(paths::unshare_bin());
        let script = format!("{NATIVE_SYSTEM_MOUNTS}{NATIVE_CHROOT_SCRIPT}");
        cmd.args(["--mount", "--net", "--propagation", "private", "--", "/bin/sh", "-c", &script, "sh"])
            .arg(&case.root)
            .arg(paths::env_bin())
            .arg("-i")
            .args(case.env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(paths::chroot_bin())
            .arg(&case.root)
            .arg(&case.prog)
            .args(&case.args)
            .env_clear()
            .current_dir("/");
        cmd
    };
    let out = run_command(cmd, case.stdin.as_deref(), case.timeout, "native");
    drop(scratch);
    // chroot(8) itself failed, rather than the program.
    assert!(
        !(out.status == 125 && out.stderr_str().starts_with("chroot:")),
        "native runs use chroot(8), which needs root:\n{}",
        out.describe()
    );
    let setup_failed = (out.status == 125 && out.stderr_str().starts_with("native setup:"))
        || out.stderr_str().starts_with("unshare:");
    assert!(
        !setup_failed,
        "setting up the native run's mounts failed (this needs root, and overlayfs and tmpfs):\n{}",
        out.describe()
    );
    out
}

/// The `husk run` command for `case` on `platform`, not yet started.
pub fn husk_command(platform: &str, case: &Case) -> Command {
    husk_command_with(platform, case, &[])
}

/// The host user a case's `husk run` runs as: [`Case::as_host_user`], or
/// `HUSK_TEST_AS_USER` for a whole run (rootless mode: `HUSK_TEST_AS_USER=65534
/// cargo test --test progs_diff`).
fn host_user(case: &Case) -> Option<u32> {
    case.host_user.or_else(|| std::env::var("HUSK_TEST_AS_USER").ok()?.parse().ok())
}

/// [`husk_command`] with `extra` flags for `husk run` before the case's.
fn husk_command_with(platform: &str, case: &Case, extra: &[String]) -> Command {
    // `--network host` uses the network namespace husk runs in: a fresh
    // one with its loopback up, as the native runs have, never the
    // machine's.
    let host_network = case.husk_flags.windows(2).any(|w| w[0] == "--network" && w[1] == "host");
    let mut cmd = match host_user(case) {
        _ if host_network => {
            let mut c = Command::new("unshare");
            c.args(["--net", "--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""]).arg(paths::husk_bin());
            c
        }
        // Rootless: started by that user, with no capability.
        Some(uid) => {
            let mut c = Command::new("setpriv");
            let id = uid.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--inh-caps=-all", "--"]).arg(paths::husk_bin());
            c
        }
        None => Command::new(paths::husk_bin()),
    };
    cmd.arg("run").arg("--rootfs").arg(&case.root).arg("--platform").arg(platform).args(extra).args(&case.husk_flags);
    for (key, value) in &case.env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    cmd.arg("--").arg(&case.prog).args(&case.args);
    cmd
}

/// Runs `case` under `husk run` on `platform`; Husk's log lines are
/// split from the app's stderr ([`Outcome::split_husk_log`]). The app has
/// `husk run`'s default capabilities (Docker's).
pub fn run_husk(platform: &str, case: &Case) -> Outcome {
    run_husk_with(platform, case, &[])
}

fn run_husk_with(platform: &str, case: &Case, extra: &[String]) -> Outcome {
    assert_ne!(platform, NATIVE, "run_husk needs a Husk platform");
    run_command(
        husk_command_with(platform, case, extra),
        case.stdin.as_deref(),
        case.timeout,
        &format!("husk --platform {platform}"),
    )
    .split_husk_log()
}

/// `husk run` flags that give the app the capabilities a native run's
/// program has. Natively it runs as root, so execve gives it this test
/// process's bounding set (every capability but those the host's
/// container runtime withheld) as its permitted and effective sets.
pub fn native_cap_flags() -> Vec<String> {
    static FLAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FLAGS
        .get_or_init(|| {
            let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
            let bounding = status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .expect("a CapBnd line in /proc/self/status");
            let mut flags = vec!["--cap-add".to_owned(), "ALL".to_owned()];
            for (cap, name) in abi::flags::capability::NAMES.iter().enumerate() {
                if bounding & (1 << cap) == 0 {
                    flags.extend(["--cap-drop".to_owned(), (*name).to_owned()]);
                }
            }
            flags
        })
        .clone()
}

/// Runs `case` natively and checks its expectations there (so a wrong
/// case is reported as such); unless `platform` is [`NATIVE`], then runs
/// it under Husk, with the capabilities the native run has
/// ([`native_cap_flags`]), and asserts the same exit status and stdout
/// (and stderr if asked), printing both sides on a mismatch.
pub fn differential(platform: &str, case: &Case) {
    let native = run_native(case);
    case.verify("native (the test case itself is wrong, not Husk)", &native);
    if platform == NATIVE {
        return;
    }
    // The native run has a network namespace of its own with only a
    // loopback: so does the sandbox, unless the case asks for a network.
    let mut flags = native_cap_flags();
    if !case.husk_flags.iter().any(|f| f == "--network") {
        flags.extend(["--network".to_owned(), "none".to_owned()]);
    }
    let husk = run_husk_with(platform, case, &flags);
    let mut diffs = Vec::new();
    if native.status != husk.status {
        diffs.push(format!("exit status: native {}, husk {}", native.status, husk.status));
    }
    if native.stdout != husk.stdout {
        diffs.push(format!("stdout differs: {}", first_difference(&native.stdout, &husk.stdout)));
    }
    if case.compare_stderr && native.stderr != husk.stderr {
        diffs.push(format!("stderr differs: {}", first_difference(&native.stderr, &husk.stderr)));
    }
    if !diffs.is_empty() {
        panic!(
            "`{}` behaves differently under husk --platform {platform}:\n  {}\n\
             (rootfs {}; set HUSK_TEST_KEEP=1 to keep it)\n\
             ===== native =====\n{}\n===== husk =====\n{}",
            case.command_line(),
            diffs.join("\n  "),
            case.root.display(),
            native.describe(),
            husk.describe()
        );
    }
    case.verify(&format!("husk --platform {platform}"), &husk);
}

/// Where two outputs first differ, line by line.
fn first_difference(native: &[u8], husk: &[u8]) -> String {
    let a = String::from_utf8_lossy(native);
    let b = String::from_utf8_lossy(husk);
    let (mut la, mut lb) = (a.split_inclusive('\n'), b.split_inclusive('\n'));
    for line in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!("line {line}: native {:?}, husk {:?}", x.unwrap_or("<end>"), y.unwrap_or("<end>"))
            }
        }
    }
    unreachable!()
}

/// Exit status as a shell reports it: the code, or 128+N for signal N.
pub fn shell_status(status: ExitStatus) -> i32 {
    status.code().or_else(|| status.signal().map(|sig| 128 + sig)).expect("a finished process has a code or a signal")
}

/// Runs `cmd` in its own process group with piped stdout/stderr and the
/// given stdin, and waits at most `timeout`. On timeout, or when the
/// process exits but something it started keeps its output pipes open,
/// kills its process group and descendants and panics.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration, label: &str) -> Outcome {
    let what = format!("{label}: {cmd:?}");
    cmd.process_group(0)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    let pid = i32::try_from(child.id()).expect("pid fits i32");

    if let (Some(data), Some(mut pipe)) = (stdin.map(<[u8]>::to_vec), child.stdin.take()) {
        // A program that does not read all of its input closes the pipe:
        // ignore EPIPE.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let snapshot =
        |status: i32| Outcome { status, stdout: stdout.bytes(), stderr: stderr.bytes(), husk_log: Vec::new() };

    let deadline = start + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() >= deadline {
            procs::kill_tree(pid);
            let _ = child.wait();
            panic!(
                "{what} did not finish within {timeout:?} and was killed; output so far:\n{}",
                snapshot(-1).describe()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    let status = shell_status(status);

    // The pipes close when every process holding them is gone, which
    // takes milliseconds unless something was left running.
    let drain_deadline = Instant::now() + DRAIN_GRACE;
    while !(stdout.is_done() && stderr.is_done()) {
        if Instant::now() >= drain_deadline {
            let left = procs::descendants(pid);
            procs::kill_tree(pid);
            panic!(
                "{what} exited with status {status}, but its stdout/stderr stayed open: \
                 processes left behind? (in its group or below it: {left:?})\n{}",
                snapshot(status).describe()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    snapshot(status)
}

/// A pipe read to its end on a helper thread.
struct Collected {
    buf: Arc<Mutex<Vec<u8>>>,
    done: Arc<Mutex<bool>>,
}

impl Collected {
    fn bytes(&self) -> Vec<u8> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_done(&self) -> bool {
        *self.done.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Mutex::new(false));
    let (b, d) = (Arc::clone(&buf), Arc::clone(&done));
    thread::spawn(move || {
        let mut chunk = [0u8; 65536];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => b.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        *d.lock().unwrap_or_else(|e| e.into_inner()) = true;
    });
    Collected { buf, done }
}

/// A root with `/progs/<name>` (built as `link` says) and the directories
/// Husk mounts over (`/tmp`, `/dev`): the usual home of a self-checking
/// program from `tests/progs/`. Returns the root and the program's path.
pub fn prog_rootfs(name: &str, link: crate::Link) -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    let prog = rootfs.prog(name, link);
    rootfs.dir_mode("/tmp", 0o1777).dir("/dev");
    (rootfs, prog)
}

/// Fails on any line with ": bad" in it: a self-checking program's failed
/// checks (see `tests/progs/common.h`).
pub fn no_bad_results(out: &Outcome) {
    let text = out.stdout_str();
    let bad: Vec<_> = text.lines().filter(|l| l.contains(": bad")).collect();
    assert!(bad.is_empty(), "failed self-checks:\n{}", bad.join("\n"));
}

/// A case running the self-checking program `prog`: within `timeout`, and
/// failing on any of its failed checks.
pub fn self_checking_case(rootfs: &Rootfs, prog: &str, timeout: Duration) -> Case {
    Case::new(rootfs, prog).timeout(timeout).check(no_bad_results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    fn no_process_named(cmdline: &str) -> bool {
        // Killed processes may take a moment to be reaped.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if !procs::all().iter().any(|p| p.cmdline == cmdline && !p.is_zombie()) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn run_command_reports_status_output_and_signals() {
        let out = run_command(sh("echo out; echo err >&2; exit 3"), None, DEFAULT_TIMEOUT, "t");
        assert_eq!(
            out,
            Outcome { status: 3, stdout: b"out\n".to_vec(), stderr: b"err\n".to_vec(), husk_log: Vec::new() }
        );
        let out = run_command(sh("kill -SEGV $$"), None, DEFAULT_TIMEOUT, "t");
        assert_eq!(out.status, 139);
        let out = run_command(Command::new("cat"), Some(b"piped"), DEFAULT_TIMEOUT, "t");
        assert_eq!(out.stdout, b"piped");
    }

    #[test]
    fn split_husk_log_keeps_app_lines() {
        let out = Outcome {
            stderr: b"app 1\nhusk: warn: unimplemented syscall\nhusk: not a log line\napp 2".to_vec(),
            ..Outcome::default()
        }
        .split_husk_log();
        assert_eq!(out.stderr, b"app 1\nhusk: not a log line\napp 2");
        assert_eq!(out.husk_log, b"husk: warn: unimplemented syscall\n");
    }

    #[test]
    fn run_command_kills_on_timeout() {
        let result =
            std::panic::catch_unwind(|| run_command(sh("sleep 31; true"), None, Duration::from_millis(300), "t"));
        let msg = *result.expect_err("timed out").downcast::<String>().unwrap();
        assert!(msg.contains("did not finish"), "{msg}");
        assert!(no_process_named("sleep 31"), "the timed-out tree is still running");
    }

    #[test]
    fn run_command_fails_when_output_stays_open() {
        let result = std::panic::catch_unwind(|| run_command(sh("sleep 32 & exit 0"), None, DEFAULT_TIMEOUT, "t"));
        let msg = *result.expect_err("left behind").downcast::<String>().unwrap();
        assert!(msg.contains("stayed open"), "{msg}");
        assert!(no_process_named("sleep 32"), "the process left behind is still running");
    }
}
