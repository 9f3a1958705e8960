//! Thin wrappers over the host calls the ptrace platform makes. Every unsafe
//! block of the ptrace platform is here or in `stub.rs`.

use std::io;

use crate::Regs;

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A ptrace request that takes no pointer: `data` is a plain value.
pub fn ptrace_plain(req: libc::c_uint, pid: i32, addr: u64, data: u64) -> io::Result<()> {
    // SAFETY: the requests sent here (SYSEMU, CONT, SETOPTIONS, KILL) read no
    // memory of ours; addr and data are plain values.
    let r = unsafe { libc::ptrace(req, pid, addr as *mut libc::c_void, data as *mut libc::c_void) };
    check(r).map(|_| ())
}

/// PTRACE_GETREGS.
pub fn get_regs(pid: i32, regs: &mut Regs) -> io::Result<()> {
    // SAFETY: `Regs` has the layout and size of `user_regs_struct` (asserted
    // in arch), and the kernel writes exactly that many bytes into it.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (regs as *mut Regs).cast::<libc::c_void>(),
        )
    };
    check(r).map(|_| ())
}

/// PTRACE_SETREGS.
pub fn set_regs(pid: i32, regs: &Regs) -> io::Result<()> {
    // SAFETY: as in `get_regs`; the kernel only reads from the pointer.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (regs as *const Regs).cast_mut().cast::<libc::c_void>(),
        )
    };
    check(r).map(|_| ())
}

/// PTRACE_GETSIGINFO.
pub fn get_siginfo(pid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t into `info`, which we own.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (&mut info as *mut libc::siginfo_t).cast::<libc::c_void>(),
        )
    };
    check(r).map(|_| info)
}

/// `waitpid(pid, __WALL)`, retried on EINTR. Returns the raw status.
pub fn wait(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call's duration.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: i32) {
    // SAFETY: kill takes no pointers; a stale pid only yields ESRCH.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}
