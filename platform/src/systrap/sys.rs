//! Thin wrappers over the host calls the systrap platform's Sentry side
//! makes. The stub's own calls are in `stub.rs`, the shared page's accesses
//! in `shared.rs`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// How a futex wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// Woken, interrupted, or the value had already changed.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// `FUTEX_WAIT` (shared: the word is in memory shared with another process)
/// on `word` while it holds `val`, for at most `timeout`.
pub fn futex_wait(word: *const u32, val: u32, timeout: Duration) -> Wait {
    let ts =
        libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: `word` points at the mapped control page (the caller holds the
    // mapping); the kernel only reads it and `ts`, which lives on our stack.
    let r = unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAIT, val, &ts as *const libc::timespec, 0usize, 0u32)
    };
    if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Wait::TimedOut
    } else {
        Wait::Woken
    }
}

/// `FUTEX_WAKE` of one waiter on `word`.
pub fn futex_wake(word: *const u32) {
    // SAFETY: as in `futex_wait`; FUTEX_WAKE reads no memory.
    unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, 1u32, 0usize, 0usize, 0u32);
    }
}

/// `waitpid(pid, WNOHANG | __WALL)`: `Some(status)` once the child has ended
/// (status 0 if it was reaped elsewhere), `None` while it runs.
pub fn try_wait(pid: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call's duration.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WALL) };
        if r == pid {
            return Some(status);
        }
        if r == 0 {
            return None;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return Some(0),
        }
    }
}

/// Blocking `waitpid(pid, __WALL)`, ignoring errors (the child is gone).
pub fn reap(pid: i32) {
    let mut status = 0;
    loop {
        // SAFETY: as in `try_wait`.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: tgkill takes no pointers; a stale pid only yields ESRCH. (A
    // stub's one thread has its pid as its id.)
    unsafe {
        libc::syscall(libc::SYS_tgkill, pid, pid, sig);
    }
}

/// A pidfd for `pid`, if the host supports them.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes plain values.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    let raw = i32::try_from(raw).ok().filter(|r| *r >= 0)?;
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Sends `sig` to the process behind `pidfd`; one that has ended is ignored.
pub fn pidfd_signal(pidfd: std::os::fd::BorrowedFd<'_>, sig: i32) {
    // SAFETY: pidfd_send_signal with a null siginfo reads no memory of ours.
    unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0usize, 0u32);
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: i32) {
    // A stub has one thread, whose id is its pid: tgkill reaches it as
    // kill would, and keeps kill out of the Sentry's seccomp filter.
    // SAFETY: tgkill takes no pointers; a stale pid only yields ESRCH.
    unsafe {
        libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGKILL);
    }
}

/// A new memfd of `len` bytes.
pub fn memfd(name: &std::ffi::CStr, len: usize) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a NUL-terminated name.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: plain call on our own fd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Whether user code may use rd/wr{fs,gs}base (HWCAP2_FSGSBASE).
#[cfg(target_arch = "x86_64")]
pub fn has_fsgsbase() -> bool {
    const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;
    // SAFETY: getauxval reads the process's auxiliary vector.
    unsafe { libc::getauxval(libc::AT_HWCAP2) & HWCAP2_FSGSBASE != 0 }
}

/// Whether the host kernel's seccomp knows SECCOMP_RET_TRAP.
pub fn seccomp_trap_available() -> io::Result<()> {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
    let action: u32 = 0x0003_0000;
    // SAFETY: the kernel reads one u32 from `action`, which lives on our stack.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0usize, &action as *const u32) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ftruncate(fd, len)`.
pub fn set_len(fd: std::os::fd::BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: plain call on a borrowed fd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Frees `len` bytes at `off` in `fd` (a memfd): they read as zeros again.
pub fn punch_hole(fd: std::os::fd::BorrowedFd<'_>, off: u64, len: u64) -> io::Result<()> {
    let (off, len) = match (libc::off_t::try_from(off), libc::off_t::try_from(len)) {
        (Ok(o), Ok(l)) => (o, l),
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: plain call on a borrowed fd.
    let r = unsafe { libc::fallocate(fd.as_raw_fd(), mode, off, len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
