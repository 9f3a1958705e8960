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

mod arch;
pub(crate) mod stub;
#[cfg(target_arch = "aarch64")]
pub(crate) use arch::sync_icache;
mod sys;

use std::any::Any;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::{AddressSpace, Context, FpState, Interrupter, Platform, PlatformError, Prot, Regs, SwitchOutcome};

/// The ptrace platform.
pub struct PtracePlatform {
    memfd: RawFd,
    page: stub::StubPage,
}

impl PtracePlatform {
    /// A ptrace platform whose address spaces map pages of `memfile`. The fd
    /// must stay open as long as the platform and its address spaces live.
    pub fn new(memfile: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        Ok(PtracePlatform { memfd: memfile.as_raw_fd(), page: stub::stub_page()? })
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
        arch::get_regs(pid, &mut regs).map_err(|source| {
            sys::kill(pid);
            PlatformError::Ptrace { op: "GETREGS", pid, source }
        })?;
        Ok(Box::new(PtraceAddressSpace {
            pid,
            memfd: self.memfd,
            page: self.page,
            scratch: regs,
            cpu: -1,
            args_map_written: false,
        }))
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(PtraceContext {
            running: Arc::new(PtraceInterrupter { pid: AtomicI32::new(0) }),
            affinity: sys::Affinity::default(),
            fp: arch::FpRegs::new(),
        })
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
    /// The CPU the stub is pinned to (-1: not yet).
    cpu: i32,
    /// The stub page holds `show_args`'s `struct prctl_mm_map`: a new
    /// command line changes only where it ends.
    args_map_written: bool,
}

impl PtraceAddressSpace {
    /// The stub's host pid (for `ps` and diagnostics).
    pub fn host_pid(&self) -> i32 {
        self.pid
    }

    /// Runs one syscall in the stub from the stub page and returns its raw
    /// result. The stub must be in a ptrace stop; it is left in one (after the
    /// trap), and the next switch sets the app's registers again.
    fn inject(&mut self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let pid = self.pid;
        let mut r = self.scratch;
        arch::set_injection(&mut r, self.page.syscall_insn, nr, args);
        let out = self.run_to_trap(&r)?;
        let ret = arch::injection_result(&out);
        if ret > (-4096i64) as u64 {
            return Err(PlatformError::AddressSpaceOp { op, pid, errno: -(ret as i64) as i32 });
        }
        Ok(ret)
    }

    /// Writes the word `w` at `at` in the stub.
    fn poke(&self, at: u64, w: u64) -> Result<(), PlatformError> {
        sys::ptrace_plain(libc::PTRACE_POKEDATA, self.pid, at, w).map_err(|source| PlatformError::Ptrace {
            op: "POKEDATA",
            pid: self.pid,
            source,
        })
    }

    /// Resumes the stub with `regs` until it reaches a trap of the stub page
    /// and returns the registers there. The stub must be in a ptrace stop.
    fn run_to_trap(&mut self, regs: &Regs) -> Result<Regs, PlatformError> {
        let pid = self.pid;
        let ptrace_err = |op, source| PlatformError::Ptrace { op, pid, source };
        arch::set_regs(pid, regs).map_err(|e| ptrace_err("SETREGS", e))?;
        let mut interrupted = false;
        loop {
            sys::ptrace_plain(libc::PTRACE_CONT, pid, 0, 0).map_err(|e| ptrace_err("CONT", e))?;
            let status = sys::wait(pid).map_err(|e| ptrace_err("wait", e))?;
            if !libc::WIFSTOPPED(status) {
                return Err(PlatformError::StubDied { pid, status });
            }
            match libc::WSTOPSIG(status) {
                libc::SIGTRAP => break,
                // An interrupt for the context landed mid-injection: finish
                // the injection, then raise it again for the next switch.
                INTERRUPT_SIGNAL => interrupted = true,
                // A stray host signal: swallow it.
                libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU | libc::SIGWINCH | libc::SIGCHLD => {}
                _ => return Err(PlatformError::StubDied { pid, status }),
            }
        }
        if interrupted {
            sys::signal(pid, INTERRUPT_SIGNAL);
        }
        let mut out = Regs::default();
        arch::get_regs(pid, &mut out).map_err(|e| ptrace_err("GETREGS", e))?;
        Ok(out)
    }

