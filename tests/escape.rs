//! Escape attempts: symlinks and `..` paths that point outside the root
//! must resolve inside it, as they do under `chroot`.
//!
//! Each test's temporary directory holds the root (`rootfs/`) and, beside
//! it, `host-marker.txt` with a unique string. Symlinks in the root point
//! at the marker every way we can think of; the sandbox must never print
//! the marker, and must behave exactly as the native `chroot` run does.
//!
//! `escape_suite` runs issue 11's escape suite: the programs of
//! `tests/escape/`, each an escape attempt checked from inside, and then
//! checks the host from outside.

use std::sync::Arc;

use std::process::Command;

use husk_suite::run::{husk_command, run_command};
use husk_suite::{differential, differential_test, husk_test, paths, run_husk, Case, Link, Outcome, Rootfs};

const SANDBOX_PASSWD: &str = "sandbox-passwd-line";

struct Setup {
    rootfs: Rootfs,
    /// The marker's contents: must never appear in any output.
    marker: Arc<String>,
    /// The marker's absolute host path, without the leading `/`.
    marker_rel: String,
}

fn setup() -> Setup {
    let rootfs = Rootfs::new();
    let marker = format!(
        "HUSK-HOST-MARKER-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let marker_path = rootfs.outside().join("host-marker.txt");
    std::fs::write(&marker_path, format!("{marker}\n")).expect("write the host marker");
    assert_eq!(marker_path.parent(), rootfs.path().parent(), "the marker sits beside the root");
    let marker_abs = marker_path.to_str().expect("utf-8 path").to_owned();
    let marker_rel = marker_abs.trim_start_matches('/').to_owned();
    let ups = "../".repeat(12);

    rootfs
        .busybox(&["cat"])
        .file("/etc/passwd", format!("{SANDBOX_PASSWD}\n"))
        .dir("/sub")
        // Relative symlinks that climb past the root.
        .symlink("/escape_rel", format!("{ups}etc/shadow"))
        .symlink("/escape_rel_passwd", format!("{ups}etc/passwd"))
        .symlink("/escape_rel_marker", format!("{ups}{marker_rel}"))
        .symlink("/escape_parent_marker", "../host-marker.txt")
        .symlink("/sub/deeplink", "../../host-marker.txt")
        .symlink("/chain1", "chain2")
        .symlink("/chain2", "sub/../../host-marker.txt")
        // Absolute symlinks: resolved from the sandbox's root.
        .symlink("/escape_abs", "/etc/hostname")
        .symlink("/escape_abs_marker", &marker_abs)
        .symlink("/escape_abs_passwd", "/etc/passwd")
        // Directory symlinks that point above the root.
        .symlink("/updir", "..")
        .symlink("/dirlink", ups.trim_end_matches('/'));
    Setup { rootfs, marker: Arc::new(marker), marker_rel }
}

fn no_marker(marker: &Arc<String>) -> impl Fn(&husk_suite::Outcome) + Send + Sync + 'static {
    let marker = Arc::clone(marker);
    move |out| {
        assert!(
            !out.stdout_str().contains(marker.as_str()) && !out.stderr_str().contains(marker.as_str()),
            "the host-only marker leaked into the sandbox"
        );
    }
}

differential_test! {
    /// Opens each escape path with a small C program that prints the first
    /// line or the errno name.
    fn escape_paths(platform) {
        let s = setup();
        let prog = s.rootfs.prog("readpaths", Link::Static);
        let rel = &s.marker_rel;
        let probes: Vec<(String, &str)> = vec![
            ("/etc/passwd".into(), SANDBOX_PASSWD),
            ("/escape_rel".into(), "ENOENT"),
            ("/escape_rel_passwd".into(), SANDBOX_PASSWD),
            ("/escape_rel_marker".into(), "ENOENT"),
            ("/escape_parent_marker".into(), "ENOENT"),
            ("/sub/deeplink".into(), "ENOENT"),
            ("/chain1".into(), "ENOENT"),
            ("/escape_abs".into(), "ENOENT"),
            ("/escape_abs_marker".into(), "ENOENT"),
            ("/escape_abs_passwd".into(), SANDBOX_PASSWD),
            ("/updir/host-marker.txt".into(), "ENOENT"),
            ("/updir/rootfs/etc/passwd".into(), "ENOENT"),
            ("/updir/etc/passwd".into(), SANDBOX_PASSWD),
            ("/dirlink/etc/passwd".into(), SANDBOX_PASSWD),
            (format!("/dirlink/{rel}"), "ENOENT"),
            ("/../../../etc/passwd".into(), SANDBOX_PASSWD),
            ("/../host-marker.txt".into(), "ENOENT"),
            (format!("/../../../../../../../../{rel}"), "ENOENT"),
            // The sandbox's own procfs: its root is the sandbox's.
            ("/proc/self/root/etc/passwd".into(), SANDBOX_PASSWD),
            (format!("/proc/self/root/{rel}"), "ENOENT"),
            ("@/:../host-marker.txt".into(), "ENOENT"),
            ("@/:../../etc/passwd".into(), SANDBOX_PASSWD),
            ("@/sub:../../host-marker.txt".into(), "ENOENT"),
            ("@/updir:host-marker.txt".into(), "ENOENT"),
        ];
        let mut expected: String = probes.iter().map(|(path, result)| format!("{path}: {result}\n")).collect();
        expected.push_str(&format!(
            "cwd after 32 x chdir(..): /\n\
             relative etc/passwd from there: {SANDBOX_PASSWD}\n\
             openat(/, ../../../etc/passwd): {SANDBOX_PASSWD}\n\
             openat(/, ../../..): ok\n\
             cwd after fchdir to it: /\n"
        ));
        let case = Case::new(&s.rootfs, prog)
            .args(probes.iter().map(|(path, _)| path.clone()))
            .compare_stderr()
            .expect_stdout(expected)
            .check(no_marker(&s.marker));
        differential(platform, &case);
    }
}

