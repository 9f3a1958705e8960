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
