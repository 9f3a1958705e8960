//! The ptrace platform: one stub process per address space, driven with
//! PTRACE_SYSEMU.
//!
//! Each app syscall stops the stub at syscall entry without running it; the
//! Sentry reads the registers, emulates the call, writes the result and
//! resumes. Faults arrive as signal-delivery stops. Address-space changes are
//! injected as mmap, munmap and mprotect calls made from the stub page.
//!
//! ptrace binds a tracee to the one host thread that attached it, so an
//! address space and the contexts that run in it must be used from the thread
//! that created the address space.

mod stub;
mod sys;

use std::any::Any;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::{Access, AddressSpace, Context, Platform, PlatformError, Prot, Regs, SwitchOutcome};

/// The ptrace platform.
pub struct PtracePlatform {
    memfd: RawFd,
    page: stub::StubPage,
}

impl PtracePlatform {
    /// A ptrace platform whose address spaces map pages of `memfile`. The fd
    /// must stay open as long as the platform and its address spaces live.
    pub fn new(memfile: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        Ok(PtracePlatform {
            memfd: memfile.as_raw_fd(),
            page: stub::stub_page()?,
        })
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn max_user_address(&self) -> u64 {
        self.page.base
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>, PlatformError> {
        let pid = stub::spawn(self.memfd, self.page)?;
        let mut regs = Regs::default();
        sys::get_regs(pid, &mut regs).map_err(|source| {
            sys::kill(pid);
            PlatformError::Ptrace {
                op: "GETREGS",
                pid,
                source,
            }
        })?;
        Ok(Box::new(PtraceAddressSpace {
            pid,
            memfd: self.memfd,
            page: self.page,
            scratch: regs,
        }))
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(PtraceContext)
    }
}

/// An address space: one stub process.
pub struct PtraceAddressSpace {
    pid: i32,
    memfd: RawFd,
    page: stub::StubPage,
    /// Register scratch space for injected calls (keeps the segment selectors
    /// the stub started with).
    scratch: Regs,
}

impl PtraceAddressSpace {
    /// The stub's host pid (for `ps` and diagnostics).
    pub fn host_pid(&self) -> i32 {
        self.pid
    }

    /// Runs one syscall in the stub from the stub page and returns its raw
    /// result. The stub must be in a ptrace stop; it is left in one (after the
    /// `int3`), and the next switch sets the app's registers again.
    fn inject(&mut self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let pid = self.pid;
        let ptrace_err = |op, source| PlatformError::Ptrace { op, pid, source };
        let r = &mut self.scratch;
        r.rip = self.page.syscall_insn;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = args;
        sys::set_regs(pid, r).map_err(|e| ptrace_err("SETREGS", e))?;
        sys::ptrace_plain(libc::PTRACE_CONT, pid, 0, 0).map_err(|e| ptrace_err("CONT", e))?;
        let status = sys::wait(pid).map_err(|e| ptrace_err("wait", e))?;
        if !libc::WIFSTOPPED(status) || libc::WSTOPSIG(status) != libc::SIGTRAP {
            return Err(PlatformError::StubDied { pid, status });
        }
        let mut out = Regs::default();
        sys::get_regs(pid, &mut out).map_err(|e| ptrace_err("GETREGS", e))?;
        let ret = out.rax;
        if ret > (-4096i64) as u64 {
            return Err(PlatformError::AddressSpaceOp {
                op,
                pid,
                errno: -(ret as i64) as i32,
            });
        }
        Ok(ret)
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map_file(&mut self, addr: u64, len: u64, file_offset: u64, prot: Prot) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, u64::from(prot.0), flags, self.memfd as u64, file_offset];
        self.inject("mmap", libc::SYS_mmap, args).map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.inject("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0])
            .map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.inject("mprotect", libc::SYS_mprotect, [addr, len, u64::from(prot.0), 0, 0, 0])
            .map(|_| ())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        sys::kill(self.pid);
        let _ = sys::wait(self.pid);
    }
}

/// A context. With one stub thread per address space it holds no state of its
/// own; it exists so that multi-threaded apps can get a stub thread each.
pub struct PtraceContext;

impl Context for PtraceContext {
    fn switch(&mut self, space: &mut dyn AddressSpace, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let space = space
            .as_any_mut()
            .downcast_mut::<PtraceAddressSpace>()
            .ok_or(PlatformError::WrongAddressSpace)?;
        let pid = space.pid;
        let ptrace_err = |op, source| PlatformError::Ptrace { op, pid, source };
        sys::set_regs(pid, regs).map_err(|e| ptrace_err("SETREGS", e))?;
        loop {
            sys::ptrace_plain(libc::PTRACE_SYSEMU, pid, 0, 0).map_err(|e| ptrace_err("SYSEMU", e))?;
            let status = sys::wait(pid).map_err(|e| ptrace_err("wait", e))?;
            if !libc::WIFSTOPPED(status) {
                return Err(PlatformError::StubDied { pid, status });
            }
            let sig = libc::WSTOPSIG(status);
            if sig == libc::SIGTRAP | 0x80 {
                sys::get_regs(pid, regs).map_err(|e| ptrace_err("GETREGS", e))?;
                return Ok(SwitchOutcome::Syscall);
            }
            match sig {
                libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                    let info = sys::get_siginfo(pid).map_err(|e| ptrace_err("GETSIGINFO", e))?;
                    sys::get_regs(pid, regs).map_err(|e| ptrace_err("GETREGS", e))?;
                    // SAFETY: for these synchronous signals the kernel fills
                    // the si_addr member of the union.
                    let addr = unsafe { info.si_addr() } as u64;
                    return Ok(SwitchOutcome::Fault {
                        signo: sig as u32,
                        code: info.si_code,
                        addr,
                        access: fault_access(sig, regs, addr),
                    });
                }
                // Anything else (a stray SIGSTOP, SIGWINCH, ...) came from the
                // host, not the app: swallow it and resume.
                _ => continue,
            }
        }
    }
}

/// ptrace does not report the page-fault error code; an instruction fetch is
/// the one access we can still recognise.
fn fault_access(sig: i32, regs: &Regs, addr: u64) -> Option<Access> {
    (sig == libc::SIGSEGV && regs.rip == addr).then_some(Access::Exec)
}
