//! What the Sentry does differently per architecture: the signal frame and
//! sigreturn, restarting an interrupted syscall, the registers a clone
//! starts with, the hardware bits of the auxv, and the cycle counter the
//! vDSO's clocks run on. Everything else is written once, against
//! `platform::Regs`' accessors and `abi::arch::current`.

use abi::Errno;
use platform::{FpState, Regs};

use crate::kernel::signal::{SigAction, SigInfo, SigSet};

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

/// What the hardware said of a thread's last fault, which Linux writes
/// into every later signal frame of the thread (x86_64's
/// `thread.trap_nr` and `error_code`, as the sigcontext's `trapno` and
/// `err`; arm64's `thread.fault_code`, an `esr_context` record while it
/// is not zero). Zero before the first fault; a child inherits its
/// parent's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trap {
    /// x86_64's trap number (arm64: 0).
    pub number: u64,
    /// x86_64's error code, arm64's ESR.
    pub code: u64,
}

/// What a signal handler's frame is made of.
pub struct FrameRequest<'a> {
    /// The signal.
    pub sig: u32,
    /// Its siginfo.
    pub info: &'a SigInfo,
    /// The action that runs it.
    pub act: &'a SigAction,
    /// The interrupted registers.
    pub regs: &'a Regs,
    /// The interrupted FPU state, where the platform could read it.
    pub fp: Option<&'a mut FpState>,
    /// Whether the frame goes on the alternate stack.
    pub on_altstack: bool,
    /// The alternate stack's top.
    pub altstack_top: u64,
    /// The `stack_t` to save: sp, flags, size.
    pub altstack: (u64, u32, u64),
    /// The mask sigreturn puts back.
    pub old_mask: SigSet,
    /// The thread's last fault.
    pub trap: Trap,
    /// Where the vDSO's image is mapped, for a restorer where the action
    /// names none (arm64).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub vdso_base: Option<u64>,
}

/// What rt_sigreturn takes back from a frame.
pub struct Restored {
    /// The registers to resume with.
    pub regs: Regs,
    /// The signal mask.
    pub mask: SigSet,
    /// The FPU state.
    pub fp: FpRestore,
}

/// The FPU state a sigreturn leaves.
// arm64's frames always carry the state, and a bad one fails the whole
// frame: only x86_64 resets or faults on the FPU part alone.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub enum FpRestore {
    /// As at execve: the frame had none.
    Reset,
    /// The frame's.
    Load(Box<FpState>),
    /// The frame's state would fault the CPU: SIGSEGV, after the registers
    /// and the mask are restored.
    Fault,
}