differential_test! {
    /// busybox `cat` through the escaping symlinks: each one fails.
    fn escape_busybox_cat(platform) {
        let s = setup();
        for path in ["/escape_parent_marker", "/escape_abs_marker", "/updir/host-marker.txt", "/chain1"] {
            let case = Case::new(&s.rootfs, "/bin/busybox")
                .args(["cat", path])
                .compare_stderr()
                .expect_status(1)
                .expect_stdout("")
                .check(no_marker(&s.marker));
            differential(platform, &case);
        }
        let case = Case::new(&s.rootfs, "/bin/busybox")
            .args(["cat", "/dirlink/etc/passwd"])
            .compare_stderr()
            .expect_stdout(format!("{SANDBOX_PASSWD}\n"));
        differential(platform, &case);
    }
}

// ------------------------------------------- host mounts beneath a root

/// Runs `case` under `husk run` in a private mount namespace in which the
/// shell commands `mounts` first mount things beneath the rootfs. The
/// mounts end with the namespace: nothing is left on the host, and the
/// rootfs's cleanup never walks into them.
fn run_husk_with_mounts(platform: &str, case: &Case, mounts: &str) -> Outcome {
    let husk = husk_command(platform, case);
    let mut cmd = Command::new(paths::unshare_bin());
    cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(format!("set -e; {mounts}; exec \"$@\""))
        .arg("sh")
        .arg(husk.get_program())
        .args(husk.get_args());
    run_command(
        cmd,
        None,
        std::time::Duration::from_secs(120),
        &format!("husk --platform {platform}, host mounts beneath the root"),
    )
    .split_husk_log()
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").expect("read the host's hostname").trim().to_owned()
}

husk_test! {
    /// Issue 19: a rootfs with a host procfs at /proc and at /hostproc, a
    /// host sysfs at /sys, a tmpfs, a bind-mounted directory and a
    /// bind-mounted file beneath it (as a debootstrap chroot often has).
    /// The Gofer never crosses those mount points: each is an empty
    /// directory (or file), /proc and /sys are the sandbox's own, nothing
    /// of the host shows, and writes change nothing on the host: they land
    /// in the root's overlay, in the sandbox's memory.
    fn escape_host_mounts_beneath_the_root(platform) {
        let s = setup();
        let r = &s.rootfs;
        r.busybox(&["sh", "ls", "stat", "tr", "grep", "echo", "wc"])
            .dir("/hostproc")
            .dir("/proc")
            .dir("/sys")
            .dir("/mnt/t")
            .dir("/bound")
            .file("/bound-file", "");
        let hostdir = r.outside().join("hostdir");
        std::fs::create_dir(&hostdir).unwrap();
        std::fs::write(hostdir.join("secret"), format!("{}\n", s.marker)).unwrap();
        let root = r.path().display().to_string();
        let marker_file = r.outside().join("host-marker.txt").display().to_string();
        let mounts = format!(
            "mount -t proc proc {root}/proc; mount -t proc proc {root}/hostproc; mount -t sysfs sysfs {root}/sys; \
             mount -t tmpfs tmpfs {root}/mnt/t; cp {marker_file} {root}/mnt/t/secret; \
             mount --bind {hostdir} {root}/bound; mount --bind {marker_file} {root}/bound-file",
            hostdir = hostdir.display()
        );
        let script = r#"
for d in /hostproc /mnt/t /bound; do echo "$d: $(ls -A $d | wc -l) entries, $(stat -c '%F %a %h %u:%g' $d)"; done
echo "/bound-file: $(stat -c '%F %s' /bound-file) [$(cat /bound-file)]"
cat /hostproc/1/cmdline /mnt/t/secret /bound/secret 2>&1 | grep -c 'No such file'
echo "pid 1: $(tr '\0' ' ' < /proc/1/cmdline)"
echo "hostname: $(cat /proc/sys/kernel/hostname 2>&1 | wc -l) line"
grep -c '^proc /proc proc ' /proc/self/mounts
grep -c '^sysfs /sys sysfs ' /proc/self/mounts
ls /sys/devices/system/cpu | grep -c '^online$'
for f in /bound/new /mnt/t/new /bound-file /hostproc/sys/kernel/hostname /hostproc/sysrq-trigger; do
    (echo husk > $f) 2>/dev/null && echo "wrote $f"
done
echo done
"#;
        let case = Case::new(r, "/bin/sh")
            .args(["-c", script])
            .husk_flags(["--hostname", "husk-sandbox"])
            .expect_stdout(
                "/hostproc: 0 entries, directory 755 2 0:0\n\
                 /mnt/t: 0 entries, directory 755 2 0:0\n\
                 /bound: 0 entries, directory 755 2 0:0\n\
                 /bound-file: regular empty file 0 []\n\
                 3\n\
                 pid 1: /bin/sh -c ".to_owned() + script + " \n\
                 hostname: 1 line\n1\n1\n1\n\
                 wrote /bound/new\nwrote /mnt/t/new\nwrote /bound-file\nwrote /hostproc/sysrq-trigger\ndone\n",
            )
            .check(no_marker(&s.marker));
        let host = host_hostname();
        let out = run_husk_with_mounts(platform, &case, &mounts);
        case.verify(&format!("husk --platform {platform}"), &out);
        if host.len() >= 4 && host != "husk-sandbox" {
            assert!(!out.stdout_str().contains(&host), "the host's hostname {host:?} leaked:\n{}", out.describe());
        }
        // The host is unchanged.
        let entries: Vec<_> = std::fs::read_dir(&hostdir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, ["secret"]);
        assert_eq!(std::fs::read_to_string(hostdir.join("secret")).unwrap(), format!("{}\n", s.marker));
        assert_eq!(std::fs::read_to_string(&marker_file).unwrap(), format!("{}\n", s.marker));
        assert_eq!(host_hostname(), host);
    }
}

