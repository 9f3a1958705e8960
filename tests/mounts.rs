//! Sandbox mounts: bind mounts through the Gofer (`--volume`), tmpfs
//! (`--tmpfs`) and the Sentry's procfs (`--proc`). The native side cannot
//! mount the same things without root tricks of its own, so these cases
//! check exact output under Husk.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use husk_suite::debian::debian_rootfs;
use husk_suite::paths::husk_bin;
use husk_suite::run::{run_command, DEFAULT_TIMEOUT};
use husk_suite::{husk_test, procs, run_husk, Case, Rootfs};

/// A busybox root with its own /etc/passwd, and host-only files beside it:
/// `vol/` (a directory to bind, holding a symlink to /etc/passwd) and
/// `hosts` (a single file to bind).
fn rootfs() -> Rootfs {
    let r = Rootfs::new();
    r.busybox(&[
        "cat", "cut", "grep", "head", "kill", "ln", "ls", "mkdir", "ps", "readlink", "rm", "sleep", "tr", "wc",
    ])
    .file("/etc/passwd", "root:x:0:0:sandbox:/root:/bin/sh\n")
    .dir("/mnt");
    let vol = r.outside().join("vol");
    fs::create_dir_all(vol.join("sub")).unwrap();
    fs::write(vol.join("sub/f"), "in the volume\n").unwrap();
    symlink("/etc/passwd", vol.join("pw")).unwrap();
    fs::write(r.outside().join("hosts"), "127.0.0.1 sandbox\n").unwrap();
    r
}

fn sh(r: &Rootfs, script: &str, flags: &[String]) -> Case {
    Case::new(r, "/bin/busybox").args(["sh", "-c", script]).husk_flags(flags.iter().cloned())
}

fn volumes(r: &Rootfs, ro: bool) -> Vec<String> {
    let suffix = if ro { ":ro" } else { "" };
    vec![
        "--volume".into(),
        format!("{}:/mnt/vol{suffix}", r.outside().join("vol").display()),
        "--volume".into(),
        format!("{}:/etc/hosts{suffix}", r.outside().join("hosts").display()),
    ]
}

fn check(platform: &str, case: Case) {
    let out = run_husk(platform, &case);
    case.verify(&format!("husk --platform {platform}"), &out);
}

husk_test! {
    /// A bound directory and a bound single file show their contents; `..`
    /// out of the bind mount is the sandbox's /mnt, never the host's parent
    /// (which holds `hosts` and `rootfs`); an absolute symlink inside the
    /// bind mount resolves in the sandbox. (`/etc/resolv.conf` is the
    /// sandbox's own, mounted under NAT as Docker mounts its own.)
    fn mounts_bind_dir_and_file(platform) {
        let r = rootfs();
        let script = "cat /mnt/vol/sub/f /etc/hosts /mnt/vol/pw; ls /mnt/vol/..; cd /mnt/vol/sub && ls ../../../etc";
        let case = sh(&r, script, &volumes(&r, false)).expect_stdout(
            "in the volume\n127.0.0.1 sandbox\nroot:x:0:0:sandbox:/root:/bin/sh\nvol\nhosts\npasswd\nresolv.conf\n",
        );
        check(platform, case);
    }
}

husk_test! {
    /// Writes into a read-only bind mount fail with EROFS: creating,
    /// appending, mkdir.
    fn mounts_readonly_bind_erofs(platform) {
        let r = rootfs();
        let script = "echo x > /mnt/vol/new; echo x >> /etc/hosts; mkdir /mnt/vol/d; rm /mnt/vol/sub/f; cat /etc/hosts";
        let case = sh(&r, script, &volumes(&r, true)).compare_stderr().expect_stdout("127.0.0.1 sandbox\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        assert_eq!(
            out.stderr_str(),
            "sh: can't create /mnt/vol/new: Read-only file system\n\
             sh: can't create /etc/hosts: Read-only file system\n\
             mkdir: can't create directory '/mnt/vol/d': Read-only file system\n\
             rm: can't remove '/mnt/vol/sub/f': Read-only file system\n"
        );
    }
}

husk_test! {
    /// tmpfs at destinations the rootfs lacks, one nested in the other
    /// (its mount point made in the outer tmpfs), each its own filesystem.
    fn mounts_tmpfs_nested(platform) {
        let r = rootfs();
        let flags = ["--tmpfs", "/scratch", "--tmpfs", "/scratch/inner", "--tmpfs", "/mnt/deep/er"].map(String::from);
        let script = "echo a > /scratch/a && echo b > /scratch/inner/b && echo c > /mnt/deep/er/c && \
                      ls /scratch /scratch/inner /mnt/deep/er && cat /scratch/a /scratch/inner/b && \
                      ln /scratch/a /scratch/inner/x 2>/dev/null || echo cross-device";
        let case = sh(&r, script, &flags)
            .expect_stdout("/mnt/deep/er:\nc\n\n/scratch:\na\ninner\n\n/scratch/inner:\nb\na\nb\ncross-device\n");
        check(platform, case);
    }
}

