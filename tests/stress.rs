//! Stress cases: many threads on one mutex and condition variable, a
//! long fork-exec-wait loop, many signal round trips between two
//! processes, and forks while other threads write memory and read into it, each at the size the issue asks for and in a quick variant
//! that fails fast and points at the same code.
//!
//! (A program that segfaults exits with status 139: `segv_status` in
//! progs_diff.rs, and `debian_segv_status` in debian.rs for a dynamically
//! linked one.)

use std::time::Duration;

use husk_suite::{differential, differential_test, Case, Link, Rootfs};

/// The full-size cases take about a second natively; under Husk every
/// futex, fork, exec and signal is handled by the Sentry.
const FULL_TIMEOUT: Duration = Duration::from_secs(600);
const QUICK_TIMEOUT: Duration = Duration::from_secs(120);

fn rootfs_with(name: &str, link: Link) -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    let prog = rootfs.prog(name, link);
    (rootfs, prog)
}

differential_test! {
    /// 64 threads, 100,000 iterations each, on one mutex and condvar.
    fn stress_threads_mutex(platform, link) {
        let (rootfs, prog) = rootfs_with("threads_mutex", link);
        let case = Case::new(&rootfs, prog)
            .args(["64", "100000"])
            .timeout(FULL_TIMEOUT)
            .expect_stdout(
                "threads=64 iterations=100000\n\
                 counter=6400000 (expected 6400000)\n\
                 threads with all their iterations: 64\n\
                 barrier rounds=10, rounds with a wrong counter: 0\n\
                 condition variable waits happened: yes\n\
                 ok\n",
            );
        differential(platform, &case);
    }
}

differential_test! {
    /// The same with 1,000 iterations each.
    fn stress_threads_mutex_quick(platform, link) {
        let (rootfs, prog) = rootfs_with("threads_mutex", link);
        let case = Case::new(&rootfs, prog)
            .args(["64", "1000"])
            .timeout(QUICK_TIMEOUT)
            .expect_lines(&["counter=64000 (expected 64000)", "ok"]);
        differential(platform, &case);
    }
}

differential_test! {
    /// 1,000 fork-exec-wait children (every 10th by vfork), each
    /// re-executing the program, which exits with its index mod 251.
    fn stress_forkexec(platform, link) {
        let (rootfs, prog) = rootfs_with("forkexec", link);
        let case = Case::new(&rootfs, prog)
            .args(["1000"])
            .timeout(FULL_TIMEOUT)
            .expect_stdout("children=1000 ok=1000 bad=0 (100 by vfork)\nno child left: ok\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// 20 fork-exec-wait children.
    fn stress_forkexec_quick(platform, link) {
        let (rootfs, prog) = rootfs_with("forkexec", link);
        let case = Case::new(&rootfs, prog)
            .args(["20"])
            .timeout(QUICK_TIMEOUT)
            .expect_stdout("children=20 ok=20 bad=0 (2 by vfork)\nno child left: ok\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// 10,000 SIGUSR1/SIGUSR2 round trips between parent and child.
    fn stress_sigpingpong(platform, link) {
        let (rootfs, prog) = rootfs_with("sigpingpong", link);
        let case = Case::new(&rootfs, prog)
            .args(["10000"])
            .timeout(FULL_TIMEOUT)
            .expect_stdout(
                "round trips=10000 of 10000 (5000 by sigwaitinfo, 5000 by sigsuspend)\nchild exited 0\n",
            );
        differential(platform, &case);
    }
}

differential_test! {
    /// 100 round trips.
    fn stress_sigpingpong_quick(platform, link) {
        let (rootfs, prog) = rootfs_with("sigpingpong", link);
        let case = Case::new(&rootfs, prog)
            .args(["100"])
            .timeout(QUICK_TIMEOUT)
            .expect_stdout("round trips=100 of 100 (50 by sigwaitinfo, 50 by sigsuspend)\nchild exited 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// Three threads write shared pages (and fresh ones of their own),
    /// three read records from pipes into buffers on those pages, and the
    /// main thread forks 60 times: each child's memory must stay as it was
    /// at the fork, and every record must arrive intact (issue 20).
    fn stress_fork_io(platform, link) {
        let (rootfs, prog) = rootfs_with("fork_io", link);
        let case = Case::new(&rootfs, prog).args(["stress"]).timeout(QUICK_TIMEOUT).expect_stdout(
            "children's memory stayed as at the fork: ok\n\
             readers got every record intact and in order: ok\n\
             done\n",
        );
        differential(platform, &case);
    }
}
