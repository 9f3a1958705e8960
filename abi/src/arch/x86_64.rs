//! The x86_64 ABI: syscall numbers, `struct stat`, `struct semid64_ds`, the
//! `open` flags that differ by architecture, and the auxv platform string.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::IpcPerm;

#[path = "x86_64_sysno.rs"]
mod sysno;
pub use sysno::{nr, SYSCALL_COUNT, SYSCALL_NAMES};

/// `AT_PLATFORM` as x86_64 Linux reports it.
pub const PLATFORM_STRING: &str = "x86_64";
/// `uname().machine`.
pub const MACHINE: &str = "x86_64";
/// ELF `e_machine` for this architecture.
pub const ELF_MACHINE: u16 = 62;

/// `struct stat` as the x86_64 kernel lays it out (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}

const _: () = assert!(core::mem::size_of::<Stat>() == 144);

abi_struct! {
    /// `struct semid64_ds` (x86_64 layout: each time followed by a word of
    /// padding).
    pub struct SemidDs {
        pub sem_perm: IpcPerm,
        pub sem_otime: i64,
        pub unused1: u64,
        pub sem_ctime: i64,
        pub unused2: u64,
        pub sem_nsems: u64,
        pub unused3: u64,
        pub unused4: u64,
    } size 104;
}

/// The `open` flags whose values differ by architecture (x86_64 has the
/// generic ones of `asm-generic/fcntl.h`).
pub mod open_flags {
    #![allow(missing_docs)]
    pub const O_DIRECT: u32 = 0o40000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
}