fn proc_flags() -> Vec<String> {
    vec!["--proc".into()]
}

husk_test! {
    /// busybox ps sees the sandbox's processes with its pids (init is 1),
    /// and /proc/self/status the caller's ids.
    fn mounts_proc_ps_and_status(platform) {
        let r = rootfs();
        let script = "sleep 5 & ps -o pid,ppid,comm; kill $!; \
                      grep -E '^(Name|Pid|PPid|Uid|Gid|State):' /proc/self/status; echo end";
        let case = sh(&r, script, &proc_flags()).check(|out| {
            let s = out.stdout_str();
            let lines: Vec<&str> = s.lines().collect();
            assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["PID", "PPID", "COMMAND"], "{s}");
            let rows: Vec<Vec<&str>> = lines[1..4].iter().map(|l| l.split_whitespace().collect()).collect();
            assert_eq!(rows[0], ["1", "0", "busybox"], "{s}");
            // busybox sh runs sleep and ps as forked applets: their comm
            // is busybox's, so only the pids are checked.
            assert_eq!(rows[1][1], "1", "{s}");
            assert_eq!(rows[2][1], "1", "{s}");
            assert!(rows[1][0] != "1" && rows[2][0] != rows[1][0], "{s}");
            let status: Vec<&str> = lines[4..10].to_vec();
            assert_eq!(status[0], "Name:\tgrep", "{s}");
            assert_eq!(status[1], "State:\tR (running)", "{s}");
            assert!(status[2].starts_with("Pid:\t") && status[2] != "Pid:\t1", "{s}");
            assert_eq!(status[3], "PPid:\t1", "{s}");
            assert_eq!(status[4], "Uid:\t0\t0\t0\t0", "{s}");
            assert_eq!(status[5], "Gid:\t0\t0\t0\t0", "{s}");
        });
        check(platform, case);
        // Another user's ids show as theirs.
        let case = sh(&r, "grep -E '^(Uid|Gid):' /proc/self/status", &["--proc".into(), "--user".into(), "1000:100".into()])
            .expect_stdout("Uid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n");
        check(platform, case);
    }
}

husk_test! {
    /// /proc/self/exe, /proc/self/fd (with the directory ls itself reads,
    /// and an opened file), fd links, cwd and root, and cmdline (busybox sh
    /// runs tr in a fork without exec, so it is the shell's).
    fn mounts_proc_self(platform) {
        let r = rootfs();
        let script = "readlink /proc/self/exe; exec 5</etc/passwd; ls /proc/self/fd; readlink /proc/self/fd/5; \
                      readlink /proc/self/cwd; readlink /proc/self/root; tr '\\0' ' ' < /proc/self/cmdline; echo; \
                      cat /proc/1/comm; \
                      readlink /proc/self | grep -qE '^[0-9]+$' && echo self-ok";
        let case = sh(&r, script, &proc_flags())
            .expect_stdout(format!("/bin/busybox\n0\n1\n2\n3\n5\n/etc/passwd\n/\n/\n/bin/busybox sh -c {script} \nbusybox\nself-ok\n"));
        check(platform, case);
    }
}

husk_test! {
    /// The system-wide files are there and look like Linux's.
    fn mounts_proc_system_files(platform) {
        let r = rootfs();
        let script = "grep -c ^processor /proc/cpuinfo; grep -E '^MemTotal: +[0-9]+ kB$' /proc/meminfo | wc -l; \
                      cat /proc/sys/kernel/ostype /proc/sys/kernel/osrelease /proc/sys/kernel/hostname; \
                      head -c 5 /proc/version; echo; grep -c '^cpu' /proc/stat; cut -d' ' -f4 /proc/loadavg | cut -d/ -f1; \
                      grep ' /proc proc ' /proc/mounts; readlink /proc/mounts; ls /proc/sys/vm";
        let n = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let case = sh(&r, script, &proc_flags()).expect_stdout(format!(
            "{n}\n1\nLinux\n{}\nhusk\nLinux\n{}\n1\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nself/mounts\nmax_map_count\novercommit_memory\n",
            husk_suite::UTS_RELEASE,
            n + 1
        ));
        check(platform, case);
    }
}

husk_test! {
    /// Python's subprocess (which lists /proc/self/fd in the child to close
    /// fds) works, and so does os.listdir('/proc/self/fd').
    fn mounts_proc_python(platform) {
        let program = "import os, subprocess\n\
                       f = open('/etc/hostname') if os.path.exists('/etc/hostname') else open('/etc/passwd')\n\
                       fds = sorted(int(x) for x in os.listdir('/proc/self/fd'))\n\
                       print(fds[:3], f.fileno() in fds)\n\
                       print(subprocess.run(['/bin/echo', 'child'], capture_output=True, text=True).stdout, end='')\n\
                       print(os.readlink('/proc/self/exe'))";
        let case = Case::in_root(debian_rootfs(), "/usr/bin/python3")
            .args(["-c", program])
            .env("PATH", "/usr/bin:/bin")
            .husk_flags(["--proc"])
            .timeout(Duration::from_secs(300))
            .expect_stdout("[0, 1, 2] True\nchild\n/usr/bin/python3.11\n");
        check(platform, case);
    }
}

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static SUBREAPER: Once = Once::new();
    SUBREAPER.call_once(procs::become_subreaper);
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

