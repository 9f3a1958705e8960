//! The OCI runtime command line driven directly, with no containerd in
//! between, as containerd's runc.v2 shim drives it (see
//! ../shared/containerd-contract.md): runc is the reference, and husk must
//! behave the same.
//!
//! Each case makes a bundle (a busybox rootfs from busybox-static and a
//! config.json written here) and a private `--root`, and removes its
//! container even when it fails. This process is a child subreaper, as the
//! shim is: the process named by the pid file outlives `create`, becomes
//! this process's child, and its exit status is read with waitpid, which
//! is how the shim learns the container's exit status.
//!
//! Not compared: cgroup contents (runc makes the cgroup at
//! `linux.cgroupsPath`; husk may or may not; both must remove it), the exact wording of error
//! messages (only that they name the missing program), and pids inside the
//! container other than 1.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Once;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use husk_suite::oci::{leftovers, unique_id, Runtime};
use husk_suite::run::{run_command, DEFAULT_TIMEOUT};
use husk_suite::{procs, runtime_test, Outcome, Rootfs};
use rustix::process::{Pid, WaitOptions};
use serde_json::{json, Value};

/// The prefix of the cgroup each bundle names in `linux.cgroupsPath`,
/// `/husk-oci-test-<id>`: one level, so that deleting the container removes
/// all of it, with no shared parent left for the tests to race over.
const CGROUP_PREFIX: &str = "husk-oci-test";

fn subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(procs::become_subreaper);
}

/// A bundle and a state root for one container.
struct Ctx {
    rt: Runtime,
    id: String,
    rootfs: Rootfs,
    state_root: tempfile::TempDir,
}

fn config(id: &str, args: &[&str]) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "GREETING=hello"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "oci-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "cgroupsPath": format!("/{CGROUP_PREFIX}-{id}")
        }
    })
}

impl Ctx {
    /// A bundle whose process runs `args`.
    fn new(rt: Runtime, case: &str, args: &[&str]) -> Self {
        subreaper();
        let id = unique_id(case, rt);
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "echo", "cat", "sleep", "pwd", "hostname", "id", "ls", "true"]);
        rootfs.dir("/proc").dir("/dev").dir("/tmp").dir("/root").dir("/etc");
        rootfs.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        let state_root = tempfile::Builder::new().prefix("oci-root-").tempdir_in(rootfs.outside()).expect("state root");
        let ctx = Ctx { rt, id, rootfs, state_root };
        ctx.write_config(&config(&ctx.id, args));
        ctx
    }

    fn write_config(&self, config: &Value) {
        fs::write(self.bundle().join("config.json"), serde_json::to_vec_pretty(config).expect("JSON"))
            .expect("write config.json");
    }

    fn bundle(&self) -> &Path {
        self.rootfs.outside()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.bundle().join(name)
    }

    /// `RUNTIME --root ROOT ARGS...`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.rt.bin());
        cmd.arg("--root").arg(self.state_root.path()).args(args).current_dir(self.bundle());
        cmd
    }

    /// Runs `RUNTIME --root ROOT ARGS...` to completion.
    fn run(&self, args: &[&str]) -> Outcome {
        run_command(self.cmd(args), None, DEFAULT_TIMEOUT, self.rt.name())
    }

    fn ok(&self, args: &[&str]) -> Outcome {
        let out = self.run(args);
        assert_eq!(out.status, 0, "{} {args:?} failed:\n{}", self.rt.name(), out.describe());
        out
    }

    /// `state ID`, checked against the OCI state schema and this bundle.
    fn state(&self) -> Value {
        let out = self.ok(&["state", &self.id]);
        let state: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{}", out.describe()));
        assert!(state["ociVersion"].is_string(), "ociVersion: {state}");
        assert_eq!(state["id"], json!(self.id), "{state}");
        assert_eq!(state["bundle"], json!(self.bundle().to_str().expect("utf-8 path")), "{state}");
        assert!(state["status"].is_string(), "status: {state}");
        state
    }

    fn status(&self) -> String {
        self.state()["status"].as_str().expect("status").to_owned()
    }

    /// `create --bundle B --pid-file P ID` with piped stdio, as the shim
    /// does it; returns once create has, with the container's pipes.
    fn create(&self) -> Created {
        let pid_file = self.path("init.pid");
        let mut cmd = self.cmd(&["create", "--bundle"]);
        cmd.arg(self.bundle()).arg("--pid-file").arg(&pid_file).arg(&self.id);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = drain(child.stdout.take().expect("stdout"));
        let stderr = drain(child.stderr.take().expect("stderr"));
        let status = wait_child(&mut child, "create");
        if status != 0 {
            // The pipes close once every holder is gone.
            let (out, err) = (join(stdout), join(stderr));
            panic!("{} create exited {status}:\n--- stdout ---\n{out}--- stderr ---\n{err}", self.rt.name());
        }
        let text = fs::read_to_string(&pid_file).expect("create wrote the pid file before returning");
        assert!(
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
            "the pid file holds a decimal pid and no newline: {text:?}"
        );
        let pid: i32 = text.parse().expect("pid");
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "the pid-file process {pid} is alive after create");
        Created { pid, stdin, stdout: Some(stdout), stderr: Some(stderr) }
    }

    /// Asserts that the container left nothing behind.
    fn assert_clean(&self) {
        let left = leftovers(
            &self.id,
            &self.path("rootfs"),
            false,
            self.state_root.path(),
            &format!("{CGROUP_PREFIX}-{}", self.id),
        );
        assert!(left.is_empty(), "{} left behind:\n  {}", self.id, left.join("\n  "));
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = run_command(self.cmd(&["delete", "--force", &self.id]), None, DEFAULT_TIMEOUT, "cleanup");
    }
}

