//! The stubs' own seccomp filters, one per platform, hand-assembled: each
//! compares the instruction pointer with the stub's code page (at `base`,
//! one page, in every stub at the same address), which seccompiler's rules
//! cannot express. The platform installs them in each stub it forks.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use std::os::fd::RawFd;

use crate::bpf::*;

/// The stub's code page's length.
const PAGE: u64 = 4096;

// Stub-specific constants for the filter.
#[cfg(target_arch = "x86_64")]
const ARCH_SET_GS: u32 = 0x1001;
#[cfg(target_arch = "x86_64")]
const ARCH_SET_FS: u32 = 0x1002;

/// A jump target while the filter is being built.
#[derive(Clone, Copy)]
enum To {
    Next,
    Allow,
    Trap,
    Kill,
    Label(u8),
}

/// A tiny assembler for the filter: forward jumps to labels and to the three
/// final returns, resolved at the end.
#[derive(Default)]
struct Bpf {
    insns: Vec<(libc::sock_filter, To, To)>,
    labels: Vec<(u8, usize)>,
}

impl Bpf {
    fn ld(&mut self, off: u32) {
        self.insns.push((stmt(BPF_LD_W_ABS, off), To::Next, To::Next));
    }
    fn jeq(&mut self, k: u32, t: To, f: To) {
        self.insns.push((jump(BPF_JEQ_K, k, 0, 0), t, f));
    }
    fn jge(&mut self, k: u32, t: To, f: To) {
        self.insns.push((jump(BPF_JGE_K, k, 0, 0), t, f));
    }
    fn ret(&mut self, k: u32) {
        self.insns.push((stmt(BPF_RET_K, k), To::Next, To::Next));
    }
    fn label(&mut self, l: u8) {
        self.labels.push((l, self.insns.len()));
    }
    /// Kills a call of another architecture, sends one whose instruction
    /// pointer is outside the code page at `base` to `outside`, and loads
    /// the call's number. (The code page never straddles a 4 GiB line.)
    fn only_from_code_page(&mut self, base: u64, outside: To) {
        let lo = (base & 0xffff_ffff) as u32;
        let hi = (base >> 32) as u32;
        self.ld(OFF_ARCH);
        self.jeq(AUDIT_ARCH, To::Next, To::Kill);
        self.ld(OFF_IP_HI);
        self.jeq(hi, To::Next, outside);
        self.ld(OFF_IP_LO);
        self.jge(lo, To::Next, outside);
        self.jge(lo.wrapping_add(PAGE as u32), outside, To::Next);
        self.ld(OFF_NR);
    }

    /// prctl (the accumulator holds the call's number) is allowed only as
    /// PR_SET_MM with PR_SET_MM_MAP, by which a stub shows the app's argv
    /// as its command line (`AddressSpace::show_args`); without a
    /// capability it can change no more than what the host's /proc shows
    /// of the stub's layout (its exe link needs CAP_CHECKPOINT_RESTORE).
    fn prctl_set_mm_map_only(&mut self) {
        self.ld(off_arg_lo(0));
        self.jeq(libc::PR_SET_MM as u32, To::Next, To::Kill);
        self.ld(off_arg_hi(0));
        self.jeq(0, To::Next, To::Kill);
        self.ld(off_arg_lo(1));
        self.jeq(libc::PR_SET_MM_MAP as u32, To::Next, To::Kill);
        self.ld(off_arg_hi(1));
        self.jeq(0, To::Allow, To::Kill);
    }
    fn finish(mut self) -> Vec<libc::sock_filter> {
        let allow = self.insns.len();
        self.ret(SECCOMP_RET_ALLOW);
        self.ret(SECCOMP_RET_TRAP);
        self.ret(SECCOMP_RET_KILL_PROCESS);
        let labels = self.labels;
        let target = |to: To, at: usize| -> u8 {
            let dest = match to {
                To::Next => at + 1,
                To::Allow => allow,
                To::Trap => allow + 1,
                To::Kill => allow + 2,
                To::Label(l) => labels.iter().find(|(n, _)| *n == l).expect("label").1,
            };
            u8::try_from(dest - at - 1).expect("BPF jump too far")
        };
        let n = self.insns.len();
        let mut out = Vec::with_capacity(n);
        for (i, (mut ins, t, f)) in self.insns.into_iter().enumerate() {
            if ins.code == BPF_JEQ_K || ins.code == BPF_JGE_K {
                ins.jt = target(t, i);
                ins.jf = target(f, i);
            }
            out.push(ins);
        }
        out
    }
}

