//! Checkpoint and restore (`husk checkpoint`, `husk restore`), on each
//! platform: a process tree that spans the Sentry's kernel objects is
//! checkpointed, the container ends, and it comes back from the image and
//! finishes as it does natively with no checkpoint at all. Also: what a
//! checkpoint does not cover is refused and the container runs on; a
//! corrupt, truncated or foreign image, or a host file changed since the
//! checkpoint, is refused with a clear error, leaving nothing behind.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use husk_suite::paths::{chroot_bin, husk_bin};
use husk_suite::procs;
use husk_suite::pty::{run_on_pty, Step};
use husk_suite::run::{run_command, DEFAULT_TIMEOUT};
use husk_suite::{Link, Outcome, Rootfs};
use serde_json::json;

const PLATFORMS: [&str; 2] = ["systrap", "ptrace"];
const DATA: &str = "0123456789abcdef";

/// A bundle (a root with the test program and a data file), a private
/// state root, and an image directory beside them.
struct Ctx {
    platform: &'static str,
    id: String,
    rootfs: Rootfs,
    state_root: PathBuf,
}

impl Ctx {
    fn new(platform: &'static str, case: &str, args: &[&str]) -> Ctx {
        let rootfs = Rootfs::new();
        rootfs.prog("ckpt", Link::Static);
        rootfs.prog("ckpt_busy", Link::Static);
        rootfs.prog("ckpt_pty", Link::Static);
        rootfs.prog("ckpt_tty", Link::Static);
        rootfs.prog("ckpt_sock", Link::Static);
        rootfs.prog("ckpt_shm", Link::Static);
        rootfs.prog("ckpt_lock", Link::Static);
        rootfs.prog("ckpt_unlinked", Link::Static);
        rootfs.prog("ckpt_inotify", Link::Static);
        rootfs.prog("ckpt_cputimer", Link::Static);
        rootfs.prog("ckpt_rlimit_cpu", Link::Static);
        rootfs.prog("ckpt_sigio", Link::Static);
        rootfs.prog("ckpt_pidfd", Link::Static);
        rootfs.prog("ckpt_memfd", Link::Static);
        rootfs.prog("ckpt_seccomp", Link::Static);
        rootfs.prog("ckpt_fifo", Link::Static);
        rootfs.prog("ckpt_sysv", Link::Static);
        rootfs.prog("ckpt_mqueue", Link::Static);
        rootfs.prog("ckpt_scm", Link::Static);
        rootfs.prog("ckpt_lease", Link::Static);
        rootfs.prog("ckpt_aio", Link::Static);
        rootfs.prog("ckpt_ghost", Link::Static);
        rootfs.prog("ckpt_hostmap", Link::Static);
        rootfs.prog("ckpt_diskov", Link::Static);
        rootfs.prog("ckpt_refused", Link::Static);
        rootfs.prog("ckpt_mseal", Link::Static);
        rootfs.prog("ckpt_ns", Link::Static);
        rootfs.prog("ckpt_ipcns", Link::Static);
        rootfs.prog("ckpt_devfs", Link::Static);
        rootfs.prog("ckpt_gonedir", Link::Static);
        rootfs.prog("ckpt_ptrace", Link::Static);
        rootfs.prog("ckpt_vfork", Link::Static);
        rootfs.prog("ckpt_mounts", Link::Static);
        rootfs.prog("ckpt_sysctl", Link::Static);
        rootfs.prog("ckpt_keys", Link::Static);
        rootfs.prog("ckpt_handles", Link::Static);
        rootfs.busybox(&["sh", "sleep", "echo", "mkfifo", "cat", "ls", "mkdir", "rm", "mv", "ln", "stat", "chmod"]);
        rootfs.dir("/tmp").dir("/proc").dir("/dev");
        rootfs.file("/data.txt", DATA);
        // Lower files for the overlay case to change.
        rootfs.file("/gone.txt", "gone").file("/moved-src.txt", "moved").file("/sub/lower.txt", "lower");
        rootfs.file("/sub/other.txt", "other");
        let state_root = rootfs.outside().join("state");
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin"],
                "cwd": "/"
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "ckpt",
            "annotations": {"dev.husk.network": "none"},
            "mounts": [
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts"}
            ]
        });
        fs::write(rootfs.outside().join("config.json"), serde_json::to_vec_pretty(&config).expect("JSON"))
            .expect("write config.json");
        let id = format!("ckpt-{case}-{platform}-{}", std::process::id());
        Ctx { platform, id, rootfs, state_root }
    }

    /// The root an overlay in the sandbox's memory (the bundle's rootfs
    /// is never written), not read-only.
    fn overlay_root(self) -> Ctx {
        self.writable_root("overlay")
    }

    /// The root an overlay whose upper layer keeps its files' data on
    /// disk, under [`Ctx::overlay_disk`].
    fn disk_overlay_root(self) -> Ctx {
        let ctx = self.writable_root("overlay");
        fs::create_dir_all(ctx.overlay_disk()).expect("the overlay's directory");
        let path = ctx.bundle().join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("config")).expect("JSON");
        config["annotations"]["dev.husk.overlay"] = json!(format!("disk:{}", ctx.overlay_disk().display()));
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        ctx
    }

    /// Where [`Ctx::disk_overlay_root`] has the overlay keep its data.
    fn overlay_disk(&self) -> PathBuf {
        self.rootfs.outside().join("overlay-disk")
    }

    /// The root the bundle's rootfs itself, written through (the
    /// `--root-writes host` of `husk run`): a host tree the app changes.
    fn host_root(self) -> Ctx {
        self.writable_root("host")
    }

    /// A root the app may write, where `writes` (`dev.husk.root-writes`)
    /// says.
    fn writable_root(self, writes: &str) -> Ctx {
        let path = self.bundle().join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("config")).expect("JSON");
        config["root"]["readonly"] = json!(false);
        config["annotations"]["dev.husk.root-writes"] = json!(writes);
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        self
    }

    /// The program with every capability (CAP_SYS_ADMIN makes
    /// namespaces; CAP_SYS_TIME sets a time namespace's offsets; CAP_MKNOD
    /// makes device nodes).
    fn all_caps(self) -> Ctx {
        let path = self.bundle().join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("config")).expect("JSON");
        let all = json!([
            "CAP_SYS_ADMIN",
            "CAP_SYS_TIME",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_DAC_OVERRIDE",
            "CAP_DAC_READ_SEARCH",
            "CAP_MKNOD"
        ]);
        config["process"]["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        self
    }

    /// The process has CAP_SYS_ADMIN (the sandbox's own), with Docker's
    /// defaults, to mount.
    fn sys_admin(self) -> Ctx {
        let path = self.bundle().join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("config")).expect("JSON");
        let caps = json!([
            "CAP_SYS_ADMIN",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_SETGID"
        ]);
        config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        self
    }

    fn bundle(&self) -> &Path {
        self.rootfs.outside()
    }

    fn image(&self, name: &str) -> PathBuf {
        self.bundle().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(husk_bin());
        cmd.arg("--root").arg(&self.state_root).arg("--platform").arg(self.platform).args(args);
        cmd.current_dir(self.bundle());
        cmd
    }

    fn run(&self, args: &[&str]) -> Outcome {
        run_command(self.cmd(args), None, DEFAULT_TIMEOUT, "husk")
    }

    fn ok(&self, args: &[&str]) -> Outcome {
        let out = self.run(args);
        assert_eq!(out.status, 0, "husk {args:?} failed:\n{}", out.describe());
        out
    }

    /// `husk run -d`, its stdout into `out`; returns once the program has
    /// said "ready".
    fn run_detached(&self, out: &Path) {
        self.start_detached(out);
        wait_for(|| fs::read_to_string(out).is_ok_and(|s| s.contains("ready\n")), "the program to say ready");
    }

    /// `husk run -d`, its stdout into `out`; returns as the command does.
    fn start_detached(&self, out: &Path) {
        // Files, not pipes: the container keeps its stdio after `run -d`
        // returns, and a pipe would never reach its end.
        let file = fs::File::create(out).expect("output file");
        let err_path = out.with_extension("stderr");
        let err = fs::File::create(&err_path).expect("stderr file");
        let mut cmd = self.cmd(&["run", "-d", "--bundle"]);
        cmd.arg(self.bundle()).arg(&self.id);
        cmd.stdin(Stdio::null()).stdout(file).stderr(err);
        let status = cmd.status().expect("husk run -d");
        assert!(status.success(), "husk run -d: {}", fs::read_to_string(&err_path).unwrap_or_default());
    }

    /// `husk restore -d` of `image` as container `id`, its stdout into
    /// `out`.
    fn restore_detached(&self, image: &str, id: &str, out: &Path, extra: &[&str]) {
        let file = fs::File::create(out).expect("output file");
        let err_path = out.with_extension("stderr");
        let err = fs::File::create(&err_path).expect("stderr file");
        let mut cmd = self.cmd(&["restore", "-d", "--image-path", image]);
        cmd.args(extra).arg("--bundle").arg(self.bundle()).arg(id).stdin(Stdio::null()).stdout(file).stderr(err);
        let status = cmd.status().expect("husk restore -d");
        assert!(status.success(), "husk restore -d: {}", fs::read_to_string(&err_path).unwrap_or_default());
    }

    /// `husk restore` of `image` in the foreground, its stdout piped, its
    /// stderr in a file beside the bundle.
    fn spawn_restore(&self, image: &str, extra: &[&str]) -> Child {
        let err = fs::File::create(self.image("restore.stderr")).expect("stderr file");
        let mut cmd = self.cmd(&["restore", "--image-path", image]);
        cmd.args(extra)
            .arg("--bundle")
            .arg(self.bundle())
            .arg(&self.id)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .stderr(err);
        cmd.spawn().expect("husk restore")
    }

    /// Waits for the restored container to run; says why if `restore`
    /// ended first.
    fn wait_running(&self, restore: &mut Child) {
        wait_for(
            || {
                if let Ok(Some(st)) = restore.try_wait() {
                    let err = fs::read_to_string(self.image("restore.stderr")).unwrap_or_default();
                    panic!("husk restore ended ({st}) before the container ran:\n{err}");
                }
                self.status() == "running"
            },
            "the restored container to run",
        );
    }

    fn status_of(&self, id: &str) -> String {
        let out = self.run(&["state", id]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(json!({}));
        v["status"].as_str().unwrap_or("gone").to_owned()
    }

    fn listed(&self) -> bool {
        self.ok(&["list", "-q"]).stdout_str().lines().any(|l| l == self.id)
    }

    fn status(&self) -> String {
        self.status_of(&self.id)
    }

    /// No state, no process of the container left.
    fn assert_nothing_left(&self) {
        assert!(!self.listed(), "{} is still listed", self.id);
        assert!(!self.state_root.join(&self.id).exists(), "its state directory is left");
        if let Ok(dir) = fs::read_dir(self.overlay_disk()) {
            let left: Vec<_> = dir.map(|e| e.expect("an entry").file_name()).collect();
            assert!(left.is_empty(), "the overlay's stores on disk are left: {left:?}");
        }
        let mine = procs::all().into_iter().filter(|p| p.cmdline.contains(&self.id)).count();
        assert_eq!(mine, 0, "processes of {} are left", self.id);
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = self.run(&["delete", "--force", &self.id]);
    }
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to end (up to 60 s; killed after).
fn wait_child(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` (up to 60 s), returning its status and stdout.
fn finish(mut child: Child, what: &str) -> (i32, String) {
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let status = wait_child(&mut child, what);
    (status.code().unwrap_or(-1), reader.join().expect("reader"))
}

/// `prog` run natively in the root to its end: its output.
fn native_output(ctx: &Ctx, prog: &str) -> String {
    let out =
        Command::new(chroot_bin()).arg(ctx.rootfs.path()).arg(prog).stdin(Stdio::null()).output().expect("chroot");
    assert!(out.status.success(), "{prog} natively: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The program run natively in its root: what it prints after "ready"
/// once it gets SIGUSR1, and its exit status.
fn native(ctx: &Ctx) -> (i32, String) {
    let mut cmd = Command::new(chroot_bin());
    cmd.arg(ctx.rootfs.path()).arg("/progs/ckpt");
    native_until_ready(cmd)
}

/// `cmd` run to its end natively: what it prints after "ready" once it
/// gets SIGUSR1, and its exit status.
fn native_until_ready(mut cmd: Command) -> (i32, String) {
    cmd.stdout(Stdio::piped()).stdin(Stdio::null());
    let mut child = cmd.spawn().expect("the native run");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready line");
    assert_eq!(line, "ready\n");
    // The checkpoint tests pause about this long between the two.
    std::thread::sleep(Duration::from_millis(300));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::USR1).expect("SIGUSR1");
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = out.read_to_string(&mut rest);
        rest
    });
    let status = wait_child(&mut child, "the native run");
    let rest = reader.join().expect("reader");
    (status.code().unwrap_or(-1), rest)
}

#[test]
fn a_process_tree_comes_back_from_its_checkpoint_and_finishes_as_natively() {
    // Memory read only as it is touched: every page the program uses
    // again comes in through a fault or the Sentry's own access.
    let out = restores_as_natively("tree", "ckpt", Native::Chroot, &["--page-loading", "on-demand"]);
    assert!(!out.contains("bad"), "{out}");
}

#[test]
fn leave_running_keeps_the_container_and_a_second_checkpoint_restores_too() {
    for platform in PLATFORMS {
        let ctx = Ctx::new(platform, "leave", &["/progs/ckpt"]);
        ctx.run_detached(&ctx.image("out"));
        ctx.ok(&["checkpoint", "--leave-running", "--image-path", "one", &ctx.id]);
        assert_eq!(ctx.status(), "running");
        ctx.ok(&["checkpoint", "--leave-running", "--image-path", "two", &ctx.id]);
        ctx.ok(&["kill", &ctx.id, "SIGUSR1"]);
        wait_for(|| ctx.status() == "stopped", "the original to finish");
        let out = fs::read_to_string(ctx.image("out")).expect("output");
        assert!(out.contains("thread: 40") && !out.contains("bad"), "{out}");
        ctx.ok(&["delete", &ctx.id]);
        // The second image, taken from a sandbox that went on running.
        let mut child = ctx.spawn_restore("two", &[]);
        ctx.wait_running(&mut child);
        ctx.ok(&["kill", &ctx.id, "SIGUSR1"]);
        let (status, out) = finish(child, "husk restore");
        assert_eq!(status, 0, "{out}");
        assert!(out.contains("thread: 40") && !out.contains("bad"), "{out}");
        ctx.assert_nothing_left();
    }
}

/// Runs `argv` (which holds something a checkpoint does not cover) in a
/// sandbox `adjust` changes, and checks that its checkpoint is refused
/// naming `what`, leaves no image, and lets the container run on.
fn assert_refused_and_runs_on_in(name: &str, argv: &[&str], what: &str, adjust: fn(Ctx) -> Ctx) {
    let ctx = adjust(Ctx::new("systrap", name, argv));
    ctx.run_detached(&ctx.image("out"));
    let out = ctx.run(&["checkpoint", "--image-path", "image", &ctx.id]);
    assert_ne!(out.status, 0, "a checkpoint of a sandbox holding {what} succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not covered by checkpoints yet") && err.contains(what), "{err}");
    assert!(!ctx.image("image").exists(), "a refused checkpoint left its image directory");
    assert_eq!(ctx.status(), "running", "the container must run on");
    ctx.ok(&["delete", "--force", &ctx.id]);
    ctx.assert_nothing_left();
}

#[test]
fn a_host_file_past_the_ghost_limit_deleted_while_open_is_refused_by_name() {
    assert_refused_and_runs_on_in("refused-ghost", &["/progs/ckpt_refused", "ghost"], "past 64 MiB", Ctx::host_root);
}

#[test]
fn a_vfork_parent_waits_again_for_its_child() {
    let out = restores_as_natively("vfork", "ckpt_vfork", Native::Chroot, &[]);
    assert!(out.contains("vfork returned the child: yes\nthe child exited 4\nP exited 0\n"), "{out}");
}

#[test]
fn tracees_stay_in_their_syscall_signal_and_event_stops() {
    let out = restores_as_natively("ptrace", "ckpt_ptrace", Native::Chroot, &[]);
    for line in [
        "A still at getppid's entry: yes",
        "A's getppid gave its parent: yes",
        "A: getppid said 4242",
        "A exited 0",
        "B's stop: SIGUSR2",
        "B: the handler ran: yes",
        "B exited 0",
        "C's child exited 0",
        "C exited 7",
        "D's exit event: status 5",
        "D exited 5",
        "E: exec'd",
        "E exited 0",
        "F at its traced getppid: yes",
        "F exited 6",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{out}");
    }
}

#[test]
fn removed_directories_named_pipes_and_path_only_files_stay_removed() {
    let out = restores_as_natively("gonedir", "ckpt_gonedir", Native::Chroot, &[]);
    for line in [
        "the parent: getcwd: ENOENT",
        "the parent: a file made in it: ENOENT",
        "the open directory: links 0",
        "the open directory lists 0 names",
        "openat in it: ENOENT",
        "the child: getcwd: ENOENT",
        "the child: a file made in it: ENOENT",
        "the removed named pipe reads: kept, links 0, a FIFO: yes",
        "the removed file's O_PATH file: links 0, size 13",
        "the removed FIFO's O_PATH file: links 0, a FIFO: yes",
        "the removed symlink's O_PATH file: /somewhere/else",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{out}");
    }
}

#[test]
fn what_the_app_made_in_dev_comes_back() {
    let out = restores_as_natively_in("devfs", "ckpt_devfs", Native::Chroot, &[], Ctx::all_caps);
    for line in [
        "the open file reads on: te\nby its path: note\nits mode: 640",
        "the directory's mode: 750",
        "the symlink: /dev/null",
        "the made node: 1:3, writes vanish",
        "/dev/full still gone: yes",
        "/dev/zero's mode: 600",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{out}");
    }
}

#[test]
fn an_ipc_namespace_keeps_its_objects_apart_from_the_first() {
    let out = restores_as_natively_in("ipcns", "ckpt_ipcns", Native::Host, &[], Ctx::all_caps);
    for line in [
        "the attached segment: in its own namespace",
        "its key finds it again: yes",
        "the semaphore: 7",
        "the message: a message in the namespace",
        "the POSIX queue: a queued message (priority 3)",
        "the first namespace again: in the first namespace",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{out}");
    }
}

#[test]
fn corrupt_truncated_foreign_or_stale_images_are_refused_leaving_nothing() {
    let ctx = Ctx::new("systrap", "corrupt", &["/progs/ckpt"]);
    ctx.run_detached(&ctx.image("out"));
    ctx.ok(&["checkpoint", "--image-path", "good", &ctx.id]);
    let good = ctx.image("good");
    let variant = |name: &str, change: &dyn Fn(&Path)| -> PathBuf {
        let dir = ctx.image(name);
        fs::create_dir_all(&dir).expect("mkdir");
        for f in ["husk-state.img", "husk-pages.img"] {
            fs::copy(good.join(f), dir.join(f)).expect("copy the image");
        }
        change(&dir);
        dir
    };
    let flip = |path: PathBuf, at_end: usize| {
        let mut b = fs::read(&path).expect("read");
        let i = b.len() - at_end;
        b[i] ^= 0x5a;
        fs::write(&path, b).expect("write");
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (variant("flipped-state", &|d| flip(d.join("husk-state.img"), 10)), "corrupt"),
        (
            variant("truncated-state", &|d| {
                let f = fs::OpenOptions::new().write(true).open(d.join("husk-state.img")).expect("open");
                f.set_len(100).expect("truncate");
            }),
            "truncated",
        ),
        (
            variant("foreign", &|d| fs::write(d.join("husk-state.img"), b"\x7fELF not an image").expect("write")),
            "not a Husk checkpoint",
        ),
        (variant("flipped-pages", &|d| flip(d.join("husk-pages.img"), 1)), "corrupt"),
        (ctx.image("missing"), "holds no Husk checkpoint image"),
    ];
    for (dir, why) in cases {
        let mut cmd = ctx.cmd(&["restore", "--image-path"]);
        cmd.arg(&dir).arg("--bundle").arg(ctx.bundle()).arg(&ctx.id);
        let out = run_command(cmd, None, DEFAULT_TIMEOUT, "husk restore");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status, 0, "{}: restored", dir.display());
        assert!(err.contains(why), "{}: expected {why:?} in:\n{err}", dir.display());
        ctx.assert_nothing_left();
    }
    // A file the image has open, changed on the host since.
    fs::write(ctx.rootfs.path().join("data.txt"), format!("{DATA}more")).expect("change data.txt");
    let out = ctx.run(&["restore", "--image-path", "good", "--bundle", ctx.bundle().to_str().expect("utf-8"), &ctx.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status, 0, "restored over a changed file");
    assert!(err.contains("/data.txt changed since the checkpoint"), "{err}");
    ctx.assert_nothing_left();
}

#[test]
fn a_busy_program_checkpointed_at_several_points_prints_what_an_uninterrupted_run_does() {
    for platform in PLATFORMS {
        let ctx = Ctx::new(platform, "busy", &["/progs/ckpt_busy"]);
        let expected = native_output(&ctx, "/progs/ckpt_busy");
        let outs = [ctx.image("out0"), ctx.image("out1"), ctx.image("out2")];
        // Started, checkpointed mid-run; restored, checkpointed again;
        // restored and run to its end.
        let file = fs::File::create(&outs[0]).expect("output file");
        let mut run = ctx.cmd(&["run", "-d", "--bundle"]);
        run.arg(ctx.bundle()).arg(&ctx.id).stdin(Stdio::null()).stdout(file).stderr(Stdio::null());
        assert!(run.status().expect("husk run -d").success());
        std::thread::sleep(Duration::from_millis(300));
        ctx.ok(&["checkpoint", "--image-path", "one", &ctx.id]);
        // Read on demand, then checkpointed again: the second image must
        // hold the pages nothing touched in between, read for it.
        ctx.restore_detached("one", &ctx.id, &outs[1], &["--page-loading", "on-demand"]);
        std::thread::sleep(Duration::from_millis(300));
        ctx.ok(&["checkpoint", "--image-path", "two", &ctx.id]);
        let mut restore = ctx.cmd(&["restore", "--image-path", "two", "--bundle"]);
        restore.arg(ctx.bundle()).arg(&ctx.id).stdin(Stdio::null()).stdout(fs::File::create(&outs[2]).expect("out"));
        let status = restore.status().expect("husk restore");
        let got: String = outs.iter().map(|o| fs::read_to_string(o).expect("output")).collect();
        assert!(status.success(), "{platform}: the restored run failed: {status:?}\n{got}");
        assert!(
            !fs::read_to_string(&outs[1]).expect("out1").is_empty() || got == expected,
            "{platform}: no output between the two checkpoints"
        );
        assert_eq!(got, expected, "{platform}: checkpointed twice (left), uninterrupted (right)");
        ctx.assert_nothing_left();
    }
}

#[test]
fn one_image_restores_as_two_independent_sandboxes() {
    let ctx = Ctx::new("systrap", "twice", &["/progs/ckpt"]);
    let expected = native(&ctx);
    ctx.run_detached(&ctx.image("out"));
    ctx.ok(&["checkpoint", "--image-path", "image", &ctx.id]);
    let ids = [format!("{}-a", ctx.id), format!("{}-b", ctx.id)];
    for id in &ids {
        ctx.restore_detached("image", id, &ctx.image(id), &[]);
    }
    for id in &ids {
        wait_for(|| ctx.status_of(id) == "running", "a restored copy to run");
        ctx.ok(&["kill", id, "SIGUSR1"]);
    }
    for id in &ids {
        wait_for(|| ctx.status_of(id) == "stopped", "a restored copy to finish");
        assert_eq!(fs::read_to_string(ctx.image(id)).expect("output"), expected.1, "{id}");
        ctx.ok(&["delete", id]);
    }
    ctx.assert_nothing_left();
}

/// Changes the overlay root in three phases, printing the files' state
/// after each; the next phase waits for a SIGUSR1.
const OVERLAY_SCRIPT: &str = r#"
dump() {
  echo "-- $1"
  cat /data.txt /hard /new/dir/f /moved.txt /sub/lower.txt /sub/inner/x 2>&1
  ls /sub /new /new/dir
  for f in /gone.txt /moved-src.txt /sub/other.txt; do [ -e $f ] && echo "$f is back"; done
  stat -c '%n %h %a %s' /data.txt /hard /new /sub /sub/inner
}
phase=0
trap 'phase=$((phase+1))' USR1
echo changed > /data.txt; ln /data.txt /hard; mkdir -p /new/dir; echo n > /new/dir/f
rm /gone.txt; mv /moved-src.txt /moved.txt; mkdir /sub/inner
dump one; echo ready
while [ $phase -lt 1 ]; do sleep 0.05; done
echo x > /sub/inner/x; rm /sub/other.txt; chmod 700 /new; echo more >> /hard
dump two; echo again
while [ $phase -lt 2 ]; do sleep 0.05; done
dump three
"#;

#[test]
fn overlay_root_changes_survive_two_checkpoints_as_an_uninterrupted_run_sees_them() {
    for platform in PLATFORMS {
        // Uninterrupted: both signals to the one container.
        let plain = Ctx::new(platform, "overlay-plain", &["/bin/sh", "-c", OVERLAY_SCRIPT]).overlay_root();
        let out = plain.image("plain-out");
        plain.run_detached(&out);
        plain.ok(&["kill", &plain.id, "SIGUSR1"]);
        wait_for(|| fs::read_to_string(&out).is_ok_and(|s| s.contains("again\n")), "phase two");
        plain.ok(&["kill", &plain.id, "SIGUSR1"]);
        wait_for(|| plain.status() == "stopped", "the uninterrupted run to end");
        let expected = fs::read_to_string(&out).expect("output");
        let expected = expected.split("-- three\n").nth(1).expect("a third dump").to_owned();
        assert!(expected.contains("changed\nmore\n") && expected.contains("/hard 2 "), "{expected}");
        plain.ok(&["delete", &plain.id]);

        // Checkpointed after each phase, and restored each time.
        let ctx = Ctx::new(platform, "overlay", &["/bin/sh", "-c", OVERLAY_SCRIPT]).overlay_root();
        ctx.run_detached(&ctx.image("out1"));
        ctx.ok(&["checkpoint", "--image-path", "one", &ctx.id]);
        let out2 = ctx.image("out2");
        ctx.restore_detached("one", &ctx.id, &out2, &["--page-loading", "on-demand"]);
        ctx.ok(&["kill", &ctx.id, "SIGUSR1"]);
        wait_for(|| fs::read_to_string(&out2).is_ok_and(|s| s.contains("again\n")), "phase two after a restore");
        ctx.ok(&["checkpoint", "--image-path", "two", &ctx.id]);
        let mut child = ctx.spawn_restore("two", &[]);
        ctx.wait_running(&mut child);
        ctx.ok(&["kill", &ctx.id, "SIGUSR1"]);
        let (status, got) = finish(child, "husk restore");
        assert_eq!(status, 0, "{platform}: {got}");
        let got = got.split("-- three\n").nth(1).unwrap_or_default();
        assert_eq!(got, expected, "{platform}: the overlay after two restores (left) and uninterrupted (right)");
        assert_eq!(fs::read_to_string(ctx.rootfs.path().join("data.txt")).expect("host file"), DATA);
        assert!(ctx.rootfs.path().join("gone.txt").exists(), "the host's rootfs was changed");
        ctx.assert_nothing_left();
    }
}

#[test]
fn the_console_comes_back_on_the_restores_terminal_with_its_settings() {
    for platform in PLATFORMS {
        let ctx = Ctx::new(platform, "console", &["/progs/ckpt_tty"]);
        let husk = |args: &[&str]| -> Vec<std::ffi::OsString> {
            let mut v: Vec<std::ffi::OsString> =
                vec![husk_bin().into(), "--root".into(), ctx.state_root.clone().into()];
            v.extend(["--platform", platform].iter().map(Into::into));
            v.extend(args.iter().map(Into::into));
            v
        };
        let bundle = ctx.bundle().to_str().expect("utf-8").to_owned();
        // The first run in the foreground on a terminal of its own, which
        // becomes the sandbox's console; it ends with the checkpoint.
        let first = {
            let argv = husk(&["run", "--bundle", &bundle, &ctx.id]);
            std::thread::spawn(move || run_on_pty(&argv, &[Step::Expect("ready")]))
        };
        wait_for(|| ctx.run(&["exec", &ctx.id, "/bin/cat", "/tmp/ready"]).status == 0, "the console set up");
        let image = ctx.image("image");
        ctx.ok(&["checkpoint", "--image-path", image.to_str().expect("utf-8"), &ctx.id]);
        let first = first.join().expect("the first run");
        assert!(first.failed.is_none(), "{platform}: {}", first.describe());
        // Without a terminal to give it: refused, nothing left.
        let out = ctx.run(&["restore", "--image-path", image.to_str().expect("utf-8"), "--bundle", &bundle, &ctx.id]);
        assert_ne!(out.status, 0, "{platform}: restored with no terminal");
        assert!(out.stderr_str().contains("had a terminal"), "{platform}: {}", out.describe());
        ctx.assert_nothing_left();
        // Restored on a new terminal: one key, read at once and not echoed.
        let argv = husk(&["restore", "--image-path", image.to_str().expect("utf-8"), "--bundle", &bundle, &ctx.id]);
        let out = run_on_pty(&argv, &[Step::Send("x"), Step::Expect("got x")]);
        assert_eq!(out.status, 0, "{platform}: {}", out.describe());
        assert!(
            out.text().contains("got x, canonical off, echo off, foreground mine, on /dev/pts/0"),
            "{platform}: {}",
            out.describe()
        );
        ctx.assert_nothing_left();
    }
}

/// Where a program's native run happens.
enum Native {
    /// chroot into the test root.
    Chroot,
    /// The program straight from the host (a root without the /dev it
    /// needs).
    Host,
    /// chroot into the test root, in a private mount namespace (a program
    /// that mounts).
    PrivateChroot,
}

/// `/progs/PROG` checkpointed at three points and restored from each, on
/// each platform; after its last restore it is sent SIGUSR1, and its
/// output and status must be a native run's. The points:
/// 1. at once after `run -d` returns, wherever the program then is in
///    setting up its state (restored detached, to go on);
/// 2. once it has said "ready", with `--leave-running`;
/// 3. 150 ms later (timers have fired, sleepers slept), ending it.
///
/// The images of points 2 and 3 are both restored (with `restore_args`)
/// and run to the end. Returns the native run's output.
fn restores_as_natively(case: &str, prog: &str, native: Native, restore_args: &[&str]) -> String {
    restores_as_natively_in(case, prog, native, restore_args, |ctx| ctx)
}

/// [`restores_as_natively`] in a sandbox `adjust` changes.
fn restores_as_natively_in(
    case: &str,
    prog: &str,
    native: Native,
    restore_args: &[&str],
    adjust: fn(Ctx) -> Ctx,
) -> String {
    let inner = format!("/progs/{prog}");
    let mut expected_out = String::new();
    for platform in PLATFORMS {
        let ctx = adjust(Ctx::new(platform, case, &[&inner]));
        let cmd = match native {
            Native::Chroot => {
                let mut cmd = Command::new(chroot_bin());
                cmd.arg(ctx.rootfs.path()).arg(&inner);
                cmd
            }
            Native::Host => Command::new(ctx.rootfs.path().join("progs").join(prog)),
            Native::PrivateChroot => {
                let mut cmd = Command::new(husk_suite::paths::unshare_bin());
                cmd.args(["--mount", "--propagation", "private", "--"]).arg(chroot_bin());
                cmd.arg(ctx.rootfs.path()).arg(&inner);
                cmd
            }
        };
        let expected = native_until_ready(cmd);
        assert_eq!(expected.0, 0, "native run:\n{}", expected.1);
        let (first, second) = (ctx.image("first"), ctx.image("second"));
        ctx.start_detached(&first);
        ctx.ok(&["checkpoint", "--image-path", "early", &ctx.id]);
        ctx.restore_detached("early", &ctx.id, &second, restore_args);
        let said = || {
            format!(
                "{}{}",
                fs::read_to_string(&first).unwrap_or_default(),
                fs::read_to_string(&second).unwrap_or_default()
            )
        };
        wait_for(|| said().contains("ready\n"), "the program restored early to say ready");
        assert_eq!(said(), "ready\n", "{platform}: the output up to ready, across the early checkpoint");
        ctx.ok(&["checkpoint", "--leave-running", "--image-path", "ready", &ctx.id]);
        std::thread::sleep(Duration::from_millis(150));
        ctx.ok(&["checkpoint", "--image-path", "later", &ctx.id]);
        for image in ["ready", "later"] {
            let mut child = ctx.spawn_restore(image, restore_args);
            ctx.wait_running(&mut child);
            ctx.ok(&["kill", &ctx.id, "SIGUSR1"]);
            let got = finish(child, "husk restore");
            assert_eq!(got, expected, "{platform}: restored from \"{image}\" (left), natively (right)");
        }
        ctx.assert_nothing_left();
        expected_out = expected.1;
    }
    expected_out
}

#[test]
fn namespaces_keep_their_clocks_host_names_and_open_files() {
    let out = restores_as_natively_in("ns", "ckpt_ns", Native::Host, &[], Ctx::all_caps);
    assert!(out.contains("child: CLOCK_MONOTONIC 1000 s on: yes (syscall), yes (libc)"), "{out}");
    assert!(out.contains("child: CLOCK_BOOTTIME 2000 s on: yes"), "{out}");
    assert!(out.contains("child: its offsets still fixed: yes"), "{out}");
    assert!(out.contains("hostname: ns-kept"), "{out}");
    assert!(out.contains("time_for_children the same namespace: yes"), "{out}");
    assert!(out.contains("a child forked after: CLOCK_MONOTONIC 1000 s on: yes (syscall), yes (libc)"), "{out}");
    assert!(out.contains("the parent's clocks unshifted: yes"), "{out}");
    assert!(out.contains("the open uts file is its namespace: yes"), "{out}");
    assert!(out.contains("the open net file is its namespace: yes"), "{out}");
    assert!(out.contains("in the namespace only a file held: held-only"), "{out}");
}

#[test]
fn keys_and_keyrings_come_back_with_their_serials_and_holders() {
    let out = restores_as_natively("keys", "ckpt_keys", Native::Chroot, &[]);
    assert!(out.contains("one: payload one\ntwo: payload two\n"), "{out}");
    assert!(out.contains("the process keyring's: process's\nthe thread keyring's: thread's\n"), "{out}");
    assert!(out.contains("the revoked one: Key has been revoked"), "{out}");
    assert!(out.contains("the keyring: keyring;0;0;3f010000;ckpt-ring"), "{out}");
    for keyring in ["session for two", "process keyring", "thread keyring"] {
        assert!(out.contains(&format!("search the {keyring}: the same key")), "{out}");
    }
    assert!(out.contains("request_key's default: 3"), "{out}");
    assert!(out.contains("a new key: made, a new serial: yes"), "{out}");
    assert!(out.contains("the child: session's the same key, process's Required key not available, thread's Required key not available"), "{out}");
}

#[test]
fn file_handles_open_their_files_again() {
    let out = restores_as_natively_in("handles", "ckpt_handles", Native::Chroot, &[], Ctx::all_caps);
    assert!(out.contains("the root file's handle: reads "), "{out}");
    assert!(out.contains("the tmp file's handle: reads kept in tmp"), "{out}");
    assert!(out.contains("the removed file's handle: Stale file handle"), "{out}");
    assert!(out.contains("the root file's handle made again: the same"), "{out}");
    assert!(out.contains("a new file's handle: its own\nit: reads new"), "{out}");
}

#[test]
fn the_sysctls_the_app_wrote_keep_their_values() {
    // Natively on the host (a chroot has no /proc): the program moves each
    // host value by one and puts it back.
    let out = restores_as_natively_in("sysctl", "ckpt_sysctl", Native::Host, &[], Ctx::all_caps);
    for sysctl in ["vm/max_map_count", "fs/lease-break-time", "kernel/keys/maxkeys", "kernel/keys/gc_delay"] {
        assert!(out.contains(&format!("/proc/sys/{sysctl}: moved by 1\n")), "{out}");
    }
    assert!(out.contains("the open comm file reads ckpt_sysctl\n"), "{out}");
}

#[test]
fn a_pseudo_terminal_and_its_session_come_back_as_they_were() {
    let out = restores_as_natively("pty", "ckpt_pty", Native::Host, &[]);
    assert!(out.contains("child read: typed line"), "{out}");
}

#[test]
fn loopback_and_unix_sockets_keep_their_names_connections_and_data() {
    let out = restores_as_natively("sock", "ckpt_sock", Native::Chroot, &[]);
    assert!(!out.contains(": no") && !out.contains("elsewhere"), "{out}");
}

#[test]
fn sealed_mappings_stay_sealed_and_membarrier_registrations_stay() {
    let out = restores_as_natively("mseal", "ckpt_mseal", Native::Chroot, &[]);
    assert!(out.contains("munmap of the sealed page: EPERM"), "{out}");
    assert!(out.contains("mprotect of the sealed page: EPERM"), "{out}");
    assert!(out.contains("munmap of the page before it: ok"), "{out}");
    assert!(out.contains("membarrier private expedited: ok"), "{out}");
}

#[test]
fn a_shared_mapping_of_a_tmpfs_file_stays_shared_with_the_file() {
    let out = restores_as_natively("shm", "ckpt_shm", Native::Chroot, &["--page-loading", "on-demand"]);
    assert!(out.contains("a new mapping: written before, from the child"), "{out}");
}

#[test]
fn advisory_locks_stay_held_by_their_owners_and_go_as_they_let_go() {
    let out = restores_as_natively("lock", "ckpt_lock", Native::Chroot, &[]);
    assert!(out.contains("flock from elsewhere: EWOULDBLOCK"), "{out}");
    assert!(out.contains("tmp byte 60: write at 50 len 0, the parent's"), "{out}");
    assert!(out.contains("tmp bytes 10-11 after the OFD's close: none"), "{out}");
    assert!(out.contains("root bytes 0-9 still: read at 2 len 4, the parent's"), "{out}");
}

#[test]
fn files_no_name_leads_to_come_back_with_their_pages_and_mappings() {
    let out = restores_as_natively("unlinked", "ckpt_unlinked", Native::Chroot, &["--page-loading", "on-demand"]);
    assert!(out.contains("the child's write through the mapping reads back: the child"), "{out}");
    assert!(out.contains("tmpfile: named, it reads \"kept in a nameless file\", links 1"), "{out}");
}

#[test]
fn inotify_watches_and_unread_events_survive_and_report_on() {
    let out = restores_as_natively("inotify", "ckpt_inotify", Native::Chroot, &[]);
    assert!(out.contains("queued before: wd 1 CREATE a"), "{out}");
    assert!(out.contains("after: wd 3 CLOSE_NOWRITE -"), "{out}");
    assert!(out.contains("a new watch: wd 4"), "{out}");
}

#[test]
fn timers_on_cpu_time_keep_their_settings_and_tick_on() {
    let out = restores_as_natively("cputimer", "ckpt_cputimer", Native::Chroot, &[]);
    assert!(out.contains("ITIMER_PROF ticks on: yes"), "{out}");
    assert!(out.contains("left within 499-500 s: yes"), "{out}");
    assert!(out.contains("the thread's CPU-time timer ticks on: yes"), "{out}");
    assert!(out.contains("the thread's timer interval: 5000000 ns"), "{out}");
}

#[test]
fn the_cpu_time_limit_is_watched_after_a_restore() {
    let out = restores_as_natively("rlimit_cpu", "ckpt_rlimit_cpu", Native::Chroot, &[]);
    assert!(out.contains("SIGXCPU after the restore: yes, the soft limit then 2"), "{out}");
}

#[test]
fn signal_driven_io_owners_and_signals_survive() {
    let out = restores_as_natively("sigio", "ckpt_sigio", Native::Chroot, &[]);
    assert!(out.contains("pipe: the signal came with its fd: yes, POLL_IN: yes"), "{out}");
    assert!(out.contains("socket: SIGIO came: yes"), "{out}");
}

#[test]
fn pidfds_of_a_live_child_a_zombie_and_a_reaped_child_come_back() {
    let out = restores_as_natively("pidfd", "ckpt_pidfd", Native::Chroot, &[]);
    assert!(out.contains("waitid through it: pid matches yes, status 7"), "{out}");
    assert!(out.contains("killed by SIGTERM"), "{out}");
    assert!(out.contains("the reaped child's pidfd: readable, hung up"), "{out}");
    assert!(out.contains("a signal through it: No such process"), "{out}");
    assert!(out.contains("waitid through it: No child processes"), "{out}");
}

#[test]
fn seccomp_filters_strict_mode_and_their_sharing_come_back() {
    let out = restores_as_natively("seccomp", "ckpt_seccomp", Native::Chroot, &[]);
    assert!(out.contains("getppid: errno 42"), "{out}");
    assert!(out.contains("uname: trapped 1, si_errno 5"), "{out}");
    assert!(out.contains("TSYNC after the restore: 0"), "{out}");
    assert!(out.contains("the thread's getppid: errno 42"), "{out}");
    assert!(out.contains("the child's getppid: errno 42"), "{out}");
    assert!(out.contains("the strict child wrote strict\nand was killed by 9"), "{out}");
}

#[test]
fn memfds_keep_their_pages_seals_and_shared_mappings() {
    let out = restores_as_natively("memfd", "ckpt_memfd", Native::Host, &[]);
    // The reopen through /proc/self/fd needs a /proc: the host's natively.
    assert!(out.contains("a reopen's seals: 0x6"), "{out}");
    assert!(out.contains("the parent's mapping says: the child wrote this after the restore"), "{out}");
    assert!(out.contains("ftruncate past the seal: Operation not permitted"), "{out}");
    assert!(out.contains("the plain memfd reads on: 6 [456789]"), "{out}");
    assert!(out.contains("is /memfd:shared-pages (deleted)"), "{out}");
}

#[test]
fn named_pipes_keep_their_data_and_ends_and_their_paths_reach_them() {
    let out = restores_as_natively("fifo", "ckpt_fifo", Native::Chroot, &[]);
    assert!(out.contains("capacity: 8192"), "{out}");
    assert!(out.contains("the reader: 26 [written before, then after]"), "{out}");
    assert!(out.contains("the reader, writers gone: 0 [end of file]"), "{out}");
    assert!(out.contains("child read 7 [wake up]"), "{out}");
}

#[test]
fn system_v_objects_keep_their_ids_contents_attaches_and_undo() {
    let out = restores_as_natively("sysv", "ckpt_sysv", Native::Chroot, &[]);
    assert!(out.contains("same ids: yes yes yes yes"), "{out}");
    assert!(out.contains("attaches: 4 (the parent and its three children), removed one 4, idle 0"), "{out}");
    assert!(out.contains("the parent's attach says: the child wrote this after the restore"), "{out}");
    assert!(out.contains("semaphore 0 after its holder's exit: 1"), "{out}");
    assert!(out.contains("the waiter got semaphore 1: yes"), "{out}");
    assert!(out.contains("message of type 3: 32 three"), "{out}");
}

#[test]
fn message_queues_keep_their_messages_names_and_notifications() {
    let out = restores_as_natively("mqueue", "ckpt_mqueue", Native::Chroot, &[]);
    assert!(out.contains("attributes: maxmsg 5, msgsize 64, 3 queued"), "{out}");
    assert!(out.contains("received 4 [high] at 5\nreceived 6 [middle] at 3\nreceived 3 [low] at 1"), "{out}");
    assert!(out.contains("the unlinked queue: 14 [kept by its fd]"), "{out}");
    assert!(out.contains("the notification's value: 42"), "{out}");
    assert!(out.contains("the thread notification's value: 7"), "{out}");
    assert!(out.contains("the child received 13 [for the child] at 9"), "{out}");
}

#[test]
fn files_in_flight_netlink_dumps_and_corked_datagrams_survive() {
    let out = restores_as_natively("scm", "ckpt_scm", Native::Chroot, &[]);
    assert!(out.contains("a pipe: 16 [through the pipe]"), "{out}");
    assert!(out.contains("a socket, then a file on it: 4 [6789]"), "{out}");
    assert!(out.contains("the netlink port id is the pid: yes"), "{out}");
    assert!(out.contains("the link dump: links, done"), "{out}");
    assert!(out.contains("one datagram: 9 [held back]"), "{out}");
}

#[test]
fn leases_and_directory_notifications_hold_and_signal() {
    let out = restores_as_natively("lease", "ckpt_lease", Native::Chroot, &[]);
    assert!(out.contains("the lease: F_RDLCK\na writer's open: EWOULDBLOCK"), "{out}");
    assert!(out.contains("the break's signal: with the lease's fd"), "{out}");
    assert!(out.contains("a writer's open once let go: opened"), "{out}");
    assert!(out.contains("the directory's signals: 2, with its fd: yes"), "{out}");
}

#[test]
fn aio_contexts_keep_their_rings_and_polls_in_flight() {
    let out = restores_as_natively("aio", "ckpt_aio", Native::Chroot, &[]);
    assert!(out.contains("the ring: same size yes, magic 0xa10a10a1, 1 unreaped"), "{out}");
    assert!(out.contains("reaped 1: data 1, result 14"), "{out}");
    assert!(out.contains("then 1: data 2, POLLIN yes"), "{out}");
    assert!(out.contains("the eventfd counts 1"), "{out}");
}

#[test]
fn files_deleted_from_a_host_tree_while_open_or_mapped_come_back_as_copies() {
    let out = restores_as_natively_in("ghost", "ckpt_ghost", Native::Chroot, &[], Ctx::host_root);
    assert!(out.contains("the fd reads on: 4 [bbbb]"), "{out}");
    assert!(out.contains("the read-only mapping: a b c"), "{out}");
    assert!(out.contains("the written mapping: X a\nafter MADV_DONTNEED: a"), "{out}");
    assert!(out.contains("links 0, size 12288"), "{out}");
    assert!(out.contains("size now 12290"), "{out}");
}

#[test]
fn shared_mappings_of_host_files_come_back_shared_with_what_was_stored() {
    let out = restores_as_natively_in("hostmap", "ckpt_hostmap", Native::Chroot, &[], Ctx::host_root);
    assert!(out.contains("the shared mapping: stored before\nthe file reads: stored before, then b"), "{out}");
    assert!(out.contains("the private copy: P b"), "{out}");
    assert!(out.contains("the child's store: X in the mapping, X in the file\nput back: c"), "{out}");
    assert!(out.contains("the private copy after MADV_DONTNEED: b"), "{out}");
    assert!(out.contains("the read-only mapping: read-only shared"), "{out}");
}

#[test]
fn an_overlay_keeping_its_files_on_disk_comes_back_with_them() {
    let out = restores_as_natively_in("diskov", "ckpt_diskov", Native::Chroot, &[], Ctx::disk_overlay_root);
    assert!(
        out.contains("the sparse file: 1048584 bytes, its first page A's, its hole zeros, its tail tail!"),
        "{out}"
    );
    assert!(out.contains("the lower file: lower+more"), "{out}");
    assert!(
        out.contains("the unlinked file from offset 9: data (0 links)\nwritten to after: unlinked-data+after"),
        "{out}"
    );
    assert!(out.contains("the shared mapping: shared-one, page-two\nthe shared file reads: shared-one"), "{out}");
    assert!(out.contains("a store through the mapping, read from the file: shared-two"), "{out}");
    assert!(out.contains("a write to the file, seen in the mapping: THREEtwo"), "{out}");
    assert!(out.contains("the private mapping: PRIVATE-file; its file: private-file"), "{out}");
    assert!(out.contains("the big file: 3145728 bytes, the same bytes"), "{out}");
    assert!(out.contains("a file made after: made after"), "{out}");
}

/// The image of a sandbox whose overlay keeps its files on disk holds
/// their data in its disk file, not in its memory; and the sandbox used
/// the disk: its store was there while it ran.
#[test]
fn an_overlay_on_disk_goes_to_the_images_disk_file() {
    for platform in PLATFORMS {
        let ctx = Ctx::new(platform, "diskov-image", &["/progs/ckpt_diskov"]).disk_overlay_root();
        let out = ctx.image("out");
        ctx.run_detached(&out);
        let stores: Vec<_> = fs::read_dir(ctx.overlay_disk()).expect("the overlay's directory").collect();
        assert_eq!(stores.len(), 1, "{platform}: one store on disk while the sandbox runs");
        ctx.ok(&["checkpoint", "--image-path", "img", &ctx.id]);
        let size = |name: &str| fs::metadata(ctx.image("img").join(name)).map(|m| m.len()).unwrap_or(0);
        // The 3 MiB file, the sparse one's two runs, and the rest.
        let disk = size("husk-disk.img");
        assert!(((3 << 20) + 8192..4 << 20).contains(&disk), "{platform}: {disk} bytes of files on disk in the image");
        assert_eq!(
            fs::read_dir(ctx.overlay_disk()).expect("the overlay's directory").count(),
            0,
            "{platform}: the store is gone with the sandbox"
        );
        // Restored into a memory overlay: refused, and nothing is left.
        let path = ctx.bundle().join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("config")).expect("JSON");
        config["annotations"]["dev.husk.overlay"] = json!("memory");
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        let bundle = ctx.bundle().to_string_lossy().into_owned();
        let refused = ctx.run(&["restore", "-d", "--image-path", "img", "--bundle", &bundle, &ctx.id]);
        assert_ne!(refused.status, 0, "{platform}: restored into a memory overlay");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("kept its files on disk"), "{platform}: {}", refused.describe());
        ctx.assert_nothing_left();
        // A byte of the disk file changed: refused by its checksum.
        let ctx = ctx.disk_overlay_root();
        let disk_file = ctx.image("img").join("husk-disk.img");
        let mut bytes = fs::read(&disk_file).expect("the disk file");
        bytes[100] ^= 0x20;
        fs::write(&disk_file, bytes).expect("the disk file");
        let refused = ctx.run(&["restore", "-d", "--image-path", "img", "--bundle", &bundle, &ctx.id]);
        assert_ne!(refused.status, 0, "{platform}: restored from a changed disk file");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("does not match its checksum"), "{platform}: {}", refused.describe());
        ctx.assert_nothing_left();
    }
}

#[test]
fn mounts_the_app_made_come_back_with_their_files_flags_and_binds() {
    let out = restores_as_natively_in("mounts", "ckpt_mounts", Native::PrivateChroot, &[], Ctx::sys_admin);
    assert!(out.contains("/tmp/ck/a: kept in the tmpfs"), "{out}");
    assert!(out.contains("the open file reads on:  in"), "{out}");
    assert!(out.contains("/tmp/ck/d/c: through the bind"), "{out}");
    assert!(out.contains("write in the read-only bind: EROFS"), "{out}");
    assert!(out.contains("write in the read-only tmpfs: EROFS"), "{out}");
    assert!(out.contains("its size: 256 blocks of 4096"), "{out}");
    assert!(out.contains("umount the tmpfs: ok"), "{out}");
}