/// A created container's init and its stdio.
struct Created {
    pid: i32,
    stdin: Option<ChildStdin>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Created {
    /// Waits (up to 60 s) for the pid-file process to exit and returns
    /// its status as the shim sees it: N, or 128+signal.
    fn wait(&self) -> i32 {
        wait_pid(self.pid)
    }

    /// The container's stdout and stderr, read to their end.
    fn output(&mut self) -> (String, String) {
        (join(self.stdout.take().expect("output read once")), join(self.stderr.take().expect("output read once")))
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        // Reap the init if it is gone (it is our child: we are a subreaper).
        if let Some(pid) = Pid::from_raw(self.pid) {
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn join(h: JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&h.join().expect("pipe reader")).into_owned()
}

fn wait_child(child: &mut Child, what: &str) -> i32 {
    let until = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return husk_suite::run::shell_status(status);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("{what} did not finish within {DEFAULT_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for process `pid` (a child of this subreaper once whoever
/// started it has exited) and returns N, or 128+signal.
fn wait_pid(pid: i32) -> i32 {
    let p = Pid::from_raw(pid).expect("positive pid");
    let until = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        match rustix::process::waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return code;
                }
                if let Some(sig) = st.terminating_signal() {
                    return 128 + sig;
                }
            }
            // Not exited yet, or not yet reparented to this process.
            Ok(None) | Err(rustix::io::Errno::CHILD) => {}
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
        assert!(Instant::now() < until, "process {pid} did not exit within {DEFAULT_TIMEOUT:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (up to 60 s) until `pid` is gone: reaped here if it is (or
/// becomes) this process's child, else exited.
fn reap_or_gone(pid: i32) {
    let p = Pid::from_raw(pid).expect("positive pid");
    let until = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        match rustix::process::waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(Some(_)) => return,
            Err(rustix::io::Errno::CHILD) if !alive(pid) => return,
            _ => {}
        }
        assert!(Instant::now() < until, "process {pid} still running after {DEFAULT_TIMEOUT:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` is still running (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    procs::all().iter().any(|p| p.pid == pid && !p.is_zombie())
}

runtime_test! {
    /// create → "created" (the process waits; no output yet) → start →
    /// "running" → the app reads its stdin and writes to the pipes given
    /// to create → its exit status is the pid-file process's → "stopped"
    /// → delete leaves nothing.
    fn oci_lifecycle(rt) {
        let ctx = Ctx::new(rt, "life", &["sh", "-c", "read x; echo \"out $x $GREETING $(hostname)\"; echo err >&2; exit 7"]);
        let mut c = ctx.create();
        let state = ctx.state();
        assert_eq!(state["status"], json!("created"), "{state}");
        assert_eq!(state["pid"], json!(c.pid), "state's pid is the pid file's: {state}");
        let list = ctx.ok(&["list"]).stdout_str();
        assert!(list.lines().any(|l| l.split_whitespace().next() == Some(ctx.id.as_str())), "list:\n{list}");

        ctx.ok(&["start", &ctx.id]);
        assert_eq!(ctx.status(), "running");
        let mut stdin = c.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("write the container's stdin");
        drop(stdin);
        assert_eq!(c.wait(), 7, "the pid-file process exits with the container's status");
        assert_eq!(c.output(), ("out go hello oci-test\n".to_owned(), "err\n".to_owned()));
        assert_eq!(ctx.status(), "stopped");

        ctx.ok(&["delete", &ctx.id]);
        let out = ctx.run(&["state", &ctx.id]);
        assert_ne!(out.status, 0, "state of a deleted container fails:\n{}", out.describe());
        ctx.assert_clean();
    }
}

runtime_test! {
    /// `run` creates, starts and waits: its status and output are the
    /// container's, and it deletes the container.
    fn oci_run(rt) {
        let ctx = Ctx::new(rt, "run", &["sh", "-c", "echo run-out; echo $$; exit 5"]);
        let mut cmd = ctx.cmd(&["run", "--bundle"]);
        cmd.arg(ctx.bundle()).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_eq!((out.status, out.stdout_str().as_str()), (5, "run-out\n1\n"), "{}", out.describe());
        ctx.assert_clean();
    }
}

/// The Cap* lines of /proc/self/status as `cat` sees them in a container
/// of the test config changed by `edit` (the container is run and
/// deleted).
fn container_caps(rt: Runtime, case: &str, edit: impl FnOnce(&mut Value)) -> String {
    let ctx = Ctx::new(rt, case, &["cat", "/proc/self/status"]);
    let mut config = config(&ctx.id, &["cat", "/proc/self/status"]);
    edit(&mut config);
    ctx.write_config(&config);
    let mut cmd = ctx.cmd(&["run", "--bundle"]);
    cmd.arg(ctx.bundle()).arg(&ctx.id);
    let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
    assert_eq!(out.status, 0, "{}", out.describe());
    out.stdout_str().lines().filter(|l| l.starts_with("Cap")).map(|l| format!("{l}\n")).collect()
}

runtime_test! {
    /// `process.capabilities`, as runc applies them before it executes
    /// the program and execve then changes them: root ends up with its
    /// bounding set as permitted and effective; an ambient capability is
    /// kept only where it is permitted and inheritable; a non-root user
    /// keeps only its ambient set; and `exec --cap` adds one.
    fn oci_capabilities(rt) {
        // The default config: AUDIT_WRITE, KILL and NET_BIND_SERVICE in
        // every set but the inheritable one.
        let root = container_caps(rt, "caps-root", |_| {});
        assert_eq!(
            root,
            "CapInh:\t0000000000000000\nCapPrm:\t0000000020000420\nCapEff:\t0000000020000420\n\
             CapBnd:\t0000000020000420\nCapAmb:\t0000000000000000\n"
        );
        let user = container_caps(rt, "caps-user", |c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            });
        });
        assert_eq!(
            user,
            "CapInh:\t0000000000000400\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\n\
             CapBnd:\t0000000000000421\nCapAmb:\t0000000000000400\n"
        );

        let ctx = Ctx::new(rt, "caps-exec", &["sleep", "1000"]);
        let _c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        let out = ctx.ok(&["exec", "--cap", "CAP_SYS_ADMIN", &ctx.id, "cat", "/proc/self/status"]);
        let caps: String = out.stdout_str().lines().filter(|l| l.starts_with("Cap")).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            caps,
            "CapInh:\t0000000000000000\nCapPrm:\t0000000020200420\nCapEff:\t0000000020200420\n\
             CapBnd:\t0000000020200420\nCapAmb:\t0000000000000000\n"
        );
    }
}

runtime_test! {
    /// `kill ID TERM` to a pid 1 without a handler changes nothing;
    /// `kill ID KILL` stops it (137), and delete cleans up.
    fn oci_kill(rt) {
        let ctx = Ctx::new(rt, "kill", &["sleep", "1000"]);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        ctx.ok(&["kill", &ctx.id, "TERM"]);
        thread::sleep(Duration::from_millis(500));
        assert!(alive(c.pid), "SIGTERM must not stop a pid 1 without a handler");
        assert_eq!(ctx.status(), "running");
        ctx.ok(&["kill", &ctx.id, "KILL"]);
        assert_eq!(c.wait(), 137);
        assert_eq!(ctx.status(), "stopped");
        ctx.ok(&["delete", &ctx.id]);
        ctx.assert_clean();
    }
}

runtime_test! {
    /// An init that blocks SIGTERM and waits for it with sigtimedwait, as
    /// tini does (Docker's `--init`, `/sbin/docker-init`), gets `kill ID
    /// TERM`: a blocked signal is never dropped, even for a pid 1 with no
    /// handler. tini passes it to its child, `sleep`, which dies of it, and
    /// exits with 143.
    fn oci_kill_init_that_waits_for_signals(rt) {
        let tini = Path::new("/usr/bin/tini-static");
        assert!(tini.is_file(), "tini is missing (apt-get install tini; docker.io depends on it)");
        let ctx = Ctx::new(rt, "killtini", &["/sbin/tini", "--", "sleep", "1000"]);
        ctx.rootfs.dir("/sbin").copy("/sbin/tini", tini);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        // tini blocks its signals before it starts its child.
        let find_sleep = "for f in /proc/[0-9]*/comm; do read c < $f; [ \"$c\" = sleep ] && echo found; done; true";
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let out = ctx.run(&["exec", &ctx.id, "sh", "-c", find_sleep]);
            if out.stdout_str() == "found\n" {
                break;
            }
            assert!(Instant::now() < until, "tini's child is not running after 10 s:\n{}", out.describe());
            thread::sleep(Duration::from_millis(50));
        }
        ctx.ok(&["kill", &ctx.id, "TERM"]);
        assert_eq!(c.wait(), 143, "tini passes SIGTERM to sleep and exits 128+15");
        ctx.ok(&["delete", &ctx.id]);
        ctx.assert_clean();
    }
}

