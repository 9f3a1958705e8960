//! Writes that reach the host, where the user asked for them (issue 9): a
//! read-write `--volume`, and `--root-writes host`. Every change goes
//! through the Gofer's write calls, with Linux's permission checks made by
//! the Sentry, so `tests/progs/hostwrite.c` must print the same natively
//! (in a chroot, on the same kind of directory) as under Husk. Then: what
//! the sandbox wrote is on the host afterwards, a `:ro` volume gives EROFS,
//! and the default overlay root never writes the rootfs.

use std::fs;
use std::time::Duration;

use husk_suite::{differential, differential_test, husk_test, run_husk, self_checking_case, Case, Link, Rootfs};

/// What `hostwrite.c` prints in both places (and natively).
const HOSTWRITE_LINES: &[&str] = &[
    "umask 022 applied: 644, size 0",
    "create again with O_EXCL: EEXIST",
    "pread at 6: world",
    "stat by name after write: 11",
    "size after fallocate: 8192",
    "appended: hello!",
    "stat size after truncate: 2, content he",
    "after O_TRUNC: 0",
    "open a directory for writing: EISDIR",
    "rmdir non-empty: ENOTEMPTY",
    "rename a dir over a non-empty dir: ENOTEMPTY",
    "rename a dir into itself: EINVAL",
    "renameat2 NOREPLACE over a file: EEXIST",
    "after exchange b=F f=A",
    "b now: A, a: (ENOENT)",
    "read through the fd opened before: F",
    "nlink 2",
    "link a directory: EPERM",
    "made its target: yes",
    "owner 1234:5678 mode 751 (chown clears set-user-id)",
    "atime 1000000.500 mtime 2000000.700",
    "fifo: through the fifo",
    "read sees the mapping's store: through the map",
    "the mapping sees write(): WRITE",
    "another process's mapping: through the map",
    "the child's store, seen here: child",
    "after munmap, the file: through the map",
    "MAP_SHARED, PROT_WRITE of an O_RDONLY fd: EACCES",
    "mprotect PROT_WRITE of it, mapped read-only: EACCES",
    "mprotect PROT_WRITE of an O_RDWR fd's read-only map: ok",
    "stored after mprotect: later",
    "user creates in root's 0755 dir: EACCES",
    "user reads root's 0600 file: EACCES",
    "user chmods root's file: EPERM",
    "user sets times of root's 0666 file, explicitly: EPERM",
    "user sets times of root's 0666 file, to now: ok",
    "user unlinks another user's file in a sticky dir: EPERM",
    "user unlinks their own file in a sticky dir: ok",
    "user 1000: exited 0",
    "root's file in a setgid dir: gid 50",
    "umask 077: file 600, dir 700",
    "done",
];

fn hostwrite_root(link: Link) -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    let prog = rootfs.prog("hostwrite", link);
    rootfs.dir_mode("/tmp", 0o1777).dir("/dev").dir("/proc").dir("/sys").dir("/work").dir("/vol");
    (rootfs, prog)
}

differential_test! {
    /// `hostwrite.c` in a read-write volume: natively the same directory
    /// inside the chroot.
    fn hostwrite_volume(platform, link) {
        let (rootfs, prog) = hostwrite_root(link);
        let volume = format!("{}:/vol", rootfs.host_path("/vol").display());
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60))
            .args(["/vol"])
            .husk_flags(["--volume", &volume])
            .expect_lines(HOSTWRITE_LINES);
        differential(platform, &case);
        // What the mappings stored is in the host's file.
        let mapped = fs::read(rootfs.host_path("/vol/mapped")).expect("the mapped file");
        assert_eq!((&mapped[..15], &mapped[100..105], &mapped[4096..4101]), (&b"through the map"[..], &b"child"[..], &b"WRITE"[..]));
    }
}

differential_test! {
    /// `hostwrite.c` in the root itself, written through
    /// (`--root-writes host`).
    fn hostwrite_root_writes_host(platform, link) {
        let (rootfs, prog) = hostwrite_root(link);
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60))
            .args(["/work"])
            .husk_flags(["--root-writes", "host"])
            .expect_lines(HOSTWRITE_LINES);
        differential(platform, &case);
    }
}

husk_test! {
    /// What the sandbox writes to a volume is on the host afterwards; a
    /// `:ro` volume refuses writes with EROFS and shows `ro` in
    /// /proc/mounts; the overlay root (the default) leaves the rootfs
    /// directory alone while `--root-writes host` changes it.
    fn volumes_persist_and_ro_refuses(platform) {
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "echo", "cat", "mkdir", "grep", "mv", "rm", "touch", "stat", "test"]).dir("/rw").dir("/ro");
        let outside = rootfs.outside();
        let (rw, ro) = (outside.join("rw"), outside.join("ro"));
        fs::create_dir_all(&rw).unwrap();
        fs::create_dir_all(&ro).unwrap();
        fs::write(ro.join("keep"), "kept\n").unwrap();
        fs::write(rw.join("old"), "old\n").unwrap();
        let script = "echo one > /rw/new && mkdir /rw/d && echo two > /rw/d/f && mv /rw/old /rw/d/renamed \
                      && touch /ro/x; echo \"ro touch: $?\"; rm /ro/keep; echo \"ro rm: $?\"; \
                      cat /ro/keep; grep -c ' /ro 9p ro,' /proc/mounts; grep -c ' /rw 9p rw,' /proc/mounts; \
                      test \"$(stat -f -c %b /ro)\" -gt 0 && test \"$(stat -f -c %b /rw)\" -gt 0 && echo 'df sees disks'; \
                      echo root > /written";
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", script])
            .husk_flags([
                "--volume".to_string(),
                format!("{}:/rw", rw.display()),
                "--volume".to_string(),
                format!("{}:/ro:ro", ro.display()),
            ])
            .expect_stdout("ro touch: 1\nro rm: 1\nkept\n1\n1\ndf sees disks\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        assert!(out.stderr_str().contains("Read-only file system"), "{}", out.describe());
        assert_eq!(fs::read_to_string(rw.join("new")).unwrap(), "one\n");
        assert_eq!(fs::read_to_string(rw.join("d/f")).unwrap(), "two\n");
        assert_eq!(fs::read_to_string(rw.join("d/renamed")).unwrap(), "old\n");
        assert!(!rw.join("old").exists());
        assert_eq!(fs::read_dir(&ro).unwrap().count(), 1, "the :ro volume changed");
        assert!(!rootfs.host_path("/written").exists(), "the overlay root wrote the rootfs");

        // The same script's last line, with the root written through.
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "echo root > /written && grep ' / ' /proc/mounts"])
            .husk_flags(["--root-writes", "host"])
            .expect_stdout("none / 9p rw,relatime 0 0\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        assert_eq!(fs::read_to_string(rootfs.host_path("/written")).unwrap(), "root\n");
    }
}