    /// Reads the registers of a syscall stop into `regs`. Where the kernel
    /// hides some there (arm64's x7), the stub first goes on to the trap
    /// after the stub page's syscall instruction, with every register as it
    /// is, and they are read at that stop instead, with the program counter
    /// put back: the syscall itself was skipped, so nothing else changed.
    fn syscall_regs(&mut self, regs: &mut Regs) -> Result<(), PlatformError> {
        let pid = self.pid;
        arch::get_regs(pid, regs).map_err(|source| PlatformError::Ptrace { op: "GETREGS", pid, source })?;
        if arch::SYSCALL_STOP_HIDES_REGS {
            let pc = regs.ip();
            let mut bounce = *regs;
            arch::set_pc(&mut bounce, self.page.syscall_insn + arch::SYSCALL_INSN_LEN);
            *regs = self.run_to_trap(&bounce)?;
            arch::set_pc(regs, pc);
        }
        arch::at_syscall_stop(regs);
        Ok(())
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn host_pid(&self) -> Option<i32> {
        Some(self.pid)
    }

    fn map_file(&mut self, addr: u64, len: u64, file_offset: u64, prot: Prot) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, u64::from(prot.0), flags, self.memfd as u64, file_offset];
        self.inject("mmap", libc::SYS_mmap, args).map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.inject("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0]).map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.inject("mprotect", libc::SYS_mprotect, [addr, len, u64::from(prot.0), 0, 0, 0]).map(|_| ())
    }

