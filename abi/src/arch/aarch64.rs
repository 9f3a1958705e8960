//! The aarch64 (arm64) ABI: the generic syscall table, the structs whose
//! layout differs from x86_64's (`struct stat`, `struct semid64_ds`,
//! `user_pt_regs`, the signal frame), the `open` flags arm64 moves, the
//! `AT_HWCAP`/`AT_HWCAP2` bits and the ELF machine.
//!
//! Every layout here is checked against the arm64 kernel headers by this
//! module's tests (with Debian's `gcc-aarch64-linux-gnu`), on any host: the
//! module is plain data and builds everywhere.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::IpcPerm;

#[path = "aarch64_sysno.rs"]
mod sysno;
pub use sysno::{nr, SYSCALL_COUNT, SYSCALL_NAMES};

/// `AT_PLATFORM` as arm64 Linux reports it.
pub const PLATFORM_STRING: &str = "aarch64";
/// `uname().machine`.
pub const MACHINE: &str = "aarch64";
/// ELF `e_machine` for this architecture (`EM_AARCH64`).
pub const ELF_MACHINE: u16 = 183;
/// seccomp_data.arch (AUDIT_ARCH_AARCH64: the ELF machine, 64-bit, little-endian).
pub const AUDIT_ARCH: u32 = 0xC000_00B7;

abi_struct! {
    /// `struct stat` as arm64 lays it out (`asm-generic/stat.h`, 128 bytes):
    /// a 32-bit `st_nlink` after `st_mode`, and a 32-bit `st_blksize`.
    pub struct Stat {
        pub st_dev: u64,
        pub st_ino: u64,
        pub st_mode: u32,
        pub st_nlink: u32,
        pub st_uid: u32,
        pub st_gid: u32,
        pub st_rdev: u64,
        pub pad1: u64,
        pub st_size: i64,
        pub st_blksize: i32,
        pub pad2: i32,
        pub st_blocks: i64,
        pub st_atime: i64,
        pub st_atime_nsec: i64,
        pub st_mtime: i64,
        pub st_mtime_nsec: i64,
        pub st_ctime: i64,
        pub st_ctime_nsec: i64,
        pub unused4: u32,
        pub unused5: u32,
    } size 128;
}

abi_struct! {
    /// `struct semid64_ds` (the generic 64-bit layout: no padding words
    /// after the times, unlike x86_64's).
    pub struct SemidDs {
        pub sem_perm: IpcPerm,
        pub sem_otime: i64,
        pub sem_ctime: i64,
        pub sem_nsems: u64,
        pub unused3: u64,
        pub unused4: u64,
    } size 88;
}

/// The `open` flags arm64 gives other values than the generic ones
/// (`arch/arm64/include/uapi/asm/fcntl.h`).
pub mod open_flags {
    #![allow(missing_docs)]
    pub const O_DIRECTORY: u32 = 0o40000;
    pub const O_NOFOLLOW: u32 = 0o100000;
    pub const O_DIRECT: u32 = 0o200000;
    pub const O_LARGEFILE: u32 = 0o400000;
}

/// The smallest alternate signal stack `sigaltstack` accepts, and the usual
/// size (arm64's frames are bigger than x86_64's: 4 KiB of records).
pub const MINSIGSTKSZ: u64 = 5120;
/// `SIGSTKSZ`.
pub const SIGSTKSZ: u64 = 16384;

abi_struct! {
    /// `struct user_pt_regs`: the general registers as ptrace's NT_PRSTATUS
    /// regset and a core dump hold them.
    pub struct UserPtRegs {
        pub regs: [u64; 31],
        pub sp: u64,
        pub pc: u64,
        pub pstate: u64,
    } size 272;
}

abi_struct! {
    /// `struct user_fpsimd_state`: the FP/SIMD registers as ptrace's
    /// NT_FPREGSET regset holds them (`vregs` as pairs of little-endian
    /// words; the kernel's are `__uint128_t`, hence the 16-byte alignment).
    pub struct UserFpsimdState {
        pub vregs: [[u64; 2]; 32],
        pub fpsr: u32,
        pub fpcr: u32,
        pub reserved: [u32; 2],
    } size 528;
}

/// The bytes of `struct sigcontext`'s `__reserved`, where the kernel puts
/// its records (`fpsimd_context`, `esr_context`, ...), each 16-byte aligned.
pub const SIGCONTEXT_RESERVED: usize = 4096;

