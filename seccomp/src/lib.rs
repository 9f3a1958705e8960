//! The seccomp filters that confine Husk's own processes, as data, built
//! with seccompiler. A process installs its filter once it has set itself
//! up and before it reads any input the app controls; a syscall outside
//! the filter kills the whole process (SECCOMP_RET_KILL_PROCESS).
//!
//! Today: the Gofer's filter ([`gofer`]). The Sentry's, and the stubs'
//! (now in `platform`), are to follow.
//!
//! Each allowed syscall is listed with why it is needed; syscalls that are
//! dangerous in general but needed in one form carry argument rules
//! (`fcntl`'s commands, `mmap` and `mprotect` never executable).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// Why a filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rules do not make a filter (a bug in this crate).
    #[error("building the seccomp filter: {0}")]
    Build(String),
    /// The kernel refused it.
    #[error("installing the seccomp filter: {0}")]
    Install(String),
}

/// The architecture the filters are built for.
#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// One allowed syscall: its number, and the argument rules that must hold
/// (any one of them; none: always allowed).
pub struct Allowed {
    /// The syscall number.
    pub nr: i64,
    /// Its name, for review (`husk debug seccomp`).
    pub name: &'static str,
    /// Alternative conditions; empty allows every call.
    pub rules: Vec<SeccompRule>,
}

/// `arg` (an int) equals `v`.
fn arg_eq(arg: u8, v: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, v).expect("a valid argument index")
}

/// `arg` has none of `bits`.
fn arg_without(arg: u8, bits: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(bits), 0)
        .expect("a valid argument index")
}

fn one(cond: SeccompCondition) -> SeccompRule {
    SeccompRule::new(vec![cond]).expect("a rule with one condition")
}

fn always(nr: i64, name: &'static str) -> Allowed {
    Allowed { nr, name, rules: Vec::new() }
}

/// The Gofer, serving its roots: every host path it opens is beneath a root
/// fd it holds (openat2 with RESOLVE_BENEATH), and it talks only on the
/// socket it was given. 28 syscalls, and 12 more (40) that change a tree
/// when a root is `writable`.
pub fn gofer_syscalls(writable: bool) -> Vec<Allowed> {
    let mut list = gofer_read_syscalls();
    if writable {
        list.extend([
            // One name in a directory fd it holds.
            always(libc::SYS_mkdirat, "mkdirat"),
            always(libc::SYS_mknodat, "mknodat"),
            always(libc::SYS_symlinkat, "symlinkat"),
            always(libc::SYS_linkat, "linkat"),
            always(libc::SYS_unlinkat, "unlinkat"),
            always(libc::SYS_renameat2, "renameat2"),
            // Attributes, through the O_PATH fd of the file itself.
            always(libc::SYS_fchownat, "fchownat"),
            always(SYS_FCHMODAT2, "fchmodat2"),
            // A new file's mode, and chmod before Linux 6.6.
            always(libc::SYS_fchmod, "fchmod"),
            always(libc::SYS_utimensat, "utimensat"),
            // user. extended attributes, on files it opened.
            always(libc::SYS_fsetxattr, "fsetxattr"),
            always(libc::SYS_fremovexattr, "fremovexattr"),
        ]);
    }
    list
}

/// fchmodat2 (Linux 6.6), which libc does not name yet; the same number
/// on every architecture.
const SYS_FCHMODAT2: i64 = 452;

