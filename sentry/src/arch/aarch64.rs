//! aarch64: the `rt_sigframe` with its records (`fpsimd_context`, then the
//! end marker) and the frame record above it, the restorer from the vDSO,
//! `svc`'s restart (pc - 4, x0 from `orig_x0`), clone's argument order
//! (`tls` before `child_tid`), and the generic timer's virtual count.

use abi::arch::current::{
    hwcap, sigframe, Aarch64Ctx, EsrContext, FpsimdContext, Sigcontext, ESR_MAGIC, FPSIMD_MAGIC, MINSIGSTKSZ,
    UC_SIGMASK,
};
use abi::flags::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
use abi::Errno;
use platform::{Access, FpState, Regs, Syndrome, PSTATE_USER};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::{FpRestore, FrameRequest, FrameResult, Restored, Trap};
use crate::kernel::signal::{SA_RESTORER, SA_SIGINFO};
use crate::mm::{MemoryManager, SysResult};

/// The frame pointer and link registers.
const FP: usize = 29;
const LR: usize = 30;
/// PSTATE's mode field (zero: EL0t) and the D, A, I and F masks, which an
/// EL0 thread's registers must have clear, from a signal frame or a
/// tracer (Linux's `valid_native_regs`).
pub const PSTATE_MUST_BE_CLEAR: u64 = 0xf | 0x3c0;
/// PSTATE.BTYPE, cleared for the handler (Linux's `setup_return`).
const PSTATE_BTYPE: u64 = 3 << 10;
/// Offset of `uc_stack` in the frame.
const UC_STACK: usize = sigframe::UC + 16;

/// Whether a frame needs the vDSO's `__kernel_rt_sigreturn` when the action
/// names no restorer: on arm64 libc sets none, and returns through the
/// link register the kernel points there.
pub const RESTORER_FROM_VDSO: bool = true;

/// Offset of `__kernel_rt_sigreturn` in the vDSO image, found once.
fn sigtramp_offset() -> Option<u64> {
    static OFFSET: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| crate::kernel::vdso::symbol("__kernel_rt_sigreturn"))
}

/// The ESR Linux keeps for a fault the app took: the host's, where the
/// platform saw it; else, for a memory fault, a data or instruction abort
/// from EL0 as the access says (the write bit; a level-3 translation fault
/// for SEGV_MAPERR, a permission fault for SEGV_ACCERR), and nothing for
/// the rest (a record of no use is better left out than made up).
pub fn fault_trap(signo: u32, code: i32, access: Option<Access>, host: Option<Syndrome>) -> Trap {
    const EC_IABT_LOW: u64 = 0x20;
    const EC_DABT_LOW: u64 = 0x24;
    const IL: u64 = 1 << 25;
    const WNR: u64 = 1 << 6;
    const FSC_TRANSLATION_L3: u64 = 0x07;
    const FSC_PERMISSION_L3: u64 = 0x0f;
    const SEGV_ACCERR: i32 = 2;
    if let Some(s) = host {
        return Trap { number: 0, code: s.code };
    }
    if !matches!(signo, SIGSEGV | SIGBUS) {
        return Trap::default();
    }
    let fsc = if code == SEGV_ACCERR { FSC_PERMISSION_L3 } else { FSC_TRANSLATION_L3 };
    let esr = match access {
        Some(Access::Exec) => (EC_IABT_LOW << 26) | IL | fsc,
        Some(Access::Write) => (EC_DABT_LOW << 26) | IL | WNR | fsc,
        Some(Access::Read) | None => (EC_DABT_LOW << 26) | IL | fsc,
    };
    Trap { number: 0, code: esr }
}

