//! Differential cases for the C programs in `tests/progs/`: each program
//! is compiled twice (`-static`, `-static-pie`) and run natively and under
//! every Husk platform; exit status and stdout must match.

use husk_suite::{differential, differential_test, husk_test, run_husk, Case, Link, Rootfs};

/// The tree under `/data` that fileread, mmapbrk and efault expect.
fn data_tree(rootfs: &Rootfs) {
    rootfs
        .file("/data/hello.txt", "Hello, Husk!\nSecond line.\n")
        .random_file("/data/medium.bin", 100_000, 0x5eed)
        .file("/data/dir/a", "a")
        .file("/data/dir/bb", "bb")
        .file("/data/dir/ccc", "ccc")
        .dir("/data/dir/sub")
        .symlink("/data/link", "hello.txt")
        .symlink("/data/dirlink", "dir")
        .symlink("/data/dangling", "nowhere")
        .file("/data/map.bin", map_bin());
}

/// 3 pages + 100 bytes; byte i is (i * 7 + 3) & 0xff (see mmapbrk.c).
fn map_bin() -> Vec<u8> {
    (0..3 * 4096 + 100).map(|i: u32| (i.wrapping_mul(7).wrapping_add(3) & 0xff) as u8).collect()
}

/// A root with program `name` (as `/progs/name`) and the `/data` tree.
fn rootfs_with(name: &str, link: Link) -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    let prog = rootfs.prog(name, link);
    data_tree(&rootfs);
    (rootfs, prog)
}

differential_test! {
    /// One write(2) and exit 0.
    fn hello(platform, link) {
        let (rootfs, prog) = rootfs_with("hello", link);
        differential(platform, &Case::new(&rootfs, prog).compare_stderr().expect_stdout("hello, world\n"));
    }
}

differential_test! {
    /// argv, envp and auxv as the loader builds them.
    fn auxv(platform, link) {
        let (rootfs, prog) = rootfs_with("auxv", link);
        let case = Case::new(&rootfs, prog)
            .args(["one", "two words", ""])
            .env("HOME", "/")
            .env("PATH", "/bin")
            .env("EMPTY", "")
            .env("EQUALS", "a=b=c")
            .compare_stderr()
            .expect_no_bad_checks()
            .expect_lines(&[
                "argc=4",
                "argv[0]=/progs/auxv",
                "argv[2]=two words",
                "argv[3]=",
                "env[0]=EMPTY=",
                "env[1]=EQUALS=a=b=c",
                "envc=4",
                "AT_PAGESZ=4096",
                "AT_PHENT=56",
                "AT_SECURE=0",
                "AT_EXECFN=/progs/auxv",
                "AT_PLATFORM=x86_64",
                "AT_PHDR is this binary's program headers: ok",
                "AT_ENTRY is _start: ok",
                "initial sp 16-byte aligned: ok",
            ])
            .check(move |out| {
                let e_type = if link == Link::Static { "e_type=ET_EXEC" } else { "e_type=ET_DYN" };
                assert!(out.stdout_str().lines().any(|l| l == e_type), "expected {e_type}");
            });
        differential(platform, &case);
    }
}

