//! Classic BPF for the stubs' seccomp filters (both platforms): the
//! instruction codes and return values, as libc spells them, and where
//! fields sit in `struct seccomp_data`.

/// `BPF_LD | BPF_W | BPF_ABS`: load a word of `seccomp_data`.
pub const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
/// `BPF_JMP | BPF_JA`: jump always, by `k`.
pub const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
/// `BPF_RET | BPF_K`.
pub const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Kill the whole process.
pub const SECCOMP_RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// Deliver SIGSYS.
pub const SECCOMP_RET_TRAP: u32 = libc::SECCOMP_RET_TRAP;
/// Fail the syscall with the errno in the low 16 bits.
pub const SECCOMP_RET_ERRNO: u32 = libc::SECCOMP_RET_ERRNO;
/// Let the syscall run.
pub const SECCOMP_RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// `AUDIT_ARCH_X86_64` (linux/audit.h; not in libc).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// The audit architecture of the build's syscalls: a filter kills calls of
/// any other (x86_64's `int 0x80`, arm64's 32-bit mode), whose numbers mean
/// other syscalls.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = AUDIT_ARCH_X86_64;
/// The audit architecture of the build's syscalls.
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = AUDIT_ARCH_AARCH64;

/// `seccomp_data.nr`.
pub const OFF_NR: u32 = 0;
/// `seccomp_data.arch`.
pub const OFF_ARCH: u32 = 4;
/// The low half of `seccomp_data.instruction_pointer`.
pub const OFF_IP_LO: u32 = 8;
/// The high half of `seccomp_data.instruction_pointer`.
pub const OFF_IP_HI: u32 = 12;

/// The low half of `seccomp_data.args[i]`.
pub const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

/// The high half of `seccomp_data.args[i]`.
pub const fn off_arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

/// A statement.
pub fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

/// A conditional jump.
pub fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_kernels() {
        assert_eq!((BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K), (0x20, 0x15, 0x35, 0x06));
    }
}