/// The stub's filter.
///
/// - A syscall whose instruction pointer is outside the code page traps
///   (SIGSYS): that is every app syscall.
/// - From the code page: rt_sigreturn; futex WAIT and WAKE only; mmap only of
///   the memory file with exactly MAP_SHARED|MAP_FIXED; munmap; mprotect;
///   arch_prctl ARCH_SET_FS and ARCH_SET_GS only; prctl PR_SET_MM with
///   PR_SET_MM_MAP only.
/// - Anything else, or a non-x86_64 syscall (int 0x80), kills the process.
///
/// arm64's is the same with arm64's numbers and no arch_prctl (the stub
/// sets `tpidr_el0` itself); its instruction pointer is the pc after the
/// `svc`, and another architecture's syscall kills the process too.
pub fn systrap(base: u64, memfd: RawFd) -> Vec<libc::sock_filter> {
    const FUTEX: u8 = 1;
    const MMAP: u8 = 2;
    const PRCTL: u8 = 3;
    #[cfg(target_arch = "x86_64")]
    const ARCH_PRCTL: u8 = 4;
    let mut b = Bpf::default();
    b.only_from_code_page(base, To::Trap);
    b.jeq(libc::SYS_rt_sigreturn as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_futex as u32, To::Label(FUTEX), To::Next);
    b.jeq(libc::SYS_mmap as u32, To::Label(MMAP), To::Next);
    b.jeq(libc::SYS_munmap as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_mprotect as u32, To::Allow, To::Next);
    #[cfg(target_arch = "x86_64")]
    {
        b.jeq(libc::SYS_prctl as u32, To::Label(PRCTL), To::Next);
        b.jeq(libc::SYS_arch_prctl as u32, To::Label(ARCH_PRCTL), To::Kill);
    }
    #[cfg(not(target_arch = "x86_64"))]
    b.jeq(libc::SYS_prctl as u32, To::Label(PRCTL), To::Kill);
    b.label(FUTEX);
    b.ld(off_arg_lo(1));
    b.jeq(libc::FUTEX_WAIT as u32, To::Allow, To::Next);
    b.jeq(libc::FUTEX_WAKE as u32, To::Allow, To::Kill);
    b.label(MMAP);
    b.ld(off_arg_lo(3));
    b.jeq((libc::MAP_SHARED | libc::MAP_FIXED) as u32, To::Next, To::Kill);
    b.ld(off_arg_hi(3));
    b.jeq(0, To::Next, To::Kill);
    b.ld(off_arg_lo(4));
    b.jeq(memfd as u32, To::Next, To::Kill);
    b.ld(off_arg_hi(4));
    b.jeq(0, To::Allow, To::Kill);
    #[cfg(target_arch = "x86_64")]
    {
        b.label(ARCH_PRCTL);
        b.ld(off_arg_hi(0));
        b.jeq(0, To::Next, To::Kill);
        b.ld(off_arg_lo(0));
        b.jeq(ARCH_SET_FS, To::Allow, To::Next);
        b.jeq(ARCH_SET_GS, To::Allow, To::Kill);
    }
    b.label(PRCTL);
    b.prctl_set_mm_map_only();
    b.finish()
}

