//! Husk as an OCI runtime under a real containerd 1.6: `ctr run
//! --runc-binary R` with R = runc (the reference) and R = husk, through
//! containerd's runc.v2 shim, on the offline busybox image.
//!
//! The containerd is the private one of `tests/containerd/containerd.sh`
//! (started here if it is not running). Every case uses its own container
//! id, removes its container even when it fails ([`Cleanup`]), and checks
//! that nothing of the container is left on the host: no process naming
//! it, no mount under its bundle, no bundle or runtime state directory, no
//! cgroup. The cases run one at a time ([`serial`]): on two cores, parallel
//! sandboxes make timings, and so the timeouts, unpredictable.

use std::ffi::OsString;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[path = "nat/common.rs"]
mod common;

use husk_suite::oci::{containerd, leftovers, leftovers_now, unique_id, Containerd, Runtime};
use husk_suite::pty::{run_on_pty, Step};
use husk_suite::run::{run_command, DEFAULT_TIMEOUT};
use husk_suite::{runtime_test, Outcome};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `ctr ARGS`, killed after [`DEFAULT_TIMEOUT`].
fn ctr(args: &[&str]) -> Outcome {
    let mut cmd = containerd().ctr();
    cmd.args(args);
    run_command(cmd, None, DEFAULT_TIMEOUT, "ctr")
}

/// `ctr ARGS` that must succeed.
fn ctr_ok(args: &[&str]) -> Outcome {
    let out = ctr(args);
    assert_eq!(out.status, 0, "ctr {args:?} failed:\n{}", out.describe());
    out
}

/// Removes a container's task and the container when dropped, whatever
/// state the test left them in, then asserts (unless the test already
/// panicked) that nothing of it is left on the host.
struct Cleanup {
    id: String,
}

impl Cleanup {
    fn new(id: &str) -> Self {
        Cleanup { id: id.to_owned() }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let id = self.id.as_str();
        let _ = ctr(&["task", "kill", "-s", "SIGKILL", id]);
        let _ = ctr(&["task", "delete", "--force", id]);
        let _ = ctr(&["container", "delete", id]);
        if !thread::panicking() {
            assert_clean(id);
        }
    }
}

/// Asserts that container `id` left nothing behind.
fn assert_clean(id: &str) {
    let c = containerd();
    let left = leftovers(id, &c.bundle(id), true, &c.runtime_root(), &c.cgroup(id));
    assert!(left.is_empty(), "container {id} left behind:\n  {}", left.join("\n  "));
}

/// The status column of `ctr task ls` for `id` (RUNNING, STOPPED, ...).
fn task_status(id: &str) -> Option<String> {
    let out = ctr_ok(&["task", "ls"]);
    out.stdout_str().lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(id)).then(|| f.nth(1).unwrap_or("").to_owned())
    })
}

/// Waits up to 10 s for `id`'s task to have `status`.
fn wait_status(id: &str, status: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let now = task_status(id);
        if now.as_deref() == Some(status) {
            return;
        }
        assert!(Instant::now() < until, "task {id} is {now:?}, not {status}, after 10 s");
        thread::sleep(Duration::from_millis(50));
    }
}

/// `ctr run --runc-binary R [FLAGS] IMAGE ID ARGS...` as an argument list.
fn run_args(c: &Containerd, rt: Runtime, flags: &[&str], id: &str, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["run".into(), "--runc-binary".into(), rt.bin().display().to_string()];
    v.extend(flags.iter().map(|s| (*s).to_owned()));
    v.push(c.image.clone());
    v.push(id.to_owned());
    v.extend(args.iter().map(|s| (*s).to_owned()));
    v
}

fn ctr_run(rt: Runtime, flags: &[&str], id: &str, args: &[&str]) -> Outcome {
    let argv = run_args(containerd(), rt, flags, id, args);
    ctr(&argv.iter().map(String::as_str).collect::<Vec<_>>())
}