husk_test! {
    /// A rootfs or a volume on a kernel pseudo-filesystem is refused at
    /// start-up with an error naming the path and the filesystem, and
    /// nothing runs.
    fn escape_pseudo_filesystem_roots_are_refused(platform) {
        let s = setup();
        s.rootfs.busybox(&["echo"]);
        let mut cases = vec![
            (vec!["--volume", "/proc:/p"], "/proc is on procfs"),
            (vec!["--volume", "/proc/self:/p"], "/proc/self is on procfs"),
            (vec!["--volume", "/proc/cpuinfo:/cpuinfo"], "/proc/cpuinfo is on procfs"),
            (vec!["--volume", "/sys/kernel:/k"], "/sys/kernel is on sysfs"),
        ];
        let dev_is_devtmpfs = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/dev") && l.contains(" - devtmpfs "));
        if dev_is_devtmpfs {
            cases.push((vec!["--volume", "/dev:/hostdev"], "/dev is on devtmpfs"));
        }
        for (flags, message) in cases {
            let case = Case::new(&s.rootfs, "/bin/busybox")
                .args(["echo", "ran"])
                .husk_flags(flags.clone())
                .expect_status(125)
                .expect_stdout("");
            let out = run_husk(platform, &case);
            case.verify(&format!("husk --platform {platform} {flags:?}"), &out);
            assert!(out.stderr_str().contains(message), "{flags:?}: expected {message:?} in:\n{}", out.describe());
        }
        // The rootfs itself.
        let out = run_command(
            {
                let mut c = Command::new(paths::husk_bin());
                c.args(["run", "--rootfs", "/proc", "--platform", platform, "--", "/bin/true"]);
                c
            },
            None,
            std::time::Duration::from_secs(60),
            "husk run --rootfs /proc",
        );
        assert_eq!(out.status, 125, "{}", out.describe());
        assert!(out.stderr_str().contains("rootfs: /proc is on procfs"), "{}", out.describe());
    }
}

husk_test! {
    /// The Gofer is confined by its seccomp filter (issue 11) before it
    /// serves: /proc/PID/status of the running Gofer says seccomp mode 2
    /// (filter) and no_new_privs, while the sandbox runs normally on it.
    fn escape_gofer_is_confined(platform) {
        let s = setup();
        // setup() gives busybox's cat; sh and sleep are its applets too.
        s.rootfs.busybox(&["sh", "sleep"]);
        let case = Case::new(&s.rootfs, "/bin/sh").args(["-c", "cat /etc/passwd >/dev/null; echo served; sleep 3"]);
        let mut cmd = husk_command(platform, &case);
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("start husk");
        let husk_pid = child.id();
        // Once the Gofer has served the app's first file (a status read
        // before could catch it between its exec and its filter).
        let mut served = String::new();
        let stdout = child.stdout.take().expect("husk's stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut served).expect("read husk's stdout");
        assert_eq!(served, "served\n");
        // The Gofer: husk's child whose command line is `husk gofer ...`.
        let gofer = (0..100).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let ppid: u32 = stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let gofer = cmdline.split(|&b| b == 0).nth(1) == Some(b"gofer".as_slice());
                (ppid == husk_pid && gofer).then_some(pid)
            })
        });
        let status = gofer.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok());
        let out = child.wait().expect("wait for husk");
        let status = status.expect("the Gofer was found running");
        assert!(status.lines().any(|l| l == "Seccomp:\t2"), "the Gofer runs under a seccomp filter:\n{status}");
        assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "with no_new_privs:\n{status}");
        assert!(out.success(), "the sandbox ran on the confined Gofer: {out:?}");
    }
}