runtime_test! {
    /// `delete` refuses a running container; `delete --force` kills it
    /// and removes everything.
    fn oci_delete_force(rt) {
        let ctx = Ctx::new(rt, "force", &["sleep", "1000"]);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        // A second process in the container: delete --force must stop it too.
        // (Its stdio is /dev/null: it would hold pipes open past exec.)
        let mut exec = ctx.cmd(&["exec", "--detach", &ctx.id, "sleep", "999"]);
        exec.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = exec.spawn().expect("spawn exec --detach");
        assert_eq!(wait_child(&mut child, "exec --detach"), 0);
        let out = ctx.ok(&["ps", "--format", "json", &ctx.id]);
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout).expect("ps --format json");
        assert!(pids.len() >= 2, "ps lists the init and the exec'd sleep: {pids:?}");
        let out = ctx.run(&["delete", &ctx.id]);
        assert_ne!(out.status, 0, "delete of a running container fails:\n{}", out.describe());
        assert!(alive(c.pid), "a refused delete leaves the container running");
        // Reap the container's other processes while delete waits, as the
        // shim (a subreaper too) does: a pid namespace's init cannot finish
        // dying while a process of its namespace is an unreaped zombie.
        let delete = {
            let cmd = ctx.cmd(&["delete", "--force", &ctx.id]);
            thread::spawn(move || run_command(cmd, None, DEFAULT_TIMEOUT, "delete --force"))
        };
        for &pid in pids.iter().filter(|&&p| p != c.pid) {
            reap_or_gone(pid);
        }
        let out = delete.join().expect("delete thread");
        assert_eq!(out.status, 0, "delete --force:\n{}", out.describe());
        assert_eq!(c.wait(), 137);
        ctx.assert_clean();
    }
}

