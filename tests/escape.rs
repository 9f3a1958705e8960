//! Escape attempts: symlinks and `..` paths that point outside the root
//! must resolve inside it, as they do under `chroot`.
//!
//! Each test's temporary directory holds the root (`rootfs/`) and, beside
//! it, `host-marker.txt` with a unique string. Symlinks in the root point
//! at the marker every way we can think of; the sandbox must never print
//! the marker, and must behave exactly as the native `chroot` run does.

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
        let case = Case::new(&s.rootfs, "/bin/sh").args(["-c", "cat /etc/passwd >/dev/null; sleep 3"]);
        let mut cmd = husk_command(platform, &case);
        let mut child = cmd.stdout(std::process::Stdio::null()).spawn().expect("start husk");
        let husk_pid = child.id();
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

husk_test! {
    /// `tests/progs/escape_calls.c`: mounts, pivot_root, namespaces,
    /// reboot, kexec, modules, bpf, perf, keys, userfaultfd, port I/O, the
    /// kernel log, raw and packet sockets, the clock, other processes,
    /// ioctls on each kind of fd, fd guessing, huge mappings and a deep
    /// path. Each fails with a Linux errno or stays inside the sandbox
    /// (its hostname is its own); and the host is unchanged: its hostname,
    /// its clock and its mount table. The app has every capability
    /// (`--cap-add ALL`): even then nothing reaches the host.
    fn escape_system_calls(platform) {
        let rootfs = Rootfs::new();
        let prog = rootfs.prog("escape_calls", Link::Static);
        rootfs.dir_mode("/tmp", 0o1777).dir("/mnt").dir("/dev");
        let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo").lines().count();
        let (name_before, clock_before) = (host_hostname(), std::time::SystemTime::now());
        let case = Case::new(&rootfs, prog).husk_flags(["--cap-add", "ALL"]).expect_lines(&[
            "mount a tmpfs: ENOSYS",
            "pivot_root: ENOSYS",
            "open_by_handle_at (shocker): ENOSYS",
            "unshare(CLONE_NEWUSER): ENOSYS",
            "setns: ENOSYS",
            "reboot: ENOSYS",
            "kexec_load: ENOSYS",
            "finit_module: ENOSYS",
            "bpf: ENOSYS",
            "perf_event_open: ENOSYS",
            "keyctl: ENOSYS",
            "userfaultfd: ENOSYS",
            "iopl: ENOSYS",
            "syslog (read the kernel log): ENOSYS",
            "mknod /dev/sda-like (8:0): EPERM",
            "open /dev/mem: ENOENT",
            "settimeofday: ENOSYS",
            "clock_settime: ENOSYS",
            "sethostname: ok",
            "ptrace(PTRACE_ATTACH) of a pid outside: ENOSYS",
            "kill of a pid outside: ESRCH",
            "process_vm_readv of a pid outside: ENOSYS",
            "socket(AF_PACKET, SOCK_RAW): EAFNOSUPPORT",
            "socket(AF_INET, SOCK_RAW): ESOCKTNOSUPPORT",
            "socket(AF_NETLINK): EAFNOSUPPORT",
            "ioctl(TIOCSTI) on a pipe: ENOTTY",
            "ioctl(0xdeadbeef) on a file: ENOTTY",
            "ioctl(SIOCGIFCONF-like 0x8912) on a socket: ENOTTY",
            "fds open: 7",
            "mmap 64 TiB: ENOMEM",
            "brk to 64 TiB: ENOMEM",
            "directories made deep: 2000",
            "stat of a 6000-byte path: ENAMETOOLONG",
            "done",
        ]);
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        assert_eq!(host_hostname(), name_before, "the host's hostname changed");
        // (The app tried to set it to 2001: any step of that size shows.)
        let now = std::time::SystemTime::now();
        let drift = now.duration_since(clock_before).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
        assert!(drift < std::time::Duration::from_secs(3600), "the host's clock jumped: {drift:?}");
        let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo").lines().count();
        assert_eq!(mounts_after, mounts_before, "the host's mount table changed");
    }
}

husk_test! {
    /// The sandbox's host processes (husk, its stubs, its Gofer) are in
    /// network, IPC and UTS namespaces of their own, not the host's.
    fn escape_host_processes_in_namespaces_of_their_own(platform) {
        use std::io::BufRead;
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "sleep", "echo"]);
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", "echo ready; sleep 30"]);
        let mut child = husk_suite::run::husk_command(platform, &case)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start husk");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        assert_eq!(line, "ready\n");
        let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
        let mut pids = vec![child.id() as i32];
        pids.extend(husk_suite::procs::descendants(child.id() as i32).iter().map(|p| p.pid));
        let mut checked = Vec::new();
        for kind in ["net", "ipc", "uts"] {
            let host = ns(std::process::id() as i32, kind).expect("this process's namespace");
            for &pid in &pids {
                if let Some(theirs) = ns(pid, kind) {
                    assert_ne!(theirs, host, "process {pid} is in the host's {kind} namespace");
                    checked.push(pid);
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(checked.len() >= 6, "husk, its Gofer and a stub, three namespaces each: {checked:?}");
    }
}
