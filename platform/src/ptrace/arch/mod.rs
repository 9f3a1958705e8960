//! The ptrace platform's parts that differ by architecture, one module each
//! with the same items: the stub's code and how a forked child enters it,
//! the register requests, how an injected syscall is set up, the FPU
//! regsets, and what a fault's access was.

#[cfg(target_arch = "aarch64")]
mod aarch64;
/// (systrap's code page needs it too.)
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::sync_icache;
#[cfg(target_arch = "aarch64")]
pub(super) use aarch64::*;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(super) use x86_64::*;
