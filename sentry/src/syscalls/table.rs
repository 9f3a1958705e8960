//! The syscall table: for each number, the handler, how well Husk supports
//! it, and how `--strace` prints its arguments. One row per implemented
//! syscall; every other number returns ENOSYS and is logged once.
//!
//! Rows are written through one macro that builds a dense static array, so
//! finding a handler is one index: no hashing, no locking, no allocation.

use abi::nr;
use abi::SYSCALL_COUNT;

use super::strace::Fmt::{self, *};
use super::{
    aio, event, fdops, file, fs, fs_write, futex, identity, inspect, ipc, keys, locks, mm, mount, pidfd, poll, process,
    sched, seccomp, signal, socket, splice, sys, thread, time, xattr, Handler,
};

/// How completely a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Not in the table.
    None,
    /// Linux's semantics.
    Full,
    /// Works for the common cases; the note says what is missing.
    Partial(&'static str),
    /// Deliberately fails with a fixed errno, which callers handle; the note
    /// says why. Not logged as unimplemented.
    Refused(&'static str),
}

/// One row of the table.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The handler, if any.
    pub handler: Option<Handler>,
    /// Support level.
    pub support: Support,
    /// How strace prints each argument.
    pub args: &'static [Fmt],
}

impl Entry {
    const NONE: Entry = Entry { handler: None, support: Support::None, args: &[] };
}

/// Rows of calls every architecture has, then (after `@legacy`) the ones
/// x86_64 keeps and the generic table of arm64 and later ports dropped
/// (`open`, `fork`, `stat`, `poll`, ...: their `*at` and newer forms serve
/// the same).
macro_rules! syscall_table {
    ($($nr:ident => $handler:path, $support:expr, [$($fmt:expr),*];)*
     @legacy $($lnr:ident => $lhandler:path, $lsupport:expr, [$($lfmt:expr),*];)*) => {
        /// The table, indexed by syscall number.
        pub static TABLE: [Entry; SYSCALL_COUNT] = {
            let mut t = [Entry::NONE; SYSCALL_COUNT];
            $(t[nr::$nr as usize] = Entry { handler: Some($handler), support: $support, args: &[$($fmt),*] };)*
            $(
                #[cfg(target_arch = "x86_64")]
                {
                    t[nr::$lnr as usize] =
                        Entry { handler: Some($lhandler), support: $lsupport, args: &[$($lfmt),*] };
                }
            )*
            t
        };
    };
}