husk_test! {
    /// A volume of 3,000 files, each stat'ed (`ls -l`), by a Husk started
    /// with the usual soft limit of 1,024 open files: the Gofer holds an fd
    /// per file walked, and raises its own limit rather than fail with
    /// EMFILE.
    fn volume_bigger_than_the_fd_limit(platform) {
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "ls", "wc"]).dir("/vol");
        let vol = rootfs.outside().join("many");
        fs::create_dir_all(&vol).unwrap();
        for i in 0..3000 {
            fs::write(vol.join(format!("f{i}")), "x").unwrap();
        }
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "ls -l /vol | wc -l"])
            .husk_flags(["--volume".to_string(), format!("{}:/vol", vol.display())])
            .expect_stdout("3001\n");
        let mut cmd = husk_suite::run::husk_command(platform, &case);
        // SAFETY: setrlimit only, in the child before exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
                let lim = rustix::process::Rlimit { current: Some(1024), maximum: hard };
                rustix::process::setrlimit(rustix::process::Resource::Nofile, lim).map_err(std::io::Error::from)
            });
        }
        let out = husk_suite::run::run_command(cmd, None, Duration::from_secs(120), "husk").split_husk_log();
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

husk_test! {
    /// A volume changed on the host while the sandbox runs: a file saved
    /// over (written aside, then renamed onto its name, as editors save),
    /// one removed and one added are all seen by the app (a name it knows
    /// is checked with the host again after half a second).
    fn volume_sees_host_changes(platform) {
        use std::io::{BufRead, Read, Write};
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "cat", "ls", "echo", "sleep", "read"]).dir("/vol");
        let vol = rootfs.outside().join("shared");
        fs::create_dir_all(&vol).unwrap();
        fs::write(vol.join("f"), "original\n").unwrap();
        fs::write(vol.join("gone"), "soon gone\n").unwrap();
        let script = "cat /vol/f /vol/gone; echo ready; read x; sleep 1; cat /vol/f; cat /vol/gone 2>/dev/null || echo 'gone: no'; \
                      cat /vol/added; ls /vol";
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", script])
            .husk_flags(["--volume".to_string(), format!("{}:/vol", vol.display())]);
        let mut child = husk_suite::run::husk_command(platform, &case)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start husk");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        for _ in 0..3 {
            out.read_line(&mut first).expect("read");
        }
        assert_eq!(first, "original\nsoon gone\nready\n");
        fs::write(vol.join("f.tmp"), "edited on the host\n").unwrap();
        fs::rename(vol.join("f.tmp"), vol.join("f")).unwrap();
        fs::remove_file(vol.join("gone")).unwrap();
        fs::write(vol.join("added"), "added on the host\n").unwrap();
        child.stdin.take().expect("stdin").write_all(b"\n").expect("go on");
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("the rest");
        assert!(child.wait().expect("wait").success());
        assert_eq!(rest, "edited on the host\ngone: no\nadded on the host\nadded\nf\n");
    }
}

husk_test! {
    /// More files than the host lets the Gofer hold open (a hard fd limit
    /// of 1,024, and 6,000 files in 60 directories, in the root and in a
    /// volume): `du` of each tree sees every file. The Sentry's cache of
    /// Gofer-backed names stays within half the limit, letting the oldest
    /// unused names (and their fids) go.
    fn trees_bigger_than_the_hard_fd_limit(platform) {
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "du", "wc"]).dir("/vol");
        let vol = rootfs.outside().join("many");
        for tree in [rootfs.host_path("/big"), vol.clone()] {
            for d in 0..60 {
                let dir = tree.join(format!("d{d:02}"));
                fs::create_dir_all(&dir).unwrap();
                for f in 0..100 {
                    fs::write(dir.join(format!("f{f:03}")), "x").unwrap();
                }
            }
        }
        let case = Case::new(&rootfs, "/bin/sh")
            .args(["-c", "du -a /big | wc -l; du -a /vol | wc -l; du -a /big | wc -l"])
            .husk_flags(["--volume".to_string(), format!("{}:/vol", vol.display())])
            .expect_stdout("6061\n6061\n6061\n");
        let mut cmd = husk_suite::run::husk_command(platform, &case);
        // SAFETY: setrlimit only, in the child before exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                let lim = rustix::process::Rlimit { current: Some(1024), maximum: Some(1024) };
                rustix::process::setrlimit(rustix::process::Resource::Nofile, lim).map_err(std::io::Error::from)
            });
        }
        let out = husk_suite::run::run_command(cmd, None, Duration::from_secs(300), "husk").split_husk_log();
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}
