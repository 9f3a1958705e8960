//! x86_64: the `rt_sigframe` with its XSAVE area, `syscall`'s restart
//! (rip - 2), clone's argument order, and the TSC.

use abi::flags::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
use abi::Errno;
use platform::{
    fp_layout, Access, FpLayout, FpState, Regs, Syndrome, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FX_SW_BYTES,
    XFEATURE_FPSSE, XSAVE_HEADER, XSAVE_MIN,
};

use super::{FpRestore, FrameRequest, FrameResult, Restored, Trap};
use crate::kernel::signal::SA_RESTORER;
use crate::mm::{MemoryManager, SysResult};

/// `uc_flags`: the frame saves ss (`UC_SIGCONTEXT_SS`), and sigreturn
/// restores it strictly (`UC_STRICT_RESTORE_SS`).
const UC_FLAGS: u64 = 0x2 | 0x4;
/// `uc_flags`: the FPU state is an XSAVE area (`UC_FP_XSTATE`), set where
/// the CPU has XSAVE.
const UC_FP_XSTATE: u64 = 0x1;
/// The XSAVE components whose state includes MXCSR (SSE, AVX).
const XFEATURE_MXCSR_USERS: u64 = 0b110;
/// Size of the kernel's `struct ucontext` on x86_64.
const UCONTEXT_SIZE: u64 = 304;
/// Offset of `uc_mcontext` in `struct ucontext`.
const MCONTEXT_OFF: u64 = 40;
/// Size of `struct sigcontext`.
const SIGCONTEXT_SIZE: usize = 256;
/// Offset of `uc_sigmask` in `struct ucontext`.
const SIGMASK_OFF: u64 = 296;
/// `struct rt_sigframe`: return address, ucontext, siginfo.
const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + 128;
/// Bytes below the stack pointer the x86_64 ABI lets code use.
const RED_ZONE: u64 = 128;
/// eflags bits sigreturn lets the app set.
const FIX_EFLAGS: u64 = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;

/// Whether a frame needs the vDSO's restorer when the action names none:
/// never on x86_64, where libc always sets SA_RESTORER.
pub const RESTORER_FROM_VDSO: bool = false;

/// The trap number and error code Linux keeps for a fault the app took:
/// the host's, where the platform saw them; else what the access says (a
/// page fault's user, write and instruction-fetch bits, with the present
/// bit for a fault in a mapping that forbids the access, SEGV_ACCERR) or
/// the signal (#UD for SIGILL, #BP or #DB for SIGTRAP, #GP for a
/// SIGSEGV the kernel raised).
pub fn fault_trap(signo: u32, code: i32, access: Option<Access>, host: Option<Syndrome>) -> Trap {
    const TRAP_DE: u64 = 0;
    const TRAP_DB: u64 = 1;
    const TRAP_BP: u64 = 3;
    const TRAP_UD: u64 = 6;
    const TRAP_GP: u64 = 13;
    const TRAP_PF: u64 = 14;
    const SI_KERNEL: i32 = 0x80;
    const SEGV_ACCERR: i32 = 2;
    const TRAP_BRKPT: i32 = 1;
    if let Some(s) = host {
        return Trap { number: s.number, code: s.code };
    }
    let page_fault = |access: Option<Access>| {
        let present = if code == SEGV_ACCERR { 1 } else { 0 };
        let kind = match access {
            Some(Access::Write) => 2,
            Some(Access::Exec) => 16,
            Some(Access::Read) | None => 0,
        };
        Trap { number: TRAP_PF, code: 4 | kind | present }
    };
    match signo {
        SIGSEGV if code == SI_KERNEL => Trap { number: TRAP_GP, code: 0 },
        SIGSEGV | SIGBUS => page_fault(access),
        SIGILL => Trap { number: TRAP_UD, code: 0 },
        SIGFPE => Trap { number: TRAP_DE, code: 0 },
        SIGTRAP if code == TRAP_BRKPT => Trap { number: TRAP_BP, code: 0 },
        SIGTRAP => Trap { number: TRAP_DB, code: 0 },
        _ => Trap::default(),
    }
}

