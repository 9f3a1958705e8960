//! The rest of the file API (issue 9): advisory locks (flock(2) and
//! fcntl's POSIX and OFD record locks), vectored I/O at a position, and
//! moving data between files (splice, tee, vmsplice, copy_file_range), one
//! self-checking C program from `tests/progs/` per area, compared with its
//! native run.

use std::time::Duration;

use husk_suite::{differential, differential_test, prog_rootfs, self_checking_case};

differential_test! {
    /// `tests/progs/locks.c`: flock per open file description (dup and
    /// fork share it), conversions, blocking and EINTR; record locks
    /// between processes with F_GETLK's report, splitting, SEEK_CUR,
    /// SEEK_END and negative lengths, the access-mode rule, release on any
    /// close and at exit, F_SETLKW and EDEADLK; OFD locks and their
    /// conflicts with POSIX ones.
    fn locks(platform, link) {
        let (rootfs, prog) = prog_rootfs("locks", link);
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60)).expect_lines(&[
            "child F_GETLK [5,6): write [0, +10) by the holder",
            "after the split, [0,10): write [0, +3) by the holder",
            "[15,20), a negative length: read [15, +5) by the holder",
            "[1000, ...), to the end: write [1000, +0) by the holder",
            "write lock on an O_RDONLY fd: EBADF",
            "after the parent closed another fd: unlocked",
            "before the child's exec: write [0, +1) by the holder",
            "after it: unlocked",
            "parent F_SETLKW [1,2), which the waiting child holds: EDEADLK",
            "its lock went with it: ok",
            "F_SETLKW interrupted: EINTR",
            "flock interrupted: EINTR",
            "F_OFD_GETLK on the other: write [0, +10) by -1",
            "a POSIX lock of the same process over it: EAGAIN",
            "child flock LOCK_EX|LOCK_NB on the inherited fd: ok",
            "converting to exclusive with another shared: EAGAIN",
            "child got it after the unlock: 1",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// `tests/progs/rw_vectored.c`: preadv, pwritev, preadv2 (position -1
    /// is the offset) and pwritev2 (RWF_APPEND), and their errors.
    fn rw_vectored(platform, link) {
        let (rootfs, prog) = prog_rootfs("rw_vectored", link);
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60)).expect_lines(&[
            "preadv at 4: 5 [45|678]",
            "the offset stays: 2",
            "file: 01234567abcdeab",
            "preadv2 with an unknown flag: EOPNOTSUPP",
            "preadv on a pipe: ESPIPE",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// `tests/progs/splice.c`: splice between files and pipes (offsets,
    /// waiting, SPLICE_F_NONBLOCK, EPIPE), tee, vmsplice, copy_file_range,
    /// and the errors of each; fchmodat2, readahead and sync_file_range.
    fn splice(platform, link) {
        let (rootfs, prog) = prog_rootfs("splice", link);
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60)).expect_lines(&[
            "file at 3 to pipe, 4 bytes: 4, offset now 7, file offset 0",
            "pipe to file at 2: 3, offset 5",
            "a blocking splice waits for data: 4",
            "to a pipe without readers: EPIPE",
            "the original, all still there: \"duplicate\"",
            "vmsplice out of it: 8 [vms|plice]",
            "vmsplice of 128 KiB into an empty 64 KiB pipe: 65536",
            "vmsplice into the full pipe, SPLICE_F_NONBLOCK: EAGAIN",
            "copy_file_range 5 at 2 to 1: 5, offsets 7 6",
            "overlapping ranges of one file: EINVAL",
            "fchmodat2 AT_SYMLINK_NOFOLLOW on a symlink: EOPNOTSUPP",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// `tests/progs/dnotify.c`: fcntl(F_NOTIFY) raises SIGIO for the
    /// events asked (once, or with DN_MULTISHOT), ends with 0 or with any
    /// close of the directory's fd; ENOTDIR for a file.
    fn dnotify(platform, link) {
        let (rootfs, prog) = prog_rootfs("dnotify", link);
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60)).expect_lines(&[
            "after a create: 1",
            "a second create, one shot: 1",
            "two creates and a delete: 4",
            "a rename: 7",
            "still through a dup: 7",
            "F_NOTIFY on a file: ENOTDIR",
            "done",
        ]);
        differential(platform, &case);
    }
}