husk_test! {
    /// A mount that cannot be made fails the start with exit 125 and a
    /// message naming the destination, and leaves no process behind.
    fn mounts_bad_mount_fails_boot() {
        let _serial = serial();
        let r = rootfs();
        let vol = r.outside().join("vol");
        let cases: [(String, &str); 3] = [
            (format!("{}:/etc/passwd", vol.display()), "husk: mount at /etc/passwd: "),
            (format!("{}:/etc/passwd/x", vol.display()), "husk: mount at /etc/passwd/x: "),
            (format!("{}:relative", vol.display()), "husk: --volume \"relative\": the destination must be an absolute path"),
        ];
        for (volume, msg) in cases {
            let mut cmd = Command::new(husk_bin());
            cmd.args(["run", "--rootfs"]).arg(r.path()).args(["--volume", &volume, "--", "/bin/busybox", "true"]);
            let out = run_command(cmd, None, DEFAULT_TIMEOUT, "husk");
            assert_eq!(out.status, 125, "{}", out.describe());
            assert!(out.stderr_str().starts_with(msg), "{}", out.describe());
            // Other tests run in parallel: look only for this run's
            // processes (the gofer's command line names the rootfs).
            let root = r.path().display().to_string();
            let mine = || procs::live_descendants_of_self().into_iter().filter(|p| p.cmdline.contains(&root)).count();
            let until = Instant::now() + Duration::from_secs(2);
            while mine() > 0 {
                assert!(Instant::now() < until, "left {} processes behind", mine());
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

husk_test! {
    /// What procps, lsof and language runtimes read: /proc/self/statm (a
    /// resident size), limits (the open-files limit as ulimit -n says),
    /// cgroup (the sandbox is its cgroup's root), fdinfo (an fd's position
    /// and flags), and /sys/fs/cgroup's limits (none, for husk run).
    fn mounts_proc_memory_limits_cgroup(platform) {
        let r = rootfs();
        let script = "set -- $(cat /proc/self/statm); [ \"$2\" -gt 0 ] && [ \"$1\" -ge \"$2\" ] && echo resident; \
                      grep '^Max open files' /proc/self/limits | tr -s ' ' | cut -d' ' -f4; ulimit -n; \
                      cat /proc/self/cgroup; exec 5</etc/passwd; head -c 3 <&5 >/dev/null; \
                      grep -E '^(pos|flags):' /proc/self/fdinfo/5 | tr '\\t' ' '; \
                      grep -c '^VmRSS:' /proc/self/status; \
                      cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max";
        let case = sh(&r, script, &[]).check(|out| {
            let s = out.stdout_str();
            let lines: Vec<&str> = s.lines().collect();
            assert_eq!(lines[0], "resident", "{s}");
            assert_eq!(lines[1], lines[2], "limits and ulimit -n agree: {s}");
            assert_eq!(
                &lines[3..],
                ["0::/", "pos: 3", "flags: 0100000", "1", "max", "max 100000", "max"],
                "{s}"
            );
        });
        check(platform, case);
    }
}

husk_test! {
    /// /proc/PID/io counts read and write calls and bytes (the shell's, once
    /// it read a line); smaps gives each
    /// mapping's sizes and flags, smaps_rollup their sums; the boot id is
    /// one for the sandbox, a uuid new at each read; fs/file-max and nr_open
    /// are there.
    fn mounts_proc_io_smaps_sys(platform) {
        let r = rootfs();
        let script = "read x < /etc/passwd; grep -c '^rchar: [1-9]' /proc/$$/io; grep -c '^syscw: ' /proc/self/io; \
                      grep -c '^VmFlags: rd' /proc/self/smaps | grep -vx 0 >/dev/null && echo flags; \
                      grep -c '^Rss: *[1-9][0-9]* kB' /proc/self/smaps_rollup; \
                      grep -c rollup /proc/self/smaps_rollup; \
                      [ \"$(cat /proc/sys/kernel/random/boot_id)\" = \"$(cat /proc/sys/kernel/random/boot_id)\" ] && echo same-boot; \
                      [ \"$(cat /proc/sys/kernel/random/uuid)\" != \"$(cat /proc/sys/kernel/random/uuid)\" ] && echo new-uuid; \
                      cat /proc/sys/fs/nr_open";
        let case = sh(&r, script, &[]).expect_stdout("1\n1\nflags\n1\n1\nsame-boot\nnew-uuid\n1048576\n");
        check(platform, case);
    }
}
