//! The `husk run` command line: bad input fails with one clear line and
//! leaves no process behind; `--strace`, `--env`, `--cwd` and exit status
//! propagation work; the app is pid 1 and sees Husk's release.
//!
//! The tests in this file run one at a time (see [`serial`]) and this
//! process is a child subreaper, so that every process husk started, even
//! one that outlived husk, shows up among this process's descendants.

use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use husk_suite::paths::husk_bin;
use husk_suite::procs;
use husk_suite::run::{husk_command, run_command, DEFAULT_TIMEOUT};
use husk_suite::{husk_test, Case, Link, Outcome, Rootfs, UTS_RELEASE};

/// Serializes this file's tests and makes the process a subreaper.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static SUBREAPER: Once = Once::new();
    SUBREAPER.call_once(procs::become_subreaper);
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asserts that nothing husk started is still running, waiting up to 2 s
/// for processes that are on their way out. Kills what it finds.
fn assert_no_leftovers(what: &str) {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = procs::live_descendants_of_self();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= until {
            for p in &left {
                procs::kill(p.pid);
            }
            let list: Vec<_> = left.iter().map(|p| format!("pid {} ({})", p.pid, p.cmdline)).collect();
            panic!("{what} left processes behind: {}", list.join(", "));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a husk command line (under [`serial`]) and checks that it left
/// nothing behind.
fn run(cmd: Command, stdin: Option<&[u8]>) -> Outcome {
    let what = format!("{cmd:?}");
    let out = run_command(cmd, stdin, DEFAULT_TIMEOUT, "husk");
    assert_no_leftovers(&what);
    out
}

/// `husk ARGS...`, with a host-only variable in husk's own environment
/// that the app must not see.
fn husk(args: &[&str]) -> Command {
    let mut cmd = Command::new(husk_bin());
    cmd.args(args).env("HUSK_SUITE_HOST_ONLY", "leak");
    cmd
}

/// Asserts a failed run with exactly one non-empty line on stderr that
/// mentions `mention`, and nothing on stdout.
fn assert_one_line_error(out: &Outcome, mention: &str) {
    let detail = out.describe();
    assert_ne!(out.status, 0, "bad input must fail\n{detail}");
    assert!(out.stdout.is_empty(), "nothing on stdout\n{detail}");
    let err = out.stderr_str();
    let text = err.strip_suffix('\n').unwrap_or(&err);
    assert!(!text.trim().is_empty(), "an error message on stderr\n{detail}");
    assert_eq!(text.lines().count(), 1, "exactly one line on stderr\n{detail}");
    assert!(text.contains(mention), "the message names {mention:?}\n{detail}");
}

fn hello_rootfs() -> Rootfs {
    let rootfs = Rootfs::new();
    rootfs.prog("hello", Link::Static);
    rootfs.file_mode("/progs/script.txt", "just some text\n", 0o755);
    rootfs
}

fn root_arg(rootfs: &Rootfs) -> &str {
    rootfs.path().to_str().expect("utf-8 path")
}

husk_test! {
    fn cli_missing_rootfs(platform) {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let missing = rootfs.outside().join("no-such-rootfs");
        let missing = missing.to_str().unwrap();
        let out = run(husk(&["run", "--rootfs", missing, "--platform", platform, "--", "/progs/hello"]), None);
        assert_one_line_error(&out, "no-such-rootfs");
    }
}

husk_test! {
    fn cli_prog_missing(platform) {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let out = run(husk(&["run", "--rootfs", root_arg(&rootfs), "--platform", platform, "--", "/progs/nope"]), None);
        assert_one_line_error(&out, "/progs/nope");
    }
}

husk_test! {
    fn cli_prog_not_elf(platform) {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let out = run(
            husk(&["run", "--rootfs", root_arg(&rootfs), "--platform", platform, "--", "/progs/script.txt"]),
            None,
        );
        assert_one_line_error(&out, "/progs/script.txt");
    }
}

husk_test! {
    fn cli_unknown_flag() {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let out = run(husk(&["run", "--no-such-flag", "--rootfs", root_arg(&rootfs), "--", "/progs/hello"]), None);
        assert_one_line_error(&out, "--no-such-flag");
    }
}

husk_test! {
    fn cli_unknown_platform() {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let out = run(
            husk(&["run", "--rootfs", root_arg(&rootfs), "--platform", "no-such-platform", "--", "/progs/hello"]),
            None,
        );
        assert_one_line_error(&out, "no-such-platform");
    }
}

/// Runs `case` under husk on `platform` (serialized, leftovers checked)
/// and asserts its expectations.
fn run_case(platform: &str, case: &Case) -> Outcome {
    let mut cmd = husk_command(platform, case);
    cmd.env("HUSK_SUITE_HOST_ONLY", "leak");
    let out = run(cmd, None);
    case.verify(&format!("husk --platform {platform}"), &out);
    out
}

husk_test! {
    /// `--strace` logs syscalls on stderr and leaves stdout alone.
    fn cli_strace(platform) {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let case = Case::new(&rootfs, "/progs/hello").husk_flags(["--strace"]).expect_stdout("hello, world\n");
        let out = run_case(platform, &case);
        let err = out.stderr_str();
        assert!(err.lines().any(|l| l.contains("write(")), "no write( line in the --strace output:\n{err}");
    }
}

husk_test! {
    /// husk exits with the app's status, or 128+N for death by signal N.
    fn cli_exit_status(platform) {
        let _serial = serial();
        let rootfs = Rootfs::new();
        let prog = rootfs.prog("exitcode", Link::Static);
        for (args, status) in [
            (&["0"][..], 0),
            (&["42"][..], 42),
            (&["256"][..], 0),
            (&["exit_group", "7"][..], 7),
            (&["segv"][..], 139),
        ] {
            run_case(platform, &Case::new(&rootfs, prog.clone()).args(args.iter().copied()).expect_status(status));
        }
    }
}

husk_test! {
    /// The app's environment is exactly the `--env` values, in order.
    fn cli_env(platform) {
        let _serial = serial();
        let rootfs = Rootfs::new();
        rootfs.busybox(&[]);
        let case = Case::new(&rootfs, "/bin/busybox")
            .args(["env"])
            .env("A", "1")
            .env("B", "two words")
            .env("C", "x=y")
            .expect_stdout("A=1\nB=two words\nC=x=y\n");
        run_case(platform, &case);
        run_case(platform, &Case::new(&rootfs, "/bin/busybox").args(["env"]).expect_stdout(""));
    }
}

husk_test! {
    /// The working directory is `/`, or `--cwd`.
    fn cli_cwd(platform) {
        let _serial = serial();
        let rootfs = Rootfs::new();
        rootfs.busybox(&[]).dir("/data/sub");
        run_case(platform, &Case::new(&rootfs, "/bin/busybox").args(["pwd"]).expect_stdout("/\n"));
        let case = Case::new(&rootfs, "/bin/busybox")
            .args(["pwd"])
            .husk_flags(["--cwd", "/data/sub"])
            .expect_stdout("/data/sub\n");
        run_case(platform, &case);
    }
}

husk_test! {
    /// The app is pid 1 (with no parent) and uname reports Husk's release.
    fn cli_pid1_and_uname(platform) {
        let _serial = serial();
        let rootfs = Rootfs::new();
        let prog = rootfs.prog("ids", Link::Static);
        let case = Case::new(&rootfs, prog).expect_stdout(format!(
            "pid=1\ntid=1\nppid=0\nsysname=Linux\nrelease={UTS_RELEASE}\nmachine=x86_64\n"
        ));
        run_case(platform, &case);
    }
}

husk_test! {
    /// The harness finds the husk binary (else it says how to build it).
    fn cli_husk_binary_is_built() {
        assert!(husk_bin().is_file());
    }
}

husk_test! {
    /// `husk run` with no `--rootfs` runs on the host's own system: its
    /// /usr, /etc and library directories (or the links to them) beneath
    /// overlays, /etc without its secrets, empty /root, /home and /var,
    /// docker run's usual environment (which --env overrides), writes that
    /// never reach the host, and no directory left behind in the state
    /// directory.
    fn cli_host_system_root(platform) {
        let _serial = serial();
        let state = tempfile::tempdir().expect("a state directory");
        let marker = format!("husk-cli-{}", std::process::id());
        let script = format!(
            "ls / | tr '\\n' ' '; echo; test -e /etc/shadow || echo no shadow; test -r /etc/passwd && echo passwd; \
             ls /etc | grep -cx 'shadow'; ls -A /root /home /var | tr -s '\\n' ' '; echo; echo $HOME $HOSTNAME $PATH $FOO; \
             echo hi > /root/x && cat /root/x; touch /usr/local/{marker} && echo wrote; \
             grep -c ' /usr overlay ' /proc/self/mounts"
        );
        let out = run(
            husk(&[
                "--root", state.path().to_str().unwrap(), "run", "--platform", platform, "--hostname", "box",
                "--env", "FOO=bar", "--", "/bin/sh", "-c", &script,
            ]),
            None,
        );
        let mut root: Vec<String> = ["dev", "home", "media", "mnt", "opt", "proc", "root", "run", "srv", "sys", "tmp", "var"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for d in ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"] {
            if std::fs::symlink_metadata(format!("/{d}")).is_ok() {
                root.push(d.to_string());
            }
        }
        root.sort();
        let expected = format!(
            "{} \nno shadow\npasswd\n0\n/home: /root: /var: \n/root box \
             /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bar\nhi\nwrote\n1\n",
            root.join(" ")
        );
        assert_eq!(out.stdout_str(), expected, "{}", out.describe());
        assert_eq!(out.status, 0, "{}", out.describe());
        assert!(!std::path::Path::new("/usr/local").join(&marker).exists(), "a write reached the host's /usr");
        let left: Vec<_> = std::fs::read_dir(state.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "left in the state directory: {left:?}");
    }
}

husk_test! {
    /// Bad write-mode flags: a clear one-line error each, and nothing left
    /// behind (no overlay store made under the directory named).
    fn cli_bad_write_modes() {
        let _serial = serial();
        let rootfs = hello_rootfs();
        let root = root_arg(&rootfs);
        let store = rootfs.outside().join("store");
        std::fs::create_dir_all(&store).expect("mkdir");
        let disk = format!("disk:{}", store.display());
        for (args, mention) in [
            (vec!["--overlay", "nvme"], "nvme"),
            (vec!["--overlay", "disk:"], "disk:"),
            (vec!["--overlay", "disk:/proc"], "procfs"),
            (vec!["--overlay", &disk, "--read-only"], "--read-only"),
            (vec!["--overlay", &disk, "--root-writes", "host"], "--root-writes host"),
            (vec!["--root-writes", "elsewhere"], "elsewhere"),
            (vec!["--volume", "/nonexistent-husk-volume:/v"], "/nonexistent-husk-volume"),
            (vec!["--volume", "/tmp:/v:rx"], "rx"),
        ] {
            let mut argv = vec!["run", "--rootfs", root];
            argv.extend(&args);
            argv.extend(["--", "/progs/hello"]);
            let out = run(husk(&argv), None);
            assert_one_line_error(&out, mention);
            assert_eq!(std::fs::read_dir(&store).expect("store").count(), 0, "{args:?} left something");
        }
        assert_no_leftovers("bad write modes");
    }
}

husk_test! {
    /// `husk debug seccomp` lists each filter's syscalls for review; each
    /// is within its budget (40 for the Gofer).
    fn cli_debug_seccomp() {
        let out = run(husk(&["debug", "seccomp"]), None);
        assert_eq!(out.status, 0, "{}", out.describe());
        let text = out.stdout_str();
        let mut filters = 0;
        for line in text.lines().filter(|l| l.starts_with("gofer") || l.starts_with("sentry")) {
            filters += 1;
            let n: usize = line.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).expect("a count");
            let budget = if line.starts_with("sentry") { 60 } else { 40 };
            assert!(n <= budget, "{line}");
        }
        assert_eq!(filters, 3, "{text}");
        assert!(text.contains("  mmap (argument rules)\n") && text.contains("  clone (argument rules)\n"), "{text}");
        assert!(text.contains("  openat2\n") && text.contains("  renameat2\n"), "{text}");
    }
}

husk_test! {
    /// `husk debug syscalls` lists every syscall with its support level and
    /// note, and a summary whose counts add up to the rows.
    fn cli_debug_syscalls() {
        let out = run(husk(&["debug", "syscalls"]), None);
        assert_eq!(out.status, 0, "{}", out.describe());
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().collect();
        let (summary, rows) = lines.split_last().expect("some output");
        let level = |name: &str| {
            rows.iter()
                .find(|r| r.split_whitespace().nth(1) == Some(name))
                .and_then(|r| r.split_whitespace().nth(2))
                .unwrap_or("missing")
                .to_string()
        };
        assert_eq!(level("getpid"), "full", "{text}");
        assert_eq!(level("io_uring_setup"), "refused", "{text}");
        assert_eq!(level("kexec_load"), "none", "{text}");
        let total: usize = summary.split(' ').next().and_then(|n| n.parse().ok()).expect("a total");
        assert_eq!(total, rows.len(), "{summary}");
    }
}

husk_test! {
    /// Stdio redirected to and from host files (`husk run ... <in >out`):
    /// every process of the sandbox reads and writes where the host file's
    /// position is, as natively, even through copy_file_range (what
    /// coreutils' cat copies with) from a file and from the input file.
    fn cli_stdio_host_files(platform) {
        let _serial = serial();
        let rootfs = Rootfs::new();
        rootfs.file("/etc/version", "12.5\n");
        let prog = rootfs.prog("copy_stdio", Link::Static);
        let dir = tempfile::tempdir().expect("temp dir");
        let (input, output) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&input, "one\ntwo\nthree\n").expect("write the input");
        let case = Case::new(&rootfs, prog);
        let mut cmd = husk_command(platform, &case);
        cmd.stdin(std::fs::File::open(&input).expect("open the input"));
        cmd.stdout(std::fs::File::create(&output).expect("create the output"));
        let status = cmd.status().expect("run husk");
        assert!(status.success(), "husk: {status}");
        let got = std::fs::read_to_string(&output).expect("read the output");
        assert_eq!(got, "read one\n12.5\ntwo\nthree\nend\n");
    }
}
