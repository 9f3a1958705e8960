//! The runtime's few host calls that need unsafe code.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child get `fd` as fd `target` (without close-on-exec), and
/// die with SIGKILL when the thread that spawned it exits.
pub fn pass_fd_and_tie_lifetime(cmd: &mut Command, fd: &OwnedFd, target: RawFd) {
    pass_fds_and_tie_lifetime(cmd, &[(fd, target)]);
}

/// [`pass_fd_and_tie_lifetime`] for several fds: each `(fd, target)`.
pub fn pass_fds_and_tie_lifetime(cmd: &mut Command, fds: &[(&OwnedFd, RawFd)]) {
    let pairs: Vec<(RawFd, RawFd)> = fds.iter().map(|(fd, t)| (fd.as_raw_fd(), *t)).collect();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (dup2, fcntl, prctl) with plain values; it
    // does not allocate (it iterates a vector made before the fork).
    unsafe {
        cmd.pre_exec(move || {
            // Each source first goes above every target, so that no dup2
            // below overwrites a source not yet moved.
            let mut moved = [-1 as RawFd; 16];
            for (i, &(raw, _)) in pairs.iter().enumerate().take(moved.len()) {
                moved[i] = libc::fcntl(raw, libc::F_DUPFD, 64);
                if moved[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, &(_, target)) in pairs.iter().enumerate().take(moved.len()) {
                if libc::dup2(moved[i], target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(moved[i]);
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Takes ownership of an fd number handed to this process on its command line,
/// and marks it close-on-exec, so that processes this one starts (the
/// sandbox's Gofer) do not hold it. Fails unless the fd is open.
pub fn adopt_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) only queries the fd.
    let flags = if fd < 0 { -1 } else { unsafe { libc::fcntl(fd, libc::F_GETFD) } };
    if flags < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl(F_SETFD) changes only the fd's close-on-exec flag.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd is open and was handed to this process to own; nothing
    // else in the process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Signals `husk run` passes on to the sandbox.
const FORWARDED: [i32; 6] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

/// Blocks `sigs` in the calling thread (and so in threads it starts later)
/// and returns them as a set.
fn block_signals(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: building a sigset_t in a local and installing it as this
    // thread's mask; the pointers are to locals that outlive the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Blocks the signals [`forward_signals`] forwards, so that they wait,
/// pending, for it; call first thing, before any thread starts, so that no
/// thread takes one with its default action (ending the sandbox).
pub fn block_forwarded_signals() {
    block_signals(&FORWARDED);
}

/// Signals a terminal sends its foreground process group: ^C, ^\, ^Z and
/// resizes.
const FROM_TERMINAL: [i32; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

/// Blocks the [`FORWARDED`] signals in this process and passes each one
/// that arrives into the sandbox, from a thread of its own: when stdin is a
/// terminal, those a terminal sends go to the app's foreground process
/// group, as if the app's own terminal had sent them (this process is the
/// host terminal's foreground; stubs and the Gofer are not); everything
/// else goes to the sandbox's init. Call before the sandbox starts its
/// threads, so they inherit the mask.
pub fn forward_signals(to: sentry::Signaller) {
    // SAFETY: isatty takes a plain fd.
    let terminal = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    let set = block_signals(&FORWARDED);
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            if terminal && FROM_TERMINAL.contains(&sig) {
                to.send_to_foreground(sig as u32);
            } else {
                to.send(sig as u32);
            }
        }
    });
    if let Err(e) = spawned {
        log::warn!("cannot forward signals to the sandbox: {e}");
    }
}

/// Takes ownership of an fd that a host call just returned to this process.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass fds fresh from accept4 or SCM_RIGHTS, which belong
    // to this process and to nothing else in it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// How the sandbox process starts: which fds it gets at which numbers
/// (everything else is closed), and whether it leads a new session, with
/// its stdin as the controlling terminal.
pub struct ChildSetup {
    /// (source fd, target fd number) pairs; targets must be distinct.
    pub fds: Vec<(RawFd, RawFd)>,
    /// setsid() in the child.
    pub new_session: bool,
    /// Make fd 0 (a terminal) the new session's controlling terminal.
    pub controlling_tty: bool,
}

/// Arranges `setup` in `cmd`'s child before it execs.
pub fn prepare_child(cmd: &mut Command, setup: ChildSetup) {
    let ChildSetup { fds, new_session, controlling_tty } = setup;
    let top = fds.iter().map(|(_, t)| *t).max().unwrap_or(2).max(2);
    // Filled in the child; allocated here, since the child must not allocate.
    let mut moved = vec![0; fds.len()];
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls (fcntl, dup2, setsid, ioctl, close_range) on
    // plain integers and a buffer allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // First copy every source above every target, so that a source
            // numbered like another's target survives until it is placed.
            for (i, (src, _)) in fds.iter().enumerate() {
                moved[i] = libc::fcntl(*src, libc::F_DUPFD, top + 1);
                if moved[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, (_, target)) in fds.iter().enumerate() {
                if libc::dup2(moved[i], *target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Close-on-exec rather than close: std's own exec-error pipe is
            // among them and must live until the exec.
            let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_uint;
            if libc::syscall(libc::SYS_close_range, (top + 1) as libc::c_uint, libc::c_uint::MAX, cloexec) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if new_session && libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Signals an exec's proxy passes on to its process in the sandbox (as the
/// shim signals an exec'd process through the pid in its pid file).
const PROXIED: [i32; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// Blocks the signals an exec's proxy forwards and sends each that arrives
/// over `ch` as a `Kill` for the exec'd process.
pub fn forward_signals_to(ch: std::sync::Arc<crate::oci::control::Channel>) {
    let set = block_signals(&PROXIED);
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            let req = crate::oci::control::Request::Kill { signal: sig, all: false };
            if ch.send(&req, &[]).is_err() {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        log::warn!("cannot forward signals to the exec'd process: {e}");
    }
}

/// For `husk run`'s supervisor: blocks the [`FORWARDED`] signals and
/// passes each that arrives on to process `pid` (the sandbox's `husk
/// run`), from a thread of its own. When stdin is a terminal, those a
/// terminal sends are left to it: the sandbox is in the terminal's
/// foreground process group and gets them itself.
pub fn forward_signals_to_pid(pid: i32) {
    // SAFETY: isatty takes a plain fd.
    let terminal = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    let set = block_signals(&FORWARDED);
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 && !(terminal && FROM_TERMINAL.contains(&sig)) {
            // SAFETY: kill with plain values.
            unsafe { libc::kill(pid, sig) };
        }
    });
    if let Err(e) = spawned {
        log::warn!("cannot forward signals to the sandbox: {e}");
    }
}

/// Makes the process `cmd` starts die with this thread (PR_SET_PDEATHSIG)
/// and move itself into the cgroups whose `tasks` (v1) or `cgroup.procs`
/// files are open as `procs`, between its fork and its exec.
pub fn join_cgroup_at_exec(cmd: &mut Command, procs: Vec<RawFd>) {
    // SAFETY: only prctl and write(2) of a static buffer to fds the parent
    // holds open, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            for &fd in &procs {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Puts this process, and the threads and processes it makes from now on
/// (the Sentry's, its stubs, the Gofer), in new network, IPC and UTS
/// namespaces: the sandbox reaches no host network, no host System V
/// object and no host hostname even through a bug of the Sentry's; and a
/// new cgroup namespace, so that its own cgroup is its root. Only root, or
/// the root of a user namespace (rootless mode), may. `network` false
/// (`--network host`) keeps this network namespace.
/// Call before any thread starts: namespaces are per thread.
pub fn isolate_namespaces(network: bool) {
    let mut flags = libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP;
    if network {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: unshare takes plain flags.
    let r = unsafe { libc::unshare(flags) };
    if r != 0 {
        log::debug!("cannot make namespaces for the sandbox: {}", std::io::Error::last_os_error());
    }
}

/// Which side of [`fork_sentry`] a process is on.
pub enum Forked {
    /// The new process, which becomes the Sentry.
    Sentry,
    /// The process that forked it, with the Sentry's pid.
    Parent(i32),
}

/// Forks a watcher that waits for this process (and every fork of it) to
/// end, then runs `then` and exits: out of the caller's process group and
/// session, deaf to SIGINT, SIGTERM, SIGHUP and SIGQUIT (a ^C or
/// timeout(1)'s SIGTERM to the group must not end it first), stdin and
/// stdout on /dev/null. Refused unless this process has one thread.
pub fn fork_watcher(then: impl FnOnce()) -> std::io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    if threads != 1 {
        return Err(std::io::Error::other(format!("forking a watcher from a process of {threads} threads")));
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: this process has a single thread (checked above), so the
    // child's copy of every lock and of the allocator is consistent.
    match unsafe { libc::fork() } {
        p if p < 0 => Err(std::io::Error::last_os_error()),
        0 => {
            drop(w);
            // SAFETY: setsid, signal with SIG_IGN (no handler), open and
            // dup2 onto fds 0 and 1, which the watcher uses as nothing else.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong);
                libc::setsid();
                for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                    libc::signal(sig, libc::SIG_IGN);
                }
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                }
            }
            // Returns at EOF: when the caller (and whatever it left the
            // write end to) is gone.
            let mut buf = [0u8; 1];
            let _ = nix::unistd::read(&r, &mut buf);
            then();
            std::process::exit(0);
        }
        _ => {
            drop(r);
            // Kept open for the rest of this process (and its forks).
            std::mem::forget(w);
            Ok(())
        }
    }
}

/// Forks the process that becomes the Sentry, which dies (SIGKILL) with
/// the thread that forked it. Refused unless this process has one thread:
/// the child goes on running Rust code, which a fork of a threaded process
/// could find with a lock held forever.
pub fn fork_sentry() -> std::io::Result<Forked> {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    if threads != 1 {
        return Err(std::io::Error::other(format!("forking the Sentry from a process of {threads} threads")));
    }
    // SAFETY: getpid takes nothing.
    let parent = unsafe { libc::getpid() };
    // SAFETY: this process has a single thread (checked above), so the
    // child's copy of every lock and of the allocator is consistent.
    let pid = unsafe { libc::fork() };
    match pid {
        p if p < 0 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: prctl, getpid, getppid and _exit with plain values.
            unsafe {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    libc::_exit(125);
                }
                // The first process of a new pid namespace sees no parent;
                // otherwise the parent must still be the one that forked.
                if libc::getpid() != 1 && libc::getppid() != parent {
                    libc::_exit(125);
                }
            }
            Ok(Forked::Sentry)
        }
        p => Ok(Forked::Parent(p)),
    }
}

/// Waits for child `pid` to end and returns how it ended, reaping any
/// other child that ends first: the Gofer, in the Sentry's pid namespace,
/// must be reaped by this process before the Sentry, that namespace's
/// first process, can finish exiting.
pub fn wait_for_child(pid: i32) -> std::io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer to a local.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == pid {
            return Ok(std::process::ExitStatus::from_raw(status));
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// Makes the processes this one forks from now on the first ones of a new
/// pid namespace. Only root may; returns whether it happened.
pub fn new_pid_namespace() -> bool {
    // SAFETY: unshare takes plain flags.
    unsafe { libc::unshare(libc::CLONE_NEWPID) == 0 }
}

/// Gives the forwarded signals a handler that does nothing. They stay
/// blocked and are taken by `sigwait`; but the kernel drops a signal whose
/// action is the default one before it can wait, when it is sent to the
/// first process of a pid namespace (as the Sentry is), so that process
/// needs a handler to receive them at all.
pub fn receive_forwarded_signals_as_namespace_init() {
    extern "C" fn ignore(_sig: libc::c_int) {}
    let handler: extern "C" fn(libc::c_int) = ignore;
    for sig in FORWARDED {
        // SAFETY: a zeroed sigaction with a handler that does nothing.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// The highest capability number to drop from the bounding set (Linux 6.x
/// has 41; unknown higher ones give EINVAL and end the loop).
const LAST_CAP: libc::c_ulong = 63;

/// Drops every capability this process has, for good: the bounding set
/// (where it may), the ambient set, and the effective, permitted and
/// inheritable sets; and sets no_new_privs, so that nothing it runs can
/// gain one back.
pub fn drop_all_capabilities() -> std::io::Result<()> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    // SAFETY: prctl with plain values, and capset with pointers to locals
    // of the kernel's layout (version 3: two data structs).
    unsafe {
        for cap in 0..=LAST_CAP {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
            {
                break;
            }
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Kills child `pid` and waits for it.
pub fn kill_and_reap(pid: i32) {
    // SAFETY: kill with plain values.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = wait_for_child(pid);
}
