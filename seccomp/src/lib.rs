//! The seccomp filters that confine Husk's own processes, as data, built
//! with seccompiler. A process installs its filter once it has set itself
//! up and before it reads any input the app controls; a syscall outside
//! the filter ends the whole process.
//!
//! - The Gofer's filter ([`gofer`]) kills (SECCOMP_RET_KILL_PROCESS).
//! - The Sentry's ([`sentry`]) traps (SECCOMP_RET_TRAP): the Sentry has no
//!   handler for SIGSYS but a reporter that names the call and then dies of
//!   it, and the filter is inherited by every stub the Sentry forks, where a
//!   kill would outrank the stub's own trap of each app syscall. A trap
//!   never runs the call, whatever a handler then does.
//! - The stubs' own filters ([`stub`]) kill, and check where each call
//!   comes from: only the stub's code page may make the few calls they
//!   allow.
//!
//! Each allowed syscall is listed with why it is needed; syscalls that are
//! dangerous in general but needed in one form carry argument rules
//! (`fcntl`'s commands, `mmap` and `mprotect` never executable).

pub mod bpf;
mod search;
pub mod stub;

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
    let fcntl_cmds = [libc::F_GETFL, libc::F_SETFL, libc::F_GETFD, libc::F_SETFD, libc::F_ADD_SEALS];
    let mut list = vec![
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
        // Hash tables' keys.
        always(libc::SYS_getrandom, "getrandom"),
    ];
    list.extend(helper_process_basics());
    list
}

/// What every confined helper process (the Gofer, the relay) needs to be
/// a Rust program at all: memory (never executable), its log lines, clocks
/// where the vDSO cannot serve, and the end.
fn helper_process_basics() -> Vec<Allowed> {
    let no_exec = || vec![one(arg_without(2, libc::PROT_EXEC as u64))];
    vec![
        Allowed { nr: libc::SYS_mmap, name: "mmap", rules: no_exec() },
        Allowed { nr: libc::SYS_mprotect, name: "mprotect", rules: no_exec() },
        always(libc::SYS_munmap, "munmap"),
        always(libc::SYS_mremap, "mremap"),
        always(libc::SYS_madvise, "madvise"),
        always(libc::SYS_brk, "brk"),
        always(libc::SYS_futex, "futex"),
        // Errors and audit lines, and the end: exit, or abort on a panic.
        always(libc::SYS_write, "write"),
        always(libc::SYS_clock_gettime, "clock_gettime"),
        always(libc::SYS_exit, "exit"),
        always(libc::SYS_exit_group, "exit_group"),
        always(libc::SYS_rt_sigreturn, "rt_sigreturn"),
        always(libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
        // Rust's stack-overflow guard lets its alternate stack go at exit.
        // (A panic's abort is killed by the filter itself: no tgkill.)
        always(libc::SYS_sigaltstack, "sigaltstack"),
    ]
}

/// The NAT relay (`netrelay`), once it has read its policy: requests in
/// and connected sockets out on its one socket, and host sockets of
/// Internet families only. It opens no path and execs nothing.
pub fn relay_syscalls() -> Vec<Allowed> {
    let families = [libc::AF_INET, libc::AF_INET6].map(|f| one(arg_eq(0, f as u64))).to_vec();
    let mut list = vec![
        // Requests in, replies (and donated sockets) out.
        always(libc::SYS_recvmsg, "recvmsg"),
        always(libc::SYS_sendmsg, "sendmsg"),
        // A socket for each flow the policy allows: TCP or UDP (the
        // family is checked here, the type by the relay).
        Allowed { nr: libc::SYS_socket, name: "socket", rules: families },
        always(libc::SYS_connect, "connect"),
        always(libc::SYS_close, "close"),
        // Published ports (`-p`): connections taken off the listeners it
        // made before its filter, while it waits for requests too.
        always(libc::SYS_accept4, "accept4"),
        poll(),
        // Asking the nameservers again for an allowed hostname whose TTL
        // ran out: a query and its reply, with a receive timeout.
        always(libc::SYS_sendto, "sendto"),
        always(libc::SYS_recvfrom, "recvfrom"),
        Allowed {
            nr: libc::SYS_setsockopt,
            name: "setsockopt",
            rules: vec![SeccompRule::new(vec![
                arg_eq(1, libc::SOL_SOCKET as u64),
                arg_eq(2, libc::SO_RCVTIMEO as u64),
            ])
            .expect("a rule")],
        },
        // The socket library sets close-on-exec and non-blocking anew.
        Allowed {
            nr: libc::SYS_fcntl,
            name: "fcntl",
            rules: [libc::F_GETFD, libc::F_SETFD, libc::F_GETFL, libc::F_SETFL]
                .map(|c| one(arg_eq(1, c as u64)))
                .to_vec(),
        },
    ];
    list.extend(helper_process_basics());
    list
}

/// The relay's filter.
pub fn relay() -> Result<BpfProgram, Error> {
    build(relay_syscalls())
}

/// The fds the Sentry's filter names in its argument rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct SentryFds {
    /// The memory file: the only file a stub may map executable.
    pub memfd: i32,
    /// `--network host`: the app's Internet sockets are host sockets the
    /// Sentry makes and drives (a weaker mode, asked for by name).
    pub host_network: bool,
    /// `--platform kvm`: the vCPU and VM ioctls the KVM platform makes
    /// after the filter is in place.
    pub kvm: bool,
}

