//! Architecture-specific ABI. Only x86_64 exists today; arm64 will sit beside
//! it, and `current` names the one this build targets.

pub mod x86_64;

#[cfg(target_arch = "x86_64")]
pub use x86_64 as current;