    fn show_args(&mut self, cmdline: &[u8]) -> Result<(), PlatformError> {
        if crate::SHOWS_ARGS.load(Ordering::Relaxed) == crate::ARGS_REFUSED {
            return Ok(());
        }
        // The stub page's second half holds the arguments, then the
        // struct at its end, past the code (the tracer's writes give the
        // stub a private copy of the page; it is anonymous memory).
        let map = self.page.base + stub::PAGE - 8 * crate::PRCTL_MM_MAP_WORDS as u64;
        let at = self.page.base + stub::ARGS_AT;
        let Some(args) = crate::cmdline_within(cmdline, (map - at) as usize) else { return Ok(()) };
        let end = at + args.len() as u64;
        for (i, chunk) in args.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.poke(at + 8 * i as u64, u64::from_le_bytes(w))?;
        }
        // Only arg_end, env_start and env_end (words 8 to 10) depend on
        // the command line.
        let words = crate::prctl_mm_map(at, end);
        let changed = if self.args_map_written { 8..11 } else { 0..words.len() };
        for i in changed {
            self.poke(map + 8 * i as u64, words[i])?;
        }
        self.args_map_written = true;
        let size = 8 * crate::PRCTL_MM_MAP_WORDS as u64;
        let shown = self.inject(
            "prctl",
            libc::SYS_prctl,
            [libc::PR_SET_MM as u64, libc::PR_SET_MM_MAP as u64, map, size, 0, 0],
        );
        match shown {
            Ok(_) => crate::SHOWS_ARGS.store(crate::ARGS_SHOWN, Ordering::Relaxed),
            Err(e @ PlatformError::AddressSpaceOp { .. }) => {
                crate::SHOWS_ARGS.store(crate::ARGS_REFUSED, Ordering::Relaxed);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        Ok(())
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

/// The signal that interrupts a stub (see [`PtraceInterrupter`]).
const INTERRUPT_SIGNAL: i32 = libc::SIGUSR2;

/// Interrupts a context by signalling the stub it last ran in; the tracer
/// sees the signal stop, swallows the signal and returns `Interrupted`.
pub struct PtraceInterrupter {
    pid: AtomicI32,
}

impl Interrupter for PtraceInterrupter {
    fn interrupt(&self) {
        let pid = self.pid.load(Ordering::Acquire);
        if pid > 0 {
            sys::signal(pid, INTERRUPT_SIGNAL);
        }
    }
}

/// A context: one app thread, run in whichever stub its address space is.
pub struct PtraceContext {
    running: Arc<PtraceInterrupter>,
    affinity: sys::Affinity,
    fp: arch::FpRegs,
}

fn ptrace_space(space: &mut dyn AddressSpace) -> Result<&mut PtraceAddressSpace, PlatformError> {
    space.as_any_mut().downcast_mut::<PtraceAddressSpace>().ok_or(PlatformError::WrongAddressSpace)
}

impl Context for PtraceContext {
    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        Some(self.running.clone())
    }

    fn get_fp_state(&mut self, space: &mut dyn AddressSpace, fp: &mut FpState) -> Result<bool, PlatformError> {
        let pid = ptrace_space(space)?.pid;
        self.fp.get(pid, fp)?;
        Ok(true)
    }

    fn set_fp_state(&mut self, space: &mut dyn AddressSpace, fp: &FpState) -> Result<bool, PlatformError> {
        let pid = ptrace_space(space)?.pid;
        self.fp.set(pid, fp)?;
        Ok(true)
    }

    fn switch(&mut self, space: &mut dyn AddressSpace, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let space = ptrace_space(space)?;
        let pid = space.pid;
        self.running.pid.store(pid, Ordering::Release);
        let ptrace_err = |op, source| PlatformError::Ptrace { op, pid, source };
        // A ptrace stop and resume costs a few µs when tracer and stub share
        // a CPU, but ten times that when a wake-up crosses to another (idle,
        // on a VM: halted) CPU, which is where the scheduler prefers to wake
        // a task. So keep the pair together: see `sys::Affinity`.
        let cpu = self.affinity.keep_together();
        if cpu != space.cpu {
            sys::pin(pid, cpu);
            space.cpu = cpu;
        }
        arch::set_regs(pid, regs).map_err(|e| ptrace_err("SETREGS", e))?;
        loop {
            sys::ptrace_plain(sys::PTRACE_SYSEMU, pid, 0, 0).map_err(|e| ptrace_err("SYSEMU", e))?;
            let status = sys::wait(pid).map_err(|e| ptrace_err("wait", e))?;
            if !libc::WIFSTOPPED(status) {
                return Err(PlatformError::StubDied { pid, status });
            }
            let sig = libc::WSTOPSIG(status);
            if sig == libc::SIGTRAP | 0x80 {
                space.syscall_regs(regs)?;
                return Ok(SwitchOutcome::Syscall);
            }
            match sig {
                libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                    let info = sys::get_siginfo(pid).map_err(|e| ptrace_err("GETSIGINFO", e))?;
                    arch::get_regs(pid, regs).map_err(|e| ptrace_err("GETREGS", e))?;
                    arch::at_other_stop(regs);
                    // SAFETY: for these synchronous signals the kernel fills
                    // the si_addr member of the union.
                    let addr = unsafe { info.si_addr() } as u64;
                    return Ok(SwitchOutcome::Fault {
                        signo: sig as u32,
                        code: info.si_code,
                        addr,
                        access: arch::fault_access(pid, sig, regs, addr),
                        syndrome: None,
                    });
                }
                INTERRUPT_SIGNAL => {
                    arch::get_regs(pid, regs).map_err(|e| ptrace_err("GETREGS", e))?;
                    arch::at_other_stop(regs);
                    return Ok(SwitchOutcome::Interrupted);
                }
                // Anything else (a stray SIGSTOP, SIGWINCH, ...) came from the
                // host, not the app: swallow it and resume.
                _ => continue,
            }
        }
    }
}
