//! Syscall handlers, one file per family as in gVisor's
//! `pkg/sentry/syscalls/linux`, and the dispatcher that calls them.
//!
//! A handler is a thin function: it decodes its arguments, validates them,
//! calls into `kernel`, `mm` or `vfs`, and returns `SysResult<u64>`. The
//! dispatcher turns an `Err(errno)` into `-errno` in the return register; it
//! is the only place that does.

mod aio;
mod event;
mod fasync;
mod fdops;
pub(crate) mod file;
mod fs;
mod fs_write;
mod futex;
mod hostsock;
mod identity;
mod inspect;
mod ipc;
mod keys;
mod locks;
mod mm;
mod mount;
mod pidfd;
mod poll;
mod process;
mod procmap;
mod ptrace;
mod sched;
pub(crate) mod seccomp;
mod signal;
mod socket;
mod splice;
mod strace;
mod sys;
pub mod table;
mod thread;
mod time;
mod xattr;

use abi::Errno;

use crate::kernel::task::Task;
use crate::mm::SysResult;

/// What a close lets go of, for the kernel's own closes (close-on-exec):
/// see `locks::closed`.
pub fn file_closed(t: &Task, f: &crate::vfs::file::File) {
    locks::closed(t, f);
}

/// The six raw syscall arguments, with typed accessors.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 6]);

impl Args {
    /// Argument `i` as a 64-bit value.
    #[inline]
    pub fn u64(&self, i: usize) -> u64 {
        self.0[i]
    }
    /// Argument `i` as a C `int` (the low 32 bits, as the kernel reads it).
    #[inline]
    pub fn i32(&self, i: usize) -> i32 {
        self.0[i] as u32 as i32
    }
    /// Argument `i` as a C `unsigned int`.
    #[inline]
    pub fn u32(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
    /// Argument `i` as a file descriptor.
    #[inline]
    pub fn fd(&self, i: usize) -> i32 {
        self.i32(i)
    }
    /// Argument `i` as an app address.
    #[inline]
    pub fn addr(&self, i: usize) -> u64 {
        self.0[i]
    }
    /// Argument `i` as a signed 64-bit value (`off_t`, `long`).
    #[inline]
    pub fn i64(&self, i: usize) -> i64 {
        self.0[i] as i64
    }
}

/// A syscall handler.
pub type Handler = fn(&mut Task, &Args) -> SysResult<u64>;

/// Handles the syscall the task just stopped at and sets its return value.
/// The hot path: a table index, the handler, a register write. Nothing here
/// allocates or logs unless `--strace` is on.
pub fn dispatch(task: &mut Task) {
    // The app's own seccomp filters, after the ptrace entry stop, as Linux
    // runs them.
    if task.handle.seccomp_gen.load(std::sync::atomic::Ordering::Acquire) != 0 && !seccomp::admit(task) {
        return;
    }
    run_admitted(task);
}

/// Runs the syscall the task stopped at, which its seccomp filters let
/// through, and sets its result.
pub fn run_admitted(task: &mut Task) {
    let nr = task.regs.syscall_nr();
    let args = Args(task.regs.syscall_args());
    let result = match table::handler(nr) {
        Some(h) => h(task, &args),
        None => {
            task.kernel.log_unimplemented(nr);
            Err(Errno::ENOSYS)
        }
    };
    let ret = match result {
        Ok(v) => v,
        Err(e) => e.as_return(),
    };
    task.regs.set_return(ret);
    if task.kernel.strace {
        strace::print(task, nr, &args, ret);
    }
}