/// `struct sigcontext`: the interrupted registers, then the records.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Sigcontext {
    /// The faulting address of a fault signal (`si_addr`), else 0.
    pub fault_address: u64,
    /// x0..x30.
    pub regs: [u64; 31],
    /// The stack pointer.
    pub sp: u64,
    /// The program counter.
    pub pc: u64,
    /// PSTATE (the NZCV flags and the like).
    pub pstate: u64,
    /// Pads `reserved` to its 16-byte alignment.
    pub pad: u64,
    /// The records, ended by a null header.
    pub reserved: [u8; SIGCONTEXT_RESERVED],
}
const _: () = assert!(core::mem::size_of::<Sigcontext>() == 4384);

impl Default for Sigcontext {
    fn default() -> Self {
        Sigcontext {
            fault_address: 0,
            regs: [0; 31],
            sp: 0,
            pc: 0,
            pstate: 0,
            pad: 0,
            reserved: [0; SIGCONTEXT_RESERVED],
        }
    }
}

abi_struct! {
    /// `struct _aarch64_ctx`: the header of every record in
    /// [`Sigcontext::reserved`]; a zero magic and size end the list.
    pub struct Aarch64Ctx { pub magic: u32, pub size: u32 } size 8;
}

/// `fpsimd_context`'s magic.
pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
/// `esr_context`'s magic.
pub const ESR_MAGIC: u32 = 0x4553_5201;
/// `extra_context`'s magic.
pub const EXTRA_MAGIC: u32 = 0x4558_5401;
/// `sve_context`'s magic.
pub const SVE_MAGIC: u32 = 0x5356_4501;

abi_struct! {
    /// `struct fpsimd_context`: the FP/SIMD state in a signal frame, always
    /// its first record.
    pub struct FpsimdContext {
        pub head: Aarch64Ctx,
        pub fpsr: u32,
        pub fpcr: u32,
        pub vregs: [[u64; 2]; 32],
    } size 528;
}

abi_struct! {
    /// `struct esr_context`: the fault's Exception Syndrome Register, in the
    /// frame of a fault signal.
    pub struct EsrContext { pub head: Aarch64Ctx, pub esr: u64 } size 16;
}

abi_struct! {
    /// `struct extra_context`: where the records continue when they do not
    /// fit in [`SIGCONTEXT_RESERVED`] bytes (SVE state of long vectors).
    pub struct ExtraContext {
        pub head: Aarch64Ctx,
        pub datap: u64,
        pub size: u32,
        pub reserved: [u32; 3],
    } size 32;
}

abi_struct! {
    /// `struct sve_context`: the header of the SVE record; the registers
    /// follow it, sized by the vector length `vl`.
    pub struct SveContext {
        pub head: Aarch64Ctx,
        pub vl: u16,
        pub flags: u16,
        pub reserved: [u16; 2],
    } size 16;
}

/// Offset of `uc_mcontext` in arm64's `struct ucontext`: after `uc_flags`,
/// `uc_link`, `uc_stack`, the 8-byte `uc_sigmask` padded to glibc's 128
/// bytes, and the 16-byte alignment of `struct sigcontext`.
pub const UC_MCONTEXT: usize = 176;
/// Offset of `uc_sigmask` in `struct ucontext`.
pub const UC_SIGMASK: usize = 40;
/// Size of arm64's `struct ucontext`.
pub const UCONTEXT_SIZE: usize = UC_MCONTEXT + core::mem::size_of::<Sigcontext>();

/// `struct rt_sigframe` (`arch/arm64/kernel/signal.c`): the siginfo, then
/// the ucontext; its size is the kernel's minimum frame. The kernel puts a
/// `struct frame_record` ({fp, lr}, 16 bytes) right above the frame, 16-byte
/// aligned, and sets x29 to it, x30 to the restorer, x0 to the signal, x1 to
/// the siginfo, x2 to the ucontext, sp to the frame.
pub mod sigframe {
    use super::{Sigcontext, UCONTEXT_SIZE, UC_MCONTEXT};
    /// Offset of `info` (a 128-byte siginfo).
    pub const INFO: usize = 0;
    /// Offset of `uc`.
    pub const UC: usize = 128;
    /// Offset of the registers (`uc.uc_mcontext`).
    pub const MCONTEXT: usize = UC + UC_MCONTEXT;
    /// Offset of the first record (`uc.uc_mcontext.__reserved`).
    pub const RESERVED: usize = MCONTEXT + core::mem::offset_of!(Sigcontext, reserved);
    /// `sizeof(struct rt_sigframe)`.
    pub const SIZE: usize = UC + UCONTEXT_SIZE;
    /// `sizeof(struct frame_record)`.
    pub const FRAME_RECORD: usize = 16;
}