runtime_test! {
    /// `exec --process FILE` (as the shim calls it) runs a process with
    /// that file's args, env and cwd inside the container: attached (its
    /// status is exec's) and `--detach --pid-file` (its status is the
    /// pid-file process's); and `exec` with args, `--env` and `--cwd`.
    fn oci_exec(rt) {
        let ctx = Ctx::new(rt, "exec", &["sleep", "1000"]);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);

        let process = |script: &str| {
            json!({
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh", "-c", script],
                "env": ["PATH=/bin", "FOO=bar"],
                "cwd": "/tmp"
            })
        };
        let p1 = ctx.path("process1.json");
        fs::write(&p1, process("echo exec-out $FOO; pwd; cat /proc/1/cmdline; exit 5").to_string()).unwrap();
        let out = ctx.run(&["exec", "--process", p1.to_str().unwrap(), &ctx.id]);
        assert_eq!(out.status, 5, "{}", out.describe());
        assert_eq!(out.stdout_str(), "exec-out bar\n/tmp\nsleep\u{0}1000\u{0}", "{}", out.describe());

        let p2 = ctx.path("process2.json");
        fs::write(&p2, process("exit 6").to_string()).unwrap();
        let epid = ctx.path("exec.pid");
        ctx.ok(&["exec", "--process", p2.to_str().unwrap(), "--detach", "--pid-file", epid.to_str().unwrap(), &ctx.id]);
        let text = fs::read_to_string(&epid).expect("exec --detach wrote its pid file");
        let pid: i32 = text.parse().unwrap_or_else(|_| panic!("a decimal pid and no newline: {text:?}"));
        assert_eq!(wait_pid(pid), 6, "the exec pid-file process exits with the exec'd process's status");

        let out = ctx.run(&["exec", "--env", "FOO=baz", "--cwd", "/tmp", &ctx.id, "sh", "-c", "echo $FOO; pwd; exit 3"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (3, "baz\n/tmp\n"), "{}", out.describe());
        assert!(alive(c.pid), "the init keeps running");
    }
}

