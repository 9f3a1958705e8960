//! aarch64: the NT_PRSTATUS, NT_ARM_TLS and NT_FPREGSET regsets,
//! `svc #0; brk #0`, and fault accesses decoded from the faulting
//! instruction (ptrace reports no ESR).

use std::io;

use super::super::sys;
use crate::arch::{access_from_insn, PRSTATUS_LEN};
use crate::{Access, FpState, PlatformError, Regs, FP_STATE_CAP};

std::arch::global_asm!(
    ".pushsection .text.husk_stub,\"ax\",%progbits",
    ".globl husk_stub_start",
    ".globl husk_stub_syscall",
    ".globl husk_stub_end",
    ".p2align 12",
    "husk_stub_start:",
    // x0 = this page, x1 = the end of this page, x2 = TASK_SIZE.
    "mov x19, x1",
    "mov x20, x2",
    "mov x1, x0",
    "mov x0, #0",
    "mov x8, #215", // munmap(0, page)
    "svc #0",
    "mov x0, x19",
    "sub x1, x20, x19",
    "mov x8, #215", // munmap(page end, TASK_SIZE - page end)
    "svc #0",
    "brk #0",
    "husk_stub_syscall:",
    "svc #0",
    "brk #0",
    "b husk_stub_syscall",
    "husk_stub_end:",
    ".popsection",
);

/// Bytes of the syscall instruction: the trap after it is this far on.
pub(in crate::ptrace) const SYSCALL_INSN_LEN: u64 = 4;

/// glibc's rseq signature on aarch64 (the encoding of `brk #0x45e0`).
pub(in crate::ptrace) const RSEQ_SIG: u64 = 0xd428_bc00;