/// `AT_HWCAP` bits (`asm/hwcap.h`) the Sentry may need to name: what it
/// passes on from the host must match what its signal frames and the
/// platform can carry (no SVE or SME state in frames yet).
pub mod hwcap {
    #![allow(missing_docs)]
    pub const HWCAP_FP: u64 = 1 << 0;
    pub const HWCAP_ASIMD: u64 = 1 << 1;
    pub const HWCAP_EVTSTRM: u64 = 1 << 2;
    pub const HWCAP_AES: u64 = 1 << 3;
    pub const HWCAP_PMULL: u64 = 1 << 4;
    pub const HWCAP_SHA1: u64 = 1 << 5;
    pub const HWCAP_SHA2: u64 = 1 << 6;
    pub const HWCAP_CRC32: u64 = 1 << 7;
    pub const HWCAP_ATOMICS: u64 = 1 << 8;
    pub const HWCAP_FPHP: u64 = 1 << 9;
    pub const HWCAP_ASIMDHP: u64 = 1 << 10;
    pub const HWCAP_CPUID: u64 = 1 << 11;
    pub const HWCAP_ASIMDRDM: u64 = 1 << 12;
    pub const HWCAP_JSCVT: u64 = 1 << 13;
    pub const HWCAP_FCMA: u64 = 1 << 14;
    pub const HWCAP_LRCPC: u64 = 1 << 15;
    pub const HWCAP_DCPOP: u64 = 1 << 16;
    pub const HWCAP_SHA3: u64 = 1 << 17;
    pub const HWCAP_SM3: u64 = 1 << 18;
    pub const HWCAP_SM4: u64 = 1 << 19;
    pub const HWCAP_ASIMDDP: u64 = 1 << 20;
    pub const HWCAP_SHA512: u64 = 1 << 21;
    pub const HWCAP_SVE: u64 = 1 << 22;
    pub const HWCAP_ASIMDFHM: u64 = 1 << 23;
    pub const HWCAP_DIT: u64 = 1 << 24;
    pub const HWCAP_USCAT: u64 = 1 << 25;
    pub const HWCAP_ILRCPC: u64 = 1 << 26;
    pub const HWCAP_FLAGM: u64 = 1 << 27;
    pub const HWCAP_SSBS: u64 = 1 << 28;
    pub const HWCAP_SB: u64 = 1 << 29;
    pub const HWCAP_PACA: u64 = 1 << 30;
    pub const HWCAP_PACG: u64 = 1 << 31;

    // AT_HWCAP2.
    pub const HWCAP2_DCPODP: u64 = 1 << 0;
    pub const HWCAP2_SVE2: u64 = 1 << 1;
    pub const HWCAP2_SVEAES: u64 = 1 << 2;
    pub const HWCAP2_SVEPMULL: u64 = 1 << 3;
    pub const HWCAP2_SVEBITPERM: u64 = 1 << 4;
    pub const HWCAP2_SVESHA3: u64 = 1 << 5;
    pub const HWCAP2_SVESM4: u64 = 1 << 6;
    pub const HWCAP2_FLAGM2: u64 = 1 << 7;
    pub const HWCAP2_FRINT: u64 = 1 << 8;
    pub const HWCAP2_SVEI8MM: u64 = 1 << 9;
    pub const HWCAP2_SVEF32MM: u64 = 1 << 10;
    pub const HWCAP2_SVEF64MM: u64 = 1 << 11;
    pub const HWCAP2_SVEBF16: u64 = 1 << 12;
    pub const HWCAP2_I8MM: u64 = 1 << 13;
    pub const HWCAP2_BF16: u64 = 1 << 14;
    pub const HWCAP2_DGH: u64 = 1 << 15;
    pub const HWCAP2_RNG: u64 = 1 << 16;
    pub const HWCAP2_BTI: u64 = 1 << 17;
    pub const HWCAP2_MTE: u64 = 1 << 18;
    pub const HWCAP2_SME: u64 = 1 << 23;