runtime_test! {
    /// `ps --format json` prints a JSON array of host pids, one per app
    /// process, each showing the host that process's command line:
    /// runc's, the app's own processes (the init is the pid file's);
    /// Husk's, the stubs that hold their address spaces (the pid file's is
    /// the sandbox process). `ps --format table` shows the same pids with
    /// their command lines.
    fn oci_ps(rt) {
        let ctx = Ctx::new(rt, "ps", &["sleep", "1000"]);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        let mut exec = ctx.cmd(&["exec", "--detach", &ctx.id, "sleep", "999"]);
        exec.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = exec.spawn().expect("spawn exec --detach");
        assert_eq!(wait_child(&mut child, "exec --detach"), 0);
        let out = ctx.ok(&["ps", "--format", "json", &ctx.id]);
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not a JSON array of pids ({e}):\n{}", out.describe()));
        let cmdline = |pid: &i32| fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut shown: Vec<Vec<u8>> = pids.iter().map(cmdline).collect();
        shown.sort();
        assert_eq!(shown, [&b"sleep\x001000\0"[..], b"sleep\x00999\0"], "{pids:?}");
        if rt == Runtime::Runc {
            assert!(pids.contains(&c.pid), "the init {} is listed: {pids:?}", c.pid);
        }
        let out = ctx.ok(&["ps", &ctx.id]);
        let table = out.stdout_str();
        for pid in &pids {
            let pid = pid.to_string();
            assert!(table.lines().any(|l| l.split_whitespace().any(|w| w == pid)), "{pid}:\n{table}");
        }
    }
}

runtime_test! {
    /// `pause` freezes ("paused"), `resume` thaws ("running"), and the
    /// container still works after it.
    fn oci_pause_resume(rt) {
        let ctx = Ctx::new(rt, "pause", &["sleep", "1000"]);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        ctx.ok(&["pause", &ctx.id]);
        assert_eq!(ctx.status(), "paused");
        ctx.ok(&["resume", &ctx.id]);
        assert_eq!(ctx.status(), "running");
        let out = ctx.run(&["exec", &ctx.id, "echo", "thawed"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "thawed\n"), "{}", out.describe());
        ctx.ok(&["kill", &ctx.id, "KILL"]);
        assert_eq!(c.wait(), 137);
        ctx.ok(&["delete", &ctx.id]);
        ctx.assert_clean();
    }
}

runtime_test! {
    /// A create whose program is missing fails; with `--log FILE
    /// --log-format json` the reason is a JSON line with level "error"
    /// whose msg names the program (what the shim shows the user), and
    /// nothing is left behind.
    fn oci_failing_create(rt) {
        let ctx = Ctx::new(rt, "fail", &["/no/such/prog"]);
        let log = ctx.path("log.json");
        let mut cmd = Command::new(rt.bin());
        cmd.arg("--root").arg(ctx.state_root.path()).arg("--log").arg(&log).args(["--log-format", "json"]);
        cmd.args(["create", "--bundle"]).arg(ctx.bundle()).arg("--pid-file").arg(ctx.path("init.pid")).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_ne!(out.status, 0, "{}", out.describe());
        let text = fs::read_to_string(&log).expect("the log file exists");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l:?}")))
            .collect();
        for l in &lines {
            assert!(l["level"].is_string() && l["msg"].is_string(), "level and msg in every line: {l}");
        }
        let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == json!("error")).collect();
        assert!(
            errors.iter().any(|l| l["msg"].as_str().unwrap_or("").contains("/no/such/prog")),
            "an error line names the program:\n{text}"
        );
        assert!(errors.iter().all(|l| l["time"].is_string()), "error lines carry a time:\n{text}");
        ctx.assert_clean();
    }
}