/// What a filter's argument rule compares: the flags `clone` may take.
/// A new thread, as glibc's pthread_create asks for one.
const CLONE_THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_SETTLS
    | libc::CLONE_PARENT_SETTID
    | libc::CLONE_CHILD_CLEARTID) as u64;
/// A new process, as glibc's fork asks for one (a stub).
const CLONE_FORK_FLAGS: u64 = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
/// The systrap stub factory's clone of a new stub: a child of the Sentry.
const CLONE_STUB_FLAGS: u64 = libc::CLONE_PARENT as u64;

/// The Sentry, once it has booted: it serves the app from its memory file,
/// the stdio and Gofer fds it was given and the stubs it forks. It opens
/// no host path, makes no socket and execs nothing.
///
/// The stubs it forks inherit this filter, so it also allows what a stub
/// does before its own filter (set-up in the forked child) and after it
/// (map the memory file, executable too; futex; rt_sigreturn).
pub fn sentry_syscalls(fds: SentryFds) -> Vec<Allowed> {
    let ioctls = [
        libc::TCGETS,
        libc::TCSETS,
        libc::TCSETSW,
        libc::TCSETSF,
        TCGETS2,
        TCSETS2,
        TCSETSW2,
        TCSETSF2,
        libc::TIOCGWINSZ,
        libc::TIOCSWINSZ,
        libc::FIONREAD,
        libc::TIOCOUTQ,
        libc::TCFLSH,
        libc::TCXONC,
        libc::FIONBIO,
        libc::FIOCLEX,
    ];
    let fcntl_cmds = [
        libc::F_GETFL,
        libc::F_SETFL,
        libc::F_GETFD,
        libc::F_SETFD,
        libc::F_DUPFD_CLOEXEC,
        libc::F_ADD_SEALS,
        libc::F_GET_SEALS,
    ];
    let prctls = [libc::PR_SET_NAME, libc::PR_GET_NAME, libc::PR_SET_PDEATHSIG, libc::PR_SET_NO_NEW_PRIVS];
    let mmap_rules = vec![
        // Anything not executable,
        one(arg_without(2, libc::PROT_EXEC as u64)),
        // or the memory file, shared and fixed, as a stub maps app code.
        SeccompRule::new(vec![
            arg_eq(3, (libc::MAP_SHARED | libc::MAP_FIXED) as u64),
            arg_eq(4, fds.memfd as u32 as u64),
        ])
        .expect("a rule"),
    ];
    let each = |arg: u8, values: &[u64]| -> Vec<SeccompRule> { values.iter().map(|&v| one(arg_eq(arg, v))).collect() };
    let qword_each = |arg: u8, values: &[u64]| -> Vec<SeccompRule> {
        values
            .iter()
            .map(|&v| {
                one(SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, v).expect("a valid argument"))
            })
            .collect()
    };
    #[allow(clippy::unnecessary_cast)]
    let ioctl_rules = {
        let mut cmds: Vec<u64> = ioctls.iter().map(|&c| c as u64).collect();
        if fds.kvm {
            cmds.extend_from_slice(&KVM_IOCTLS);
        }
        each(1, &cmds)
    };
    let mut list = vec![
        // The memory file and the app's address spaces.
        Allowed { nr: libc::SYS_mmap, name: "mmap", rules: mmap_rules },
        // A stub makes app pages executable; the Sentry its stub code page.
        always(libc::SYS_mprotect, "mprotect"),
        always(libc::SYS_munmap, "munmap"),
        always(libc::SYS_mremap, "mremap"),
        always(libc::SYS_madvise, "madvise"),
        always(libc::SYS_brk, "brk"),
        // Freeing the memory file's pages, and residency for /proc.
        always(libc::SYS_fallocate, "fallocate"),
        always(libc::SYS_mincore, "mincore"),
        // The systrap control pool (a memfd) grows as stubs are made.
        always(libc::SYS_memfd_create, "memfd_create"),
        always(libc::SYS_ftruncate, "ftruncate"),
        // Threads and stubs (forked, or cloned by the systrap stub
        // factory, which inherits this filter); clone3 answers ENOSYS (see
        // `sentry`), so these flags are checked.
        Allowed {
            nr: libc::SYS_clone,
            name: "clone",
            rules: qword_each(0, &[CLONE_THREAD_FLAGS, CLONE_FORK_FLAGS, CLONE_STUB_FLAGS]),
        },
        always(libc::SYS_futex, "futex"),
        always(libc::SYS_set_robust_list, "set_robust_list"),
        always(libc::SYS_rseq, "rseq"),
        always(libc::SYS_sched_yield, "sched_yield"),
        always(libc::SYS_sched_getaffinity, "sched_getaffinity"),
        always(libc::SYS_sched_setaffinity, "sched_setaffinity"),
        always(libc::SYS_exit, "exit"),
        always(libc::SYS_exit_group, "exit_group"),
        always(libc::SYS_getpid, "getpid"),
        always(libc::SYS_gettid, "gettid"),
        // A stub checks that its parent is still the Sentry.
        always(libc::SYS_getppid, "getppid"),
        // Signals: interrupts of app threads, stubs ended, signals
        // forwarded from the host.
        always(libc::SYS_rt_sigaction, "rt_sigaction"),
        always(libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
        always(libc::SYS_rt_sigreturn, "rt_sigreturn"),
        // A sleep interrupted by a signal handler goes on through it.
        always(libc::SYS_restart_syscall, "restart_syscall"),
        always(libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
        always(libc::SYS_sigaltstack, "sigaltstack"),
        always(libc::SYS_tgkill, "tgkill"),
        always(libc::SYS_pidfd_open, "pidfd_open"),
        always(libc::SYS_pidfd_send_signal, "pidfd_send_signal"),
        always(libc::SYS_wait4, "wait4"),
        // The ptrace platform's stubs.
        always(libc::SYS_ptrace, "ptrace"),
        // A stub's set-up: its own session, thread name, parent-death
        // signal, no_new_privs and filter, TLS bases, and every other fd
        // closed; and the app's argv as a stub's command line
        // (PR_SET_MM_MAP, which without a capability changes only what
        // the host's /proc shows of the caller's layout).
        Allowed {
            nr: libc::SYS_prctl,
            name: "prctl",
            rules: {
                let mut rules = each(0, &prctls.map(|c| c as u64));
                let set_mm_map = vec![arg_eq(0, libc::PR_SET_MM as u64), arg_eq(1, libc::PR_SET_MM_MAP as u64)];
                rules.push(SeccompRule::new(set_mm_map).expect("a rule with two conditions"));
                rules
            },
        },
        always(libc::SYS_setsid, "setsid"),
        Allowed { nr: libc::SYS_seccomp, name: "seccomp", rules: each(0, &[SECCOMP_SET_MODE_FILTER]) },
        // (x86_64 only: arm64's stubs write tpidr_el0, or ptrace does.)
        #[cfg(target_arch = "x86_64")]
        Allowed { nr: libc::SYS_arch_prctl, name: "arch_prctl", rules: each(0, &[ARCH_SET_GS, ARCH_SET_FS]) },
        always(libc::SYS_close_range, "close_range"),
        // I/O on the fds it holds: stdio, the Gofer's socket and the
        // files it donates, the console.
        always(libc::SYS_read, "read"),
        always(libc::SYS_write, "write"),
        // Reads and writes at an offset, or at the fd's position (offset
        // -1: readv and writev); also straight into the memory file's pages.
        always(libc::SYS_preadv2, "preadv2"),
        always(libc::SYS_pwritev2, "pwritev2"),
        always(libc::SYS_lseek, "lseek"),
        always(libc::SYS_close, "close"),
        always(libc::SYS_recvmsg, "recvmsg"),
        // An OCI sandbox's control socket (made before boot): a new
        // connection, and its end when an exec'd process is gone.
        always(libc::SYS_accept4, "accept4"),
        always(libc::SYS_shutdown, "shutdown"),
        always(libc::SYS_sendmsg, "sendmsg"),
        poll(),
        // fstat, as glibc makes it (newfstatat with AT_EMPTY_PATH).
        Allowed { nr: libc::SYS_newfstatat, name: "newfstatat", rules: each(3, &[libc::AT_EMPTY_PATH as u64]) },
        always(libc::SYS_fsync, "fsync"),
        // A volume's free space, for the app's statfs.
        always(libc::SYS_fstatfs, "fstatfs"),
        Allowed { nr: libc::SYS_fcntl, name: "fcntl", rules: each(1, &fcntl_cmds.map(|c| c as u64)) },
        // (`Ioctl` is u64 on glibc targets, but an int on others.)
        Allowed { nr: libc::SYS_ioctl, name: "ioctl", rules: ioctl_rules },
        // Clocks where the vDSO cannot serve, sleeps, and randomness.
        always(libc::SYS_clock_gettime, "clock_gettime"),
        // The resolution of clocks the vDSO does not serve (the alarm ones).
        always(libc::SYS_clock_getres, "clock_getres"),
        always(libc::SYS_clock_nanosleep, "clock_nanosleep"),
        always(libc::SYS_getrandom, "getrandom"),
        // The host's memory figures behind the app's sysinfo.
        always(libc::SYS_sysinfo, "sysinfo"),
        // The stubs' CPU times and peak memory, from the host's /proc.
        always(libc::SYS_openat, "openat"),
    ];
    if fds.host_network {
        list.extend(host_network_syscalls());
    }
    list
}

/// What `--network host` adds to the Sentry's filter: host sockets of the
/// Internet families (the type is checked by the Sentry), and what an
/// app does with them; recvmsg, sendmsg, accept4, shutdown, poll and
/// FIONREAD are the Sentry's anyway.
fn host_network_syscalls() -> Vec<Allowed> {
    let families = [libc::AF_INET, libc::AF_INET6].map(|f| one(arg_eq(0, f as u64))).to_vec();
    vec![
        Allowed { nr: libc::SYS_socket, name: "socket", rules: families },
        always(libc::SYS_bind, "bind"),
        always(libc::SYS_listen, "listen"),
        always(libc::SYS_connect, "connect"),
        always(libc::SYS_getsockname, "getsockname"),
        always(libc::SYS_getpeername, "getpeername"),
        always(libc::SYS_getsockopt, "getsockopt"),
        always(libc::SYS_setsockopt, "setsockopt"),
    ]
}

/// The KVM ioctls the KVM platform makes once the Sentry is confined (the
/// VM and its memory slots are made before): a vCPU per app thread and its
/// set-up, runs, register and XSAVE transfers, and kick injections.
const KVM_IOCTLS: [u64; 16] = [
    0xae41,      // KVM_CREATE_VCPU
    0x4020_ae46, // KVM_SET_USER_MEMORY_REGION (slots added as the app maps)
    0xae80,      // KVM_RUN
    0x8090_ae81, // KVM_GET_REGS
    0x4090_ae82, // KVM_SET_REGS
    0x8138_ae83, // KVM_GET_SREGS
    0x4138_ae84, // KVM_SET_SREGS
    0xc008_ae88, // KVM_GET_MSRS
    0x4008_ae89, // KVM_SET_MSRS
    0x4008_ae90, // KVM_SET_CPUID2
    0x9000_aea4, // KVM_GET_XSAVE
    0x5000_aea5, // KVM_SET_XSAVE
    0x8188_aea6, // KVM_GET_XCRS
    0x4188_aea7, // KVM_SET_XCRS
    0x4004_ae86, // KVM_INTERRUPT
    0x4004_ae8b, // KVM_SET_SIGNAL_MASK
];

/// SECCOMP_SET_MODE_FILTER, for a stub installing its own filter.
const SECCOMP_SET_MODE_FILTER: u64 = 1;
/// What libc's `poll` makes: poll itself on x86_64; arm64's generic table
/// has only ppoll.
#[cfg(target_arch = "x86_64")]
fn poll() -> Allowed {
    always(libc::SYS_poll, "poll")
}
#[cfg(target_arch = "aarch64")]
fn poll() -> Allowed {
    always(libc::SYS_ppoll, "ppoll")
}
#[cfg(target_arch = "x86_64")]
const ARCH_SET_GS: u64 = 0x1001;
#[cfg(target_arch = "x86_64")]
const ARCH_SET_FS: u64 = 0x1002;
// The termios2 requests, which libc does not name on every target.
const TCGETS2: libc::Ioctl = 0x802c_542a;
const TCSETS2: libc::Ioctl = 0x402c_542b;
const TCSETSW2: libc::Ioctl = 0x402c_542c;
const TCSETSF2: libc::Ioctl = 0x402c_542d;

/// The Sentry's filter: the list of [`sentry_syscalls`] with `deny` for the
/// rest, and [`SENTRY_ENOSYS`] answered with ENOSYS. Every stub inherits
/// it, so it finds the syscall by binary search (`search.rs`).
pub fn sentry(fds: SentryFds, deny: Deny) -> Result<BpfProgram, Error> {
    search::build_searched(sentry_syscalls(fds), deny, SENTRY_ENOSYS)
}

/// The calls the Sentry's filter answers with ENOSYS rather than trap:
/// - clone3, so that threads are made with clone, whose flags the list can
///   check (glibc falls back to clone when clone3 is missing, as gVisor's
///   filter also makes it do);
/// - getcwd, which only the standard library's backtrace printer makes (to
///   shorten paths): a panicking Sentry then prints its backtrace with full
///   paths instead of dying of SIGSYS before it has printed anything.
pub const SENTRY_ENOSYS: &[i64] = &[libc::SYS_clone3, libc::SYS_getcwd];

use bpf::AUDIT_ARCH;

/// What a filter does with a syscall outside its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deny {
    /// Kill the whole process (SECCOMP_RET_KILL_PROCESS).
    Kill,
    /// Skip the call and raise SIGSYS (SECCOMP_RET_TRAP), which ends a
    /// process that does not handle it.
    Trap,
    /// Run the call and log it (SECCOMP_RET_LOG): only for measuring what a
    /// filter lacks (`HUSK_SECCOMP=log`), never a confinement.
    Log,
}