    /// The SVE bits of `AT_HWCAP2` (SVE2 and its extensions): an app told
    /// of them uses SVE registers, whose state the Sentry's frames must carry.
    pub const HWCAP2_SVE_ANY: u64 = HWCAP2_SVE2
        | HWCAP2_SVEAES
        | HWCAP2_SVEPMULL
        | HWCAP2_SVEBITPERM
        | HWCAP2_SVESHA3
        | HWCAP2_SVESM4
        | HWCAP2_SVEI8MM
        | HWCAP2_SVEF32MM
        | HWCAP2_SVEF64MM
        | HWCAP2_SVEBF16;
}

#[cfg(test)]
mod tests {
    //! Checks every layout and value above against the arm64 kernel headers,
    //! by compiling static assertions with the cross compiler (which does not
    //! run anything, so it works on any host). Skipped, with a message, where
    //! no arm64 compiler is installed; CI's `tests/arm64/cross.sh` installs one.

    use std::mem::{offset_of, size_of};

    use super::*;
    use crate::arch::header_check::Checks;
    use crate::types;

    const HEADERS: &str = "\
#include <asm/unistd.h>
#include <asm/stat.h>
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <asm/signal.h>
#include <asm/siginfo.h>
#include <asm/ucontext.h>
#include <asm/hwcap.h>
#include <asm/fcntl.h>
#include <asm/termbits.h>
#include <asm/termios.h>
#include <linux/elf-em.h>
#include <linux/stat.h>
#include <linux/sysinfo.h>
#include <linux/ipc.h>
#include <linux/sem.h>
#include <linux/shm.h>
#include <linux/msg.h>
struct rt_sigframe { siginfo_t info; struct ucontext uc; };
";

    /// `__O_TMPFILE`.
    const O_TMPFILE_BIT: u32 = 0o20000000;