runtime_test! {
    /// `spec` writes a config.json that is a valid OCI runtime spec
    /// skeleton.
    fn oci_spec(rt) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(rt.bin());
        cmd.arg("spec").current_dir(dir.path());
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_eq!(out.status, 0, "{}", out.describe());
        let text = fs::read_to_string(dir.path().join("config.json")).expect("spec writes ./config.json");
        let spec: Value = serde_json::from_str(&text).expect("config.json is JSON");
        assert!(spec["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "{spec}");
        assert!(spec["process"]["args"].as_array().is_some_and(|a| !a.is_empty()), "{spec}");
        assert!(spec["process"]["cwd"].as_str().is_some_and(|c| c.starts_with('/')), "{spec}");
        assert_eq!(spec["root"]["path"], json!("rootfs"), "{spec}");
        assert!(spec["mounts"].as_array().is_some_and(|m| m.iter().any(|m| m["destination"] == json!("/proc"))));
        assert!(spec["linux"]["namespaces"].is_array(), "{spec}");
        // A second spec refuses to overwrite it, as runc does.
        let mut again = Command::new(rt.bin());
        again.arg("spec").current_dir(dir.path());
        let out = run_command(again, None, DEFAULT_TIMEOUT, rt.name());
        assert_ne!(out.status, 0, "spec over an existing config.json:\n{}", out.describe());
    }
}

runtime_test! {
    /// `features` prints the OCI features JSON.
    fn oci_features(rt) {
        let out = run_command(
            { let mut c = Command::new(rt.bin()); c.arg("features"); c },
            None,
            DEFAULT_TIMEOUT,
            rt.name(),
        );
        assert_eq!(out.status, 0, "{}", out.describe());
        let f: Value = serde_json::from_slice(&out.stdout).expect("features is JSON");
        assert!(f["ociVersionMin"].as_str().is_some_and(|v| v.starts_with("1.")), "{f}");
        assert!(f["ociVersionMax"].is_string(), "{f}");
        assert!(f["mountOptions"].is_array() || f["linux"].is_object(), "{f}");
    }
}

/// Commands on one container are serialised: of several `start`s at once,
/// exactly one starts it and the others are refused; the state stays
/// readable as valid JSON throughout. Husk only: concurrent `runc start`s
/// race on runc's exec fifo, and a loser can block on it for good.
#[test]
fn oci_concurrent_commands() {
    let ctx = Ctx::new(Runtime::Husk, "conc", &["sleep", "1000"]);
    let c = ctx.create();
    let starts: Vec<Child> = (0..4)
        .map(|_| {
            let mut cmd = ctx.cmd(&["start", &ctx.id]);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            cmd.spawn().expect("spawn start")
        })
        .collect();
    // Read the state while the starts race.
    for _ in 0..10 {
        let s = ctx.state()["status"].as_str().expect("status").to_owned();
        assert!(s == "created" || s == "running", "status {s}");
    }
    let ok = starts.into_iter().map(|mut ch| wait_child(&mut ch, "start")).filter(|&st| st == 0).count();
    assert_eq!(ok, 1, "exactly one of four concurrent starts succeeds");
    assert_eq!(ctx.status(), "running");
    ctx.ok(&["kill", &ctx.id, "KILL"]);
    assert_eq!(c.wait(), 137);
    ctx.ok(&["delete", &ctx.id]);
    ctx.assert_clean();
}

/// The cgroup file `file` of controller `ctrl` for cgroup `path`, on v1 or
/// v2 (where `v2_file` holds the same limit).
fn cgroup_value(ctrl: &str, file: &str, v2_file: &str, path: &str) -> Option<String> {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let p =
        if v2 { format!("/sys/fs/cgroup/{path}/{v2_file}") } else { format!("/sys/fs/cgroup/{ctrl}/{path}/{file}") };
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

runtime_test! {
    /// linux.resources become cgroup limits on the container's host
    /// processes: memory and pids (read back from the cgroup while it
    /// runs), and the container's processes are in that cgroup.
    fn oci_resources(rt) {
        let ctx = Ctx::new(rt, "res", &["sleep", "1000"]);
        let mut cfg = config(&ctx.id, &["sleep", "1000"]);
        cfg["linux"]["resources"] = json!({"memory": {"limit": 268435456}, "pids": {"limit": 200}});
        ctx.write_config(&cfg);
        let c = ctx.create();
        ctx.ok(&["start", &ctx.id]);
        let path = format!("{CGROUP_PREFIX}-{}", ctx.id);
        let mem = cgroup_value("memory", "memory.limit_in_bytes", "memory.max", &path);
        assert_eq!(mem.as_deref(), Some("268435456"), "memory limit of cgroup {path}");
        let pids = cgroup_value("pids", "pids.max", "pids.max", &path);
        assert_eq!(pids.as_deref(), Some("200"), "pids limit of cgroup {path}");
        let members = cgroup_value("pids", "cgroup.procs", "cgroup.procs", &path).unwrap_or_default();
        assert!(
            members.lines().any(|l| l.trim() == c.pid.to_string()),
            "the pid-file process {} is in the cgroup: {members:?}",
            c.pid
        );
        ctx.ok(&["kill", &ctx.id, "KILL"]);
        assert_eq!(c.wait(), 137);
        ctx.ok(&["delete", &ctx.id]);
        ctx.assert_clean();
    }
}

/// The sandbox's helper processes hold no more than they need: the Gofer
/// only its own socket to the Sentry (not the control socket, not the
/// ready pipe), and the stubs no socket at all. (The sandbox process and
/// its Sentry, its one child, hold the control socket.)
#[test]
fn oci_helpers_hold_only_their_own_sockets() {
    let ctx = Ctx::new(Runtime::Husk, "fds", &["sleep", "1000"]);
    let c = ctx.create();
    ctx.ok(&["start", &ctx.id]);
    let pids: Vec<i32> = procs::descendants(c.pid).iter().map(|p| p.pid).collect();
    assert!(pids.len() >= 3, "sentry, gofer and a stub: {pids:?}");
    let ppid = |p: i32| {
        fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok()))
    };
    for pid in pids.into_iter().filter(|&p| p != c.pid && ppid(p) != Some(c.pid)) {
        let sockets = fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten()
                    .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")))
                    .count()
            })
            .unwrap_or(0);
        assert!(sockets <= 1, "process {pid} holds {sockets} sockets");
    }
    ctx.ok(&["kill", &ctx.id, "KILL"]);
    assert_eq!(c.wait(), 137);
    ctx.ok(&["delete", &ctx.id]);
    ctx.assert_clean();
}