/// Writes an `rt_sigframe` for `req` and returns the registers that run
/// the handler, as Linux's `setup_rt_frame`.
pub fn setup_frame(mm: &mut MemoryManager, req: FrameRequest<'_>) -> SysResult<Regs> {
    let r = req.regs;
    let top = if req.on_altstack { req.altstack_top } else { r.sp };
    let record = top.wrapping_sub(sigframe::FRAME_RECORD as u64) & !15;
    let frame = (record & !15).wrapping_sub(sigframe::SIZE.next_multiple_of(16) as u64);
    let mut bytes = vec![0u8; sigframe::SIZE];
    bytes[sigframe::INFO..sigframe::INFO + 128].copy_from_slice(&req.info.0);
    let (ss_sp, ss_flags, ss_size) = req.altstack;
    put(&mut bytes, UC_STACK, ss_sp);
    bytes[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&ss_flags.to_le_bytes());
    put(&mut bytes, UC_STACK + 16, ss_size);
    put(&mut bytes, sigframe::UC + UC_SIGMASK, req.old_mask);
    let fault = req.info.code() > 0 && matches!(req.sig, SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP);
    let mut sc = Sigcontext {
        fault_address: if fault { u64::from_le_bytes(req.info.0[16..24].try_into().unwrap_or([0; 8])) } else { 0 },
        regs: r.regs,
        sp: r.sp,
        pc: r.pc,
        pstate: r.pstate,
        ..Sigcontext::default()
    };
    let mut fpsimd = FpsimdContext::new_zeroed();
    fpsimd.head.magic = FPSIMD_MAGIC;
    fpsimd.head.size = size_of::<FpsimdContext>() as u32;
    let initial;
    let fp: &FpState = match req.fp {
        Some(fp) => fp,
        None => {
            initial = FpState::initial();
            &initial
        }
    };
    fpsimd.fpsr = fp.fpsr();
    fpsimd.fpcr = fp.fpcr();
    fpsimd.vregs.as_mut_bytes().copy_from_slice(&fp.bytes[..512]);
    // The records: the FP/SIMD state, the last fault's ESR (while there
    // is one, as Linux's), then the end marker (a zero header, already
    // there).
    sc.reserved[..size_of::<FpsimdContext>()].copy_from_slice(fpsimd.as_bytes());
    if req.trap.code != 0 {
        let esr = EsrContext {
            head: Aarch64Ctx { magic: ESR_MAGIC, size: size_of::<EsrContext>() as u32 },
            esr: req.trap.code,
        };
        let at = size_of::<FpsimdContext>();
        sc.reserved[at..at + size_of::<EsrContext>()].copy_from_slice(esr.as_bytes());
    }
    let mcontext = sigframe::MCONTEXT;
    bytes[mcontext..mcontext + size_of::<Sigcontext>()].copy_from_slice(sc.as_bytes());
    mm.copy_out(frame, &bytes)?;
    let mut rec = [0u8; 16];
    rec[..8].copy_from_slice(&r.regs[FP].to_le_bytes());
    rec[8..].copy_from_slice(&r.regs[LR].to_le_bytes());
    mm.copy_out(record, &rec)?;
    let restorer = if req.act.flags & SA_RESTORER != 0 {
        req.act.restorer
    } else {
        req.vdso_base.zip(sigtramp_offset()).map_or(0, |(base, off)| base + off)
    };
    let mut regs = *r;
    regs.regs[0] = u64::from(req.sig);
    if req.act.flags & SA_SIGINFO != 0 {
        regs.regs[1] = frame + sigframe::INFO as u64;
        regs.regs[2] = frame + sigframe::UC as u64;
    }
    regs.sp = frame;
    regs.regs[FP] = record;
    regs.regs[LR] = restorer;
    regs.pc = req.act.handler;
    regs.pstate &= !PSTATE_BTYPE;
    regs.syscallno = u64::MAX;
    Ok(regs)
}