// ------------------------------------------------------- the escape suite

/// Programs of `tests/escape/` that need more than the common flags.
fn escape_flags(name: &str) -> &'static [&'static str] {
    match name {
        // Bounded: the bombs stop at 32 tasks.
        "fork_bomb" | "thread_bomb" => &["--pids", "32"],
        "write_ro_root" => &["--read-only"],
        _ => &[],
    }
}

/// Programs run with a host pty as their stdio rather than pipes.
const ESCAPE_ON_PTY: &[&str] = &["ioctl_host_tty"];

/// The letters `ioctl_host_tty.c` pushes with TIOCSTI, one at a time: seen
/// together on its terminal, they would have been typed into the host's.
const PUSHED_LETTERS: &str = "QZJX";

/// The fewest programs the suite must have (issue 11 asks for 50).
const ESCAPE_MIN_PROGRAMS: usize = 55;

/// `tests/escape/`.
fn escape_src_dir() -> std::path::PathBuf {
    paths::manifest_dir().join("tests").join("escape")
}

/// Compiles every `tests/escape/*.c` (once per test process, two at a
/// time, each reused until its source, a header or this file is newer)
/// into `target/husk-test/escape/`; returns (name, binary), by name.
fn escape_programs() -> &'static [(String, std::path::PathBuf)] {
    static BUILT: std::sync::OnceLock<Vec<(String, std::path::PathBuf)>> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let src = escape_src_dir();
        let mut names: Vec<String> = std::fs::read_dir(&src)
            .expect("read tests/escape/")
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".c").map(str::to_owned))
            .collect();
        names.sort();
        let out_dir = paths::work_dir().join("escape");
        std::fs::create_dir_all(&out_dir).expect("create target/husk-test/escape");
        let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let shared = [
            src.join("escape.h"),
            paths::progs_src_dir().join("common.h"),
            paths::manifest_dir().join("tests").join("escape.rs"),
        ];
        let build = |name: &String| {
            let source = src.join(format!("{name}.c"));
            let out = out_dir.join(name);
            let newest = shared.iter().chain([&source]).filter_map(|p| mtime(p)).max();
            if let (Some(built), Some(newest)) = (mtime(&out), newest) {
                if built >= newest {
                    return (name.clone(), out);
                }
            }
            let tmp = out_dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let cc = Command::new("cc")
                .args(["-O1", "-g", "-Wall", "-Wextra", "-static", "-no-pie", "-pthread", "-o"])
                .arg(&tmp)
                .arg(&source)
                .output()
                .unwrap_or_else(|e| panic!("running cc (is gcc installed?): {e}"));
            assert!(cc.status.success(), "cc {} failed:\n{}", source.display(), String::from_utf8_lossy(&cc.stderr));
            std::fs::rename(&tmp, &out).expect("rename the compiled program into place");
            (name.clone(), out)
        };
        let (evens, odds): (Vec<_>, Vec<_>) = names.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let mut built: Vec<_> = std::thread::scope(|s| {
            let other = s.spawn(|| odds.iter().map(|&(_, n)| build(n)).collect::<Vec<_>>());
            let mut mine: Vec<_> = evens.iter().map(|&(_, n)| build(n)).collect();
            mine.extend(other.join().expect("a compiler thread panicked"));
            mine
        });
        built.sort();
        built
    })
}

/// What a tree holds: each entry's type, mode, owner, size, mtime, and a
/// file's contents' hash or a link's target, by path. (Not the link
/// count: the programs are hard links that the other platform's run
/// links too.)
fn tree_snapshot(root: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let m = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let what = if m.is_dir() {
            for e in std::fs::read_dir(&path).expect("readdir") {
                stack.push(e.expect("dir entry").path());
            }
            "dir".to_owned()
        } else if m.file_type().is_symlink() {
            format!("link to {:?}", std::fs::read_link(&path).expect("readlink"))
        } else {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).hash(&mut h);
            format!("file {:x}", h.finish())
        };
        let rel = path.strip_prefix(root).expect("beneath the root").to_path_buf();
        out.insert(
            rel,
            format!(
                "{what} mode {:o} owner {}:{} size {} mtime {}.{}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
    }
    out
}

/// The host's mounts as (mount point, type, source), from mountinfo.
fn host_mounts() -> std::collections::BTreeSet<(String, String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some((fields.get(4)?.to_string(), fields.get(dash + 1)?.to_string(), fields.get(dash + 2)?.to_string()))
        })
        .collect()
}

/// Host state the escape programs try to change, and that nothing else in
/// the test suite changes: the kernel's names and knobs that the programs
/// write from inside, the modules, swaps and mounts, and the host paths
/// the programs create inside the sandbox.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    files: Vec<(&'static str, Option<String>)>,
    modules: std::collections::BTreeSet<String>,
    paths: Vec<(String, bool)>,
}