runtime_test! {
    /// `ctr run --rm IMAGE ID echo hello` prints hello and exits 0.
    fn ctr_echo(rt) {
        let _s = serial();
        let id = unique_id("echo", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &["--rm"], &id, &["echo", "hello"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "hello\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// The container's exit status is ctr's: `exit 7` gives 7, and
    /// stdout and stderr come back separately.
    fn ctr_exit_code(rt) {
        let _s = serial();
        let id = unique_id("exit", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &["--rm"], &id, &["sh", "-c", "echo out; echo err >&2; exit 7"]);
        assert_eq!(out.status, 7, "{}", out.describe());
        assert_eq!(out.stdout_str(), "out\n", "{}", out.describe());
        assert_eq!(out.stderr_str(), "err\n", "{}", out.describe());
    }
}

runtime_test! {
    /// `ctr task exec` into a running container: output and exit status
    /// of the exec'd process, twice, while the init keeps running.
    fn ctr_task_exec(rt) {
        let _s = serial();
        let id = unique_id("exec", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &["-d"], &id, &["sleep", "1000"]);
        assert_eq!(out.status, 0, "ctr run -d:\n{}", out.describe());
        wait_status(&id, "RUNNING");

        let out = ctr(&["task", "exec", "--exec-id", "e1", &id, "echo", "hi"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "hi\n"), "{}", out.describe());
        let out = ctr(&["task", "exec", "--exec-id", "e2", &id, "sh", "-c", "echo $$ >&2; cat /proc/1/cmdline; exit 3"]);
        assert_eq!(out.status, 3, "{}", out.describe());
        // The exec'd process is in the container's pid namespace: pid 1 is its init.
        assert_eq!(out.stdout_str(), "sleep\u{0}1000\u{0}", "{}", out.describe());
        // The exec'd shell is not pid 1: the init is.
        assert_ne!(out.stderr_str().trim(), "1", "{}", out.describe());
        assert_eq!(task_status(&id).as_deref(), Some("RUNNING"));
    }
}

runtime_test! {
    /// `ctr task kill` sends SIGTERM, which a pid 1 without a handler
    /// ignores: the task keeps running. SIGKILL stops it with status 137,
    /// and then the task and the container can be deleted.
    fn ctr_task_kill(rt) {
        let _s = serial();
        let id = unique_id("kill", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &["-d"], &id, &["sleep", "1000"]);
        assert_eq!(out.status, 0, "ctr run -d:\n{}", out.describe());
        wait_status(&id, "RUNNING");

        ctr_ok(&["task", "kill", &id]);
        thread::sleep(Duration::from_millis(500));
        assert_eq!(task_status(&id).as_deref(), Some("RUNNING"), "SIGTERM must not stop a pid 1 without a handler");

        ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
        wait_status(&id, "STOPPED");
        // ctr task delete reports the exit status (a warning, status 0).
        let out = ctr_ok(&["task", "delete", &id]);
        assert!(out.stderr_str().contains("exit code 137"), "the task's exit status is 137:\n{}", out.describe());
        ctr_ok(&["container", "delete", &id]);
        let listed = ctr_ok(&["container", "ls", "-q"]).stdout_str();
        assert!(!listed.lines().any(|l| l == id), "container {id} still listed:\n{listed}");
        assert_clean(&id);
    }
}

runtime_test! {
    /// `ctr run -t` with ctr on a pty: the container's stdio is a
    /// terminal, its output comes back, and so does its exit status.
    fn ctr_run_tty(rt) {
        let _s = serial();
        let c = containerd();
        let id = unique_id("tty", rt);
        let _cl = Cleanup::new(&id);
        let script = "tty >/dev/null && echo tty-ok; [ -t 0 ] && [ -t 1 ] && echo is-a-terminal; exit 4";
        let mut argv: Vec<OsString> = vec!["ctr".into(), "--address".into(), (&c.address).into()];
        argv.extend(["--namespace".into(), (&c.namespace).into()]);
        argv.extend(run_args(c, rt, &["--rm", "-t"], &id, &["sh", "-c", script]).into_iter().map(OsString::from));
        let out = run_on_pty(&argv, &[Step::Expect("is-a-terminal")]);
        assert_eq!(out.failed, None, "{}", out.describe());
        assert_eq!(out.status, 4, "{}", out.describe());
        let text = out.text();
        assert!(text.lines().any(|l| l.trim() == "tty-ok"), "`tty` inside says stdin is a terminal:\n{}", out.describe());
    }
}

runtime_test! {
    /// A create that fails (the program is not in the image) fails ctr
    /// run, and the runtime's message naming the program reaches the user
    /// through the shim, which leaves no task behind.
    fn ctr_failing_create(rt) {
        let _s = serial();
        let id = unique_id("fail", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &["--rm"], &id, &["/no/such/prog"]);
        assert_ne!(out.status, 0, "{}", out.describe());
        let err = out.stderr_str();
        assert!(err.contains("OCI runtime create failed"), "the shim's wrapping:\n{}", out.describe());
        assert!(err.contains("/no/such/prog"), "the runtime's message names the program:\n{}", out.describe());
        assert_eq!(task_status(&id), None, "no task after a failed create");
    }
}

runtime_test! {
    /// 20 containers created, run and deleted one after another; then
    /// none of them left anything behind.
    fn ctr_create_delete_loop(rt) {
        let _s = serial();
        let ids: Vec<String> = (0..20).map(|_| unique_id("loop", rt)).collect();
        let _c: Vec<Cleanup> = ids.iter().map(|id| Cleanup::new(id)).collect();
        for (i, id) in ids.iter().enumerate() {
            let out = ctr_run(rt, &["--rm"], id, &["sh", "-c", &format!("echo {i}")]);
            assert_eq!((out.status, out.stdout_str()), (0, format!("{i}\n")), "container {i}:\n{}", out.describe());
        }
        for id in &ids {
            assert_clean(id);
        }
        let listed = ctr_ok(&["container", "ls", "-q"]).stdout_str();
        assert!(!ids.iter().any(|id| listed.lines().any(|l| l == id)), "containers still listed:\n{listed}");
    }
}

/// The contract of ../shared/containerd-contract.md assumes the shim's
/// `--root`: check that runc (the reference) keeps its containers' state
/// there; and that the leftover check is not vacuous: while a runc
/// container runs, it sees each kind of thing it looks for.
#[test]
fn ctr_runtime_root_is_where_the_shim_says() {
    let _s = serial();
    let c = containerd();
    let id = unique_id("root", Runtime::Runc);
    let _cl = Cleanup::new(&id);
    let out = ctr_run(Runtime::Runc, &["-d"], &id, &["sleep", "1000"]);
    assert_eq!(out.status, 0, "{}", out.describe());
    wait_status(&id, "RUNNING");
    let mut state = Command::new(Runtime::Runc.bin());
    state.arg("--root").arg(c.runtime_root()).args(["state", &id]);
    let out = run_command(state, None, DEFAULT_TIMEOUT, "runc state");
    assert_eq!(out.status, 0, "{}", out.describe());
    assert!(out.stdout_str().contains("\"running\""), "{}", out.describe());
    let seen = leftovers_now(&id, &c.bundle(&id), true, &c.runtime_root(), &c.cgroup(&id)).join("\n");
    for kind in ["process ", "mount ", "state directory ", "bundle directory ", "cgroup "] {
        assert!(seen.contains(kind), "the leftover check sees no {kind}of a running container:\n{seen}");
    }
}

runtime_test! {
    /// A file written to / by the container is in its snapshot afterwards
    /// (root.readonly is false: the rootfs is written through, as runc
    /// writes it), where containerd's snapshotter keeps the container's
    /// changes.
    fn ctr_writes_land_in_the_snapshot(rt) {
        let _s = serial();
        let id = unique_id("snap", rt);
        let _c = Cleanup::new(&id);
        let out = ctr_run(rt, &[], &id, &["sh", "-c", "echo from-the-container > /written && cat /written"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "from-the-container\n"), "{}", out.describe());
        // The snapshot's mount: an overlay whose upper directory holds the
        // container's changes.
        let mounts = ctr_ok(&["snapshots", "mounts", "/nonexistent", &id]).stdout_str();
        let upper = mounts
            .split([',', ' '])
            .find_map(|o| o.strip_prefix("upperdir="))
            .unwrap_or_else(|| panic!("no upperdir in the snapshot's mount: {mounts}"));
        let written = std::path::Path::new(upper).join("written");
        assert_eq!(std::fs::read_to_string(&written).ok().as_deref(), Some("from-the-container\n"), "{mounts}");
    }
}

runtime_test! {
    /// A container in a network namespace with a veth (as CNI leaves
    /// one): `ip addr` inside shows the veth's address, and the container
    /// reaches a server in another test namespace. Under Husk that is the
    /// default network, `sandbox` (the Sentry's own stack on the veth),
    /// with the server named by `dev.husk.network.allow-egress`; a port it
    /// does not name stays refused.
    fn ctr_veth_network(rt) {
        let _s = serial();
        let net = common::Pair::new(214);
        let id = unique_id("veth", rt);
        let _c = Cleanup::new(&id);
        let netns = format!("network:/var/run/netns/{}", net.ns);
        let allow = format!("dev.husk.network.allow-egress={}:8080", net.server);
        let script = format!(
            "/bin/busybox ip -4 -o addr show dev {ifname} | /bin/busybox grep -o 'inet [0-9./]*'; \
             /bin/busybox wget -q -O- http://{server}:8080/; \
             echo ping | /bin/busybox nc -w 3 {server} 9000 2>/dev/null || echo refused",
            ifname = net.ifname,
            server = net.server
        );
        let out = ctr_run(rt, &["--rm", "--with-ns", &netns, "--annotation", &allow], &id, &["sh", "-c", &script]);
        // runc has no egress policy: the echo server answers.
        let last = match rt {
            husk_suite::oci::Runtime::Runc => "ping",
            husk_suite::oci::Runtime::Husk => "refused",
        };
        assert_eq!(
            (out.status, out.stdout_str()),
            (0, format!("inet {}/24\nhello from the servers' namespace\n{last}\n", net.sandbox)),
            "{}",
            out.describe()
        );
    }
}

/// `ctr container checkpoint --task` and `ctr container restore --live`
/// through the runc.v2 shim: containerd pauses the task, has the runtime
/// write the image (`checkpoint --leave-running`), keeps it as an image of
/// its own, and a restore (`restore --detach ... -no-subreaper`) brings the
/// task back where it was. Husk only: runc needs CRIU, which this host
/// does not have.
#[test]
fn ctr_checkpoint_and_restore_husk() {
    let _s = serial();
    let rt = Runtime::Husk;
    let id = unique_id("ckpt", rt);
    let image = format!("husk-test/{id}:checkpoint");
    let _c = Cleanup::new(&id);
    // The loop's `>` truncates before it writes: a read in between finds
    // the file empty, and is made again.
    let count = |id: &str| -> u64 {
        let mut tries = 0;
        loop {
            let out = ctr_ok(&["task", "exec", "--exec-id", "count", id, "cat", "/tmp/count"]);
            match out.stdout_str().trim().parse() {
                Ok(n) => return n,
                Err(_) if tries < 10 && out.stdout.is_empty() => tries += 1,
                Err(_) => panic!("a count: {}", out.describe()),
            }
        }
    };
    let script = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done";
    ctr_ok(
        &run_args(containerd(), rt, &["-d"], &id, &["sh", "-c", script]).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    wait_status(&id, "RUNNING");
    thread::sleep(Duration::from_millis(800));
    let before = count(&id);
    assert!(before >= 3, "the loop runs: {before}");
    ctr_ok(&["container", "checkpoint", "--task", &id, &image]);
    ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
    wait_status(&id, "STOPPED");
    ctr_ok(&["task", "delete", &id]);
    ctr_ok(&["container", "delete", &id]);
    // The container's writable layer goes with it: the count the restored
    // task writes comes from its own memory, not from 1 again.
    ctr_ok(&["container", "restore", "--live", &id, &image]);
    wait_status(&id, "RUNNING");
    thread::sleep(Duration::from_millis(300));
    let restored = count(&id);
    assert!(restored >= before, "the restored loop counts on from {before}, not afresh: {restored}");
    thread::sleep(Duration::from_millis(400));
    assert!(count(&id) > restored, "the restored task runs on");
    let _ = ctr(&["image", "rm", &image]);
}