/// The stub's filter: allow mmap, munmap and mprotect from the stub page,
/// and prctl there as PR_SET_MM_MAP only, kill the process on anything
/// else. App syscalls never reach it, since
/// PTRACE_SYSEMU stops and skips them before seccomp runs; it is the backstop
/// that makes "the app never executes a host syscall" hold even if the Sentry
/// resumed the app wrongly.
pub fn ptrace(base: u64) -> Vec<libc::sock_filter> {
    const PRCTL: u8 = 1;
    let mut b = Bpf::default();
    b.only_from_code_page(base, To::Kill);
    b.jeq(libc::SYS_mmap as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_munmap as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_mprotect as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_prctl as u32, To::Label(PRCTL), To::Kill);
    b.label(PRCTL);
    b.prctl_set_mm_map_only();
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic-BPF subset the filter uses over one seccomp_data.
    fn run(filter: &[libc::sock_filter], nr: i64, arch: u32, ip: u64, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&(nr as i32).to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&ip.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = filter[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                BPF_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                other => panic!("unexpected BPF opcode {other:#x}"),
            }
        }
    }

    /// prctl's arguments for PR_SET_MM_MAP.
    fn set_mm_map() -> [u64; 6] {
        [libc::PR_SET_MM as u64, libc::PR_SET_MM_MAP as u64, 0x1000, 104, 0, 0]
    }

    /// From `ip`, prctl is allowed as PR_SET_MM_MAP and nothing else.
    fn assert_prctl_is_set_mm_map_only(f: &[libc::sock_filter], arch: u32, ip: u64) {
        let prctl = |args| run(f, libc::SYS_prctl, arch, ip, args);
        assert_eq!(prctl(set_mm_map()), SECCOMP_RET_ALLOW);
        let kill = SECCOMP_RET_KILL_PROCESS;
        let mut other = set_mm_map();
        other[1] = libc::PR_SET_MM_EXE_FILE as u64;
        assert_eq!(prctl(other), kill, "PR_SET_MM_EXE_FILE");
        let mut other = set_mm_map();
        other[1] |= 1 << 32;
        assert_eq!(prctl(other), kill, "high bits");
        let mut other = set_mm_map();
        other[0] = libc::PR_SET_NAME as u64;
        assert_eq!(prctl(other), kill, "PR_SET_NAME");
        other[0] = libc::PR_SET_MM as u64 | (1 << 32);
        assert_eq!(prctl(other), kill);
        assert_eq!(prctl([libc::PR_SET_SECCOMP as u64, 2, 0, 0, 0, 0]), kill);
    }

    #[test]
    fn the_ptrace_filter_lets_the_stub_page_map_and_nothing_else() {
        let base: u64 = 0x7fff_0000_0000;
        let f = ptrace(base);
        let (stub_ip, app_ip) = (base + 0x10, 0x40_0000);
        for nr in [libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect] {
            assert_eq!(run(&f, nr, AUDIT_ARCH, stub_ip, [0; 6]), SECCOMP_RET_ALLOW, "nr {nr}");
            assert_eq!(run(&f, nr, AUDIT_ARCH, app_ip, [0; 6]), SECCOMP_RET_KILL_PROCESS, "nr {nr}");
            assert_eq!(run(&f, nr, AUDIT_ARCH, base + PAGE, [0; 6]), SECCOMP_RET_KILL_PROCESS, "nr {nr}");
        }
        assert_eq!(run(&f, libc::SYS_getpid, AUDIT_ARCH, stub_ip, [0; 6]), SECCOMP_RET_KILL_PROCESS);
        assert_prctl_is_set_mm_map_only(&f, AUDIT_ARCH, stub_ip);
        assert_eq!(run(&f, libc::SYS_prctl, AUDIT_ARCH, app_ip, set_mm_map()), SECCOMP_RET_KILL_PROCESS);
        // Another architecture's numbers mean other calls.
        let other = if AUDIT_ARCH == AUDIT_ARCH_X86_64 { AUDIT_ARCH_AARCH64 } else { AUDIT_ARCH_X86_64 };
        assert_eq!(run(&f, libc::SYS_mmap, other, stub_ip, [0; 6]), SECCOMP_RET_KILL_PROCESS);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn filter_traps_the_app_and_confines_the_stub() {
        let base: u64 = 0x7ffe_0000_0000;
        let f = systrap(base, 7);
        let x86 = AUDIT_ARCH_X86_64;
        let stub_ip = base + 0x40;
        let app_ip = 0x40_0007;
        let shared_fixed = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        // Every app syscall traps, whatever it is.
        for nr in [libc::SYS_getpid, libc::SYS_mmap, libc::SYS_rt_sigreturn, libc::SYS_exit_group, 0x4000_0000] {
            assert_eq!(run(&f, nr, x86, app_ip, [0; 6]), SECCOMP_RET_TRAP, "nr {nr}");
        }
        // Just outside the code page is the app's, too.
        assert_eq!(run(&f, libc::SYS_futex, x86, base + PAGE, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, x86, base - 1, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, x86, stub_ip + (1 << 32), [0; 6]), SECCOMP_RET_TRAP);
        // What the handler needs, from the code page.
        let allow = |nr, args| run(&f, nr, x86, stub_ip, args);
        assert_eq!(allow(libc::SYS_rt_sigreturn, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 0, 2, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 1, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mmap, [0x1000, 0x1000, 3, shared_fixed, 7, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_munmap, [0x1000, 0x1000, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mprotect, [0x1000, 0x1000, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_arch_prctl, [ARCH_SET_FS.into(), 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_arch_prctl, [ARCH_SET_GS.into(), 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        // Nothing else, and nothing with other arguments.
        let kill = SECCOMP_RET_KILL_PROCESS;
        assert_eq!(allow(libc::SYS_getpid, [0; 6]), kill);
        assert_eq!(allow(libc::SYS_futex, [0, 9, 0, 0, 0, 0]), kill, "FUTEX_WAIT_BITSET");
        assert_eq!(allow(libc::SYS_futex, [0, 128, 0, 0, 0, 0]), kill, "private futex");
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, shared_fixed, 8, 0]), kill, "another fd");
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, shared_fixed, 7 | (1 << 32), 0]), kill);
        let private_fixed = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, private_fixed, 7, 0]), kill, "private");
        let anon = shared_fixed | libc::MAP_ANONYMOUS as u64;
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, anon, 7, 0]), kill, "anonymous");
        assert_eq!(allow(libc::SYS_arch_prctl, [0x1003, 0, 0, 0, 0, 0]), kill, "ARCH_GET_FS");
        assert_eq!(allow(libc::SYS_arch_prctl, [u64::from(ARCH_SET_FS) | (1 << 32), 0, 0, 0, 0, 0]), kill);
        assert_prctl_is_set_mm_map_only(&f, x86, stub_ip);
        assert_eq!(run(&f, libc::SYS_prctl, x86, app_ip, set_mm_map()), SECCOMP_RET_TRAP);
        // A 32-bit syscall (int 0x80) kills wherever it comes from.
        assert_eq!(run(&f, 20, 0x4000_0003, app_ip, [0; 6]), kill);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn arm64_filter_traps_the_app_and_confines_the_stub() {
        let base: u64 = 0x7ffe_0000_0000;
        let f = systrap(base, 7);
        let arm = AUDIT_ARCH_AARCH64;
        let stub_ip = base + 0x40;
        let app_ip = 0x40_0008;
        let shared_fixed = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        for nr in [libc::SYS_getpid, libc::SYS_mmap, libc::SYS_rt_sigreturn, libc::SYS_exit_group, 0x4000_0000] {
            assert_eq!(run(&f, nr, arm, app_ip, [0; 6]), SECCOMP_RET_TRAP, "nr {nr}");
        }
        assert_eq!(run(&f, libc::SYS_futex, arm, base + PAGE, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, arm, base - 4, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, arm, stub_ip + (1 << 32), [0; 6]), SECCOMP_RET_TRAP);
        let allow = |nr, args| run(&f, nr, arm, stub_ip, args);
        assert_eq!(allow(libc::SYS_rt_sigreturn, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 0, 2, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 1, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mmap, [0x1000, 0x1000, 3, shared_fixed, 7, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_munmap, [0x1000, 0x1000, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mprotect, [0x1000, 0x1000, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        let kill = SECCOMP_RET_KILL_PROCESS;
        assert_eq!(allow(libc::SYS_getpid, [0; 6]), kill);
        assert_eq!(allow(libc::SYS_clone, [0; 6]), kill);
        assert_eq!(allow(libc::SYS_futex, [0, 9, 0, 0, 0, 0]), kill, "FUTEX_WAIT_BITSET");
        assert_eq!(allow(libc::SYS_futex, [0, 128, 0, 0, 0, 0]), kill, "private futex");
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, shared_fixed, 8, 0]), kill, "another fd");
        let private_fixed = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, private_fixed, 7, 0]), kill, "private");
        assert_eq!(run(&f, libc::SYS_mmap, AUDIT_ARCH_X86_64, stub_ip, [0; 6]), kill);
        let (set_mm, mm_map) = (libc::PR_SET_MM as u64, libc::PR_SET_MM_MAP as u64);
        assert_eq!(allow(libc::SYS_prctl, [set_mm, mm_map, 0x1000, 104, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_prctl, [set_mm, 1, 0x1000, 0, 0, 0]), kill, "PR_SET_MM_START_CODE");
        assert_eq!(allow(libc::SYS_prctl, [libc::PR_SET_NAME as u64, 0, 0, 0, 0, 0]), kill);
        assert_eq!(allow(libc::SYS_prctl, [set_mm | (1 << 32), mm_map, 0, 0, 0, 0]), kill);
    }
}