differential_test! {
    /// File reads, stat, getdents64, readlink, access, cwd, fds, errnos.
    fn fileread(platform, link) {
        let (rootfs, prog) = rootfs_with("fileread", link);
        let case = Case::new(&rootfs, prog)
            .compare_stderr()
            .expect_no_bad_checks()
            .expect_lines(&[
                "pread(4 @ 7): 4 'Husk'",
                "readv: 7 'Hu' 'sk!'",
                "lseek END -5: 21",
                "medium sizes: fstat=100000 statx=100000 lseek=100000",
                "readlink link: 9 'hello.txt'",
                "open missing: ENOENT",
                "open through a regular file: ENOTDIR",
                "access hello X_OK (mode 0644): EACCES",
                "list /data/dir: 6 entries, several getdents64 calls",
                "  sub d",
                "after chdir dirlink: cwd=/data/dir (ret 10)",
                "after fchdir /: cwd=/ (ret 2)",
                "getcwd /data into 3 bytes: ERANGE",
            ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// RLIMIT_CPU: SIGXCPU at the soft limit (which then rises by a
    /// second), SIGKILL at the hard one, for a process spinning in its own
    /// code.
    fn rlimit_cpu(platform, link) {
        let (rootfs, prog) = rootfs_with("rlimit_cpu", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "child: killed by signal 9",
            "SIGXCPU seen 1 times, the soft limit then 2",
            "the parent's limit: infinite 1",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// openat2: the struct's size and flag checks, and the resolve flags
    /// on a small tree and against /proc's links and mount.
    fn openat2(platform, link) {
        let (rootfs, prog) = rootfs_with("openat2", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "size 23: EINVAL",
            "size 32, nonzero tail: E2BIG",
            "beneath: an absolute symlink: EXDEV",
            "in root: an absolute symlink: ENOENT",
            "no magic links: /proc/self/fd/N: ELOOP",
            "no xdev: /proc/version: EXDEV",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Many read-only opens of one rootfs file, which Husk serves from one
    /// kept host fd: each its own offset and flags, each outliving the
    /// others.
    fn open_shared(platform, link) {
        let (rootfs, prog) = rootfs_with("open_shared", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "opened: 1",
            "reads: 500 1000 500, same bytes 1",
            "nonblock: 0 1",
            "after F_SETFL on another: 0 1",
            "same file: 1, size 100000",
            "after close: pread 1000 same 1",
            "reopened at 0",
            "mapped after close: 1",
            "300 opens: 1",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// brk, anonymous and file mappings, mprotect, madvise, mmap errnos.
    fn mmapbrk(platform, link) {
        let (rootfs, prog) = rootfs_with("mmapbrk", link);
        let case = Case::new(&rootfs, prog)
            .compare_stderr()
            .expect_no_bad_checks()
            .expect_lines(&[
                "brk grows to the exact request: ok",
                "sparse touches read back: ok",
                "private write does not reach the file: ok",
                "MADV_DONTNEED pages read as zero: ok",
                "mmap len 0: EINVAL",
                "mmap unaligned offset: EINVAL",
            ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Syscall numbers no kernel assigns fail with ENOSYS, and the program
    /// goes on.
    fn enosys(platform, link) {
        let (rootfs, prog) = rootfs_with("enosys", link);
        let case = Case::new(&rootfs, prog)
            .compare_stderr()
            .expect_stdout(
                "syscall 1000: ret=-1 errno=ENOSYS\n\
                 syscall 2000: ret=-1 errno=ENOSYS\n\
                 syscall 100000: ret=-1 errno=ENOSYS\n\
                 syscall 0x7fffffff: ret=-1 errno=ENOSYS\n\
                 syscall -1: ret=-1 errno=ENOSYS\n\
                 syscall 1000 again: ret=-1 errno=ENOSYS\n\
                 syscall 100000 again: ret=-1 errno=ENOSYS\n\
                 still running\n",
            );
        differential(platform, &case);
    }
}

husk_test! {
    /// Each unimplemented number is logged once, numbers past the syscall
    /// table included (an app looping on one must not flood the log).
    fn enosys_logged_once(platform) {
        let (rootfs, prog) = rootfs_with("enosys", Link::Static);
        let log = tempfile::NamedTempFile::new().expect("temp log");
        // Writable by a rootless husk too (HUSK_TEST_AS_USER).
        std::fs::set_permissions(log.path(), std::os::unix::fs::PermissionsExt::from_mode(0o666)).expect("chmod the log");
        let log_path = log.path().to_str().expect("utf-8 path").to_string();
        let case = Case::new(&rootfs, prog).husk_flags(["--log", log_path.as_str()]).expect_status(0);
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        let text = std::fs::read_to_string(log.path()).expect("read the log");
        for nr in ["(1000)", "(100000)"] {
            let n = text.lines().filter(|l| l.contains("unimplemented syscall") && l.contains(nr)).count();
            assert_eq!(n, 1, "syscall {nr} logged {n} times:\n{text}");
        }
    }
}

husk_test! {
    /// Real syscalls Husk leaves out fail with ENOSYS (natively they do
    /// something else, so this case is Husk-only).
    fn enosys_unimplemented(platform) {
        for link in Link::ALL {
            let (rootfs, prog) = rootfs_with("enosys", link);
            let case = Case::new(&rootfs, prog)
                .args(["unimplemented"])
                .expect_stdout(
                    "io_uring_setup: ret=-1 errno=ENOSYS\n\
                     uretprobe: ret=-1 errno=ENOSYS\n\
                     still running\n",
                );
            let out = run_husk(platform, &case);
            case.verify(&format!("husk --platform {platform} ({link:?})"), &out);
        }
    }
}

differential_test! {
    /// The bugs the syscall fuzzer found, each done as Linux does it:
    /// eventfd writes past the maximum, clone's faulting stores, bad TLS and
    /// CLONE_PARENT's exit signal, mmap's unknown prot bits, mremap at the
    /// same page count and past user space, and writes of (and advice on)
    /// nothing in copy-on-write pages.
    fn fuzz_finds(platform, link) {
        let (rootfs, prog) = rootfs_with("fuzz_finds", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "eventfd 16-byte write: EINVAL",
            "eventfd writev of two values and a short one: 16, then a 16-byte read: 8, count 12",
            "eventfd non-blocking write past the maximum: EAGAIN",
            "eventfd blocking write past the maximum, interrupted: EINTR",
            "eventfd blocking write once a reader makes room: ok",
            "splice from a pipe into an eventfd: EINVAL",
            "  and its child: exited 3",
            "clone with a bad pidfd pointer: EFAULT",
            "  and then wait: ECHILD",
            "clone with a TLS base past user space: EPERM",
            "CLONE_PARENT sibling: exited 7",
            "mmap with PROT_GROWSDOWN: ok",
            "after a fork: parent sees 2, child saw exited 1",
            "mremap to the same page count: same address",
            "mremap across the top of user space: EINVAL",
            "madvise(MADV_DONTNEED) of nothing in it: ok",
            "madvise of nothing with unknown advice: EINVAL",
            "the mapping then: 9 1 2",
            "still running",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Setting clocks fails as Linux orders its checks, and the legacy
    /// getdents lists a directory in its own record format.
    fn clock_dirent(platform, link) {
        let (rootfs, prog) = rootfs_with("clock_dirent", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "clock_settime(CLOCK_MONOTONIC): EINVAL",
            "clock_settime(CLOCK_THREAD_CPUTIME_ID): EINVAL",
            "clock_settime(CLOCK_REALTIME, NULL): EFAULT",
            "settimeofday(tz a day west): EINVAL",
            "getdents of /data/dir in 40-byte buffers: (several calls)",
            "  ccc file",
            "  sub dir",
            "getdents into 16 bytes: EINVAL",
            "getdents of a file: ENOTDIR",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// chroot: Linux's errors in order, the new root for absolute paths and
    /// "..", the cwd left outside it, and a child inheriting it.
    fn chroot(platform, link) {
        let (rootfs, prog) = rootfs_with("chroot", link);
        rootfs.dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "chroot(a file): ENOTDIR",
            "chroot as uid 65534: EPERM",
            "chroot of a closed directory as uid 65534: EACCES",
            "chroot(/tmp/jail): ok",
            "getcwd with the cwd outside the root: ENOENT",
            "/inside: in the jail",
            "/tmp/outside: ENOENT",
            "getcwd: /",
            "../../inside: in the jail",
            "a child's /inside: in the jail",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// unshare of the fd table and the fs context (a thread's own), the
    /// implied flags and the errors; clone's and clone3's argument checks
    /// that come before permissions (flag combinations, clone3's size).
    fn unshare(platform, link) {
        let (rootfs, prog) = rootfs_with("unshare", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "unshare(CLONE_PTRACE): EINVAL",
            "unshare(CLONE_VM), one thread: ok",
            "the thread's new fd, here: EBADF",
            "cwd here: /",
            "unshare(CLONE_SIGHAND) beside another thread: EINVAL",
            "clone(CLONE_NEWNS | CLONE_FS): EINVAL",
            "clone(CLONE_THREAD | CLONE_NEWPID): EINVAL",
            "clone3 of 96 bytes, the rest zero: ok",
            "clone3 of 104 bytes, a field it does not know set: E2BIG",
            "clone3 of 4097 bytes: E2BIG",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// pwrite/pwritev2/pread on a pipe's wrong end (ESPIPE first),
    /// readahead on O_PATH (EBADF), readlinkat of "" through an O_PATH fd,
    /// and sched_setaffinity of another user's process (EPERM).
    fn fd_edges(platform, link) {
        let (rootfs, prog) = rootfs_with("fd_edges", link);
        rootfs.dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "pwritev2 on a pipe's read end: Illegal seek",
            "pwrite on it: Illegal seek",
            "pread on the write end: Illegal seek",
            "readlinkat(O_PATH fd, \"\"): ok [target-of-link]",
            "readahead on an O_PATH fd: Bad file descriptor",
            "splice from a directory: Invalid argument",
            "sched_setaffinity of root's process as uid 65534: Operation not permitted",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// An O_TMPFILE file named through its /proc/self/fd link (linkat with
    /// AT_SYMLINK_FOLLOW), and an O_EXCL one that may not be.
    fn tmpfile_link(platform, link) {
        let (rootfs, prog) = rootfs_with("tmpfile_link", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "linkat through /proc/self/fd: ok",
            "the new name: ok, size 5, links 1",
            "an O_EXCL one: No such file or directory",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// O_NOATIME for the owner only (open, F_SETFL), ioctl on an O_PATH
    /// fd (EBADF), and /proc/sys/kernel/version.
    fn open_noatime(platform, link) {
        let (rootfs, prog) = rootfs_with("open_noatime", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "O_NOATIME by the owner: ok",
            "FIONREAD on an O_PATH fd: Bad file descriptor",
            "FIOCLEX on an O_PATH fd: Bad file descriptor",
            "O_NOATIME by another user: Operation not permitted",
            "F_SETFL O_NOATIME by another user: Operation not permitted",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// ioprio_get and ioprio_set: the default, each class, the argument
    /// errors, inheritance by fork, a process group's best, and the
    /// real-time class and another user's process refused without
    /// CAP_SYS_NICE.
    fn ioprio(platform, link) {
        let (rootfs, prog) = rootfs_with("ioprio", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "at first: class 0 level 0",
            "a fork child: class 2 level 3",
            "NONE 0: ok",
            "NONE 1: Invalid argument",
            "the group's best: class 2 level 6",
            "uid 65534, RT 1: Operation not permitted",
            "uid 65534, root's process: Operation not permitted",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// inotify's IN_EXCL_UNLINK (no events of an entry unlinked from the
    /// watched directory, still open), and /proc/self/fdinfo's watch lines.
    fn inotify_excl(platform, link) {
        let (rootfs, prog) = rootfs_with("inotify_excl", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "plain: fdinfo line found, mask 0x2, wd 1",
            "  IN_MODIFY events: 1, after the unlink: 1",
            "IN_EXCL_UNLINK: fdinfo line found, mask 0x4000002, wd 1",
            "  IN_MODIFY events: 1, after the unlink: 0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// The old termio ioctls on a pty: TCGETA (termios' low halves and
    /// first 8 control characters), TCSETA, TCSETAW and TCSETAF (the rest
    /// of termios kept), EFAULT, and ENOTTY on a regular file.
    fn termio(platform, link) {
        let (rootfs, prog) = rootfs_with("termio", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777).dir("/dev/pts").symlink("/dev/ptmx", "pts/ptmx");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "TCGETA: ok",
            "flags match termios' low halves: yes",
            "c_cc matches: yes",
            "ECHO now: off, VINTR X, VEOL2 kept Q",
            "TCGETA to a bad address: Bad address",
            "TCGETA on a regular file: Inappropriate ioctl for device",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// The legacy calls: sysfs(2) in /proc/filesystems' order and its
    /// errors, ustat(2) of mounted filesystems (EINVAL for other devices),
    /// personality(2) (fork keeps it, execve drops READ_IMPLIES_EXEC, which
    /// makes readable mappings executable; STICKY_TIMEOUTS keeps select's,
    /// pselect6's and ppoll's timeouts and ends a stopped select with
    /// EINTR), and vhangup(2) of a pty that is the caller's controlling
    /// terminal (the session leader's SIGHUP, its files hung up, new opens
    /// fine). The root has /dev/pts and /dev/ptmx for the native run.
    fn legacy(platform, link) {
        let (rootfs, prog) = rootfs_with("legacy", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777).dir("/dev/pts").symlink("/dev/ptmx", "pts/ptmx");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "sysfs(3) counts /proc/filesystems' types: ok",
            "sysfs(1, \"\"): ENOENT",
            "sysfs(1, a bad address): EFAULT",
            "sysfs(2, past the last): EINVAL",
            "ustat of /proc's device: ok",
            "ustat of device -1: EINVAL",
            "ustat of /'s device into a bad address: EFAULT",
            "a fork child's: 0x6",
            "READ_IMPLIES_EXEC: a PROT_READ mapping is r-xp",
            "after execve: 0x6",
            "select's timeout after it, STICKY_TIMEOUTS: 0.010000",
            "STICKY_TIMEOUTS select, stopped and continued: EINTR",
            "vhangup as uid 65534: EPERM",
            "SIGHUPs to the session leader: 1",
            "read of the hung-up fd: 0",
            "tcgetattr on it: EIO",
            "poll: 0x1d",
            "tcgetsid of it: ENOTTY",
            "write through the new fd: ok",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// kcmp: files across dup and fork, the address space, fd table, fs
    /// context and signal handlers of threads, forks and CLONE_VM|CLONE_FS|
    /// CLONE_FILES children, System V undo lists (a pthread_create makes
    /// one), an epoll set's targets, and the errors in Linux's order.
    fn kcmp(platform, link) {
        let (rootfs, prog) = rootfs_with("kcmp", link);
        rootfs.dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "an fd and its dup: same",
            "two opens of one file: different",
            "a thread: KCMP_SIGHAND: same",
            "CLONE_VM|CLONE_FS|CLONE_FILES child: KCMP_FILES: same",
            "CLONE_VM|CLONE_FS|CLONE_FILES child: KCMP_SIGHAND: different",
            "an inherited fd, parent and child: same",
            "a fork child: KCMP_VM: different",
            "a fork child: KCMP_SYSVSEM, neither with undo: different",
            "type KCMP_TYPES: EINVAL",
            "a reaped child: ESRCH",
            "uid 65534 and root's process: EPERM",
            "KCMP_EPOLL_TFD, its dup: same",
            "KCMP_EPOLL_TFD, toff 1: ENOENT",
            "KCMP_EPOLL_TFD, efd not an epoll set: EINVAL",
            "KCMP_EPOLL_TFD, a bad slot: EFAULT",
            "KCMP_EPOLL_TFD, its file gone: ENOENT",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// process_vm_readv and process_vm_writev: a fork child's own
    /// (copy-on-write) memory read and written through scattered iovecs,
    /// partial copies where either side stops being accessible, a write
    /// seen by a thread of the child that spins without syscalls, and the
    /// errors in Linux's order.
    fn process_vm(platform, link) {
        let (rootfs, prog) = rootfs_with("process_vm", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "readv 10 bytes, 2 local and 3 remote iovecs: 10",
            "read: abcm nopqrs",
            "readv, the second remote iovec PROT_NONE: 100",
            "readv into a local buffer that runs into PROT_NONE: 50",
            "writev to a read-only remote page: EFAULT",
            "the parent's data is its own: pppppppp",
            "a local buffer past user space: EFAULT",
            "nothing to copy, pid -1: 0",
            "pid -1: ESRCH",
            "uid 65534 reading root's process: EPERM",
            "child's data after the writes: WRITTEN! scatter!",
            "the spinning thread saw the write: ok",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// futex_waitv: the argument checks in Linux's order, EAGAIN, absolute
    /// timeouts on both clocks, the index a wake returns (a word listed
    /// twice: the first for one wake, the last for two), a requeued wait,
    /// shared words across fork, and EINTR.
    fn futex_waitv(platform, link) {
        let (rootfs, prog) = rootfs_with("futex_waitv", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "129 futexes: EINVAL",
            "... and a bad timeout (checked first): EFAULT",
            "an entry's reserved field set: EINVAL",
            "the second entry NULL: EFAULT",
            "the third word not as expected: EAGAIN",
            "a 50 ms CLOCK_REALTIME timeout: ETIMEDOUT",
            "10 futexes, the sixth woken: returns 5, the wake woke 1",
            "the first word also last, one woken: returns 0, the wake woke 1",
            "the first word also last, all woken: returns 9, the wake woke 2",
            "the fourth requeued and woken: 3",
            "a fork child on shared words, the second woken: 1",
            "a SIGALRM handler runs: EINTR",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Linux AIO by its raw syscalls: io_setup's ring (the header, events
    /// reaped from user space), reads and writes (vectored too) done at
    /// submit, fsync, results that are the I/O's errors (-EFAULT, -EAGAIN
    /// with RWF_NOWAIT, as preadv2's, -EPIPE), IOCB_FLAG_RESFD's eventfd, a full ring,
    /// poll requests (at once, later, cancelled: EINPROGRESS), io_getevents's
    /// waits and io_pgetevents's mask, io_cancel,
    /// io_destroy, a fork child, /proc/sys/fs/aio-nr, and the errors.
    fn aio(platform, link) {
        let (rootfs, prog) = rootfs_with("aio", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "io_setup(aio-max-nr + 1): EAGAIN",
            "ring: id 0 head 0 tail 0 magic 0xa10a10a1 compat 1 incompat 0 header 32",
            "preadv: event res 8, obj the iocb, data 0",
            "ring event: data 2 res 2",
            "RWF_NOWAIT read of an empty pipe: event res -EAGAIN, obj the iocb, data 0",
            "preadv2(RWF_NOWAIT) of an empty pipe: EAGAIN",
            "the eventfd counted 2",
            "an unknown RWF flag: EOPNOTSUPP",
            "io_submit, the second iocb NULL: 1",
            "io_getevents into NULL: EFAULT",
            "io_pgetevents, SIGALRM comes: EINTR",
            "io_cancel of a completed request: EINVAL",
            "poll of the pipe, written 100 ms later: event res 65, obj the iocb, data 0",
            "io_cancel of it: EINPROGRESS",
            "the cancelled poll: event res 0, obj the iocb, data 0",
            "the child: io_submit: EINVAL",
            "mincore of the ring after: ENOMEM",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// execve's and fchdir's permission checks as uid 65534, an empty argv
    /// (argc 1, argv[0] ""), execveat's AT_SYMLINK_NOFOLLOW, and an empty
    /// path failing before its dirfd is looked at.
    fn exec_perms(platform, link) {
        let (rootfs, prog) = rootfs_with("exec_perms", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "execve of a 0700 root file as uid 65534: EACCES",
            "fchdir into a 0700 root directory as uid 65534: EACCES",
            "exec'd with argc 1, argv[0] \"\"",
            "execveat(AT_SYMLINK_NOFOLLOW) of a symlink: ELOOP",
            "fchmodat(a file's fd, \"\"): ENOENT",
            "openat(-1, \"\"): ENOENT",
            "openat(a file's fd, \"x\"): ENOTDIR",
        ]);
        differential(platform, &case);
    }
}

husk_test! {
    /// A read into an unmapped page, with a count that reaches over a 1 GiB
    /// mapping shared copy-on-write with a child, fails with EFAULT without
    /// first copying the mapping, and reads of a few bytes with a 1 GiB count
    /// into it copy only a piece of it: under a 256 MiB limit, a copy of the
    /// mapping would end the sandbox.
    fn fuzz_finds_no_copy_ahead_of_reads(platform) {
        let (rootfs, prog) = rootfs_with("fuzz_finds", Link::Static);
        let case = Case::new(&rootfs, prog)
            .args(["bigcow"])
            .husk_flags(["--memory", "256m"])
            .expect_status(0)
            .expect_stdout(
                "read into an unmapped page before a 1 GiB copy-on-write mapping: EFAULT\n\
                 read of a small file with a 1 GiB count into it: ok\n\
                 read of a pipe with a 1 GiB count into it: 3\n\
                 child: exited 0\n",
            );
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// Exit statuses from main's return value: 256 wraps to 0.
    fn exit_status(platform, link) {
        let (rootfs, prog) = rootfs_with("exitcode", link);
        for (arg, status) in [("0", 0), ("1", 1), ("42", 42), ("255", 255), ("256", 0)] {
            let case = Case::new(&rootfs, prog.clone())
                .args([arg])
                .compare_stderr()
                .expect_status(status)
                .expect_stdout("returning from main\n");
            differential(platform, &case);
        }
    }
}

differential_test! {
    /// A raw exit_group(7) skips the stdio flush.
    fn exit_group(platform, link) {
        let (rootfs, prog) = rootfs_with("exitcode", link);
        let case = Case::new(&rootfs, prog)
            .args(["exit_group", "7"])
            .compare_stderr()
            .expect_status(7)
            .expect_stdout("calling exit_group\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// exit(9) from the only thread ends the process with status 9.
    fn exit_last_thread(platform, link) {
        let (rootfs, prog) = rootfs_with("exitcode", link);
        let case = Case::new(&rootfs, prog)
            .args(["exit", "9"])
            .compare_stderr()
            .expect_status(9)
            .expect_stdout("calling exit\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// A write through NULL kills the program with SIGSEGV: status 139.
    fn segv_status(platform, link) {
        let (rootfs, prog) = rootfs_with("exitcode", link);
        let case = Case::new(&rootfs, prog)
            .args(["segv"])
            .compare_stderr()
            .expect_status(139)
            .expect_stdout("writing to NULL\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// Bad user pointers give EFAULT and the program goes on.
    fn efault(platform, link) {
        let (rootfs, prog) = rootfs_with("efault", link);
        let case = Case::new(&rootfs, prog)
            .compare_stderr()
            .expect_lines(&[
                "read into (void *)1: EFAULT",
                "write from (void *)1: EFAULT",
                "read into a PROT_NONE page: EFAULT",
                "write from an unmapped page: EFAULT",
                "open with a bad path pointer: EFAULT",
                "stat with a bad buffer: EFAULT",
                "read 0 bytes into NULL: returned 0",
                "still running; close: ok",
            ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// The vDSO: present (AT_SYSINFO_EHDR, [vdso] above [vvar]), exporting
    /// Linux's LINUX_2.6 names; the clocks it serves never go back and
    /// agree with the syscalls', clock_getres and the time zone are the
    /// syscalls', the parameter page cannot be made writable.
    fn vdso(platform, link) {
        let (rootfs, prog) = rootfs_with("vdso", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).expect_no_bad_checks().expect_lines(&[
            "AT_SYSINFO_EHDR set: 1",
            "names __vdso_clock_gettime: 1",
            "names LINUX_2.6: 1",
            "MONOTONIC: never back 1, the syscall's within 5 ms 1",
            "mprotect [vvar] writable: EACCES",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Extended attributes on tmpfs by namespace (security., trusted.,
    /// system.) with and without CAP_SYS_ADMIN and CAP_SETFCAP, the size
    /// limits, listing order, and device nodes (CAP_MKNOD).
    fn xattrs(platform, link) {
        let (rootfs, prog) = rootfs_with("xattrs", link);
        let case = Case::new(&rootfs, prog).scratch_mounts().compare_stderr().expect_no_bad_checks().expect_lines(&[
            "set security.a: ok",
            "list: user.u trusted.t security.a",
            "set security.b without CAP_SYS_ADMIN: EPERM",
            "get security.a without CAP_SYS_ADMIN: 3 'sec'",
            "get trusted.t without CAP_SYS_ADMIN: ENODATA",
            "list without CAP_SYS_ADMIN: user.u security.a",
            "set security.capability without CAP_SETFCAP: EPERM",
            "get security.a of a 0600 root file as uid 65534: 3 'sec'",
            "set security.capability revision 2 in 24 bytes: EINVAL",
            "get security.capability: 20",
            "get system.foo: EOPNOTSUPP",
            "get system.posix_acl_access: ENODATA",
            "set a value of 65537 bytes: E2BIG",
            "get it into 65535 bytes: ERANGE",
            "listxattr one byte short: ERANGE",
            "remove security.a again: ENODATA",
            "write to it: 3",
            "set user.x on a device: EPERM",
            "get trusted.x of a device: 3 'dev'",
            "its type and number: block 7:200",
            "mknod a char device without CAP_MKNOD: EPERM",
            "mknod a whiteout without CAP_MKNOD: ok",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Inode flags on tmpfs (chattr): which tmpfs keeps, who sets them,
    /// what immutable and append-only files and directories refuse.
    fn chattr(platform, link) {
        let (rootfs, prog) = rootfs_with("chattr", link);
        let case = Case::new(&rootfs, prog).scratch_mounts().compare_stderr().expect_no_bad_checks().expect_lines(&[
            "set FS_SYNC_FL: EOPNOTSUPP",
            "flags now: 0xc0",
            "FS_IOC_GETFLAGS on a pipe: ENOTTY",
            "set FS_IMMUTABLE_FL without CAP_LINUX_IMMUTABLE: EPERM",
            "set FS_NODUMP_FL on another's file: EPERM",
            "statx of the immutable file: mask has all three, attributes 0x10",
            "open it O_RDONLY|O_TRUNC: EPERM",
            "access(W_OK): EPERM",
            "link: EPERM",
            "unlink in it: EPERM",
            "write to a file in it: ok",
            "unlink it then: ok",
            "open it O_WRONLY|O_APPEND: ok",
            "F_SETFL without O_APPEND: EPERM",
            "fallocate: ok",
            "fallocate(PUNCH_HOLE): EPERM",
            "utimes(NULL): ok",
            "utimensat(NOW, OMIT): EPERM",
            "a new file in a nodump, noatime directory: 0xc0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// A file's owner and signal-driven I/O (F_SETOWN and the rest,
    /// O_ASYNC on pipes, sockets and a terminal, F_SETSIG's siginfo, the
    /// owner's permission, thread owners) and dnotify's signals.
    fn fasync(platform, link) {
        let (rootfs, prog) = rootfs_with("fasync", link);
        let case = Case::new(&rootfs, prog).scratch_mounts().compare_stderr().expect_lines(&[
            "F_GETOWN_EX of a new pipe: type 0 pid 0",
            "F_SETOWN of no such process: ESRCH",
            "F_SETOWN_EX of type 3: EINVAL",
            "F_SETSIG 65: EINVAL",
            "F_GETOWN after F_SETOWN(-pgrp) is -pgrp: yes",
            "SIGIO after a write: 1",
            "SIGIO after reading (the read end's owner): 2",
            "write with F_SETSIG: 1 signal(s), signo SIGRTMIN+1, code POLL_IN, si_fd the fd, band 0x41",
            "a read, for the write end: 1 signal(s), signo SIGRTMIN+1, code POLL_OUT, si_fd the fd, band 0x304",
            "F_SETSIG SIGSEGV: 1 signal(s), signo SEGV, code SI_SIGIO, si_fd the fd, band 0x41",
            "SIGIO after O_ASYNC is off: 0 more",
            "a regular file's F_GETFL has O_ASYNC: no",
            "FIOASYNC on a regular file: ENOTTY",
            "data on a socket: 1 signal(s), signo SIGRTMIN+1, code POLL_IN, si_fd the fd, band 0x41",
            "a line typed on the terminal: 1 signal(s), signo SIGRTMIN+1, code POLL_IN, si_fd the fd, band 0x41",
            "sigtimedwait: SIGRTMIN+1, code POLL_IN, si_fd the fd",
            "owner set by uid 65534, the target root: no signal",
            "DN_RENAME, rename within: 1 signal(s), signo SIGRTMIN+1, code POLL_MSG, si_fd the fd, band 0x441",
            "DN_RENAME, move into a subdirectory: no signal",
            "DN_ATTRIB on the directory itself: 1 signal(s), signo SIGRTMIN+1, code POLL_MSG, si_fd the fd, band 0x441",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// File leases: who may take which, their errors, and their breaking by
    /// conflicting opens and truncate (the holder's signal, the downgrade,
    /// the waiting breaker, EWOULDBLOCK, the end by F_UNLCK or close).
    fn leases(platform, link) {
        let (rootfs, prog) = rootfs_with("leases", link);
        let case = Case::new(&rootfs, prog).scratch_mounts().compare_stderr().expect_lines(&[
            "F_RDLCK on an O_RDWR file: EAGAIN",
            "F_WRLCK on an O_RDWR file, the only open: ok",
            "F_UNLCK without a lease: EAGAIN",
            "F_WRLCK with another open file: EAGAIN",
            "a write open beside read leases, O_NONBLOCK: EAGAIN",
            "F_RDLCK again while broken: EAGAIN",
            "F_RDLCK on a pipe: EINVAL",
            "F_RDLCK on another's file as uid 65534: EACCES",
            "a reader's open, O_NONBLOCK: EAGAIN",
            "the holder: SIGRTMIN+1, code POLL_MSG, si_fd the lease's fd",
            "F_GETLEASE while a reader breaks it: F_RDLCK",
            "the reader waits: yes",
            "the reader is through: yes",
            "F_GETLEASE while a writer breaks it: F_UNLCK",
            "F_RDLCK while a writer waits: EAGAIN",
            "the writer is through: yes",
            "F_GETOWN after the lease went: 0, F_GETSIG: 0",
            "truncate waits: yes",
            "truncate is through once the holder closes: yes",
            "lease-break-time: 45",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Kernel keys in a session keyring of the program's own: add_key,
    /// request_key (no upcall) and keyctl's operations, permissions and
    /// possession, revocation, expiry, and the thread, process and session
    /// keyrings across threads and fork, with Linux's errors.
    fn keys(platform, link) {
        let (rootfs, prog) = rootfs_with("keys", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "describe the session keyring: 26 'keyring;0;0;3f030000;_ses'",
            "read k1 into 2 bytes: 5, buffer untouched: yes",
            "describe k1: 21 'user;0;0;3f010000;k1'",
            "add_key of type nosuch: ENODEV",
            "add_key user from a NULL payload: EFAULT",
            "read the logon key: EOPNOTSUPP",
            "read ring into 4 bytes: 8, nothing copied: yes",
            "link ring into ring2: EDEADLK",
            "move a second ring2 to the session, excl: EEXIST",
            "request_key of k3 again: ENOKEY",
            "request_key of a keyring with callout info: EPERM",
            "read k2: EKEYREVOKED",
            "read k4 after 2 s: EKEYEXPIRED",
            "read it (possessed): 4 'five'",
            "read it (not possessed): EACCES",
            "uid 65534 reads k1 through the session: 5 'again'",
            "adding keys until one fails: EDQUOT",
            "another thread's GET_KEYRING_ID(thread, no create): ok",
            "read the negative key: ENOKEY",
            "GET_KEYRING_ID(reqkey auth): ENOKEY",
            "INSTANTIATE without authority: EPERM",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Timers', thread signals' and waits' edges that LTP found: CLOCK_TAI
    /// and alarm-clock timers (EOPNOTSUPP without a real-time clock
    /// device; EPERM without CAP_WAKE_ALARM), timer_settime's errors, an
    /// absolute first expiry long past (overruns capped at INT_MAX, a
    /// timerfd's missed intervals), rt_sigqueueinfo and kill to a thread's
    /// id, rt_tgsigqueueinfo and its errors, RLIMIT_SIGPENDING for tgkill
    /// and tkill, timeouts of i64::MAX seconds (which overflowed the
    /// Sentry's deadlines), waitpid(INT_MIN), and
    /// /proc/sys/kernel/tainted and core_pattern.
    fn timer_edges(platform, link) {
        let (rootfs, prog) = rootfs_with("timer_edges", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "timer_create(CLOCK_TAI): ok",
            "timer_create(CLOCK_BOOTTIME_ALARM, a bad sigevent): EFAULT",
            "timerfd_create(CLOCK_REALTIME_ALARM) without CAP_WAKE_ALARM: EPERM",
            "timer_settime, no new value: EINVAL",
            "its overrun count: INT_MAX",
            "timerfd, absolute 100 ms ago, 10 ms interval: its first read counts 11 or more: ok",
            "rt_sigqueueinfo to a thread's id: ok",
            "the thread got it, with its value: ok",
            "rt_tgsigqueueinfo, SI_USER to another thread: EPERM",
            "rt_tgsigqueueinfo, another process's tgid: ESRCH",
            "RLIMIT_SIGPENDING 0: tgkill(SIGRTMIN): EAGAIN",
            "RLIMIT_SIGPENDING 0: kill(SIGRTMIN): ok",
            "SIGRTMIN queued: 1",
            "ppoll, a ready pipe, i64::MAX s: 1",
            "futex wait, another value, i64::MAX s: EAGAIN",
            "sigtimedwait, SIGUSR2 pending, i64::MAX s: SIGUSR2",
            "timer_settime, i64::MAX s: ok",
            "waitpid(INT_MIN): ESRCH",
            "/proc/sys/kernel/tainted: readable",
            "/proc/sys/kernel/core_pattern: readable",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mmap's and madvise's edges that LTP found: a zero length and an
    /// unknown mapping type EINVAL before an O_WRONLY file's EACCES,
    /// MADV_FREE on anything but private anonymous memory EINVAL, advice
    /// over a hole ENOMEM, unknown advice EINVAL.
    fn mm_edges(platform, link) {
        let (rootfs, prog) = rootfs_with("mm_edges", link);
        rootfs.dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "mmap, O_WRONLY fd, length 0: EINVAL",
            "mmap, O_WRONLY fd, no MAP_SHARED or MAP_PRIVATE: EINVAL",
            "mmap, O_WRONLY fd, MAP_PRIVATE: EACCES",
            "MADV_FREE, private anonymous: ok",
            "MADV_FREE, shared anonymous: EINVAL",
            "MADV_FREE, a private file mapping: EINVAL",
            "MADV_NORMAL over a hole: ENOMEM",
            "MADV_SEQUENTIAL past the end: ENOMEM",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// What LTP's mmap12, munmap04 and msgstress01 found: /proc/self/pagemap
    /// (present, file and exclusive bits; whole entries only, else EINVAL),
    /// MAP_POPULATE, the limit on mappings (mmap past it ENOMEM, a split
    /// at it ENOMEM, whole mappings still unmapped), and
    /// /proc/sys/kernel/threads-max.
    fn mm_limits(platform, link) {
        let (rootfs, prog) = rootfs_with("mm_limits", link);
        rootfs.dir("/proc").dir("/tmp");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "an untouched page: present 0 file 0 exclusive 0 soft-dirty 0",
            "a written page: present 1 file 0 exclusive 1 soft-dirty 0",
            "a written shared page: present 1 file 1 exclusive 1 soft-dirty 0",
            "MAP_POPULATE's last page: present 1 file 0 exclusive 1 soft-dirty 0",
            "pagemap read of 12 bytes: EINVAL",
            "threads-max: a number",
            "mmap after many mappings: ENOMEM",
            "munmap of a mapping's middle page at the limit: ENOMEM",
            "munmap of a mapping's middle page then: ok",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// What LTP's signal06 found: a handler frame that cannot be written
    /// (a read-only alternate stack) brings a SIGSEGV (SI_KERNEL) to its
    /// handler, the interrupted code going on as it was; a SIGSEGV whose
    /// own frame fails kills.
    fn sigframe_fault(platform, link) {
        let (rootfs, prog) = rootfs_with("sigframe_fault", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "SIGHUP on a read-only alternate stack: 1 handled, 1 SIGSEGV, si_code SI_KERNEL",
            "a double kept: yes",
            "SIGSEGV whose frame fails: killed by SIGSEGV",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// remap_file_pages, which LTP's shmctl05 races against IPC_RMID: the
    /// file mapped again at another page, Linux's EINVALs, and a removed
    /// System V segment's last mapping not mapped again.
    fn remap_file_pages(platform, link) {
        let (rootfs, prog) = rootfs_with("remap_file_pages", link);
        rootfs.dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "remap page 0 to the file's page 2: ok",
            "the pages read: c b c",
            "a write through it reaches the file's page 2: yes",
            "remap with a prot: EINVAL",
            "remap of a private file mapping: EINVAL",
            "remap of a System V segment: ok",
            "remap of the removed segment's last mapping: EINVAL",
            "mincore of the range then: ENOMEM",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// MAP_GROWSDOWN, as LTP's mmap18 uses it: a touch below grows the
    /// mapping, but not within the stack guard gap of an accessible
    /// mapping below, nor past RLIMIT_STACK (SIGSEGV); shared anonymous
    /// memory cannot grow down (EINVAL).
    fn growsdown(platform, link) {
        let (rootfs, prog) = rootfs_with("growsdown", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "a touch of the page below: exit 0",
            "a touch 600 pages above the reserve's start: exit 0",
            "a touch 99 pages above a mapping: killed by SIGSEGV",
            "a touch 99 pages above it once PROT_NONE: exit 0",
            "a touch 64 pages down, RLIMIT_STACK 32 pages: killed by SIGSEGV",
            "mincore of the grown page: ok",
            "MAP_GROWSDOWN of shared anonymous memory: EINVAL",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mlock's state: VmLck, smaps' Locked and "lo", locked pages resident
    /// (not with MLOCK_ONFAULT), MADV_DONTNEED (EINVAL) and MS_INVALIDATE
    /// (EBUSY) refused on them, MAP_LOCKED, no locks in a fork child,
    /// munlock, and mlockall(MCL_FUTURE) for later mappings.
    fn mlock_state(platform, link) {
        let (rootfs, prog) = rootfs_with("mlock_state", link);
        rootfs.dir("/proc").dir("/tmp");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "mlock 2 pages: ok, VmLck +8 kB, resident 2 of 8",
            "smaps: Locked 8 kB, lo 1",
            "mlock2 ONFAULT of pages 4-7: ok, VmLck +24 kB, resident 3 of 8",
            "MADV_DONTNEED on a locked page: Invalid argument",
            "msync MS_INVALIDATE on locked pages: Device or resource busy",
            "child: VmLck +0 kB",
            "MAP_LOCKED of 3 pages: VmLck +12 kB, resident 3 of 3",
            "a later mapping: resident 2 of 2, Locked 8 kB, lo 1",
            "a mapping after munlockall: resident 0 of 2",
            "mlock of a private file mapping: ok, the file's pages resident 3 of 3",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// sched_setattr and sched_getattr: SCHED_DEADLINE's parameters kept,
    /// checked and read back, fork refused from a deadline thread, FIFO
    /// priorities, nice and SCHED_FLAG_RESET_ON_FORK, the KEEP flags, and
    /// the size, flag, NULL and pid errors.
    fn sched_attr(platform, link) {
        let (rootfs, prog) = rootfs_with("sched_attr", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "deadline 10/30/30 ms: ok",
            "deadline: ok, size 56, policy 6, flags 0, nice 0, priority 0, dl 10000000/30000000/30000000",
            "fork from a deadline thread: Resource temporarily unavailable",
            "runtime past the deadline: Invalid argument",
            "period 0 (the deadline): ok",
            "FIFO 50: ok",
            "OTHER nice 5, reset on fork: ok",
            "size 20: Argument list too long, size now 56",
            "pid 4000000: No such process",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// prctl's process options: PR_SET_CHILD_SUBREAPER (orphans, a zombie
    /// among them, come to the nearest subreaper; others' go to init),
    /// PR_SET/GET_TIMERSLACK with /proc/self/timerslack_ns and a fork
    /// child's default, PR_SET/GET_THP_DISABLE (checks, inherited by fork),
    /// PR_GET_TID_ADDRESS, PR_GET_TSC, an unknown option's EINVAL.
    fn prctl_reaper(platform, link) {
        let (rootfs, prog) = rootfs_with("prctl_reaper", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "now: 1",
            "the orphan's new parent is the subreaper: yes",
            "the subreaper reaps it: yes, status 6",
            "the orphaned zombie reaped at once: yes, status 5",
            "the orphan's new parent is the middle process: no",
            "PR_SET_TIMERSLACK 70000: ok, now 70000, /proc 70000",
            "child: 70000, reset to 70000",
            "reset: 50000",
            "child after: THP disabled 1",
            "PR_GET_THP_DISABLE with an argument: Invalid argument",
            "PR_GET_TID_ADDRESS: ok, ours: yes",
            "PR_GET_TSC: ok, 1",
            "option 9999: Invalid argument",
            "PR_GET_NO_NEW_PRIVS with an argument: Invalid argument",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Scheduling and signal-action edges that LTP found: another user's
    /// process is EPERM to sched_setparam and sched_setscheduler without
    /// CAP_SYS_NICE; SA_RESETHAND resets the handler only (sigaction
    /// still reports the flags and mask); an ignored, unblocked signal
    /// (SIG_IGN, SIGCHLD's default) ends no wait; /proc/sys/fs/pipe-user-pages-soft.
    fn sched_edges(platform, link) {
        let (rootfs, prog) = rootfs_with("sched_edges", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "SA_SIGINFO still set: ok",
            "the mask kept: ok",
            "sigtimedwait, SIGUSR2 ignored and the child's SIGCHLD: EAGAIN",
            "uid 65534: sched_setparam(root's process): EPERM",
            "uid 65534: sched_setparam(itself): ok",
            "child: exited 0",
            "pipe-user-pages-soft: a count",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// ptrace(2) between the app's processes: signal-delivery stops seen
    /// by the tracer's wait (an ignored signal too), PTRACE_CONT with a
    /// signal and PTRACE_KILL, the tracee's memory, registers, debug
    /// registers and FPU state (a new MXCSR the tracee then runs with),
    /// syscall stops with a syscall skipped and restarted by the tracer,
    /// exec's SIGTRAP, fork and exec events with the new pid, a traced
    /// grandchild's exit reported to its tracer, single-stepping (the
    /// same number of steps as natively), PTRACE_SEIZE and
    /// PTRACE_INTERRUPT of a blocked read, and the errors of bad requests.
    fn ptrace(platform, link) {
        let (rootfs, prog) = rootfs_with("ptrace", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "attach self: EPERM",
            "usr1: stopped by SIGUSR1",
            "after poke: exited 7",
            "after SIGTERM: killed by SIGTERM",
            "ignored SIGWINCH: stopped by SIGWINCH",
            "after kill: killed by SIGKILL",
            "poke dr0 kernel: EINVAL",
            "TracerPid is ours: ok",
            "state is tracing stop: ok",
            "entry: syscall stop",
            "skipped returns what the tracer set: ok",
            "exit: exited 5",
            "exec: stopped by SIGTRAP",
            "fork event: stopped by SIGTRAP event 1",
            "child exec event: stopped by SIGTRAP event 4",
            "grandchild exit: exited 3",
            "fork parent exit: exited 13",
            "exit event: stopped by SIGTRAP event 6",
            "exit event message: 0x600",
            "orphan of an EXITKILL tracer: killed by SIGKILL",
            "stepped child: exited 4",
            "interrupted: stopped by SIGTRAP event 128",
            "setregset bad xcomp_bv: EINVAL",
            "fpu child: exited 0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// membarrier: QUERY's commands, EINVAL for bad commands and flags,
    /// EPERM before registration, GET_REGISTRATIONS (Linux's state bits:
    /// SYNC_CORE's registration counts PRIVATE_EXPEDITED's too, without
    /// making it ready), registrations kept by a fork child, and barriers
    /// that come back while another thread spins in app code.
    fn membarrier(platform, link) {
        let (rootfs, prog) = rootfs_with("membarrier", link);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "query, less RSEQ: 639",
            "private expedited unregistered: EPERM",
            "registrations after sync core: 80",
            "private expedited after sync core only: EPERM",
            "a fork child's private expedited: 0",
            "barriers beside a spinning thread: ok",
            "the spinning thread saw the store: ok",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mseal: its argument errors, then EPERM from munmap (nothing
    /// unmapped), mprotect (the mappings before the sealed one change),
    /// mmap MAP_FIXED, mremap from and onto a sealed mapping, and
    /// discarding madvise on read-only anonymous memory; writable memory
    /// and file mappings may still be discarded; fork keeps the seals;
    /// smaps says "sl".
    fn mseal(platform, link) {
        let (rootfs, prog) = rootfs_with("mseal", link);
        rootfs.dir("/proc").dir("/tmp");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "a length that wraps: EINVAL",
            "over a hole: ENOMEM",
            "smaps VmFlags sl: page 2 1, page 0 0",
            "munmap of all 8: EPERM",
            "munmap of pages 4-7: ok",
            "mprotect of pages 0-3: EPERM",
            "perms: page 0 r--p, page 2 rw-p",
            "mmap MAP_FIXED over page 2: EPERM",
            "mremap shrinking pages 2-3: EPERM",
            "mremap onto page 3: EPERM",
            "MADV_DONTNEED, sealed and writable: ok",
            "MADV_DONTNEED, sealed and read-only: EPERM",
            "MADV_FREE, sealed and read-only: EPERM",
            "MADV_DONTNEED on it: ok",
            "a fork child's munmap of page 2: EPERM",
            "child: exited 0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// cachestat on a memfd (tmpfs): written pages and holes, ranges in
    /// pages, to the end, past it and wrapping, fallocate and truncate; a
    /// pipe and a directory cache nothing; the errors in Linux's order;
    /// EPERM for another user who may not write the file.
    fn cachestat(platform, link) {
        let (rootfs, prog) = rootfs_with("cachestat", link);
        rootfs.dir("/proc").dir("/tmp");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "pages 0, 3 and 5 written: cache 3 dirty 0 writeback 0 evicted 0 recently 0",
            "pages 1-3: cache 1 dirty 0 writeback 0 evicted 0 recently 0",
            "page 7 allocated: cache 4 dirty 0 writeback 0 evicted 0 recently 0",
            "cut to 2 pages: cache 1 dirty 0 writeback 0 evicted 0 recently 0",
            "no range, flags: EFAULT",
            "flags, no result: EINVAL",
            "uid 65534, a file of root's, mode 644: EPERM",
            "uid 65534, mode 666: cache 0 dirty 0 writeback 0 evicted 0 recently 0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mremap with MREMAP_DONTUNMAP: EINVAL without MREMAP_MAYMOVE, with a
    /// new size or an unaligned address; the pages move and the old place
    /// stays mapped: zero for anonymous memory, the file again for a
    /// private file mapping, the same pages for shared memory and shared
    /// file mappings; MREMAP_FIXED places the move.
    fn mremap_dontunmap(platform, link) {
        let (rootfs, prog) = rootfs_with("mremap_dontunmap", link);
        rootfs.dir("/tmp");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "growing: EINVAL",
            "an unaligned new address: EINVAL",
            "the new place: \"first page\", \"second page\"",
            "the old place reads zero: ok",
            "there: \"first page\"; the page it left: 0",
            "file mapping: new \"changed\", old \"from the file\"",
            "shared: new \"shared and written after\", old \"shared and written after\"",
            "shared file: new \"FROM the file\", old \"FROM the file\"",
            "the file: \"FROM the file\"",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// name_to_handle_at and open_by_handle_at (with CAP_DAC_READ_SEARCH,
    /// which Docker's default capabilities lack): a handle opens its file
    /// after a rename and after one of its names goes, a hard link and
    /// AT_EMPTY_PATH give the same handle, a directory's opens read-only
    /// (EISDIR for writing); EOVERFLOW with the size needed; the argument
    /// errors; ESTALE for a changed handle and once every name is gone;
    /// EPERM without the capability.
    fn handles(platform, link) {
        let (rootfs, prog) = rootfs_with("handles", link);
        rootfs.dir("/tmp");
        let case = Case::new(&rootfs, prog)
            .husk_flags(["--cap-add", "DAC_READ_SEARCH"])
            .compare_stderr()
            .expect_no_bad_checks()
            .expect_lines(&[
                "after a rename: reads \"the file\"",
                "after unlinking one name: reads \"the file\"",
                "opening it for writing: EISDIR",
                "a buffer of 0 bytes: EOVERFLOW, the size needed is the handle's: yes, mount id written: yes",
                "129 bytes: EINVAL",
                "open, an unknown type flag: EINVAL",
                "open, a changed handle: ESTALE",
                "uid 65534: EPERM",
                "every name gone: ESTALE",
                "the directory gone: ESTALE",
            ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// /proc/self/maps names the program's file (path, device and inode
    /// as stat gives them), [heap], [stack] and [vdso]; PROCMAP_QUERY on
    /// it answers as Linux 6.11 does (LTP's ioctl10, and the errors);
    /// /proc/self/fd says " (deleted)" of an unlinked file.
    fn procmap(platform, link) {
        let (rootfs, prog) = rootfs_with("procmap", link);
        rootfs.dir("/proc").dir_mode("/tmp", 0o1777);
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "[heap] 1, [stack] 1, [vdso] 1",
            "the program's line: offset 0, device and inode as stat's: yes",
            "query_addr and query_flags kept: yes",
            "in a hole: ENOENT",
            "in a hole, or the next: ok, the one above the hole: yes",
            "the first file mapping: ok, the program's: yes",
            "a read-only mapping, asked writable: ENOENT",
            "the same, asked readable: ok",
            "a name buffer of 4: ENAMETOOLONG",
            "a build ID buffer of 2: ENAMETOOLONG",
            "the heap: ok, named [heap]",
            "size 16: EINVAL",
            "size 24: ok",
            "size 200, zero past the struct: ok",
            "size 200, not zero past it: E2BIG",
            "size 4097: E2BIG",
            "an unknown flag: EINVAL",
            "a name address without a size: EINVAL",
            "a build ID size without an address: EINVAL",
            "a bad argument address: EFAULT",
            "on /proc/self/status: ENOTTY",
            "the child's: ok, the same mapping: yes",
            "the child's, reaped: ESRCH",
            "fd link: /tmp/procmap-kept",
            "fd link: /tmp/procmap-gone (deleted)",
            "cwd link: /tmp/procmap-dir (deleted)",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// What LTP's seccomp01 and prctl02 check, and more: the app's own
    /// seccomp filters (errno, trap with its siginfo, kill, trace and user
    /// notification without anyone to take them, arguments, LOG, TSYNC,
    /// the chain's length as Linux counts it, inheritance by fork and
    /// execve, /proc's Seccomp lines), the checks of a program, and strict
    /// mode.
    fn seccomp_filter(platform, link) {
        let (rootfs, prog) = rootfs_with("seccomp_filter", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_lines(&[
            "a jump out of the program: EINVAL",
            "filters of 4096 installed: 3, then ENOMEM",
            "strict mode: write works",
            "strict mode's getpid: killed by signal 9",
            "the same with TSYNC_ESRCH: ESRCH",
            "TSYNC: the other thread's getppid: errno 42",
            "getppid: errno 42",
            "uname: trapped 1, si_code 1, si_errno 7, si_syscall is uname 1, si_arch ok 1, si_call_addr set 1, returned its number",
            "write to 99: errno 77",
            "the child's getpgid: killed by signal 31",
            "after execve: [NoNewPrivs:\t1] [Seccomp:\t2] [Seccomp_filters:\t2]",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Namespaces made inside the sandbox, as LTP's clock_gettime03,
    /// clock_nanosleep03, sysinfo03, timerfd04, setns and ioctl_ns tests
    /// use them: UTS namespaces (unshare, clone, sethostname in one, setns
    /// back), IPC namespaces (System V and message queue tables of their
    /// own, /proc/sysvipc the caller's), /proc/PID/ns links and their
    /// files' NS_GET_* ioctls, and a
    /// time namespace: its offsets written, on clock_gettime by syscall
    /// and through libc's vDSO, on absolute sleeps and timerfds, sysinfo
    /// and /proc/uptime; fixed once a child entered; setns back.
    fn namespaces(platform, link) {
        let (rootfs, prog) = rootfs_with("namespaces", link);
        rootfs.dir("/proc");
        let case = Case::new(&rootfs, prog).compare_stderr().expect_no_bad_checks().expect_lines(&[
            "NS_GET_USERNS of the first user namespace: EPERM",
            "hostname in the new namespace: inner-ns",
            "hostname in clone(CLONE_NEWUTS)'s child: cloned",
            "clone(CLONE_NEWIPC | CLONE_SYSVSEM): EINVAL",
            "shmget of the key in the new namespace: ENOENT",
            "mq_open of the queue in the new namespace: ENOENT",
            "timens_offsets of the first time namespace: EACCES",
            "clone3(CLONE_NEWTIME): ok",
            "vfork-style clone after unshare(CLONE_NEWTIME): EINVAL",
            "CLOCK_MONOTONIC 100 s on (libc): ok",
            "timens_offsets once entered: EACCES",
            "setns to the first time namespace: ok",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mount(2) and umount2(2) in the sandbox (LTP's .needs_rofs tests and
    /// madvise01 mount a tmpfs): a tmpfs with options, read-only remounts
    /// and EROFS on every write path, /proc/self/mounts, mountinfo and
    /// statfs, bind mounts (a read-only one of a directory on itself),
    /// nosuid, nodev and noexec, umount2's flags and Linux's errors (EPERM
    /// without CAP_SYS_ADMIN), a procfs. Natively it runs as root in a
    /// private mount namespace.
    fn mounts(platform, link) {
        let (rootfs, prog) = rootfs_with("mounts", link);
        rootfs.dir("/proc").dir("/tmp");
        let case = Case::new(&rootfs, prog).scratch_mounts().compare_stderr().expect_no_bad_checks().expect_lines(&[
            "mount tmpfs with options: ok",
            "root: mode 40750 uid 12 gid 34",
            "mounts: none /tmp/m tmpfs ro,relatime,size=1024k,mode=750,uid=12,gid=34 0 0",
            "  open O_WRONLY: EROFS",
            "umount with a file open: EBUSY",
            "MNT_EXPIRE once: EAGAIN",
            "exec on a noexec mount: exit 3",
            "  open it: EACCES",
            "remount it MS_BIND|MS_RDONLY: ok",
            "umount as nobody: EPERM",
            "unknown type: ENODEV",
            "bind on a magic link to a magic link: ENOENT",
            "/tmp's blocks: 16384",
            "/proc/self/mounts shows its size: yes",
            "done",
        ]);
        differential(platform, &case);
    }
}
