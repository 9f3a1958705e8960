//! Architecture-specific ABI: one module per architecture, each built on
//! every host (they are plain data, so tests can check a layout anywhere),
//! and `current`, the one this build targets.

pub mod aarch64;
pub mod x86_64;

#[cfg(test)]
mod header_check;

#[cfg(target_arch = "aarch64")]
pub use aarch64 as current;
#[cfg(target_arch = "x86_64")]
pub use x86_64 as current;