/// Host paths named by the programs (as paths inside the sandbox): none
/// may appear on the host, and none that was there may change.
const HOST_PATHS: &[&str] = &[
    "/tmp/husk-escape.ko",
    "/tmp/swapfile",
    "/tmp/acct",
    "/tmp/jail",
    "/tmp/cwd-dir",
    "/tmp/fd-dir",
    "/tmp/c-moved",
    "/tmp/to-marker",
    "/tmp/create-through",
    "/tmp/abs-marker",
    "/tmp/abs-rootfs",
    "/tmp/p1root",
    "/tmp/chain1",
    "/tmp/sda",
    "/tmp/kvm",
    "/tmp/pwn",
    "/tmp/ioctl-file",
    "/tmp/vol",
    "/tmp/taken",
    "/tmp/new",
    "/c-moved",
    "/new",
    "/new-file",
    "/new-dir",
    "/renamed",
    "/etc-link",
    "/sandbox-marker",
    "/progs",
    "/ro",
    "/vol",
    "/vol2",
    "/husk",
];

fn host_state() -> HostState {
    const FILES: &[&str] = &[
        "/proc/sys/kernel/hostname",
        "/proc/sys/kernel/domainname",
        "/proc/sys/kernel/ctrl-alt-del",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/sys/kernel/kexec_loaded",
        "/sys/kernel/uevent_helper",
        "/proc/swaps",
        "/sys/class/net/lo/flags",
    ];
    let modules = std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next().map(str::to_owned))
        .collect();
    let paths = HOST_PATHS.iter().map(|p| (p.to_string(), std::fs::symlink_metadata(p).is_ok())).collect();
    HostState { files: FILES.iter().map(|f| (*f, std::fs::read_to_string(f).ok())).collect(), modules, paths }
}

/// The processes a run may have left: any whose command line names the
/// run's case directory (husk, its Gofer), or orphans reparented to this
/// test process (the subreaper) with no command line (a stub).
fn leftovers(case_dir: &str) -> Vec<husk_suite::procs::Proc> {
    let me = std::process::id() as i32;
    husk_suite::procs::all()
        .into_iter()
        .filter(|p| !p.is_zombie() && (p.cmdline.contains(case_dir) || (p.ppid == me && p.cmdline.is_empty())))
        .collect()
}