syscall_table! {
    READ => file::read, Support::Full, [Fd, Buf(2), Int];
    WRITE => file::write, Support::Full, [Fd, Buf(2), Int];
    CLOSE => file::close, Support::Full, [Fd];
    CLOSE_RANGE => fdops::close_range, Support::Full, [Int, Int, Hex];
    SENDFILE => splice::sendfile, Support::Partial("copies through the Sentry"), [Fd, Fd, Ptr, Int];
    SPLICE => splice::splice, Support::Partial("copies through the Sentry"), [Fd, Ptr, Fd, Ptr, Int, Hex];
    TEE => splice::tee, Support::Partial("copies through the Sentry"), [Fd, Fd, Int, Hex];
    VMSPLICE => splice::vmsplice, Support::Partial("copies, as readv and writev (into a pipe, as much as fits once there is room, in bytes rather than Linux's page slots)"), [Fd, Ptr, Int, Hex];
    COPY_FILE_RANGE => splice::copy_file_range, Support::Full, [Fd, Ptr, Fd, Ptr, Int, Hex];
    CACHESTAT => splice::cachestat, Support::Partial("the Sentry's page cache is its tmpfs files' pages (a shared mapping holds all it maps); host files have none cached; nothing is dirty or evicted"), [Fd, Ptr, Ptr, Hex];
    READAHEAD => splice::readahead, Support::Partial("arguments checked; nothing to read ahead"), [Fd, Int, Int];
    SYNC_FILE_RANGE => splice::sync_file_range, Support::Partial("arguments checked; nothing to write back"), [Fd, Int, Int, Hex];
    FCHMODAT2 => fs_write::fchmodat2, Support::Full, [Fd, Path, Oct, Hex];
    FADVISE64 => splice::fadvise64, Support::Partial("advice is validated and ignored"), [Fd, Int, Int, Int];
    GETXATTR => xattr::getxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Path, Path, Ptr, Int];
    LGETXATTR => xattr::lgetxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Path, Path, Ptr, Int];
    FGETXATTR => xattr::fgetxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Fd, Path, Ptr, Int];
    LISTXATTR => xattr::listxattr, Support::Full, [Path, Ptr, Int];
    LLISTXATTR => xattr::llistxattr, Support::Full, [Path, Ptr, Int];
    FLISTXATTR => xattr::flistxattr, Support::Full, [Fd, Ptr, Int];
    SETXATTR => xattr::setxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Path, Path, Ptr, Int, Hex];
    LSETXATTR => xattr::lsetxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Path, Path, Ptr, Int, Hex];
    FSETXATTR => xattr::fsetxattr, Support::Partial("user., trusted. and security. (the host's trees: user.); no ACLs in system."), [Fd, Path, Ptr, Int, Hex];
    REMOVEXATTR => xattr::removexattr, Support::Full, [Path, Path];
    LREMOVEXATTR => xattr::lremovexattr, Support::Full, [Path, Path];
    FREMOVEXATTR => xattr::fremovexattr, Support::Full, [Fd, Path];
    PPOLL => poll::ppoll, Support::Full, [Ptr, Int, Ptr, Ptr, Int];
    PSELECT6 => poll::pselect6, Support::Full, [Int, Ptr, Ptr, Ptr, Ptr, Ptr];
    EVENTFD2 => event::eventfd2, Support::Full, [Int, Hex];
    TIMERFD_CREATE => event::timerfd_create, Support::Partial("the *_ALARM clocks run as their base clocks: no real-time clock device, no suspend to wake from"), [Int, Hex];
    TIMERFD_SETTIME => event::timerfd_settime, Support::Partial("TFD_TIMER_CANCEL_ON_SET is taken: the sandbox cannot set the clock"), [Fd, Hex, Ptr, Ptr];
    TIMERFD_GETTIME => event::timerfd_gettime, Support::Full, [Fd, Ptr];
    SETITIMER => event::setitimer, Support::Full, [Int, Ptr, Ptr];
    GETITIMER => event::getitimer, Support::Full, [Int, Ptr];
    PIDFD_OPEN => pidfd::pidfd_open, Support::Partial("process pidfds; PIDFD_THREAD (Linux 6.9) is not offered, nor CLONE_PIDFD with CLONE_THREAD"), [Int, Hex];
    PIDFD_SEND_SIGNAL => pidfd::pidfd_send_signal, Support::Full, [Fd, Int, Ptr, Hex];
    PIDFD_GETFD => pidfd::pidfd_getfd, Support::Full, [Fd, Int, Hex];
    IO_URING_SETUP => event::io_uring_refused, Support::Refused("ENOSYS: io_uring is refused, as gVisor does by default"), [Ptr, Ptr];
    IO_URING_ENTER => event::io_uring_refused, Support::Refused("ENOSYS: io_uring is refused"), [Fd, Int, Int, Hex, Ptr, Int];
    IO_URING_REGISTER => event::io_uring_refused, Support::Refused("ENOSYS: io_uring is refused"), [Fd, Int, Ptr, Int];
    SIGNALFD4 => event::signalfd4, Support::Partial("poll and epoll see the process's signals, not the polling thread's own"), [Fd, Ptr, Int, Hex];
    TIMER_CREATE => event::timer_create, Support::Partial("the *_ALARM clocks are EOPNOTSUPP, as on Linux without a real-time clock device"), [Int, Ptr, Ptr];
    TIMER_SETTIME => event::timer_settime, Support::Full, [Int, Hex, Ptr, Ptr];
    TIMER_GETTIME => event::timer_gettime, Support::Full, [Int, Ptr];
    TIMER_GETOVERRUN => event::timer_getoverrun, Support::Partial("the expirations beyond the last one signalled"), [Int];
    TIMER_DELETE => event::timer_delete, Support::Full, [Int];
    EPOLL_CREATE1 => event::epoll_create1, Support::Full, [Hex];
    EPOLL_CTL => event::epoll_ctl, Support::Partial("host streams (husk run's stdio) are asked each wait, not told; ELOOP counts nesting below the added set only"), [Fd, Int, Fd, Ptr];
    EPOLL_PWAIT => event::epoll_pwait, Support::Full, [Fd, Ptr, Int, Int, Ptr, Int];
    EPOLL_PWAIT2 => event::epoll_pwait2, Support::Full, [Fd, Ptr, Int, Ptr, Ptr, Int];
    SOCKET => socket::socket, Support::Partial("AF_UNIX; AF_INET and AF_INET6 TCP and UDP on the loopback only; no raw or ICMP sockets"), [Int, Hex, Int];
    SOCKETPAIR => socket::socketpair, Support::Partial("AF_UNIX stream, datagram and seqpacket pairs"), [Int, Hex, Int, Ptr];
    BIND => socket::bind, Support::Partial("AF_UNIX names; loopback and wildcard Internet addresses (no TIME_WAIT)"), [Fd, Ptr, Int];
    LISTEN => socket::listen, Support::Full, [Fd, Int];
    CONNECT => socket::connect, Support::Partial("Internet: the loopback only (ENETUNREACH elsewhere)"), [Fd, Ptr, Int];
    ACCEPT => socket::accept, Support::Full, [Fd, Ptr, Ptr];
    ACCEPT4 => socket::accept4, Support::Full, [Fd, Ptr, Ptr, Hex];
    SENDTO => socket::sendto, Support::Partial("no MSG_OOB; MSG_MORE corks the sandbox's own TCP and UDP"), [Fd, Buf(2), Int, Hex, Ptr, Int];
    RECVFROM => socket::recvfrom, Support::Partial("no MSG_OOB; MSG_ERRQUEUE finds an empty error queue (EAGAIN)"), [Fd, Ptr, Int, Hex, Ptr, Ptr];
    INOTIFY_INIT1 => event::inotify_init1, Support::Full, [Hex];
    INOTIFY_ADD_WATCH => event::inotify_add_watch, Support::Partial("events for changes made inside the sandbox; no IN_UNMOUNT"), [Fd, Path, Hex];
    INOTIFY_RM_WATCH => event::inotify_rm_watch, Support::Full, [Fd, Int];
    SETHOSTNAME => sys::sethostname, Support::Full, [Buf(1), Int];
    SETDOMAINNAME => sys::setdomainname, Support::Full, [Buf(1), Int];
    MEMFD_CREATE => file::memfd_create, Support::Partial("no MFD_HUGETLB; F_SEAL_WRITE does not check for writable mappings (EBUSY)"), [Path, Hex];
    SHMGET => ipc::shmget, Support::Full, [Hex, Int, Oct];
    SHMAT => ipc::shmat, Support::Full, [Int, Ptr, Hex];
    SHMDT => ipc::shmdt, Support::Full, [Ptr];
    SHMCTL => ipc::shmctl, Support::Full, [Int, Int, Ptr];
    SEMGET => ipc::semget, Support::Full, [Hex, Int, Oct];
    SEMOP => ipc::semop, Support::Full, [Int, Ptr, Int];
    SEMTIMEDOP => ipc::semtimedop, Support::Full, [Int, Ptr, Int, Ptr];
    SEMCTL => ipc::semctl, Support::Full, [Int, Int, Int, Hex];
    MSGGET => ipc::msgget, Support::Full, [Hex, Oct];
    MSGSND => ipc::msgsnd, Support::Full, [Int, Ptr, Int, Hex];
    MSGRCV => ipc::msgrcv, Support::Full, [Int, Ptr, Int, Int, Hex];
    MSGCTL => ipc::msgctl, Support::Full, [Int, Int, Ptr];
    MQ_OPEN => ipc::mq_open, Support::Full, [Path, Hex, Oct, Ptr];
    MQ_UNLINK => ipc::mq_unlink, Support::Full, [Path];
    MQ_TIMEDSEND => ipc::mq_timedsend, Support::Full, [Fd, Ptr, Int, Int, Ptr];
    MQ_TIMEDRECEIVE => ipc::mq_timedreceive, Support::Full, [Fd, Ptr, Int, Ptr, Ptr];
    MQ_NOTIFY => ipc::mq_notify, Support::Partial("SIGEV_SIGNAL and SIGEV_NONE; SIGEV_THREAD gives EINVAL"), [Fd, Ptr];
    MQ_GETSETATTR => ipc::mq_getsetattr, Support::Full, [Fd, Ptr, Ptr];
    SENDMSG => socket::sendmsg, Support::Partial("SCM_RIGHTS and SCM_CREDENTIALS; no IP control messages"), [Fd, Ptr, Hex];
    RECVMSG => socket::recvmsg, Support::Partial("SCM_RIGHTS and SCM_CREDENTIALS; no IP control messages; MSG_ERRQUEUE finds an empty error queue (EAGAIN)"), [Fd, Ptr, Hex];
    SENDMMSG => socket::sendmmsg, Support::Full, [Fd, Ptr, Int, Hex];
    RECVMMSG => socket::recvmmsg, Support::Full, [Fd, Ptr, Int, Hex, Ptr];
    SHUTDOWN => socket::shutdown, Support::Full, [Fd, Int];
    GETSOCKNAME => socket::getsockname, Support::Full, [Fd, Ptr, Ptr];
    GETPEERNAME => socket::getpeername, Support::Full, [Fd, Ptr, Ptr];
    GETSOCKOPT => socket::getsockopt, Support::Partial("SOL_SOCKET: SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_PEERCRED, SO_RCVTIMEO, SO_SNDTIMEO, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN, the generic flags; IP, IPv6 and TCP options are kept, not acted on"), [Fd, Int, Int, Ptr, Ptr];
    SETSOCKOPT => socket::setsockopt, Support::Partial("SOL_SOCKET: SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_RCVTIMEO, SO_SNDTIMEO; IP, IPv6 and TCP options are kept, not acted on"), [Fd, Int, Int, Ptr, Int];
    PIPE2 => file::pipe2, Support::Partial("O_DIRECT (packet mode) is accepted but pipes stay byte streams"), [Ptr, Hex];
    FSTAT => fs::fstat, Support::Full, [Fd, Ptr];
    LSEEK => file::lseek, Support::Full, [Fd, Int, Int];
    MMAP => mm::mmap, Support::Partial("MAP_SHARED of a rootfs file is a read-only copy; of a tmpfs file, its pages"), [Ptr, Int, Hex, Hex, Fd, Hex];
    MPROTECT => mm::mprotect, Support::Full, [Ptr, Int, Hex];
    MUNMAP => mm::munmap, Support::Full, [Ptr, Int];
    BRK => mm::brk, Support::Full, [Ptr];
    RT_SIGACTION => signal::rt_sigaction, Support::Full, [Int, Ptr, Ptr, Int];
    RT_SIGPROCMASK => signal::rt_sigprocmask, Support::Full, [Int, Ptr, Ptr, Int];
    RT_SIGRETURN => signal::rt_sigreturn, Support::Full, [];
    RT_SIGPENDING => signal::rt_sigpending, Support::Full, [Ptr, Int];
    RT_SIGTIMEDWAIT => signal::rt_sigtimedwait, Support::Full, [Ptr, Ptr, Ptr, Int];
    RT_SIGQUEUEINFO => signal::rt_sigqueueinfo, Support::Full, [Int, Int, Ptr];
    RT_TGSIGQUEUEINFO => signal::rt_tgsigqueueinfo, Support::Full, [Int, Int, Int, Ptr];
    RT_SIGSUSPEND => signal::rt_sigsuspend, Support::Full, [Ptr, Int];
    SIGALTSTACK => signal::sigaltstack, Support::Full, [Ptr, Ptr];
    KILL => signal::kill, Support::Full, [Int, Int];
    TKILL => signal::tkill, Support::Full, [Int, Int];
    TGKILL => signal::tgkill, Support::Full, [Int, Int, Int];
    CLONE => process::clone, Support::Partial("new UTS namespaces only"), [Hex, Ptr, Ptr, Ptr, Hex];
    CLONE3 => process::clone3, Support::Partial("new UTS and time namespaces only; no chosen tids"), [Ptr, Int];
    EXECVE => process::execve, Support::Full, [Path, Ptr, Ptr];
    EXECVEAT => process::execveat, Support::Full, [Fd, Path, Ptr, Ptr, Hex];
    PTRACE => super::ptrace::ptrace, Support::Partial("no PTRACE_SYSEMU or PEEKSIGINFO (EIO); debug registers are kept and read back, not armed; a checkpoint refuses tracees"), [Int, Int, Hex, Hex];
    WAIT4 => process::wait4, Support::Partial("rusage has times and maxrss only"), [Int, Ptr, Hex, Ptr];
    WAITID => process::waitid, Support::Partial("rusage has times and maxrss only"), [Int, Int, Ptr, Hex, Ptr];
    GETPGID => process::getpgid, Support::Full, [Int];
    SETPGID => process::setpgid, Support::Full, [Int, Int];
    SETSID => process::setsid, Support::Full, [];
    GETSID => process::getsid, Support::Full, [Int];
    SECCOMP => seccomp::seccomp, Support::Partial("strict mode and filters (TSYNC, LOG); no user-notification listener (NEW_LISTENER is EINVAL)"), [Int, Hex, Ptr];
    PRCTL => process::prctl, Support::Partial("PDEATHSIG, NAME, DUMPABLE, NO_NEW_PRIVS, KEEPCAPS, CAPBSET_*, SECUREBITS, CAP_AMBIENT, CHILD_SUBREAPER, TIMERSLACK, THP_DISABLE, GET_TID_ADDRESS, GET_TSC, GET/SET_SECCOMP; no SET_TSC, SET_MM, MCE_KILL, SPECULATION_CTRL, SET_VMA"), [Int, Hex, Hex, Hex, Hex];
    CAPGET => identity::capget, Support::Full, [Ptr, Ptr];
    CAPSET => identity::capset, Support::Partial("the sets are the process's, not each thread's"), [Ptr, Ptr];
    GETRUSAGE => process::getrusage, Support::Partial("CPU times and maxrss of the app's stubs; other fields zero"), [Int, Ptr];
    TIMES => process::times, Support::Full, [Ptr];
    UMASK => process::umask, Support::Full, [Oct];
    FUTEX => futex::futex, Support::Partial("no priority-inheritance operations"), [Ptr, Int, Int, Ptr, Ptr, Hex];
    SETUID => identity::setuid, Support::Full, [Int];
    SETGID => identity::setgid, Support::Full, [Int];
    SETREUID => identity::setreuid, Support::Full, [Int, Int];
    SETREGID => identity::setregid, Support::Full, [Int, Int];
    SETRESUID => identity::setresuid, Support::Full, [Int, Int, Int];
    SETRESGID => identity::setresgid, Support::Full, [Int, Int, Int];
    GETRESUID => identity::getresuid, Support::Full, [Ptr, Ptr, Ptr];
    GETRESGID => identity::getresgid, Support::Full, [Ptr, Ptr, Ptr];
    SETFSUID => identity::setfsuid, Support::Full, [Int];
    SETFSGID => identity::setfsgid, Support::Full, [Int];
    GETGROUPS => identity::getgroups, Support::Full, [Int, Ptr];
    SETGROUPS => identity::setgroups, Support::Full, [Int, Ptr];
    SCHED_YIELD => sched::sched_yield, Support::Full, [];
    SCHED_GETAFFINITY => sched::sched_getaffinity, Support::Partial("every CPU of the host"), [Int, Int, Ptr];
    SCHED_SETAFFINITY => sched::sched_setaffinity, Support::Partial("recorded and reported, not applied on the host"), [Int, Int, Ptr];
    SCHED_GETSCHEDULER => sched::sched_getscheduler, Support::Full, [Int];
    SCHED_GETPARAM => sched::sched_getparam, Support::Full, [Int, Ptr];
    SCHED_SETSCHEDULER => sched::sched_setscheduler, Support::Partial("recorded and reported, not applied on the host"), [Int, Int, Ptr];
    SCHED_SETPARAM => sched::sched_setparam, Support::Partial("recorded and reported, not applied on the host"), [Int, Ptr];
    SCHED_RR_GET_INTERVAL => sched::sched_rr_get_interval, Support::Full, [Int, Ptr];
    SCHED_SETATTR => sched::sched_setattr, Support::Partial("recorded and reported, not applied on the host; no utilization clamps"), [Int, Ptr, Hex];
    SCHED_GETATTR => sched::sched_getattr, Support::Full, [Int, Ptr, Int, Hex];
    IOPRIO_SET => sched::ioprio_set, Support::Partial("recorded and reported: the sandbox has no block device"), [Int, Int, Hex];
    IOPRIO_GET => sched::ioprio_get, Support::Full, [Int, Int];
    SCHED_GET_PRIORITY_MAX => sched::sched_get_priority_max, Support::Full, [Int];
    SCHED_GET_PRIORITY_MIN => sched::sched_get_priority_min, Support::Full, [Int];
    GETPRIORITY => sched::getpriority, Support::Partial("the recorded nice value of the caller's process"), [Int, Int];
    SETPRIORITY => sched::setpriority, Support::Partial("recorded for the caller's process; the host does not apply it"), [Int, Int, Int];
    MEMBARRIER => mm::membarrier, Support::Partial("no RSEQ commands (EINVAL, as without CONFIG_RSEQ); the barrier interrupts the threads running app code and waits for each to come back"), [Int, Hex, Int];
    MREMAP => mm::mremap, Support::Full, [Ptr, Int, Int, Hex, Ptr];
    REMAP_FILE_PAGES => mm::remap_file_pages, Support::Full, [Ptr, Int, Hex, Int, Hex];
    MSEAL => mm::mseal, Support::Full, [Ptr, Int, Hex];
    MSYNC => mm::msync, Support::Full, [Ptr, Int, Hex];
    MINCORE => mm::mincore, Support::Full, [Ptr, Int, Ptr];
    IOCTL => file::ioctl, Support::Partial("terminals: TCGETS, TCSETS[WF], TCSBRK, TCFLSH, TCXONC, TIOC[GS]WINSZ, TIOC[GS]PGRP, TIOCGSID, TIOCSCTTY, TIOCNOTTY, TIOCOUTQ; FIOCLEX, FIONCLEX, FIONREAD, FIONBIO, FIOASYNC; sockets' FIO[GS]ETOWN, SIOC[GS]PGRP, SIOCATMARK (never at a mark), SIOCGIF* (SIOCSIF* EPERM); FS_IOC_[GS]ETFLAGS on tmpfs; pidfds' PIDFD_GET_INFO; PROCMAP_QUERY on /proc/PID/maps"), [Fd, Hex, Ptr];
    PREAD64 => file::pread64, Support::Full, [Fd, Buf(2), Int, Int];
    PWRITE64 => file::pwrite64, Support::Full, [Fd, Buf(2), Int, Int];
    READV => file::readv, Support::Full, [Fd, Ptr, Int];
    WRITEV => file::writev, Support::Full, [Fd, Ptr, Int];
    PREADV => file::preadv, Support::Full, [Fd, Ptr, Int, Int];
    PWRITEV => file::pwritev, Support::Full, [Fd, Ptr, Int, Int];
    PREADV2 => file::preadv2, Support::Partial("RWF_NOWAIT gives EAGAIN only where a stream would wait"), [Fd, Ptr, Int, Int, Int, Hex];
    PWRITEV2 => file::pwritev2, Support::Partial("RWF_NOWAIT gives EAGAIN only where a stream would wait"), [Fd, Ptr, Int, Int, Int, Hex];
    MADVISE => mm::madvise, Support::Partial("MADV_DONTNEED drops pages; other advice is checked as Linux checks it (ENOMEM over holes, MADV_FREE for private anonymous memory only) and ignored; no KSM (MADV_MERGEABLE is EINVAL), no MADV_WIPEONFORK (EINVAL), and mlocked pages may be dropped"), [Ptr, Int, Int];
    DUP => file::dup, Support::Full, [Fd];
    NANOSLEEP => time::nanosleep, Support::Full, [Ptr, Ptr];
    GETPID => identity::getpid, Support::Full, [];
    EXIT => process::exit, Support::Full, [Int];
    UNAME => sys::uname, Support::Full, [Ptr];
    FCNTL => file::fcntl, Support::Partial("F_DUPFD[_CLOEXEC], F_[GS]ETFD, F_[GS]ETFL (O_ASYNC on pipes, sockets, terminals, inotify), F_[GS]ETOWN[_EX], F_[GS]ETSIG, F_[GS]ETLEASE, F_NOTIFY, F_[GS]ETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS, F_GETLK, F_SETLK[W], F_OFD_GETLK, F_OFD_SETLK[W]"), [Fd, Int, Hex];
    FLOCK => locks::flock, Support::Full, [Fd, Hex];
    GETDENTS64 => file::getdents64, Support::Full, [Fd, Ptr, Int];
    CHROOT => fs::chroot, Support::Full, [Path];
    MOUNT => mount::mount, Support::Partial("with CAP_SYS_ADMIN (the sandbox's own): new tmpfs, proc, sysfs, devpts, mqueue and devtmpfs mounts, all in the Sentry; bind mounts (the bound tree is the source's dentries: `..` and names are the source's, and submounts show through; a tree bound beneath itself is ELOOP); nothing on a file within procfs or sysfs (EINVAL); MS_REMOUNT (with MS_BIND too); propagation flags accepted; MS_MOVE is EINVAL; ro, noexec and nodev enforced; unknown types ENODEV; at most 10,000 mounts (ENOSPC)"), [Path, Path, Path, Hex, Ptr];
    UMOUNT2 => mount::umount2, Support::Partial("MNT_DETACH, MNT_EXPIRE, MNT_FORCE, UMOUNT_NOFOLLOW; busy (EBUSY) with files, working directories or submounts in the mount, but not with only mappings of its files"), [Path, Hex];
    GETCPU => sched::getcpu, Support::Full, [Ptr, Ptr, Ptr];
    MLOCK => mm::mlock, Support::Partial("locks are kept and reported (VmLck, filled pages, no MADV_DONTNEED or MS_INVALIDATE), but the host may swap the memory file"), [Ptr, Int];
    MLOCK2 => mm::mlock2, Support::Partial("locks are kept and reported (VmLck, filled pages, no MADV_DONTNEED or MS_INVALIDATE), but the host may swap the memory file"), [Ptr, Int, Hex];
    MUNLOCK => mm::munlock, Support::Full, [Ptr, Int];
    MLOCKALL => mm::mlockall, Support::Full, [Hex];
    MUNLOCKALL => mm::munlockall, Support::Full, [];
    UNSHARE => process::unshare, Support::Partial("new UTS and time namespaces (the Sentry's own, per process); others EPERM"), [Hex];
    SETNS => process::setns, Support::Partial("namespace files only (no pidfds); UTS and time namespaces"), [Fd, Hex];
    GETCWD => fs::getcwd, Support::Full, [Ptr, Int];
    CHDIR => fs::chdir, Support::Full, [Path];
    FCHDIR => fs::fchdir, Support::Full, [Fd];
    GETTIMEOFDAY => time::gettimeofday, Support::Full, [Ptr, Ptr];
    GETRLIMIT => sys::getrlimit, Support::Full, [Int, Ptr];
    SYSINFO => sys::sysinfo, Support::Full, [Ptr];
    GETUID => identity::getuid, Support::Full, [];
    GETGID => identity::getgid, Support::Full, [];
    GETEUID => identity::geteuid, Support::Full, [];
    GETEGID => identity::getegid, Support::Full, [];
    GETPPID => identity::getppid, Support::Full, [];
    SETRLIMIT => sys::setrlimit, Support::Partial("limits are recorded, not enforced"), [Int, Ptr];
    GETTID => identity::gettid, Support::Full, [];
    SET_TID_ADDRESS => thread::set_tid_address, Support::Full, [Ptr];
    RESTART_SYSCALL => signal::restart_syscall, Support::Full, [];
    CLOCK_GETTIME => time::clock_gettime, Support::Full, [Int, Ptr];
    CLOCK_GETRES => time::clock_getres, Support::Full, [Int, Ptr];
    CLOCK_SETTIME => time::clock_settime, Support::Refused("EPERM: the sandbox never sets the host's clock"), [Int, Ptr];
    SETTIMEOFDAY => time::settimeofday, Support::Refused("EPERM: the sandbox never sets the host's clock"), [Ptr, Ptr];
    CLOCK_NANOSLEEP => time::clock_nanosleep, Support::Full, [Int, Hex, Ptr, Ptr];
    EXIT_GROUP => process::exit_group, Support::Full, [Int];
    OPENAT => file::openat, Support::Partial("writes on the read-only rootfs give EROFS"), [Fd, Path, Hex, Oct];
    OPENAT2 => file::openat2, Support::Partial("RESOLVE_CACHED walks as any other (the Sentry's walks never wait on a disk); O_CREAT/O_TRUNC with it give EAGAIN"), [Fd, Path, Ptr, Int];
    NEWFSTATAT => fs::newfstatat, Support::Full, [Fd, Path, Ptr, Hex];
    READLINKAT => fs::readlinkat, Support::Full, [Fd, Path, Ptr, Int];
    FACCESSAT => fs::faccessat, Support::Full, [Fd, Path, Oct];
    SET_ROBUST_LIST => thread::set_robust_list, Support::Full, [Ptr, Int];
    GET_ROBUST_LIST => thread::get_robust_list, Support::Full, [Int, Ptr, Ptr];
    DUP3 => file::dup3, Support::Full, [Fd, Fd, Hex];
    PRLIMIT64 => sys::prlimit64, Support::Partial("limits are recorded, not enforced"), [Int, Int, Ptr, Ptr];
    GETRANDOM => sys::getrandom, Support::Full, [Ptr, Int, Hex];
    NAME_TO_HANDLE_AT => fs::name_to_handle_at, Support::Partial("the Sentry's files keep a handle while they are linked, up to 4,096 handles (the oldest go, ESTALE); /proc, /sys, /dev/pts and /dev/mqueue give ids only (AT_HANDLE_FID); checkpoints refuse a sandbox that made one"), [Fd, Path, Ptr, Ptr, Hex];
    OPEN_BY_HANDLE_AT => fs::open_by_handle_at, Support::Partial("the handles name_to_handle_at made (see it); needs CAP_DAC_READ_SEARCH"), [Fd, Ptr, Hex];
    STATX => fs::statx, Support::Full, [Fd, Path, Hex, Hex, Ptr];
    FACCESSAT2 => fs::faccessat2, Support::Full, [Fd, Path, Oct, Hex];
    MKDIRAT => fs_write::mkdirat, Support::Full, [Fd, Path, Oct];
    UNLINKAT => fs_write::unlinkat, Support::Full, [Fd, Path, Hex];
    RENAMEAT => fs_write::renameat, Support::Full, [Fd, Path, Fd, Path];
    RENAMEAT2 => fs_write::renameat2, Support::Partial("RENAME_WHITEOUT gives EINVAL"), [Fd, Path, Fd, Path, Hex];
    LINKAT => fs_write::linkat, Support::Full, [Fd, Path, Fd, Path, Hex];
    SYMLINKAT => fs_write::symlinkat, Support::Full, [Path, Fd, Path];
    MKNODAT => fs_write::mknodat, Support::Partial("device nodes (CAP_MKNOD) in the Sentry's filesystems only; they open the Sentry's devices"), [Fd, Path, Oct, Hex];
    FCHMOD => fs_write::fchmod, Support::Full, [Fd, Oct];
    FCHMODAT => fs_write::fchmodat, Support::Full, [Fd, Path, Oct];
    FCHOWN => fs_write::fchown, Support::Full, [Fd, Int, Int];
    FCHOWNAT => fs_write::fchownat, Support::Full, [Fd, Path, Int, Int, Hex];
    UTIMENSAT => fs_write::utimensat, Support::Full, [Fd, Path, Ptr, Hex];
    TRUNCATE => fs_write::truncate, Support::Full, [Path, Int];
    FTRUNCATE => fs_write::ftruncate, Support::Full, [Fd, Int];
    FALLOCATE => fs_write::fallocate, Support::Partial("modes 0, KEEP_SIZE and PUNCH_HOLE; others EOPNOTSUPP"), [Fd, Hex, Int, Int];
    FSYNC => fs_write::fsync, Support::Full, [Fd];
    FDATASYNC => fs_write::fdatasync, Support::Full, [Fd];
    SYNCFS => fs_write::syncfs, Support::Full, [Fd];
    SYNC => fs_write::sync, Support::Full, [];
    STATFS => fs_write::statfs, Support::Partial("the rootfs reports no block counts"), [Path, Ptr];
    FSTATFS => fs_write::fstatfs, Support::Partial("the rootfs reports no block counts"), [Fd, Ptr];
    VHANGUP => process::vhangup, Support::Partial("the console's input queued in the host is not flushed"), [];
    PERSONALITY => process::personality, Support::Partial("STICKY_TIMEOUTS and READ_IMPLIES_EXEC act; the layout flags (ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ADDR_LIMIT_3GB, ...) are kept, not applied"), [Hex];
    KCMP => inspect::kcmp, Support::Partial("signal handlers and semaphore undo lists are each process's (CLONE_SIGHAND without CLONE_THREAD copies the handlers); no task has an I/O context"), [Int, Int, Int, Hex, Hex];
    PROCESS_VM_READV => inspect::process_vm_readv, Support::Full, [Int, Ptr, Int, Ptr, Int, Hex];
    PROCESS_VM_WRITEV => inspect::process_vm_writev, Support::Full, [Int, Ptr, Int, Ptr, Int, Hex];
    FUTEX_WAITV => futex::futex_waitv, Support::Partial("32-bit futexes; FUTEX2_NUMA and FUTEX2_MPOL give EINVAL"), [Ptr, Int, Hex, Ptr, Int];
    IO_SETUP => aio::io_setup, Support::Full, [Int, Ptr];
    IO_DESTROY => aio::io_destroy, Support::Full, [Hex];
    IO_SUBMIT => aio::io_submit, Support::Partial("reads, writes and fsyncs are done at submit, as Linux's buffered I/O; a poll not ready at submit completes when io_getevents, io_pgetevents or io_submit next looks"), [Hex, Int, Ptr];
    IO_CANCEL => aio::io_cancel, Support::Full, [Hex, Ptr, Ptr];
    IO_GETEVENTS => aio::io_getevents, Support::Full, [Hex, Int, Int, Ptr, Ptr];
    IO_PGETEVENTS => aio::io_pgetevents, Support::Full, [Hex, Int, Int, Ptr, Ptr, Ptr];
    ADD_KEY => keys::add_key, Support::Partial("key types keyring, user, logon and big_key"), [Path, Path, Ptr, Int, Int];
    REQUEST_KEY => keys::request_key, Support::Partial("no upcall: a key not found is not constructed (ENOENT, a negative key left)"), [Path, Path, Path, Int];
    KEYCTL => keys::keyctl, Support::Partial("no persistent keyrings, Diffie-Hellman, public keys, restrictions or notifications (EOPNOTSUPP); instantiation needs an upcall's authority (EPERM)"), [Int, Int, Hex, Hex, Hex];
    RSEQ => thread::rseq, Support::Refused("ENOSYS: restartable sequences are not offered; libc falls back"), [Ptr, Int, Hex, Hex];
    @legacy
    OPEN => file::open, Support::Partial("O_TMPFILE only in the Sentry's own filesystems"), [Path, Hex, Oct];
    PIPE => file::pipe, Support::Full, [Ptr];
    POLL => poll::poll, Support::Full, [Ptr, Int, Int];
    SELECT => poll::select, Support::Full, [Int, Ptr, Ptr, Ptr, Ptr];
    EVENTFD => event::eventfd, Support::Full, [Int];
    ALARM => event::alarm, Support::Full, [Int];
    SIGNALFD => event::signalfd, Support::Full, [Fd, Ptr, Int];
    EPOLL_CREATE => event::epoll_create, Support::Full, [Int];
    EPOLL_WAIT => event::epoll_wait, Support::Full, [Fd, Ptr, Int, Int];
    INOTIFY_INIT => event::inotify_init, Support::Full, [];
    STAT => fs::stat, Support::Full, [Path, Ptr];
    LSTAT => fs::lstat, Support::Full, [Path, Ptr];
    PAUSE => signal::pause, Support::Full, [];
    FORK => process::fork, Support::Full, [];
    VFORK => process::vfork, Support::Full, [];
    GETPGRP => process::getpgrp, Support::Full, [];
    ACCESS => fs::access, Support::Full, [Path, Oct];
    DUP2 => file::dup2, Support::Full, [Fd, Fd];
    GETDENTS => file::getdents, Support::Full, [Fd, Ptr, Int];
    READLINK => fs::readlink, Support::Full, [Path, Ptr, Int];
    ARCH_PRCTL => thread::arch_prctl, Support::Full, [Hex, Ptr];
    TIME => time::time, Support::Full, [Ptr];
    CREAT => file::creat, Support::Partial("EROFS on the read-only rootfs"), [Path, Oct];
    MKDIR => fs_write::mkdir, Support::Full, [Path, Oct];
    RMDIR => fs_write::rmdir, Support::Full, [Path];
    UNLINK => fs_write::unlink, Support::Full, [Path];
    RENAME => fs_write::rename, Support::Full, [Path, Path];
    LINK => fs_write::link, Support::Full, [Path, Path];
    SYMLINK => fs_write::symlink, Support::Full, [Path, Path];
    MKNOD => fs_write::mknod, Support::Partial("device nodes (CAP_MKNOD) in the Sentry's filesystems only; they open the Sentry's devices"), [Path, Oct, Hex];
    CHMOD => fs_write::chmod, Support::Full, [Path, Oct];
    CHOWN => fs_write::chown, Support::Full, [Path, Int, Int];
    LCHOWN => fs_write::lchown, Support::Full, [Path, Int, Int];
    UTIME => fs_write::utime, Support::Full, [Path, Ptr];
    UTIMES => fs_write::utimes, Support::Full, [Path, Ptr];
    FUTIMESAT => fs_write::futimesat, Support::Full, [Fd, Path, Ptr];
    SYSFS => fs_write::sysfs, Support::Full, [Int, Hex, Ptr];
    USTAT => fs_write::ustat, Support::Full, [Hex, Ptr];
}

