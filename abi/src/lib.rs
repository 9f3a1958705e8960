//! The Linux ABI as the sandboxed app sees it: syscall numbers and names,
//! `Errno`, `#[repr(C)]` structs and flag constants.
//!
//! This crate is pure data and has no unsafe code. Everything that depends on
//! the architecture sits under [`arch`]; the rest is common to every Linux
//! architecture. Structs derive `zerocopy` traits so the Sentry can copy them
//! to and from app memory without `unsafe`.
#![forbid(unsafe_code)]

/// Declares a `#[repr(C)]` ABI struct with the zerocopy derives, and asserts
/// its size against Linux's.
macro_rules! abi_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? } size $size:expr;) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        #[allow(missing_docs)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        const _: () = assert!(core::mem::size_of::<$name>() == $size);
    };
}

pub mod arch;
pub mod elf;
mod errno;
pub mod flags;
pub mod types;

pub use arch::current::*;
pub use errno::Errno;

/// The page size of every supported architecture (4 KiB).
pub const PAGE_SIZE: u64 = 4096;

/// Rounds `v` down to a page boundary.
pub const fn page_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary, or `None` on overflow.
pub const fn page_up(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(x & !(PAGE_SIZE - 1)),
        None => None,
    }
}