impl Deny {
    fn action(self) -> SeccompAction {
        match self {
            Deny::Kill => SeccompAction::KillProcess,
            Deny::Trap => SeccompAction::Trap,
            Deny::Log => SeccompAction::Log,
        }
    }
}

/// Builds the filter that allows `allowed` and kills the process on
/// anything else.
pub fn build(allowed: Vec<Allowed>) -> Result<BpfProgram, Error> {
    build_with(allowed, Deny::Kill)
}

/// Builds the filter that allows `allowed` and does `deny` to anything
/// else.
pub fn build_with(allowed: Vec<Allowed>, deny: Deny) -> Result<BpfProgram, Error> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = allowed.into_iter().map(|a| (a.nr, a.rules)).collect();
    let filter = SeccompFilter::new(rules, deny.action(), SeccompAction::Allow, ARCH)
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
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut filters = vec![("sentry", list(sentry_syscalls(SentryFds::default())))];
    // (systrap's stub exists on x86_64 only so far.)
    #[cfg(target_arch = "x86_64")]
    filters.push((
        "stub, systrap (from its code page only; every app syscall traps to the Sentry)",
        names(&[
            "rt_sigreturn",
            "futex (argument rules)",
            "mmap (argument rules)",
            "munmap",
            "mprotect",
            "arch_prctl (argument rules)",
        ]),
    ));
    filters.extend([
        (
            "stub, ptrace (from its code page only; app syscalls stop before seccomp)",
            names(&["mmap", "munmap", "mprotect"]),
        ),
        ("gofer (every root read-only)", list(gofer_syscalls(false))),
        ("gofer (a root writable)", list(gofer_syscalls(true))),
        ("relay (--network nat)", list(relay_syscalls())),
    ]);
    filters
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

    #[test]
    fn the_relay_filter_is_small_and_makes_internet_sockets_only() {
        let list = relay_syscalls();
        assert!(list.len() <= 26, "the relay may use at most 26 host syscalls");
        assert!(!relay().unwrap().is_empty());
        let nrs: Vec<i64> = list.iter().map(|a| a.nr).collect();
        for nr in [
            libc::SYS_openat,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_open,
            libc::SYS_bind,
            libc::SYS_listen,
            libc::SYS_execve,
        ] {
            assert!(!nrs.contains(&nr));
        }
        let socket = list.iter().find(|a| a.nr == libc::SYS_socket).unwrap();
        assert_eq!(socket.rules.len(), 2, "AF_INET and AF_INET6 only");
    }

    #[test]
    fn the_sentry_filter_is_within_budget_and_builds() {
        let list = sentry_syscalls(SentryFds { memfd: 5, ..Default::default() });
        let n = list.len();
        assert!(n <= 60, "the Sentry may use at most 60 host syscalls; it has {n}");
        let mut nrs: Vec<i64> = list.iter().map(|a| a.nr).collect();
        nrs.sort();
        nrs.dedup();
        assert_eq!(nrs.len(), n, "each syscall listed once");
        // Nothing that reaches a host path but the read of /proc, no new
        // sockets, no exec, no mounts or namespaces.
        for nr in [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_unlinkat,
            libc::SYS_openat2,
            libc::SYS_clone3,
            libc::SYS_process_vm_writev,
        ] {
            assert!(!nrs.contains(&nr), "syscall {nr} must not be in the Sentry's filter");
        }
        assert!(!sentry(SentryFds { memfd: 5, ..Default::default() }, Deny::Trap).unwrap().is_empty());
    }

    /// A classic-BPF interpreter for what seccompiler and `search.rs`
    /// emit, over one seccomp_data.
    fn run_bpf(prog: &[seccompiler::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&0x7000_1234u64.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
            match i.code {
                0x20 => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                0x54 => acc &= i.k,
                0x15 => pc += jump(acc == i.k),
                0x35 => pc += jump(acc >= i.k),
                0x25 => pc += jump(acc > i.k),
                0x45 => pc += jump(acc & i.k != 0),
                0x05 => pc += i.k as usize,
                0x06 => return i.k,
                other => panic!("unexpected BPF opcode {other:#x}"),
            }
        }
    }

    /// The searched filter decides every call as seccompiler's plain chain
    /// of the same list does (those it answers ENOSYS aside), for
    /// every syscall number and the argument values the rules name.
    #[test]
    fn the_searched_sentry_filter_decides_as_the_plain_one() {
        let fds = SentryFds { memfd: 9, ..Default::default() };
        let searched = sentry(fds, Deny::Trap).unwrap();
        let plain = build_with(sentry_syscalls(fds), Deny::Trap).unwrap();
        assert!(searched.len() < 400, "{} instructions", searched.len());
        let x86 = AUDIT_ARCH;
        let mut values: Vec<u64> = vec![0, 1, 2, 3, 4, 5, 7, 9, 0x1000, u64::MAX, 1 << 32, 9 | (1 << 32)];
        values.extend([
            libc::PROT_EXEC as u64,
            (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
            libc::AT_EMPTY_PATH as u64,
        ]);
        values.extend([CLONE_THREAD_FLAGS, CLONE_FORK_FLAGS, CLONE_STUB_FLAGS, SECCOMP_SET_MODE_FILTER]);
        #[cfg(target_arch = "x86_64")]
        values.extend([ARCH_SET_FS, ARCH_SET_GS]);
        values.extend([libc::TCGETS, libc::TIOCGWINSZ, libc::F_GETFL as u64, libc::PR_SET_NAME as u64]);
        let mut checked = 0;
        for nr in (0..=470u32).chain([0x4000_0000, 0x4000_0027, u32::MAX]) {
            for (i, &v) in values.iter().enumerate() {
                let w = values[(i * 7 + 3) % values.len()];
                for args in [[v, v, v, v, v, v], [w, v, v, v, v, v], [v, w, v, w, v, w], [0, 0x1000, v, w, 9, 0]] {
                    let got = run_bpf(&searched, nr, x86, args);
                    let want = if SENTRY_ENOSYS.contains(&i64::from(nr)) {
                        0x0005_0000 | libc::ENOSYS as u32
                    } else {
                        run_bpf(&plain, nr, x86, args)
                    };
                    assert_eq!(got, want, "syscall {nr} with {args:x?}");
                    checked += 1;
                }
            }
            // Another architecture is refused by both.
            assert_eq!(run_bpf(&searched, nr, 0x4000_0003, [0; 6]), run_bpf(&plain, nr, 0x4000_0003, [0; 6]));
        }
        assert!(checked > 20_000);
        // And the decisions themselves.
        let (allow, trap) = (0x7fff_0000, 0x0003_0000);
        let decide = |nr: i64, args| run_bpf(&searched, nr as u32, x86, args);
        assert_eq!(decide(libc::SYS_getpid, [0; 6]), allow);
        assert_eq!(decide(libc::SYS_socket, [2, 1, 0, 0, 0, 0]), trap);
        let exec = libc::PROT_EXEC as u64;
        let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let shared_fixed = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        assert_eq!(decide(libc::SYS_mmap, [0, 4096, exec, anon, u64::MAX, 0]), trap);
        assert_eq!(decide(libc::SYS_mmap, [0x1000, 4096, exec, shared_fixed, 9, 0]), allow);
        assert_eq!(decide(libc::SYS_mmap, [0, 4096, 3, anon, u64::MAX, 0]), allow);
        assert_eq!(decide(libc::SYS_clone, [CLONE_THREAD_FLAGS, 0, 0, 0, 0, 0]), allow);
        assert_eq!(decide(libc::SYS_clone, [CLONE_THREAD_FLAGS | libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), trap);
    }

    /// Runs this test binary again as a child with `CHILD=what` and
    /// returns how it ended.
    fn in_child(test: &str, what: &str) -> std::process::Output {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, what)
            .output()
            .unwrap()
    }

    const CHILD: &str = "HUSK_SECCOMP_TEST_CHILD";

    /// In a child, installs the Sentry's filter: allowed calls work, clone3
    /// and getcwd say ENOSYS, and a socket, an executable anonymous mapping or an
    /// exec end the process with SIGSYS.
    #[test]
    fn a_syscall_outside_the_sentry_filter_kills() {
        use std::os::unix::process::ExitStatusExt;
        const TEST: &str = "tests::a_syscall_outside_the_sentry_filter_kills";
        if let Ok(what) = std::env::var(CHILD) {
            install(&sentry(SentryFds { memfd: 1000, ..Default::default() }, Deny::Trap).unwrap()).unwrap();
            // SAFETY: plain syscalls with no memory passed but a static
            // buffer, a null clone3 argument (refused before it is read)
            // and a fresh anonymous mapping that nothing uses.
            unsafe {
                libc::write(2, b"installed\n".as_ptr().cast(), 10);
                let r = libc::syscall(libc::SYS_clone3, 0usize, 0usize);
                if r != -1 || *libc::__errno_location() != libc::ENOSYS {
                    std::process::exit(3);
                }
                // What a panic's backtrace asks: ENOSYS, not SIGSYS.
                if std::env::current_dir().map_err(|e| e.raw_os_error()) != Err(Some(libc::ENOSYS)) {
                    std::process::exit(5);
                }
                let rw = libc::PROT_READ | libc::PROT_WRITE;
                let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
                if libc::mmap(std::ptr::null_mut(), 4096, rw, anon, -1, 0) == libc::MAP_FAILED {
                    std::process::exit(4);
                }
                match what.as_str() {
                    "socket" => {
                        libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                    }
                    "exec-map" => {
                        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_EXEC, anon, -1, 0);
                    }
                    "execve" => {
                        libc::syscall(libc::SYS_execve, c"/bin/true".as_ptr(), 0usize, 0usize);
                    }
                    _ => {}
                }
            }
            std::process::exit(7);
        }
        let inside = in_child(TEST, "inside");
        assert_eq!(inside.status.code(), Some(7), "{inside:?}");
        for what in ["socket", "exec-map", "execve"] {
            let out = in_child(TEST, what);
            assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{what}: {out:?}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("installed"), "{out:?}");
        }
    }

    /// In a child process (this test binary again), installs the Gofer's
    /// filter and makes a syscall outside it: the child must die of
    /// SIGSYS, and a call inside it must work.
    #[test]
    fn a_syscall_outside_the_gofer_filter_kills() {
        use std::os::unix::process::ExitStatusExt;
        const TEST: &str = "tests::a_syscall_outside_the_gofer_filter_kills";
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
        let inside = in_child(TEST, "inside");
        assert_eq!(inside.status.code(), Some(7), "{inside:?}");
        let outside = in_child(TEST, "outside");
        assert_eq!(outside.status.signal(), Some(libc::SIGSYS), "{outside:?}");
        assert!(String::from_utf8_lossy(&outside.stderr).contains("installed"), "{outside:?}");
    }

    /// What a stub-filter child writes for its parent, by plain stores into
    /// a shared mapping of a file (no syscall is left to it): the syscall
    /// number its SIGSYS handler saw, plus 1 (0 if it never ran); and
    /// [`NOTE_ALLOWED_WORKED`] and [`NOTE_SURVIVED`].
    static NOTE: std::sync::atomic::AtomicPtr<u64> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    const NOTE_ALLOWED_WORKED: u64 = 1;
    const NOTE_SURVIVED: u64 = 2;

    extern "C" fn note_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
        // SAFETY: `si_syscall` is the int at byte 24 of a SIGSYS siginfo,
        // which the kernel passes in full; NOTE is a live shared mapping of
        // two words.
        unsafe {
            let nr = info.cast::<u8>().add(24).cast::<i32>().read_unaligned();
            NOTE.load(std::sync::atomic::Ordering::SeqCst).write_volatile(nr as u64 + 1);
        }
    }

    /// A function that makes any syscall (number, then three arguments):
    /// `mov rax, rdi; mov rdi, rsi; mov rsi, rdx; mov rdx, rcx; syscall; ret`.
    #[cfg(target_arch = "x86_64")]
    const SYSCALL_FN: &[u8] =
        &[0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xd6, 0x48, 0x89, 0xca, 0x0f, 0x05, 0xc3];
    /// The same on arm64: `mov x8, x0; mov x0, x1; mov x1, x2; mov x2, x3;
    /// svc #0; ret`.
    #[cfg(target_arch = "aarch64")]
    const SYSCALL_FN: &[u8] = &[
        0xe8, 0x03, 0x00, 0xaa, 0xe0, 0x03, 0x01, 0xaa, 0xe1, 0x03, 0x02, 0xaa, 0xe2, 0x03, 0x03, 0xaa, 0x01, 0x00,
        0x00, 0xd4, 0xc0, 0x03, 0x5f, 0xd6,
    ];
    /// The stub platforms whose filters exist on this architecture.
    #[cfg(target_arch = "x86_64")]
    const STUB_PLATFORMS: &[&str] = &["systrap", "ptrace"];
    #[cfg(target_arch = "aarch64")]
    const STUB_PLATFORMS: &[&str] = &["ptrace"];

    /// `platform`'s stub filter for a code page at `base`.
    fn stub_filter(platform: &str, base: u64) -> Vec<libc::sock_filter> {
        #[cfg(target_arch = "x86_64")]
        if platform == "systrap" {
            return stub::systrap(base, 1000);
        }
        assert_eq!(platform, "ptrace");
        stub::ptrace(base)
    }

    /// The stub-filter child: maps a code page of its own holding
    /// [`SYSCALL_FN`] (a function that makes any syscall from that page),
    /// installs the platform's stub filter over it, and makes the call
    /// `what` asks for.
    fn stub_filter_child(spec: &str) -> ! {
        use std::os::fd::AsRawFd;
        let mut parts = spec.splitn(3, ':');
        let (platform, what, note) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let file = std::fs::OpenOptions::new().read(true).write(true).open(note).unwrap();
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: fresh mappings of our own (the code page where nothing is
        // mapped, by MAP_FIXED_NOREPLACE), filled and made executable before
        // any call into them; the SIGSYS handler only stores into the note;
        // the filter program outlives the prctl that copies it.
        unsafe {
            let rlim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &rlim);
            let m = libc::mmap(std::ptr::null_mut(), 16, rw, libc::MAP_SHARED, file.as_raw_fd(), 0);
            assert_ne!(m, libc::MAP_FAILED);
            NOTE.store(m.cast(), std::sync::atomic::Ordering::SeqCst);
            let survived = m.cast::<u64>().add(1);
            // 4 GiB-aligned, so that the page does not straddle a 4 GiB line
            // (the filters compare the halves of the instruction pointer).
            let mut base: u64 = 0x7ff0_0000_0000;
            while libc::mmap(base as *mut libc::c_void, 4096, rw, anon | libc::MAP_FIXED_NOREPLACE, -1, 0) as u64
                != base
            {
                base -= 1 << 32;
                assert!(base > 0x7f00_0000_0000, "no free 4 GiB-aligned page");
            }
            std::ptr::copy_nonoverlapping(SYSCALL_FN.as_ptr(), base as *mut u8, SYSCALL_FN.len());
            assert_eq!(libc::mprotect(base as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_EXEC), 0);
            let scratch = libc::mmap(std::ptr::null_mut(), 4096, rw, anon, -1, 0) as u64;
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = note_sigsys as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &act, std::ptr::null_mut());
            let filter = stub_filter(platform, base);
            let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog), 0);
            let from_page: extern "C" fn(i64, u64, u64, u64) -> i64 = std::mem::transmute(base as usize);
            match what {
                "allowed" => {
                    if from_page(libc::SYS_munmap, scratch, 4096, 0) == 0 {
                        survived.write_volatile(NOTE_ALLOWED_WORKED);
                    }
                    from_page(libc::SYS_getpid, 0, 0, 0);
                }
                "page-getpid" => {
                    from_page(libc::SYS_getpid, 0, 0, 0);
                }
                _ => {
                    libc::syscall(libc::SYS_getpid);
                }
            }
            survived.write_volatile(survived.read_volatile() | NOTE_SURVIVED);
            libc::_exit(9)
        }
    }

    /// Each stub filter in the kernel, in a child process: a listed call
    /// from the stub's code page works, an unlisted one from there kills
    /// the process outright (no handler runs), and a call from anywhere
    /// else traps to the SIGSYS handler on systrap (how the app's syscalls
    /// reach the Sentry) and kills outright on ptrace (whose app syscalls
    /// never reach the filter).
    #[test]
    fn a_syscall_outside_a_stub_filter_kills() {
        use std::os::unix::process::ExitStatusExt;
        const TEST: &str = "tests::a_syscall_outside_a_stub_filter_kills";
        if let Ok(spec) = std::env::var(CHILD) {
            stub_filter_child(&spec);
        }
        let dir = tempfile::tempdir().unwrap();
        for &platform in STUB_PLATFORMS {
            for what in ["allowed", "page-getpid", "outside-getpid"] {
                let note = dir.path().join(format!("{platform}-{what}"));
                std::fs::write(&note, [0u8; 16]).unwrap();
                let out = in_child(TEST, &format!("{platform}:{what}:{}", note.display()));
                let words = std::fs::read(&note).unwrap();
                let word = |i: usize| u64::from_le_bytes(words[i * 8..i * 8 + 8].try_into().unwrap());
                let (handled, flags) = (word(0), word(1));
                let case = format!("{platform} {what}: {out:?}, handler saw {handled}, flags {flags}");
                assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{case}");
                assert_eq!(flags & NOTE_SURVIVED, 0, "{case}");
                assert_eq!(flags & NOTE_ALLOWED_WORKED != 0, what == "allowed", "{case}");
                let trapped = platform == "systrap" && what == "outside-getpid";
                let want = if trapped { libc::SYS_getpid as u64 + 1 } else { 0 };
                assert_eq!(handled, want, "{case}");
            }
        }
    }
}