fn gofer_read_syscalls() -> Vec<Allowed> {
    let no_exec = || vec![one(arg_without(2, libc::PROT_EXEC as u64))];
    let fcntl_cmds = [libc::F_GETFL, libc::F_SETFL, libc::F_GETFD, libc::F_SETFD, libc::F_ADD_SEALS];
    vec![
        // Requests in, answers (and donated fds) out, on its one socket.
        always(libc::SYS_recvmsg, "recvmsg"),
        always(libc::SYS_sendmsg, "sendmsg"),
        // Walking and opening beneath a root, one component at a time.
        always(libc::SYS_openat2, "openat2"),
        always(libc::SYS_newfstatat, "newfstatat"),
        // statfs: pseudo-filesystems refused, and a volume's figures.
        always(libc::SYS_fstatfs, "fstatfs"),
        always(libc::SYS_readlinkat, "readlinkat"),
        always(libc::SYS_getdents64, "getdents64"),
        always(libc::SYS_lseek, "lseek"),
        always(libc::SYS_close, "close"),
        // user. extended attributes, which an overlay's copies keep.
        always(libc::SYS_fgetxattr, "fgetxattr"),
        always(libc::SYS_flistxattr, "flistxattr"),
        // The sealed, empty file that stands for a covered mount point.
        always(libc::SYS_memfd_create, "memfd_create"),
        Allowed {
            nr: libc::SYS_fcntl,
            name: "fcntl",
            rules: fcntl_cmds.iter().map(|&c| one(arg_eq(1, c as u64))).collect(),
        },
        // Memory, never executable.
        Allowed { nr: libc::SYS_mmap, name: "mmap", rules: no_exec() },
        Allowed { nr: libc::SYS_mprotect, name: "mprotect", rules: no_exec() },
        always(libc::SYS_munmap, "munmap"),
        always(libc::SYS_mremap, "mremap"),
        always(libc::SYS_madvise, "madvise"),
        always(libc::SYS_brk, "brk"),
        always(libc::SYS_futex, "futex"),
        // Errors to stderr, and the end: exit, or abort on a panic.
        always(libc::SYS_write, "write"),
        always(libc::SYS_exit, "exit"),
        always(libc::SYS_exit_group, "exit_group"),
        always(libc::SYS_rt_sigreturn, "rt_sigreturn"),
        always(libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
        // Rust's stack-overflow guard lets its alternate stack go at exit.
        // (A panic's abort is killed by the filter itself: no tgkill.)
        always(libc::SYS_sigaltstack, "sigaltstack"),
        // Hash tables' keys, and clocks where the vDSO cannot serve.
        always(libc::SYS_getrandom, "getrandom"),
        always(libc::SYS_clock_gettime, "clock_gettime"),
    ]
}

/// Builds the filter that allows `allowed` and kills the process on
/// anything else.
pub fn build(allowed: Vec<Allowed>) -> Result<BpfProgram, Error> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = allowed.into_iter().map(|a| (a.nr, a.rules)).collect();
    let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, ARCH)
        .map_err(|e| Error::Build(e.to_string()))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| Error::Build(e.to_string()))
}

/// The Gofer's filter: with the calls that change a tree if any root it
/// serves is `writable`.
pub fn gofer(writable: bool) -> Result<BpfProgram, Error> {
    build(gofer_syscalls(writable))
}

/// The filters, for review: each one's name and its syscalls, with the
/// argument rules noted (`husk debug seccomp`).
pub fn describe() -> Vec<(&'static str, Vec<String>)> {
    let list = |allowed: Vec<Allowed>| {
        allowed
            .into_iter()
            .map(|a| if a.rules.is_empty() { a.name.to_string() } else { format!("{} (argument rules)", a.name) })
            .collect()
    };
    vec![
        ("gofer (every root read-only)", list(gofer_syscalls(false))),
        ("gofer (a root writable)", list(gofer_syscalls(true))),
    ]
}

/// Installs `prog` on every thread of the calling process, after
/// PR_SET_NO_NEW_PRIVS (which seccompiler sets): from then on the process
/// can never leave it.
pub fn install(prog: &BpfProgram) -> Result<(), Error> {
    seccompiler::apply_filter_all_threads(prog).map_err(|e| Error::Install(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gofer_filter_is_small_and_builds() {
        for writable in [false, true] {
            let n = gofer_syscalls(writable).len();
            assert!(n <= 40, "the Gofer may use at most 40 host syscalls; it has {n}");
            let mut nrs: Vec<i64> = gofer_syscalls(writable).iter().map(|a| a.nr).collect();
            nrs.sort();
            nrs.dedup();
            assert_eq!(nrs.len(), n, "each syscall listed once");
            assert!(!gofer(writable).unwrap().is_empty());
        }
        // A read-only Gofer cannot change a tree at all.
        let ro: Vec<i64> = gofer_syscalls(false).iter().map(|a| a.nr).collect();
        for nr in [libc::SYS_unlinkat, libc::SYS_renameat2, libc::SYS_mkdirat, libc::SYS_fchownat] {
            assert!(!ro.contains(&nr));
        }
    }

    /// In a child process (this test binary again), installs the Gofer's
    /// filter and makes a syscall outside it: the child must die of
    /// SIGSYS, and a call inside it must work.
    #[test]
    fn a_syscall_outside_the_gofer_filter_kills() {
        use std::os::unix::process::ExitStatusExt;
        const CHILD: &str = "HUSK_SECCOMP_TEST_CHILD";
        if let Ok(what) = std::env::var(CHILD) {
            let prog = gofer(false).unwrap();
            install(&prog).unwrap();
            // Allowed: a write to stderr.
            // SAFETY: a plain write of a static buffer to fd 2.
            unsafe { libc::write(2, b"installed\n".as_ptr().cast(), 10) };
            if what == "outside" {
                // SAFETY: getppid takes nothing and touches no memory.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            std::process::exit(7);
        }
        let run = |what: &str| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "tests::a_syscall_outside_the_gofer_filter_kills", "--nocapture", "--test-threads=1"])
                .env(CHILD, what)
                .output()
                .unwrap()
        };
        let inside = run("inside");
        assert_eq!(inside.status.code(), Some(7), "{inside:?}");
        let outside = run("outside");
        assert_eq!(outside.status.signal(), Some(libc::SIGSYS), "{outside:?}");
        assert!(String::from_utf8_lossy(&outside.stderr).contains("installed"), "{outside:?}");
    }
}