runtime_test! {
    /// Writes as runc makes them: root.readonly=false writes into the
    /// bundle's rootfs; root.readonly=true gives EROFS (as does a bind
    /// mount with the `ro` option); a bind mount without it writes into
    /// its source.
    fn oci_root_and_bind_writes(rt) {
        let script = "echo root > /written; echo \"root: $?\"; echo vol > /rw/written; echo \"rw bind: $?\"; \
                      echo no > /ro/written; echo \"ro bind: $?\"";
        let ctx = Ctx::new(rt, "writes", &["sh", "-c", script]);
        let (rw, ro) = (ctx.path("rw-src"), ctx.path("ro-src"));
        fs::create_dir_all(&rw).expect("mkdir");
        fs::create_dir_all(&ro).expect("mkdir");
        ctx.rootfs.dir("/rw").dir("/ro");
        let binds = |mut cfg: Value, root_ro: bool| {
            cfg["root"]["readonly"] = json!(root_ro);
            let mounts = cfg["mounts"].as_array_mut().expect("mounts");
            mounts.push(json!({"destination": "/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}));
            mounts.push(json!({"destination": "/ro", "type": "bind", "source": ro, "options": ["rbind", "ro"]}));
            cfg
        };
        for root_ro in [false, true] {
            let _ = fs::remove_file(ctx.rootfs.host_path("/written"));
            ctx.write_config(&binds(config(&ctx.id, &["sh", "-c", script]), root_ro));
            let mut cmd = ctx.cmd(&["run", "--bundle"]);
            cmd.arg(ctx.bundle()).arg(&ctx.id);
            let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
            let root = if root_ro { 1 } else { 0 };
            assert_eq!(out.stdout_str(), format!("root: {root}\nrw bind: 0\nro bind: 1\n"), "{}", out.describe());
            assert!(out.stderr_str().contains("Read-only file system"), "{}", out.describe());
            assert_eq!(ctx.rootfs.host_path("/written").exists(), !root_ro, "readonly {root_ro}");
            assert_eq!(fs::read_to_string(rw.join("written")).expect("the rw bind's file"), "vol\n");
            assert!(!ro.join("written").exists());
            ctx.assert_clean();
        }
    }
}

/// A hook script for `oci_hooks`: appends "NAME STATE" to `$HOOK_LOG`; a
/// prestart one also gives the container's network namespace an
/// interface, one end of a veth pair whose other end (gone with the
/// namespace) stays outside, as Docker's libnetwork-setkey does (made
/// under names of its own, `hkc<pid>`/`hkp<pid>`, in the host's namespace,
/// where the runc and husk cases run at once, and named hk0 inside);
/// `fail` exits 3.
const HOOK_SCRIPT: &str = r#"#!/bin/sh
state=$(cat)
echo "$1 $state" >> "$HOOK_LOG"
case "$1" in
prestart)
    pid=$(echo "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    ip link add "hkc$pid" type veth peer name "hkp$pid" && ip link set "hkc$pid" netns "$pid" && ip link set "hkp$pid" up &&
    nsenter --net=/proc/$pid/ns/net sh -c "ip link set hkc$pid name hk0 && ip addr add 10.77.0.2/24 dev hk0 && ip link set hk0 up" ;;
fail)
    echo "hook says no" >&2
    exit 3 ;;
esac
"#;

runtime_test! {
    /// OCI hooks: prestart and createRuntime run during create, with the
    /// container's state on stdin (its pid the pid file's, whose network
    /// namespace a hook gives an interface that the container then has),
    /// poststart after start, poststop at delete, in that order; a failing
    /// prestart hook fails the create and leaves nothing behind.
    fn oci_hooks(rt) {
        let ctx = Ctx::new(rt, "hooks", &["sh", "-c", "ip -4 addr show dev hk0"]);
        ctx.rootfs.busybox(&["ip"]);
        let script = ctx.path("hook.sh");
        fs::write(&script, HOOK_SCRIPT).expect("write the hook");
        fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let log = ctx.path("hooks.log");
        let hook = |name: &str| {
            json!({"path": script, "args": ["hook.sh", name],
                   "env": [format!("HOOK_LOG={}", log.display()), "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_owned()]})
        };
        let mut cfg = config(&ctx.id, &["sh", "-c", "ip -4 addr show dev hk0"]);
        cfg["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
        ctx.write_config(&cfg);
        let mut c = ctx.create();
        let ran: Vec<String> = fs::read_to_string(&log).expect("the hooks ran").lines().map(str::to_owned).collect();
        // (runc 1.1 also runs poststart here, before start: not the spec's
        // order, which Husk keeps.)
        assert!(ran.len() >= 2, "prestart and createRuntime during create: {ran:?}");
        for (line, name) in ran.iter().zip(["prestart", "createRuntime"]) {
            let (got, state) = line.split_once(' ').expect("NAME STATE");
            assert_eq!(got, name);
            let state: Value = serde_json::from_str(state).expect("the state is JSON");
            assert_eq!(state["id"], json!(ctx.id));
            assert_eq!(state["pid"], json!(c.pid), "the pid file's pid: {state}");
            assert_eq!(state["bundle"].as_str().map(Path::new), Some(ctx.bundle()), "{state}");
        }
        ctx.ok(&["start", &ctx.id]);
        assert_eq!(c.wait(), 0, "the container has the hook's interface");
        let (out, _) = c.output();
        assert!(out.contains("inet 10.77.0.2/24"), "the container's view of hk0:\n{out}");
        ctx.ok(&["delete", &ctx.id]);
        let names: Vec<String> = fs::read_to_string(&log)
            .expect("read the log")
            .lines()
            .map(|l| l.split(' ').next().unwrap_or("").to_owned())
            .collect();
        assert_eq!(names, ["prestart", "createRuntime", "poststart", "poststop"]);
        ctx.assert_clean();

        let ctx = Ctx::new(rt, "hookfail", &["true"]);
        let mut cfg = config(&ctx.id, &["true"]);
        cfg["hooks"] = json!({"prestart": [hook("fail")]});
        ctx.write_config(&cfg);
        let mut cmd = ctx.cmd(&["create", "--bundle"]);
        cmd.arg(ctx.bundle()).arg("--pid-file").arg(ctx.path("init.pid")).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_ne!(out.status, 0, "a failing prestart hook fails the create:\n{}", out.describe());
        ctx.assert_clean();
    }
}

runtime_test! {
    /// A tmpfs mount's `size=` (Docker's /dev/shm is 64 MiB, `--tmpfs
    /// /x:size=...`) is its size: df says it, and a write past it fails
    /// with ENOSPC; a bad size fails the create, leaving nothing behind.
    fn oci_tmpfs_size(rt) {
        let script = "df -k /dev/shm | tail -1 | awk '{print $2}'; \
                      dd if=/dev/zero of=/dev/shm/big bs=1024 count=70000 2>&1 | grep -o 'No space left on device'";
        let ctx = Ctx::new(rt, "shm", &["sh", "-c", script]);
        ctx.rootfs.busybox(&["df", "tail", "awk", "dd", "grep"]);
        ctx.rootfs.dir("/dev/shm");
        let mut cfg = config(&ctx.id, &["sh", "-c", script]);
        let mounts = cfg["mounts"].as_array_mut().expect("mounts");
        mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}));
        ctx.write_config(&cfg);
        let mut cmd = ctx.cmd(&["run", "--bundle"]);
        cmd.arg(ctx.bundle()).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_eq!(out.stdout_str(), "65536\nNo space left on device\n", "{}", out.describe());

        let ctx = Ctx::new(rt, "shmbad", &["true"]);
        let mut cfg = config(&ctx.id, &["true"]);
        cfg["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/tmp/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=lots"]}),
        );
        ctx.write_config(&cfg);
        let mut cmd = ctx.cmd(&["create", "--bundle"]);
        cmd.arg(ctx.bundle()).arg("--pid-file").arg(ctx.path("init.pid")).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, rt.name());
        assert_ne!(out.status, 0, "a bad size fails the create:\n{}", out.describe());
        ctx.assert_clean();
    }
}
