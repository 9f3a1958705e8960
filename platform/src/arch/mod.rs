//! Per-architecture register state.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::{access_from_esr, access_from_insn, fp_layout, FpLayout, FpState, Regs, FP_STATE_CAP, PSTATE_USER};
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{PRSTATUS_LEN, TASK_SIZE};
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::TASK_SIZE;
#[cfg(target_arch = "x86_64")]
pub use x86_64::{
    fp_layout, FpLayout, FpState, Regs, FP_STATE_CAP, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FX_SW_BYTES, XFEATURE_FPSSE,
    XSAVE_HEADER, XSAVE_MIN,
};