/// Makes code just written at `start` (`len` bytes, ours) visible to
/// instruction fetches, in this process and in those forked later: arm64's
/// instruction cache is not coherent with data writes. The sequence of
/// the Arm ARM (and of libgcc's `__clear_cache`): clean the data cache to
/// the point of unification, invalidate the instruction cache, by line.
pub(crate) fn sync_icache(start: u64, len: u64) {
    let ctr: u64;
    // SAFETY: CTR_EL0 is readable at EL0 on Linux (or emulated by it).
    unsafe { std::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let dline = 4u64 << ((ctr >> 16) & 0xf);
    let iline = 4u64 << (ctr & 0xf);
    let end = start + len;
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: cache maintenance of lines of our own mapped page; it
        // changes no memory contents.
        unsafe { std::arch::asm!("dc cvau, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += dline;
    }
    let mut a = start & !(iline - 1);
    // SAFETY: barriers, then invalidation of our own lines, as above.
    unsafe { std::arch::asm!("dsb ish", options(nostack, preserves_flags)) };
    while a < end {
        // SAFETY: as above.
        unsafe { std::arch::asm!("ic ivau, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += iline;
    }
    // SAFETY: barriers only.
    unsafe { std::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// The thread pointer, `tpidr_el0`.
pub(in crate::ptrace) fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reads a system register that EL0 may read; no memory.
    unsafe { std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}

/// Jumps to the stub page at `base`, telling it the page's end and where
/// the address space ends.
///
/// # Safety
/// Only in the forked stub child, whose stub page is mapped at `base`.
pub(in crate::ptrace) unsafe fn enter_stub(base: u64, end: u64, task_size: u64) -> ! {
    // SAFETY: the caller guarantees the page; the stub code never returns.
    unsafe {
        std::arch::asm!(
            "br {entry}",
            entry = in(reg) base,
            in("x0") base,
            in("x1") end,
            in("x2") task_size,
            options(noreturn),
        )
    }
}

/// `NT_PRSTATUS`: `struct user_pt_regs`.
const NT_PRSTATUS: libc::c_int = 1;
/// `NT_FPREGSET` (`NT_PRFPREG`): `struct user_fpsimd_state`.
const NT_FPREGSET: libc::c_int = 2;
/// `NT_ARM_TLS`: `tpidr_el0` (then `tpidr2_el0` where the CPU has SME,
/// which a shorter buffer leaves alone).
const NT_ARM_TLS: libc::c_int = 0x401;

/// The NT_PRSTATUS prefix of `regs`, as bytes.
fn prstatus(regs: &mut Regs) -> &mut [u8] {
    // SAFETY: `Regs` is `repr(C)` and starts with the 34 words of
    // `user_pt_regs` (asserted in arch), so the first PRSTATUS_LEN bytes
    // are inside it; every byte pattern is a valid u64, and the slice
    // borrows `regs` mutably for its life.
    unsafe { std::slice::from_raw_parts_mut((regs as *mut Regs).cast::<u8>(), PRSTATUS_LEN) }
}

/// The general registers and the thread pointer.
pub(in crate::ptrace) fn get_regs(pid: i32, regs: &mut Regs) -> io::Result<()> {
    let n = sys::get_regset(pid, NT_PRSTATUS, prstatus(regs))?;
    if n != PRSTATUS_LEN {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    let mut tls = [0u8; 8];
    sys::get_regset(pid, NT_ARM_TLS, &mut tls)?;
    regs.tls = u64::from_le_bytes(tls);
    Ok(())
}

/// Sets the general registers and the thread pointer.
pub(in crate::ptrace) fn set_regs(pid: i32, regs: &Regs) -> io::Result<()> {
    let mut r = *regs;
    sys::set_regset(pid, NT_PRSTATUS, prstatus(&mut r))?;
    sys::set_regset(pid, NT_ARM_TLS, &regs.tls.to_le_bytes())
}

/// At a syscall-entry stop arm64 shows x7 as 0 (it marks the stop as an
/// entry there) and puts the real value back when the stub goes on,
/// ignoring what the tracer wrote: the platform bounces the stub through
/// a trap to read it.
pub(in crate::ptrace) const SYSCALL_STOP_HIDES_REGS: bool = true;

/// Completes `regs` read at a syscall stop: the number and first argument.
pub(in crate::ptrace) fn at_syscall_stop(regs: &mut Regs) {
    regs.enter_syscall();
}

/// Completes `regs` read at any other stop.
pub(in crate::ptrace) fn at_other_stop(regs: &mut Regs) {
    regs.leave_syscall();
}

/// Points `r` at the stub's syscall instruction at `pc`, to make syscall
/// `nr` with `args`.
pub(in crate::ptrace) fn set_injection(r: &mut Regs, pc: u64, nr: i64, args: [u64; 6]) {
    set_pc(r, pc);
    r.regs[8] = nr as u64;
    r.regs[..6].copy_from_slice(&args);
}

/// Sets the program counter.
pub(in crate::ptrace) fn set_pc(r: &mut Regs, pc: u64) {
    r.pc = pc;
}

/// The raw result of an injected syscall.
pub(in crate::ptrace) fn injection_result(r: &Regs) -> u64 {
    r.regs[0]
}

/// The access that faulted: an instruction fetch when the fault is at the
/// program counter, else what the instruction there does (ptrace gives no
/// ESR, so it is decoded as the ESR's WnR would report it).
pub(in crate::ptrace) fn fault_access(pid: i32, sig: i32, regs: &Regs, addr: u64) -> Option<Access> {
    if sig != libc::SIGSEGV && sig != libc::SIGBUS {
        return None;
    }
    if regs.pc == addr {
        return Some(Access::Exec);
    }
    let word = peek_text(pid, regs.pc).ok()?;
    access_from_insn(word as u32)
}

/// PTRACE_PEEKTEXT: the word of the stub's memory at `addr`.
fn peek_text(pid: i32, addr: u64) -> io::Result<u64> {
    // PEEKTEXT returns the word itself, so -1 is an error only with errno
    // set: clear it first.
    // SAFETY: errno is this thread's; PEEKTEXT reads the tracee's memory,
    // not ours, and `addr` is a plain value.
    let r = unsafe {
        *libc::__errno_location() = 0;
        libc::ptrace(libc::PTRACE_PEEKTEXT, pid, addr as *mut libc::c_void, std::ptr::null_mut::<libc::c_void>())
    };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(0) {
            return Err(e);
        }
    }
    Ok(r as u64)
}

/// A context's FPU regset: NT_FPREGSET, always there on arm64.
pub(in crate::ptrace) struct FpRegs;

impl FpRegs {
    /// The regset.
    pub(in crate::ptrace) fn new() -> FpRegs {
        FpRegs
    }

    /// Reads stub `pid`'s FP/SIMD state into `fp`.
    pub(in crate::ptrace) fn get(&mut self, pid: i32, fp: &mut FpState) -> Result<(), PlatformError> {
        let n = sys::get_regset(pid, NT_FPREGSET, &mut fp.bytes).map_err(|source| PlatformError::Ptrace {
            op: "GETREGSET",
            pid,
            source,
        })?;
        fp.bytes[n.min(FP_STATE_CAP)..].fill(0);
        Ok(())
    }

    /// Replaces stub `pid`'s FP/SIMD state with `fp`.
    pub(in crate::ptrace) fn set(&mut self, pid: i32, fp: &FpState) -> Result<(), PlatformError> {
        let mut clean = fp.clone();
        clean.sanitize(crate::fp_layout());
        sys::set_regset(pid, NT_FPREGSET, &clean.bytes).map_err(|source| PlatformError::Ptrace {
            op: "SETREGSET",
            pid,
            source,
        })
    }
}
