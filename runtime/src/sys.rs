//! The runtime's few host calls that need unsafe code.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child get `fd` as fd `target` (without close-on-exec), and
/// die with SIGKILL when the thread that spawned it exits.
pub fn pass_fd_and_tie_lifetime(cmd: &mut Command, fd: &OwnedFd, target: RawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (dup2, fcntl, prctl) with plain values.
    unsafe {
        cmd.pre_exec(move || {
            if raw == target {
                let flags = libc::fcntl(raw, libc::F_GETFD);
                libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(raw, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Takes ownership of an fd number handed to this process on its command line.
/// Fails unless the fd is open.
pub fn adopt_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) only queries the fd.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the fd is open and was handed to this process to own; nothing
    // else in the process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Signals `husk run` passes on to the sandbox.
const FORWARDED: [i32; 6] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

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
    // SAFETY: building a sigset_t in a local and installing it as this
    // thread's mask; the pointers are to locals that outlive the calls.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
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