/// The handler for syscall `nr`, if Husk implements it.
#[inline]
pub fn handler(nr: u64) -> Option<Handler> {
    TABLE.get(nr as usize).and_then(|e| e.handler)
}

/// The table row for `nr`.
pub fn entry(nr: u64) -> Option<&'static Entry> {
    TABLE.get(nr as usize).filter(|e| e.handler.is_some())
}

/// Every syscall number this architecture names, with its support level
/// (`husk debug syscalls`): the table as data, as gVisor documents its own.
pub fn listing() -> Vec<(u64, &'static str, Support)> {
    abi::SYSCALL_NAMES
        .iter()
        .enumerate()
        .filter(|(_, name)| !name.is_empty())
        .map(|(nr, name)| (nr as u64, *name, TABLE[nr].support))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_name_and_argument_formats_fit() {
        let mut rows = 0;
        for (nr, e) in TABLE.iter().enumerate() {
            if e.handler.is_some() {
                rows += 1;
                assert!(!abi::SYSCALL_NAMES[nr].is_empty(), "row {nr} has no name");
                assert!(e.args.len() <= 6);
                assert_ne!(e.support, Support::None);
            }
        }
        assert!(rows >= 55);
        assert!(handler(nr::GETPID).is_some());
        assert!(matches!(TABLE[nr::RSEQ as usize].support, Support::Refused(_)));
        assert!(handler(100_000).is_none());
    }
}
