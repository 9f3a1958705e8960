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
/// seccomp_data.arch (AUDIT_ARCH_X86_64: the ELF machine, 64-bit, little-endian).
pub const AUDIT_ARCH: u32 = 0xC000_003E;

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

#[cfg(test)]
mod tests {
    //! Checks the values above against the x86_64 kernel headers (with
    //! Debian's x86_64 gcc, on any host), as `aarch64`'s tests do for arm64.

    use std::mem::{offset_of, size_of};

    use super::*;
    use crate::arch::header_check::Checks;

    const HEADERS: &str = "\
#include <asm/unistd_64.h>
#include <asm/stat.h>
#include <asm/fcntl.h>
#include <linux/elf-em.h>
#include <linux/sem.h>
";

    #[test]
    fn layouts_match_the_x86_64_headers() {
        let mut c = Checks::default();
        c.eq("EM_X86_64", ELF_MACHINE);
        c.size("struct stat", size_of::<Stat>());
        for (f, o) in [
            ("st_nlink", offset_of!(Stat, st_nlink)),
            ("st_mode", offset_of!(Stat, st_mode)),
            ("st_rdev", offset_of!(Stat, st_rdev)),
            ("st_size", offset_of!(Stat, st_size)),
            ("st_blksize", offset_of!(Stat, st_blksize)),
            ("st_blocks", offset_of!(Stat, st_blocks)),
            ("st_atime", offset_of!(Stat, st_atime)),
            ("st_mtime", offset_of!(Stat, st_mtime)),
            ("st_ctime_nsec", offset_of!(Stat, st_ctime_nsec)),
        ] {
            c.off("struct stat", f, o);
        }
        c.size("struct semid64_ds", size_of::<SemidDs>());
        c.off("struct semid64_ds", "sem_ctime", offset_of!(SemidDs, sem_ctime));
        c.off("struct semid64_ds", "sem_nsems", offset_of!(SemidDs, sem_nsems));
        c.eq("O_DIRECTORY", open_flags::O_DIRECTORY);
        c.eq("O_NOFOLLOW", open_flags::O_NOFOLLOW);
        c.eq("O_DIRECT", open_flags::O_DIRECT);
        c.eq("O_LARGEFILE", open_flags::O_LARGEFILE);
        c.eq("O_TMPFILE", 0o20000000 | open_flags::O_DIRECTORY);
        c.syscalls(&SYSCALL_NAMES);
        c.compile("HUSK_X86_64_CC", "x86_64-linux-gnu-gcc", HEADERS);
    }
}
