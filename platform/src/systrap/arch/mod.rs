//! What the systrap platform does differently on each architecture: the
//! stub's code page (its entry, its SIGSYS and fault handler and the
//! factory's loop) in that architecture's assembly, where the registers sit
//! in the signal frame and in the control page, the TLS register, how a
//! fault's access is told, the FPU state in the signal frame, and the
//! probe's code. The protocol (the control page, the turns, the queued
//! operations, the factory page) is shared: `shared.rs`, `stub.rs`,
//! `mod.rs`.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub(super) use aarch64::*;
#[cfg(target_arch = "x86_64")]
pub(super) use x86_64::*;