/// Writes an `rt_sigframe` for `req` and returns the registers that run
/// the handler.
pub fn setup_frame(mm: &mut MemoryManager, req: FrameRequest<'_>) -> SysResult<Regs> {
    let r = req.regs;
    let mut sp = if req.on_altstack { req.altstack_top } else { r.rsp.wrapping_sub(RED_ZONE) };
    let layout = fp_layout();
    let mut fp_addr = 0;
    // As Linux's fpu__alloc_mathframe: the XSAVE area and its trailing
    // magic word, 64-byte aligned.
    let fp_len = if layout.xsave { layout.size + 4 } else { 512 };
    let mut fp = req.fp;
    if let Some(fp) = fp.as_deref_mut() {
        sp = sp.wrapping_sub(fp_len as u64) & !63;
        fp_addr = sp;
        // As Linux's save_xstate_epilog; x87 and SSE are marked present
        // so that a handler that edits only the legacy area is heard on
        // sigreturn.
        if layout.xsave {
            fp.mark_sigframe(layout);
        }
    }
    let frame = (sp.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let mut sc = [0u64; SIGCONTEXT_SIZE / 8];
    let gp = [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp,
        r.rip, r.eflags,
    ];
    sc[..18].copy_from_slice(&gp);
    // cs, gs, fs, ss as four u16s.
    sc[18] = (r.cs & 0xffff) | ((r.ss & 0xffff) << 48);
    sc[19] = req.trap.code;
    sc[20] = req.trap.number;
    if req.sig == SIGSEGV {
        // cr2: the faulting address.
        sc[22] = u64::from_le_bytes(req.info.0[16..24].try_into().unwrap_or([0; 8]));
    }
    sc[23] = fp_addr;
    let (ss_sp, ss_flags, ss_size) = req.altstack;
    let mut uc = Vec::with_capacity(UCONTEXT_SIZE as usize);
    let uc_flags = if layout.xsave { UC_FLAGS | UC_FP_XSTATE } else { UC_FLAGS };
    uc.extend_from_slice(&uc_flags.to_le_bytes());
    uc.extend_from_slice(&0u64.to_le_bytes());
    uc.extend_from_slice(&ss_sp.to_le_bytes());
    uc.extend_from_slice(&u64::from(ss_flags).to_le_bytes());
    uc.extend_from_slice(&ss_size.to_le_bytes());
    for w in sc {
        uc.extend_from_slice(&w.to_le_bytes());
    }
    uc.extend_from_slice(&req.old_mask.to_le_bytes());
    debug_assert_eq!(uc.len() as u64, UCONTEXT_SIZE);
    let restorer = if req.act.flags & SA_RESTORER != 0 { req.act.restorer } else { 0 };
    let mut bytes = Vec::with_capacity(FRAME_SIZE as usize);
    bytes.extend_from_slice(&restorer.to_le_bytes());
    bytes.extend_from_slice(&uc);
    bytes.extend_from_slice(&req.info.0);
    mm.copy_out(frame, &bytes)?;
    if let Some(fp) = fp {
        mm.copy_out(fp_addr, &fp.bytes[..layout.size.min(fp_len)])?;
        if layout.xsave {
            mm.copy_out(fp_addr + layout.size as u64, &FP_XSTATE_MAGIC2.to_le_bytes())?;
        }
    }
    let mut regs = *r;
    regs.rdi = u64::from(req.sig);
    regs.rsi = frame + 8 + UCONTEXT_SIZE;
    regs.rdx = frame + 8;
    regs.rax = 0;
    regs.rsp = frame;
    regs.rip = req.act.handler;
    regs.eflags &= !(0x100 | 0x400 | 0x10000);
    regs.orig_rax = u64::MAX;
    Ok(regs)
}

/// Reads back the frame [`setup_frame`] wrote, for rt_sigreturn (the
/// handler's `ret` popped the return address, so the frame is 8 bytes
/// below the stack pointer). `Err` if it cannot be read.
pub fn read_frame(mm: &MemoryManager, regs: &Regs) -> FrameResult<Restored> {
    let frame = regs.rsp.wrapping_sub(8);
    let mut uc = [0u8; UCONTEXT_SIZE as usize];
    mm.copy_in(frame + 8, &mut uc)?;
    let word = |i: usize| -> u64 {
        let at = (MCONTEXT_OFF as usize) + i * 8;
        u64::from_le_bytes(uc[at..at + 8].try_into().unwrap_or([0; 8]))
    };
    let mut out = *regs;
    let r = &mut out;
    [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx] = [
        word(0),
        word(1),
        word(2),
        word(3),
        word(4),
        word(5),
        word(6),
        word(7),
        word(8),
        word(9),
        word(10),
        word(11),
        word(12),
        word(13),
        word(14),
    ];
    r.rsp = word(15);
    r.rip = word(16);
    r.eflags = (r.eflags & !FIX_EFLAGS) | (word(17) & FIX_EFLAGS);
    r.orig_rax = u64::MAX;
    let fp_addr = word(23);
    let mask = u64::from_le_bytes(uc[SIGMASK_OFF as usize..SIGMASK_OFF as usize + 8].try_into().unwrap_or([0; 8]));
    // As Linux's fpu__restore_sig: no FPU state resets the FPU; a frame
    // the CPU would refuse is SIGSEGV, after the registers and mask were
    // restored.
    let fp = if fp_addr == 0 {
        FpRestore::Reset
    } else {
        let mut fp = Box::<FpState>::default();
        match read_fp_frame(mm, fp_addr, fp_layout(), &mut fp) {
            Ok(()) => FpRestore::Load(fp),
            Err(_) => FpRestore::Fault,
        }
    };
    Ok(Restored { regs: out, mask, fp })
}

/// Points the registers back at an interrupted syscall's instruction, to
/// run it again: the same syscall, or `restart_syscall` (which resumes the
/// task's restart block).
pub fn rewind_syscall(regs: &mut Regs, restart_block: bool) {
    regs.rax = if restart_block { abi::nr::RESTART_SYSCALL } else { regs.orig_rax };
    regs.rip = regs.rip.wrapping_sub(2);
}

/// The registers a clone's child starts with: the parent's, returning 0,
/// on `stack` if one was given, with `tls` as its TLS base if one was.
pub fn clone_regs(parent: &Regs, stack: u64, tls: Option<u64>) -> Regs {
    let mut regs = *parent;
    regs.rax = 0;
    if stack != 0 {
        regs.rsp = stack;
    }
    if let Some(tls) = tls {
        regs.fs_base = tls;
    }
    regs
}

/// Legacy clone's argument order: (parent_tid, child_tid, tls) are its
/// arguments 2, 3 and 4 on x86_64.
pub const CLONE_TID_TLS_ARGS: (usize, usize, usize) = (2, 3, 4);

/// x86's trap flag: a debug trap after each instruction, which
/// PTRACE_SINGLESTEP sets for the tracer.
const EFLAGS_TF: u64 = 0x100;

/// Whether a tracer may single-step a tracee (the trap flag).
pub const CAN_SINGLE_STEP: bool = true;

/// Whether the trap flag is set.
pub fn trap_flag(regs: &Regs) -> bool {
    regs.eflags & EFLAGS_TF != 0
}

/// Sets or clears the trap flag.
pub fn set_trap_flag(regs: &mut Regs, on: bool) {
    if on {
        regs.eflags |= EFLAGS_TF;
    } else {
        regs.eflags &= !EFLAGS_TF;
    }
}

/// The registers a tracer sees at a syscall-enter-stop: rax = -ENOSYS,
/// as x86_64's entry code leaves it (the number stays in orig_rax).
pub fn enter_syscall_stop(regs: &mut Regs) {
    regs.set_return(Errno::ENOSYS.as_return());
}

/// A syscall a seccomp filter trapped is left as it was at entry, as
/// Linux's `syscall_rollback`: rax holds the syscall's number again.
pub fn rollback_syscall(regs: &mut Regs) {
    regs.set_return(regs.syscall_nr());
}

/// AT_HWCAP and AT_HWCAP2: CPUID leaf 1's EDX, as Linux passes it on x86_64.
pub fn hwcaps() -> (u64, u64) {
    let r = std::arch::x86_64::__cpuid(1);
    (u64::from(r.edx), 0)
}

/// The most stack a signal frame takes, as Linux's `init_sigframe_size`
/// computes it (`rt_sigframe`, its alignment padding, the XSAVE area with
/// magic2 and its 64-byte alignment, rounded to 16), but for the XSAVE area
/// Husk's frames hold, which lacks the components apps must ask for (AMX
/// tile data: Husk does not grant them). Never below the old constant 2048.
pub fn min_sigstack_size() -> u64 {
    let layout = fp_layout();
    let fpstate = if layout.xsave { layout.size + 4 } else { layout.size };
    let frame = (440usize + 15 + fpstate + 63).next_multiple_of(16);
    frame.max(2048) as u64
}

/// The cycle counter the vDSO's clocks run on: the TSC.
pub fn read_cycles() -> u64 {
    crate::sys::rdtsc()
}

/// Whether the TSC runs at one rate in every power state and on every
/// CPU (CPUID 0x80000007, EDX bit 8), which Linux also asks of it.
pub fn cycles_usable() -> bool {
    let max = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    max >= 0x8000_0007 && std::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Reads the FPU state of a signal frame at `addr` into `fp` as Linux's
/// sigreturn would load it, or `Err` where Linux's XRSTOR or FXRSTOR
/// would fault (the caller sends SIGSEGV).
///
/// With a valid marker (magic1, a plausible `xstate_size`, magic2 after the
/// area) the whole XSAVE area is taken: components outside the frame's
/// `xfeatures` or absent from `xstate_bv` come back in their initial state,
/// and a `xstate_bv` bit the CPU does not enable, a nonzero `xcomp_bv` or
/// reserved MXCSR bits are faults. Without the marker only the legacy
/// (FXSAVE) area is taken and every other component is reset.
fn read_fp_frame(mm: &MemoryManager, addr: u64, layout: &FpLayout, fp: &mut FpState) -> Result<(), Errno> {
    mm.copy_in(addr, &mut fp.bytes[..512])?;
    let b = &fp.bytes;
    let xstate_size = le32(b, FX_SW_BYTES + 16) as usize;
    let full = layout.xsave
        && le32(b, FX_SW_BYTES) == FP_XSTATE_MAGIC1
        && (XSAVE_MIN..=layout.size).contains(&xstate_size)
        && xstate_size <= le32(b, FX_SW_BYTES + 4) as usize
        && {
            let mut magic2 = [0u8; 4];
            mm.copy_in(addr.wrapping_add(xstate_size as u64), &mut magic2)?;
            u32::from_le_bytes(magic2) == FP_XSTATE_MAGIC2
        };
    // XRSTOR's requested-feature bitmap: the frame's xfeatures, within XCR0.
    let rfbm = if full { le64(b, FX_SW_BYTES + 8) & layout.xcr0 } else { XFEATURE_FPSSE };
    fp.bytes[FX_SW_BYTES..512].fill(0);
    if !full {
        // FXRSTOR needs 16-byte alignment and a valid MXCSR.
        if !addr.is_multiple_of(16) || fp.mxcsr() & !layout.mxcsr_mask != 0 {
            return Err(Errno::EFAULT);
        }
        if layout.xsave {
            fp.bytes[XSAVE_HEADER..layout.size].fill(0);
            fp.set_xstate_bv(XFEATURE_FPSSE);
        }
        return Ok(());
    }
    // XRSTOR reads the header, then only the components it loads.
    mm.copy_in(addr + XSAVE_HEADER as u64, &mut fp.bytes[XSAVE_HEADER..XSAVE_MIN])?;
    let bv = fp.xstate_bv();
    let xcomp_bv = le64(&fp.bytes, XSAVE_HEADER + 8);
    let reserved = le64(&fp.bytes, XSAVE_HEADER + 16);
    if !addr.is_multiple_of(64) || bv & !layout.xcr0 != 0 || xcomp_bv != 0 || reserved != 0 {
        return Err(Errno::EFAULT);
    }
    if rfbm & XFEATURE_MXCSR_USERS != 0 && fp.mxcsr() & !layout.mxcsr_mask != 0 {
        return Err(Errno::EFAULT);
    }
    let load = bv & rfbm & layout.features;
    if load & !XFEATURE_FPSSE != 0 {
        mm.copy_in(addr + XSAVE_MIN as u64, &mut fp.bytes[XSAVE_MIN..layout.size])?;
    }
    fp.bytes[XSAVE_HEADER + 8..XSAVE_MIN].fill(0);
    fp.set_xstate_bv(load);
    Ok(())
}