fn put(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Reads back the frame at the stack pointer, for rt_sigreturn, as Linux's
/// `restore_sigframe`: `Err` if it cannot be read, is misaligned, holds
/// registers an EL0 thread cannot have, or lacks its `fpsimd_context`
/// (each a SIGSEGV).
pub fn read_frame(mm: &MemoryManager, regs: &Regs) -> FrameResult<Restored> {
    let frame = regs.sp;
    if !frame.is_multiple_of(16) {
        return Err(Errno::EFAULT);
    }
    let mut bytes = vec![0u8; sigframe::SIZE];
    mm.copy_in(frame, &mut bytes)?;
    let mask = u64::from_le_bytes(bytes[sigframe::UC + UC_SIGMASK..][..8].try_into().unwrap_or([0; 8]));
    let sc = Sigcontext::read_from_bytes(&bytes[sigframe::MCONTEXT..sigframe::MCONTEXT + size_of::<Sigcontext>()])
        .map_err(|_| Errno::EFAULT)?;
    if sc.pstate & PSTATE_MUST_BE_CLEAR != 0 {
        return Err(Errno::EINVAL);
    }
    let fp = fpsimd_record(&sc.reserved).ok_or(Errno::EINVAL)?;
    let mut out = *regs;
    out.regs = sc.regs;
    out.sp = sc.sp;
    out.pc = sc.pc;
    out.pstate = sc.pstate & PSTATE_USER;
    out.syscallno = u64::MAX;
    Ok(Restored { regs: out, mask, fp: FpRestore::Load(fp) })
}

/// The FP/SIMD state of a frame's records: the `fpsimd_context`, found by
/// walking the headers to the end marker. `None` if it is missing, a
/// header is malformed, or a record is of a kind Husk never writes.
fn fpsimd_record(reserved: &[u8]) -> Option<Box<FpState>> {
    let mut at = 0;
    let mut found = None;
    loop {
        let head = Aarch64Ctx::read_from_bytes(reserved.get(at..at + 8)?).ok()?;
        let size = head.size as usize;
        match head.magic {
            0 if size == 0 => return found,
            FPSIMD_MAGIC if size == size_of::<FpsimdContext>() && found.is_none() => {
                let ctx = FpsimdContext::read_from_bytes(reserved.get(at..at + size)?).ok()?;
                let mut fp = Box::<FpState>::default();
                fp.bytes[..512].copy_from_slice(ctx.vregs.as_bytes());
                fp.set_fpsr(ctx.fpsr);
                fp.set_fpcr(ctx.fpcr);
                found = Some(fp);
            }
            ESR_MAGIC if size == 16 => {}
            _ => return None,
        }
        if size == 0 || !size.is_multiple_of(16) {
            return None;
        }
        at += size;
    }
}

/// Points the registers back at an interrupted syscall's `svc`, to run it
/// again: the same syscall (x0 as it was), or `restart_syscall` (which
/// resumes the task's restart block).
pub fn rewind_syscall(regs: &mut Regs, restart_block: bool) {
    regs.regs[0] = regs.orig_x0;
    if restart_block {
        regs.regs[8] = abi::nr::RESTART_SYSCALL;
    }
    regs.pc = regs.pc.wrapping_sub(4);
}

/// The registers a clone's child starts with: the parent's, returning 0,
/// on `stack` if one was given, with `tls` in `tpidr_el0` if one was.
pub fn clone_regs(parent: &Regs, stack: u64, tls: Option<u64>) -> Regs {
    let mut regs = *parent;
    regs.regs[0] = 0;
    if stack != 0 {
        regs.sp = stack;
    }
    if let Some(tls) = tls {
        regs.tls = tls;
    }
    regs
}

/// Legacy clone's argument order: arm64 (CONFIG_CLONE_BACKWARDS) passes
/// (parent_tid, tls, child_tid) as arguments 2, 3 and 4.
pub const CLONE_TID_TLS_ARGS: (usize, usize, usize) = (2, 4, 3);

/// Whether a tracer may single-step a tracee: not on arm64 yet (its
/// step is MDSCR_EL1.SS with PSTATE.SS, which neither platform arms for
/// the stub), so PTRACE_SINGLESTEP is EIO.
pub const CAN_SINGLE_STEP: bool = false;

/// Whether a single-step is armed: never (see [`CAN_SINGLE_STEP`]).
pub fn trap_flag(_regs: &Regs) -> bool {
    false
}

/// Arms or disarms a single-step: nothing to do (see [`CAN_SINGLE_STEP`]).
pub fn set_trap_flag(_regs: &mut Regs, _on: bool) {}

/// The registers a tracer sees at a syscall-enter-stop: as they are, x0
/// still the first argument (arm64's entry code sets x0 = -ENOSYS only for
/// syscall -1, and keeps the number in `syscallno`).
pub fn enter_syscall_stop(_regs: &mut Regs) {}

/// A syscall a seccomp filter trapped is left as it was at entry, as
/// Linux's `syscall_rollback`: x0 still holds the first argument.
pub fn rollback_syscall(_regs: &mut Regs) {}

/// AT_HWCAP and AT_HWCAP2: the host's, less what the Sentry's signal
/// frames and mappings cannot carry: SVE and SME state (no `sve_context`
/// or `za_context` in frames), MTE (no PROT_MTE) and BTI (no PROT_BTI).
pub fn hwcaps() -> (u64, u64) {
    let (cap, cap2) = crate::sys::host_hwcaps();
    // SME and the SME extensions that follow it in AT_HWCAP2.
    const SME_ANY: u64 = 0xff << 23;
    (cap & !hwcap::HWCAP_SVE, cap2 & !(hwcap::HWCAP2_SVE_ANY | SME_ANY | hwcap::HWCAP2_MTE | hwcap::HWCAP2_BTI))
}

/// The most stack a signal frame takes: the frame, its record and their
/// alignment, never below arm64's MINSIGSTKSZ.
pub fn min_sigstack_size() -> u64 {
    ((sigframe::SIZE + sigframe::FRAME_RECORD + 15).next_multiple_of(16) as u64).max(MINSIGSTKSZ)
}

/// The cycle counter the vDSO's clocks run on: the generic timer's
/// virtual count (`cntvct_el0`), as Linux's arm64 vDSO reads it.
pub fn read_cycles() -> u64 {
    crate::sys::cntvct()
}

/// The generic timer runs at one rate on every CPU by the architecture.
pub fn cycles_usable() -> bool {
    true
}