husk_test! {
    /// Issue 11's escape suite: each program in `tests/escape/` makes one
    /// escape attempt (or one family of the same attempt) from inside the
    /// sandbox and says, one line per check, whether it failed with
    /// Linux's errno (or Husk's ENOSYS for a call it does not offer) or
    /// stayed inside; it exits 0 only if every check held. Each program
    /// runs in its own sandbox, on the same root, with a `:ro` volume and a
    /// read-write one, and knows (from ESCAPE_* variables) the host paths,
    /// pid, ports and socket it aims at. Afterwards the host is checked
    /// from outside: its hostname, kernel knobs, modules, swaps, keys,
    /// mounts and clock; no host process was signalled or left behind; the
    /// rootfs, the `:ro` volume, the marker beside the root and Husk's own
    /// binary are unchanged; the read-write volume holds exactly what the
    /// programs made in it; the host's listeners got no connection.
    fn escape_suite(platform) {
        use std::io::Read as _;
        use std::os::linux::net::SocketAddrExt as _;
        use std::os::unix::fs::MetadataExt as _;

        static SUBREAPER: std::sync::Once = std::sync::Once::new();
        SUBREAPER.call_once(husk_suite::procs::become_subreaper);
        let programs = escape_programs();
        assert!(
            programs.len() >= ESCAPE_MIN_PROGRAMS,
            "the escape suite has {} programs, fewer than {ESCAPE_MIN_PROGRAMS}",
            programs.len()
        );

        // The root, the volumes and the marker beside the root.
        let rootfs = Rootfs::new();
        rootfs.dir_mode("/tmp", 0o1777).dir("/dev").dir("/mnt").dir("/ro").dir("/vol");
        rootfs.file("/sandbox-marker", "sandbox-root\n");
        for (name, built) in programs {
            let inner = rootfs.host_path(&format!("/progs/{name}"));
            std::fs::create_dir_all(inner.parent().unwrap()).unwrap();
            if std::fs::hard_link(built, &inner).is_err() {
                std::fs::copy(built, &inner).expect("copy an escape program");
            }
        }
        let outside = rootfs.outside().to_path_buf();
        let case_dir = outside.to_str().expect("utf-8 path").to_owned();
        let tag = format!("husk-escape-{}-{platform}", std::process::id());
        let marker = format!("{tag}-marker-{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        let marker_path = outside.join("host-marker.txt");
        std::fs::write(&marker_path, format!("{marker}\n")).unwrap();
        let (ro, rw) = (outside.join("ro"), outside.join("rw"));
        std::fs::create_dir_all(ro.join("ro-dir/inner")).unwrap();
        std::fs::write(ro.join("ro-file"), "read-only volume\n").unwrap();
        std::fs::create_dir(&rw).unwrap();

        // The host's listeners the programs aim at.
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("a host TCP listener");
        tcp.set_nonblocking(true).unwrap();
        let port = tcp.local_addr().unwrap().port();
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("a host UDP socket on the same port");
        udp.set_nonblocking(true).unwrap();
        let abstract_name = format!("{tag}-abstract");
        let unix = std::os::unix::net::UnixListener::bind_addr(
            &std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
        )
        .expect("a host abstract Unix socket");
        unix.set_nonblocking(true).unwrap();

        let husk_bin = std::fs::metadata(paths::husk_bin()).expect("stat husk");
        let rootfs_before = tree_snapshot(rootfs.path());
        let ro_before = tree_snapshot(&ro);
        let host_before = host_state();
        let mounts_before = host_mounts();
        let (wall_before, mono_before) = (std::time::SystemTime::now(), std::time::Instant::now());

        let mut failures = Vec::new();
        let (mut checks, mut slowest) = (0usize, (std::time::Duration::ZERO, String::new()));
        for (name, _) in programs {
            let mut case = Case::new(&rootfs, format!("/progs/{name}"))
                .husk_flags(["--volume", &format!("{}:/ro:ro", ro.display()), "--volume", &format!("{}:/vol", rw.display())])
                .husk_flags(escape_flags(name).iter().copied())
                // The strongest app: root inside with every capability.
                .husk_flags(["--cap-add", "ALL"])
                .timeout(std::time::Duration::from_secs(30));
            for (k, v) in [
                ("ESCAPE_TAG", tag.clone()),
                ("ESCAPE_MARKER_PATH", marker_path.display().to_string()),
                ("ESCAPE_MARKER", marker.clone()),
                ("ESCAPE_ROOTFS", rootfs.path().display().to_string()),
                ("ESCAPE_HOST_PID", std::process::id().to_string()),
                ("ESCAPE_HOST_PORT", port.to_string()),
                ("ESCAPE_HOST_ABSTRACT", abstract_name.clone()),
            ] {
                case = case.env(k, &v);
            }
            let start = std::time::Instant::now();
            let (status, output) = if ESCAPE_ON_PTY.contains(&name.as_str()) {
                let cmd = husk_command(platform, &case);
                let mut argv = vec![cmd.get_program().to_owned()];
                argv.extend(cmd.get_args().map(ToOwned::to_owned));
                let out = husk_suite::pty::run_on_pty(&argv, &[]);
                if out.text().contains(PUSHED_LETTERS) {
                    failures.push(format!("{name}: the letters it pushed reached the host's terminal:\n{}", out.describe()));
                }
                (out.status, out.text())
            } else {
                let out = run_husk(platform, &case);
                (out.status, format!("{}{}", out.stdout_str(), out.stderr_str()))
            };
            let took = start.elapsed();
            if took > slowest.0 {
                slowest = (took, name.clone());
            }
            let held = output.lines().find_map(|l| l.strip_prefix("escape: ")?.strip_suffix(" checks held")?.parse::<usize>().ok());
            let bad: Vec<&str> = output.lines().filter(|l| l.contains(": bad (")).collect();
            match held {
                Some(n) if status == 0 && bad.is_empty() => checks += n,
                _ => failures.push(format!("{name} (exit status {status}):\n{}", output.trim_end())),
            }
            if output.contains(&marker) {
                failures.push(format!("{name}: THE HOST MARKER LEAKED INTO THE SANDBOX"));
            }
            // Nothing of the run is left: husk, its Gofer, its stubs.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let mut left = leftovers(&case_dir);
            while !left.is_empty() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(20));
                left = leftovers(&case_dir);
            }
            if !left.is_empty() {
                failures.push(format!("{name}: processes left behind: {left:?}"));
                for p in &left {
                    husk_suite::procs::kill(p.pid);
                }
            }
        }
        let elapsed = mono_before.elapsed();
        eprintln!(
            "escape suite on {platform}: {} programs, {checks} checks held, {:.1} s (slowest: {} {:.1} s)",
            programs.len(),
            elapsed.as_secs_f64(),
            slowest.1,
            slowest.0.as_secs_f64()
        );

        // The host, from outside.
        let mut host = Vec::new();
        let after = host_state();
        for ((file, before), (_, now)) in host_before.files.iter().zip(&after.files) {
            if before != now {
                host.push(format!("{file} changed: {before:?} -> {now:?}"));
            }
        }
        if after.modules != host_before.modules {
            host.push(format!(
                "the host's modules changed: {:?} / {:?}",
                after.modules.difference(&host_before.modules).collect::<Vec<_>>(),
                host_before.modules.difference(&after.modules).collect::<Vec<_>>()
            ));
        }
        for ((path, was), (_, is)) in host_before.paths.iter().zip(&after.paths) {
            if was != is {
                host.push(format!("the host's {path} {}", if *is { "appeared" } else { "went" }));
            }
        }
        let created = format!("{}-created", marker_path.display());
        if std::path::Path::new(&created).exists() {
            host.push(format!("{created} was made on the host"));
        }
        if std::fs::read_to_string("/proc/keys").unwrap_or_default().contains(&tag) {
            host.push("a key named by the sandbox is in the host's /proc/keys".to_owned());
        }
        // Mounts: none new of the programs' (source "husk-escape", or
        // beneath the case directory), and none at the places they tried
        // to mount on or unmount added or gone. (Other host mounts may come
        // and go while the suite runs: other tests, other users.)
        let mounts_after = host_mounts();
        let watched = ["/", "/mnt", "/proc", "/sys", "/dev", "/tmp", "/sys/fs/cgroup", "/run"];
        for m in mounts_after.symmetric_difference(&mounts_before) {
            let (point, _, source) = m;
            if source.contains("husk-escape") || point.starts_with(&case_dir) || watched.contains(&point.as_str()) {
                let how = if mounts_after.contains(m) { "appeared" } else { "went" };
                host.push(format!("a host mount {how}: {m:?}"));
            }
        }
        // The clock went on (the programs tried to set it to 2001).
        let wall = std::time::SystemTime::now().duration_since(wall_before);
        let mono = mono_before.elapsed();
        match wall {
            Ok(w) if w <= mono + std::time::Duration::from_secs(60) => {}
            _ => host.push(format!("the host's clock jumped: {wall:?} of wall time in {mono:?}")),
        }
        // The trees the sandbox saw, and what is beside them.
        if tree_snapshot(rootfs.path()) != rootfs_before {
            host.push("the rootfs directory changed".to_owned());
        }
        if tree_snapshot(&ro) != ro_before {
            host.push("the :ro volume changed".to_owned());
        }
        if std::fs::read_to_string(&marker_path).ok().as_deref() != Some(&format!("{marker}\n")) {
            host.push("the host marker changed".to_owned());
        }
        let mut beside: Vec<_> =
            std::fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        beside.sort();
        if beside != ["host-marker.txt", "ro", "rootfs", "rw"] {
            host.push(format!("beside the root: {beside:?}"));
        }
        let now_bin = std::fs::metadata(paths::husk_bin()).expect("stat husk");
        if (now_bin.len(), now_bin.mtime(), now_bin.mtime_nsec(), now_bin.ino())
            != (husk_bin.len(), husk_bin.mtime(), husk_bin.mtime_nsec(), husk_bin.ino())
        {
            host.push("Husk's binary changed".to_owned());
        }
        // The read-write volume: what the programs made, and the 4 GiB
        // sparse file, as big on the host and as sparse.
        let mut vol: Vec<_> =
            std::fs::read_dir(&rw).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        vol.sort();
        if vol != ["abs", "dotdot", "ioctl-file", "sparse-4gib", "up"] {
            host.push(format!("the read-write volume holds {vol:?}"));
        }
        if let Ok(m) = std::fs::metadata(rw.join("sparse-4gib")) {
            if m.len() != (4 << 30) + 1 || m.blocks() > 2048 {
                host.push(format!("the sparse file is {} bytes in {} blocks on the host", m.len(), m.blocks()));
            }
            let _ = std::fs::remove_file(rw.join("sparse-4gib"));
        }
        // The host's listeners: nothing came.
        if tcp.accept().is_ok() {
            host.push("the host's TCP listener got a connection".to_owned());
        }
        if udp.recv_from(&mut [0u8; 64]).is_ok() {
            host.push("the host's UDP socket got a datagram".to_owned());
        }
        if let Ok((mut s, _)) = unix.accept() {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            host.push("the host's abstract Unix socket got a connection".to_owned());
        }
        if !host.is_empty() {
            failures.push(format!("the host changed:\n  {}", host.join("\n  ")));
        }
        assert!(
            failures.is_empty(),
            "escape suite on {platform}: {} of {} programs failed (rootfs {}; HUSK_TEST_KEEP=1 keeps it):\n\n{}",
            failures.len(),
            programs.len(),
            rootfs.path().display(),
            failures.join("\n\n")
        );
    }
}