/// Where a sigreturn finds its frame's registers, or why it cannot.
pub type FrameResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    //! A frame written and read back, as a handler that returns at once
    //! leaves it, gives the interrupted thread back whole.

    use std::sync::Arc;

    use abi::flags::mm::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};

    use super::*;
    use crate::kernel::signal::{SA_ONSTACK, SA_SIGINFO};
    use crate::mm::{MemoryFile, MemoryManager, MmapRequest};

    const STACK_LEN: u64 = 64 * 4096;
    /// Where the vector registers are in an [`FpState`]: the legacy area's
    /// xmm0 (x86_64), v0 (arm64).
    #[cfg(target_arch = "x86_64")]
    const VECTORS: usize = 160;
    #[cfg(target_arch = "aarch64")]
    const VECTORS: usize = 0;

    fn stack() -> (MemoryManager, u64) {
        let mf = Arc::new(MemoryFile::new(1 << 24).unwrap());
        let mut mm = MemoryManager::new(mf, 0x10000, 0x7fff_ffff_f000);
        let req = MmapRequest {
            addr: 0,
            len: STACK_LEN,
            prot: PROT_READ | PROT_WRITE,
            flags: MAP_PRIVATE | MAP_ANONYMOUS,
            file: None,
        };
        let at = mm.mmap(req).unwrap();
        (mm, at)
    }

    /// Registers with every word distinct, interrupted in user code.
    fn interrupted(sp: u64) -> Regs {
        let mut words = Regs::default().to_words();
        for (i, w) in words.iter_mut().enumerate() {
            *w = 0x1000 + i as u64 * 8;
        }
        let mut regs = Regs::from_words(&words).unwrap();
        #[cfg(target_arch = "x86_64")]
        {
            regs.rsp = sp;
            regs.orig_rax = u64::MAX;
        }
        #[cfg(target_arch = "aarch64")]
        {
            regs.sp = sp;
            regs.pstate = 0x6000_0000;
            regs.syscallno = u64::MAX;
        }
        regs
    }

    /// What the handler's return does before rt_sigreturn runs: x86_64's
    /// `ret` pops the restorer's address; arm64 returns through x30 with
    /// the stack as the frame left it.
    fn handler_returned(regs: &mut Regs) {
        #[cfg(target_arch = "x86_64")]
        {
            regs.rsp += 8;
        }
        #[cfg(target_arch = "aarch64")]
        let _ = regs;
    }

    /// The handler's first two arguments.
    fn handler_args(regs: &Regs) -> (u64, u64) {
        #[cfg(target_arch = "x86_64")]
        return (regs.rdi, regs.rsi);
        #[cfg(target_arch = "aarch64")]
        return (regs.regs[0], regs.regs[1]);
    }

    fn round_trip(on_altstack: bool) {
        let (mut mm, base) = stack();
        let regs = interrupted(base + STACK_LEN / 2);
        let mut fp = FpState::initial();
        fp.bytes[VECTORS..VECTORS + 64].copy_from_slice(&[0x5a; 64]);
        let info = SigInfo::new(10, -6);
        let act = SigAction {
            handler: 0x40_1000,
            flags: SA_SIGINFO | if on_altstack { SA_ONSTACK } else { 0 },
            ..SigAction::default()
        };
        let req = FrameRequest {
            sig: 10,
            info: &info,
            act: &act,
            regs: &regs,
            fp: Some(&mut fp.clone()),
            on_altstack,
            altstack_top: base + STACK_LEN,
            altstack: (base + STACK_LEN / 2, 0, STACK_LEN / 2),
            old_mask: 0x1234,
            vdso_base: None,
            // A last fault: x86_64's err and trapno, arm64's ESR record,
            // which sigreturn must take as Linux's does.
            trap: Trap { number: 14, code: 0x9200_0047 },
        };
        let mut handler = setup_frame(&mut mm, req).unwrap();
        assert_eq!(handler.ip(), act.handler);
        let (signo, siginfo) = handler_args(&handler);
        assert_eq!(signo, 10, "the signal is the handler's first argument");
        if on_altstack {
            assert!(handler.sp() > base + STACK_LEN / 2, "on the alternate stack");
        } else {
            assert!(handler.sp() < regs.sp(), "below the interrupted stack pointer");
        }
        // The siginfo the handler's second argument points at.
        let mut got = [0u8; 128];
        mm.copy_in(siginfo, &mut got).unwrap();
        assert_eq!(got, info.0);
        handler_returned(&mut handler);
        let restored = read_frame(&mm, &handler).unwrap();
        assert_eq!(restored.regs.to_words(), regs.to_words());
        assert_eq!(restored.mask, 0x1234);
        let FpRestore::Load(back) = restored.fp else { panic!("the frame's FPU state is loaded") };
        assert_eq!(back.bytes[VECTORS..VECTORS + 64], fp.bytes[VECTORS..VECTORS + 64]);
    }

    #[test]
    fn a_frame_gives_back_the_interrupted_thread() {
        round_trip(false);
    }

    #[test]
    fn a_frame_on_the_alternate_stack_gives_it_back_too() {
        round_trip(true);
    }

    #[test]
    fn a_frame_that_cannot_be_read_is_an_error() {
        let (mm, base) = stack();
        let mut regs = interrupted(base - 4096);
        handler_returned(&mut regs);
        assert!(read_frame(&mm, &regs).is_err());
    }

    /// A fault's trap as Linux's frame gives it: the host's as it is;
    /// else from the access (x86_64: a page fault's error code bits;
    /// arm64: a data or instruction abort's ESR).
    #[test]
    fn a_fault_trap_is_the_hosts_or_follows_the_access() {
        use abi::flags::signal::{SIGSEGV, SIGUSR1};
        use platform::{Access, Syndrome};
        let host = Syndrome { number: 14, code: 0x9200_0047 };
        let t = fault_trap(SIGSEGV, 1, Some(Access::Read), Some(host));
        assert_eq!(t.code, host.code);
        let write = fault_trap(SIGSEGV, 1, Some(Access::Write), None);
        let read_accerr = fault_trap(SIGSEGV, 2, Some(Access::Read), None);
        let exec = fault_trap(SIGSEGV, 1, Some(Access::Exec), None);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(t, Trap { number: 14, code: 0x9200_0047 });
            assert_eq!(write, Trap { number: 14, code: 6 });
            assert_eq!(read_accerr, Trap { number: 14, code: 5 });
            assert_eq!(exec, Trap { number: 14, code: 0x14 });
            assert_eq!(fault_trap(abi::flags::signal::SIGILL, 2, None, None), Trap { number: 6, code: 0 });
        }
        #[cfg(target_arch = "aarch64")]
        {
            assert_eq!((write.code >> 26, write.code & (1 << 6), write.code & 0x3f), (0x24, 1 << 6, 0x07));
            assert_eq!((read_accerr.code >> 26, read_accerr.code & (1 << 6), read_accerr.code & 0x3f), (0x24, 0, 0x0f));
            assert_eq!(exec.code >> 26, 0x20);
        }
        assert_eq!(fault_trap(SIGUSR1, 0, None, None), Trap::default());
    }
}