    fn checks() -> Checks {
        let mut c = Checks::default();
        c.eq("EM_AARCH64", ELF_MACHINE);
        c.eq("MINSIGSTKSZ", MINSIGSTKSZ);
        c.eq("SIGSTKSZ", SIGSTKSZ);

        c.size("struct stat", size_of::<Stat>());
        for (f, o) in [
            ("st_dev", offset_of!(Stat, st_dev)),
            ("st_ino", offset_of!(Stat, st_ino)),
            ("st_mode", offset_of!(Stat, st_mode)),
            ("st_nlink", offset_of!(Stat, st_nlink)),
            ("st_uid", offset_of!(Stat, st_uid)),
            ("st_gid", offset_of!(Stat, st_gid)),
            ("st_rdev", offset_of!(Stat, st_rdev)),
            ("st_size", offset_of!(Stat, st_size)),
            ("st_blksize", offset_of!(Stat, st_blksize)),
            ("st_blocks", offset_of!(Stat, st_blocks)),
            ("st_atime", offset_of!(Stat, st_atime)),
            ("st_atime_nsec", offset_of!(Stat, st_atime_nsec)),
            ("st_mtime", offset_of!(Stat, st_mtime)),
            ("st_mtime_nsec", offset_of!(Stat, st_mtime_nsec)),
            ("st_ctime", offset_of!(Stat, st_ctime)),
            ("st_ctime_nsec", offset_of!(Stat, st_ctime_nsec)),
        ] {
            c.off("struct stat", f, o);
        }

        c.size("struct semid64_ds", size_of::<SemidDs>());
        c.off("struct semid64_ds", "sem_otime", offset_of!(SemidDs, sem_otime));
        c.off("struct semid64_ds", "sem_ctime", offset_of!(SemidDs, sem_ctime));
        c.off("struct semid64_ds", "sem_nsems", offset_of!(SemidDs, sem_nsems));

        c.size("struct user_pt_regs", size_of::<UserPtRegs>());
        c.off("struct user_pt_regs", "sp", offset_of!(UserPtRegs, sp));
        c.off("struct user_pt_regs", "pc", offset_of!(UserPtRegs, pc));
        c.off("struct user_pt_regs", "pstate", offset_of!(UserPtRegs, pstate));
        c.size("struct user_fpsimd_state", size_of::<UserFpsimdState>());
        c.off("struct user_fpsimd_state", "fpsr", offset_of!(UserFpsimdState, fpsr));
        c.off("struct user_fpsimd_state", "fpcr", offset_of!(UserFpsimdState, fpcr));

        c.size("struct sigcontext", size_of::<Sigcontext>());
        c.off("struct sigcontext", "regs", offset_of!(Sigcontext, regs));
        c.off("struct sigcontext", "sp", offset_of!(Sigcontext, sp));
        c.off("struct sigcontext", "pc", offset_of!(Sigcontext, pc));
        c.off("struct sigcontext", "pstate", offset_of!(Sigcontext, pstate));
        c.off("struct sigcontext", "__reserved", offset_of!(Sigcontext, reserved));
        c.size("struct _aarch64_ctx", size_of::<Aarch64Ctx>());
        c.size("struct fpsimd_context", size_of::<FpsimdContext>());
        c.off("struct fpsimd_context", "fpsr", offset_of!(FpsimdContext, fpsr));
        c.off("struct fpsimd_context", "fpcr", offset_of!(FpsimdContext, fpcr));
        c.off("struct fpsimd_context", "vregs", offset_of!(FpsimdContext, vregs));
        c.size("struct esr_context", size_of::<EsrContext>());
        c.off("struct esr_context", "esr", offset_of!(EsrContext, esr));
        c.size("struct extra_context", size_of::<ExtraContext>());
        c.off("struct extra_context", "datap", offset_of!(ExtraContext, datap));
        c.off("struct extra_context", "size", offset_of!(ExtraContext, size));
        c.size("struct sve_context", size_of::<SveContext>());
        c.off("struct sve_context", "vl", offset_of!(SveContext, vl));
        c.eq("FPSIMD_MAGIC", FPSIMD_MAGIC);
        c.eq("ESR_MAGIC", ESR_MAGIC);
        c.eq("EXTRA_MAGIC", EXTRA_MAGIC);
        c.eq("SVE_MAGIC", SVE_MAGIC);

        c.size("struct ucontext", UCONTEXT_SIZE);
        c.off("struct ucontext", "uc_sigmask", UC_SIGMASK);
        c.off("struct ucontext", "uc_mcontext", UC_MCONTEXT);
        c.size("struct rt_sigframe", sigframe::SIZE);
        c.off("struct rt_sigframe", "info", sigframe::INFO);
        c.off("struct rt_sigframe", "uc", sigframe::UC);
        c.off("struct rt_sigframe", "uc.uc_mcontext", sigframe::MCONTEXT);
        c.off("struct rt_sigframe", "uc.uc_mcontext.__reserved", sigframe::RESERVED);

        for (name, v) in [
            ("HWCAP_FP", hwcap::HWCAP_FP),
            ("HWCAP_ASIMD", hwcap::HWCAP_ASIMD),
            ("HWCAP_EVTSTRM", hwcap::HWCAP_EVTSTRM),
            ("HWCAP_AES", hwcap::HWCAP_AES),
            ("HWCAP_PMULL", hwcap::HWCAP_PMULL),
            ("HWCAP_SHA1", hwcap::HWCAP_SHA1),
            ("HWCAP_SHA2", hwcap::HWCAP_SHA2),
            ("HWCAP_CRC32", hwcap::HWCAP_CRC32),
            ("HWCAP_ATOMICS", hwcap::HWCAP_ATOMICS),
            ("HWCAP_FPHP", hwcap::HWCAP_FPHP),
            ("HWCAP_ASIMDHP", hwcap::HWCAP_ASIMDHP),
            ("HWCAP_CPUID", hwcap::HWCAP_CPUID),
            ("HWCAP_ASIMDRDM", hwcap::HWCAP_ASIMDRDM),
            ("HWCAP_JSCVT", hwcap::HWCAP_JSCVT),
            ("HWCAP_FCMA", hwcap::HWCAP_FCMA),
            ("HWCAP_LRCPC", hwcap::HWCAP_LRCPC),
            ("HWCAP_DCPOP", hwcap::HWCAP_DCPOP),
            ("HWCAP_SHA3", hwcap::HWCAP_SHA3),
            ("HWCAP_SM3", hwcap::HWCAP_SM3),
            ("HWCAP_SM4", hwcap::HWCAP_SM4),
            ("HWCAP_ASIMDDP", hwcap::HWCAP_ASIMDDP),
            ("HWCAP_SHA512", hwcap::HWCAP_SHA512),
            ("HWCAP_SVE", hwcap::HWCAP_SVE),
            ("HWCAP_ASIMDFHM", hwcap::HWCAP_ASIMDFHM),
            ("HWCAP_DIT", hwcap::HWCAP_DIT),
            ("HWCAP_USCAT", hwcap::HWCAP_USCAT),
            ("HWCAP_ILRCPC", hwcap::HWCAP_ILRCPC),
            ("HWCAP_FLAGM", hwcap::HWCAP_FLAGM),
            ("HWCAP_SSBS", hwcap::HWCAP_SSBS),
            ("HWCAP_SB", hwcap::HWCAP_SB),
            ("HWCAP_PACA", hwcap::HWCAP_PACA),
            ("HWCAP_PACG", hwcap::HWCAP_PACG),
            ("HWCAP2_DCPODP", hwcap::HWCAP2_DCPODP),
            ("HWCAP2_SVE2", hwcap::HWCAP2_SVE2),
            ("HWCAP2_SVEAES", hwcap::HWCAP2_SVEAES),
            ("HWCAP2_SVEPMULL", hwcap::HWCAP2_SVEPMULL),
            ("HWCAP2_SVEBITPERM", hwcap::HWCAP2_SVEBITPERM),
            ("HWCAP2_SVESHA3", hwcap::HWCAP2_SVESHA3),
            ("HWCAP2_SVESM4", hwcap::HWCAP2_SVESM4),
            ("HWCAP2_FLAGM2", hwcap::HWCAP2_FLAGM2),
            ("HWCAP2_FRINT", hwcap::HWCAP2_FRINT),
            ("HWCAP2_SVEI8MM", hwcap::HWCAP2_SVEI8MM),
            ("HWCAP2_SVEF32MM", hwcap::HWCAP2_SVEF32MM),
            ("HWCAP2_SVEF64MM", hwcap::HWCAP2_SVEF64MM),
            ("HWCAP2_SVEBF16", hwcap::HWCAP2_SVEBF16),
            ("HWCAP2_I8MM", hwcap::HWCAP2_I8MM),
            ("HWCAP2_BF16", hwcap::HWCAP2_BF16),
            ("HWCAP2_DGH", hwcap::HWCAP2_DGH),
            ("HWCAP2_RNG", hwcap::HWCAP2_RNG),
            ("HWCAP2_BTI", hwcap::HWCAP2_BTI),
            ("HWCAP2_MTE", hwcap::HWCAP2_MTE),
            ("HWCAP2_SME", hwcap::HWCAP2_SME),
        ] {
            c.eq(name, v);
        }

        c.eq("O_DIRECTORY", open_flags::O_DIRECTORY);
        c.eq("O_NOFOLLOW", open_flags::O_NOFOLLOW);
        c.eq("O_DIRECT", open_flags::O_DIRECT);
        c.eq("O_LARGEFILE", open_flags::O_LARGEFILE);
        // As `flags::open` derives it for the build's architecture.
        c.eq("O_TMPFILE", O_TMPFILE_BIT | open_flags::O_DIRECTORY);

        // The arch-independent structs hold on arm64 too.
        c.size("struct statx", size_of::<types::Statx>());
        c.size("struct sysinfo", size_of::<types::Sysinfo>());
        c.size("struct ipc64_perm", size_of::<types::IpcPerm>());
        c.size("struct shmid64_ds", size_of::<types::ShmidDs>());
        c.size("struct msqid64_ds", size_of::<types::MsqidDs>());
        c.size("struct termios", size_of::<types::Termios>());
        c.size("struct termios2", size_of::<types::Termios2>());
        c.size("struct winsize", size_of::<types::Winsize>());

        c.syscalls(&SYSCALL_NAMES);
        c
    }

    #[test]
    fn layouts_match_the_arm64_headers() {
        checks().compile("HUSK_AARCH64_CC", "aarch64-linux-gnu-gcc", HEADERS);
    }

    #[test]
    fn the_generic_table_lacks_the_old_calls() {
        for old in ["open", "fork", "stat", "poll", "select", "pipe", "dup2", "access", "arch_prctl"] {
            assert!(!SYSCALL_NAMES.contains(&old), "{old}");
        }
        assert_eq!(nr::OPENAT, 56);
        assert_eq!(nr::CLONE, 220);
        assert_eq!(SYSCALL_NAMES[nr::RT_SIGRETURN as usize], "rt_sigreturn");
    }
}