/// Starts `sh -c 'echo ready; sleep 30'` in a sandbox (as host user
/// `user`, or root), and checks its host processes from the host's side:
/// - every one (the Sentry, its stubs (none on kvm), the Gofer) is in network, IPC, UTS,
///   cgroup and pid namespaces other than the host's, and in a user
///   namespace of its own when rootless;
/// - the Sentry (husk's one child) and its stubs are under seccomp with
///   no_new_privs and hold no capability, and the Sentry's root is empty
///   but for /proc, in a mount namespace of its own;
/// - the Gofer is under seccomp too, with an empty root in a mount
///   namespace of its own;
/// - the NAT relay is in the host's network namespace only, under seccomp,
///   with no capability and an empty root (not even /proc).
fn check_host_processes_confined(platform: &str, user: Option<u32>) {
    use std::io::BufRead;
    let rootfs = Rootfs::new();
    rootfs.busybox(&["sh", "sleep", "echo"]);
    let mut case = Case::new(&rootfs, "/bin/sh").args(["-c", "echo ready; sleep 30"]);
    if let Some(uid) = user {
        case = case.as_host_user(uid);
    }
    let mut child = husk_command(platform, &case).stdout(std::process::Stdio::piped()).spawn().expect("start husk");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    assert_eq!(line, "ready\n");
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    let status = |pid: i32, key: &str| -> String {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_owned()).unwrap_or_default()
    };
    // With setpriv, husk is setpriv's child (it execs, so the same pid).
    let husk = child.id() as i32;
    let procs = husk_suite::procs::descendants(husk);
    let helper = |p: &husk_suite::procs::Proc| p.cmdline.contains(" gofer ") || p.cmdline.contains(" relay ");
    let sentry = procs.iter().find(|p| p.ppid == husk && !helper(p)).map(|p| p.pid);
    let sentry = sentry.unwrap_or_else(|| panic!("no Sentry process below husk {husk}: {procs:?}"));
    let gofer = procs.iter().find(|p| p.cmdline.contains(" gofer ")).map(|p| p.pid).expect("a Gofer");
    let stubs: Vec<i32> = procs.iter().filter(|p| p.ppid == sentry).map(|p| p.pid).collect();
    if platform == "kvm" {
        // The app runs in the guest, on the Sentry's own threads.
        assert!(stubs.is_empty(), "a process below the Sentry on kvm: {procs:?}");
    } else {
        assert!(!stubs.is_empty(), "no stub below the Sentry: {procs:?}");
    }
    let me = std::process::id() as i32;
    let mut kinds = vec!["net", "ipc", "uts", "cgroup", "pid"];
    if user.is_some() {
        kinds.push("user");
    }
    for kind in kinds {
        let host = ns(me, kind).expect("this process's namespace");
        for &pid in stubs.iter().chain([&sentry, &gofer]) {
            // (pid: the namespace its children are born in, for husk's.)
            let theirs = ns(pid, kind).unwrap_or_else(|| panic!("no {kind} namespace for {pid}"));
            assert_ne!(theirs, host, "process {pid} is in the host's {kind} namespace");
        }
    }
    assert_ne!(ns(sentry, "mnt"), ns(me, "mnt"), "the Sentry is in the host's mount namespace");
    for &pid in stubs.iter().chain([&sentry]) {
        assert_eq!(status(pid, "Seccomp:"), "2", "process {pid} has no seccomp filter");
        assert_eq!(status(pid, "NoNewPrivs:"), "1", "process {pid} may gain privileges");
        assert_eq!(status(pid, "CapEff:"), "0000000000000000", "process {pid} holds capabilities");
        assert_eq!(status(pid, "CapPrm:"), "0000000000000000", "process {pid} holds capabilities");
    }
    assert_eq!(status(sentry, "CapBnd:"), "0000000000000000", "the Sentry could regain capabilities");
    assert_eq!(status(gofer, "Seccomp:"), "2", "the Gofer has no seccomp filter");
    let mut root: Vec<String> = std::fs::read_dir(format!("/proc/{sentry}/root"))
        .expect("the Sentry's root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    root.sort();
    assert_eq!(root, ["proc"], "the Sentry's root holds only its /proc");
    // The Gofer's mount namespace holds nothing but an empty root; its
    // roots are reached only through the fds it holds.
    assert_ne!(ns(gofer, "mnt"), ns(me, "mnt"), "the Gofer is in the host's mount namespace");
    let gofer_root = std::fs::read_dir(format!("/proc/{gofer}/root")).expect("the Gofer's root").count();
    assert_eq!(gofer_root, 0, "the Gofer's root is not empty");
    // The NAT relay stays in the host's network namespace (it is the way
    // out), and in nothing else of the host's: no path, no capability.
    let relay = procs.iter().find(|p| p.cmdline.contains(" relay ")).map(|p| p.pid).expect("a relay");
    // The relay confines itself once it has read its policy, before it
    // reads the Sentry's first request, so possibly after the app has
    // started: give it a moment on a busy machine.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(relay, "Seccomp:") != "2" && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(ns(relay, "net"), ns(me, "net"), "the relay is not in the host's network namespace");
    for kind in ["mnt", "ipc", "uts", "cgroup"] {
        assert_ne!(ns(relay, kind), ns(me, kind), "the relay is in the host's {kind} namespace");
    }
    assert_eq!(status(relay, "Seccomp:"), "2", "the relay has no seccomp filter");
    assert_eq!(status(relay, "NoNewPrivs:"), "1", "the relay may gain privileges");
    assert_eq!(status(relay, "CapEff:"), "0000000000000000", "the relay holds capabilities");
    let relay_root: Vec<String> = std::fs::read_dir(format!("/proc/{relay}/root"))
        .expect("the relay's root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(relay_root.is_empty(), "the relay's root is not empty: {relay_root:?}");
    if let Some(uid) = user {
        let uids = status(sentry, "Uid:");
        assert!(uids.split_whitespace().all(|u| u == uid.to_string()), "the Sentry runs as {uids}, not {uid}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

husk_test! {
    /// The sandbox's host processes, started by root, in namespaces of
    /// their own and confined (see [`check_host_processes_confined`]).
    fn escape_host_processes_confined(platform) {
        check_host_processes_confined(platform, None);
    }
}

husk_test! {
    /// The same, started by an unprivileged host user (rootless mode):
    /// the same namespaces, within a user namespace of their own.
    fn escape_host_processes_confined_rootless(platform) {
        check_host_processes_confined(platform, Some(65534));
    }
}
