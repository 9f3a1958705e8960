//! aarch64 register state: the general registers laid out as the kernel's
//! `struct user_pt_regs` (ptrace's NT_PRSTATUS regset) followed by what
//! arm64 keeps elsewhere (the syscall's first argument and number, and the
//! TLS register), and the FP/SIMD state as NT_FPREGSET's
//! `struct user_fpsimd_state`.

use crate::Access;

/// The general registers of one app thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// x0..x30 (x30 is the link register).
    pub regs: [u64; 31],
    /// The stack pointer.
    pub sp: u64,
    /// The program counter.
    pub pc: u64,
    /// PSTATE: the NZCV flags and the like.
    pub pstate: u64,
    /// x0 as the syscall found it: x0 is also the return register, so a
    /// restarted syscall (and the arguments, once the return value is set)
    /// read it from here, as Linux's `orig_x0`.
    pub orig_x0: u64,
    /// The syscall number (x8 at the stop); `u64::MAX` out of a syscall.
    pub syscallno: u64,
    /// `tpidr_el0`, the thread pointer, which app code may also write
    /// itself (`msr tpidr_el0`): read back at every stop.
    pub tls: u64,
}

/// Bytes of NT_PRSTATUS: the first 34 words of [`Regs`].
pub(crate) const PRSTATUS_LEN: usize = 34 * 8;
const _: () = assert!(PRSTATUS_LEN == core::mem::size_of::<libc::user_regs_struct>());
const _: () = assert!(core::mem::offset_of!(Regs, orig_x0) == PRSTATUS_LEN);

/// PSTATE's condition flags and the other bits an EL0 thread may hold
/// (SSBS, BTYPE, DIT, TCO); the mode field stays EL0t.
pub const PSTATE_USER: u64 = 0xf000_0000 | (1 << 12) | (3 << 10) | (1 << 24) | (1 << 25);

/// The register that holds the syscall number.
const SYSNO_REG: usize = 8;

impl Regs {
    /// The state a new program starts in: every register zero but the
    /// program counter and stack pointer, PSTATE EL0t with no flags set, as
    /// Linux's `start_thread` leaves it.
    pub fn for_entry(entry: u64, stack: u64) -> Regs {
        Regs { pc: entry, sp: stack, syscallno: u64::MAX, ..Regs::default() }
    }

    /// The registers as words, in the struct's order (for a checkpoint).
    pub fn to_words(&self) -> [u64; 37] {
        let mut w = [0u64; 37];
        w[..31].copy_from_slice(&self.regs);
        w[31..].copy_from_slice(&[self.sp, self.pc, self.pstate, self.orig_x0, self.syscallno, self.tls]);
        w
    }

    /// Registers from [`Regs::to_words`]'s words, made safe to load for a
    /// user thread whatever the words say: PSTATE EL0t with only the bits
    /// a user thread may hold (as sigreturn takes them). `None` if there
    /// are not 37 words.
    pub fn from_words(w: &[u64]) -> Option<Regs> {
        let w: &[u64; 37] = w.try_into().ok()?;
        let mut regs = [0u64; 31];
        regs.copy_from_slice(&w[..31]);
        Some(Regs {
            regs,
            sp: w[31],
            pc: w[32],
            pstate: w[33] & PSTATE_USER,
            orig_x0: w[34],
            syscallno: w[35],
            tls: w[36],
        })
    }

    /// The syscall number of a syscall stop.
    #[inline]
    pub fn syscall_nr(&self) -> u64 {
        self.syscallno
    }

    /// The six syscall arguments, in order (the first from `orig_x0`, which
    /// setting the return value leaves alone).
    #[inline]
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.orig_x0, self.regs[1], self.regs[2], self.regs[3], self.regs[4], self.regs[5]]
    }

    /// Sets the syscall's return value.
    #[inline]
    pub fn set_return(&mut self, v: u64) {
        self.regs[0] = v;
    }

    /// The syscall's return value.
    #[inline]
    pub fn return_value(&self) -> u64 {
        self.regs[0]
    }

    /// The instruction pointer.
    #[inline]
    pub fn ip(&self) -> u64 {
        self.pc
    }

    /// The stack pointer.
    #[inline]
    pub fn sp(&self) -> u64 {
        self.sp
    }

    /// The thread-local storage base (`tpidr_el0`).
    #[inline]
    pub fn tls(&self) -> u64 {
        self.tls
    }

    /// Sets the thread-local storage base.
    #[inline]
    pub fn set_tls(&mut self, v: u64) {
        self.tls = v;
    }

    /// Records a syscall stop: the number from x8 and the first argument
    /// from x0, as the kernel's `orig_x0` and `syscallno` hold them.
    pub(crate) fn enter_syscall(&mut self) {
        self.syscallno = self.regs[SYSNO_REG];
        self.orig_x0 = self.regs[0];
    }

    /// Records a stop that is not a syscall.
    pub(crate) fn leave_syscall(&mut self) {
        self.syscallno = u64::MAX;
    }
}

/// One past the highest user address with 48-bit virtual addresses (4 KiB
/// pages, 4 levels: Debian's and most distributions' arm64 kernels): where
/// the stubs end the address space they unmap. A 39-bit kernel makes the
/// stub page's placement fail cleanly (no address that high is free).
pub(crate) const TASK_SIZE: u64 = 1 << 48;

/// How many bytes an [`FpState`] holds: `struct user_fpsimd_state`.
pub const FP_STATE_CAP: usize = 528;
/// Offset of FPSR in the state (after the 32 128-bit V registers).
const FPSR: usize = 512;
/// Offset of FPCR.
const FPCR: usize = 516;

/// One thread's FP/SIMD state: `struct user_fpsimd_state` (V0..V31, FPSR,
/// FPCR, 8 reserved bytes), as ptrace's NT_FPREGSET and the Sentry's
/// `fpsimd_context` records carry it. SVE state beyond the V registers is
/// not kept (Linux discards it at every syscall anyway).
#[repr(C, align(16))]
#[derive(Clone, PartialEq, Eq)]
pub struct FpState {
    /// The area.
    pub bytes: [u8; FP_STATE_CAP],
}

impl Default for FpState {
    fn default() -> Self {
        FpState { bytes: [0; FP_STATE_CAP] }
    }
}

impl std::fmt::Debug for FpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FpState").field("fpsr", &self.fpsr()).field("fpcr", &self.fpcr()).finish()
    }
}

impl FpState {
    /// The state of a thread after execve: every register zero, FPCR 0
    /// (round to nearest, no traps), as Linux's `fpsimd_flush_thread`.
    pub fn initial() -> FpState {
        FpState::default()
    }

    fn word(&self, off: usize) -> u32 {
        u32::from_le_bytes([self.bytes[off], self.bytes[off + 1], self.bytes[off + 2], self.bytes[off + 3]])
    }

    /// FPSR, the status register.
    pub fn fpsr(&self) -> u32 {
        self.word(FPSR)
    }

    /// Sets FPSR.
    pub fn set_fpsr(&mut self, v: u32) {
        self.bytes[FPSR..FPSR + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// FPCR, the control register.
    pub fn fpcr(&self) -> u32 {
        self.word(FPCR)
    }

    /// Sets FPCR.
    pub fn set_fpcr(&mut self, v: u32) {
        self.bytes[FPCR..FPCR + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Clears the reserved bytes, which the kernel's regset does not take.
    pub fn sanitize(&mut self, _layout: &FpLayout) {
        self.bytes[FPCR + 4..].fill(0);
    }
}

/// The shape of [`FpState`] on this host. Every arm64 CPU Linux supports
/// has FP/SIMD, so it is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpLayout {
    /// Bytes of the state ([`FP_STATE_CAP`]).
    pub size: usize,
}

/// The host's [`FpLayout`].
pub fn fp_layout() -> &'static FpLayout {
    static LAYOUT: FpLayout = FpLayout { size: FP_STATE_CAP };
    &LAYOUT
}

/// The access a fault's Exception Syndrome Register reports, as Linux's
/// `do_page_fault` reads it: an instruction abort from EL0 is an execute,
/// a data abort a write if WnR is set (and it is no cache maintenance),
/// else a read. `None` for other exception classes.
pub fn access_from_esr(esr: u64) -> Option<Access> {
    const EC_SHIFT: u64 = 26;
    const EC_IABT_LOW: u64 = 0x20;
    const EC_DABT_LOW: u64 = 0x24;
    const WNR: u64 = 1 << 6;
    const CM: u64 = 1 << 8;
    match (esr >> EC_SHIFT) & 0x3f {
        EC_IABT_LOW => Some(Access::Exec),
        EC_DABT_LOW if esr & WNR != 0 && esr & CM == 0 => Some(Access::Write),
        EC_DABT_LOW => Some(Access::Read),
        _ => None,
    }
}

/// The data access an A64 instruction makes, from its encoding: what the
/// ESR's WnR bit would say, for platforms that see a fault without its ESR
/// (ptrace reports only the signal and address). Atomic read-modify-writes
/// and store-exclusives count as writes; `None` for what is no load or
/// store (or is a prefetch, which does not fault).
pub fn access_from_insn(insn: u32) -> Option<Access> {
    let bit = |n: u32| (insn >> n) & 1 != 0;
    // The loads and stores: op0 (bits 28..25) is x1x0.
    if (insn >> 25) & 0b0101 != 0b0100 {
        return None;
    }
    let rw = |load: bool| Some(if load { Access::Read } else { Access::Write });
    match (insn >> 27) & 0b111 {
        // Exclusives, ordered, and compare-and-swap (bits 29..24 = 001000):
        // a load unless L (bit 22) is clear. CAS (o2 and o1, bits 23 and
        // 21) and CASP (o1 with bit 31 clear, where the exclusive pairs
        // have it set) read and write.
        0b001 if (insn >> 24) & 0b111 == 0b000 => {
            let cas = bit(21) && (bit(23) || !bit(31));
            if cas {
                Some(Access::Write)
            } else {
                rw(bit(22))
            }
        }
        // SIMD structure loads and stores (bits 29..23 = 0011000/0011001/
        // 0011010/0011011): L is bit 22.
        0b001 => rw(bit(22)),
        // Loads of a literal (bits 29..27 = 011, bit 24 = 0): always loads
        // (opc 11 is a prefetch).
        0b011 if !bit(24) => (insn >> 30 != 0b11).then_some(Access::Read),
        // RCpc unscaled (LDAPUR, STLUR; bits 29..24 = 011001): opc 00 stores.
        0b011 => rw((insn >> 22) & 0b11 != 0),
        // Pairs (bits 29..27 = 101): L is bit 22.
        0b101 => rw(bit(22)),
        // Single registers (bits 29..27 = 111).
        0b111 => {
            let size = insn >> 30;
            let opc = (insn >> 22) & 0b11;
            let simd = bit(26);
            // Atomic memory operations: bit 24 clear, bit 21 set, bits
            // 11..10 = 00 (LDADD, SWP, ...): read and write. LDAPR (o3
            // set, opc 100) is the one load among them.
            if !bit(24) && bit(21) && (insn >> 10) & 0b11 == 0b00 && !simd {
                let ldapr = bit(15) && (insn >> 12) & 0b111 == 0b100;
                return Some(if ldapr { Access::Read } else { Access::Write });
            }
            match (simd, opc) {
                (_, 0b00) => Some(Access::Write),
                // opc 10 of a 64-bit integer load is PRFM.
                (false, 0b10) if size == 0b11 => None,
                // SIMD opc 10 is a 128-bit store (STR Qt), 11 its load.
                (true, 0b10) => Some(Access::Write),
                _ => Some(Access::Read),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esr_classes_give_the_access() {
        // ESRs as Linux sees them for EL0 faults (EC, IL, ISS).
        assert_eq!(access_from_esr(0x8200_0007), Some(Access::Exec)); // IABT, translation fault L3
        assert_eq!(access_from_esr(0x9200_0047), Some(Access::Write)); // DABT, WnR
        assert_eq!(access_from_esr(0x9200_0007), Some(Access::Read)); // DABT, read
        assert_eq!(access_from_esr(0x9200_0147), Some(Access::Read)); // DABT, cache maintenance
        assert_eq!(access_from_esr(0x5600_0000), None); // SVC
    }

    #[test]
    fn instructions_give_the_access() {
        let cases: &[(u32, Option<Access>, &str)] = &[
            (0xf940_0020, Some(Access::Read), "ldr x0, [x1]"),
            (0xf900_0020, Some(Access::Write), "str x0, [x1]"),
            (0x3940_0020, Some(Access::Read), "ldrb w0, [x1]"),
            (0x3900_0020, Some(Access::Write), "strb w0, [x1]"),
            (0xb880_0020, Some(Access::Read), "ldursw x0, [x1]"),
            (0xa940_07e0, Some(Access::Read), "ldp x0, x1, [sp]"),
            (0xa900_07e0, Some(Access::Write), "stp x0, x1, [sp]"),
            (0x3dc0_0020, Some(Access::Read), "ldr q0, [x1]"),
            (0x3d80_0020, Some(Access::Write), "str q0, [x1]"),
            (0xfd40_0020, Some(Access::Read), "ldr d0, [x1]"),
            (0xc85f_7c20, Some(Access::Read), "ldxr x0, [x1]"),
            (0xc802_7c20, Some(Access::Write), "stxr w2, x0, [x1]"),
            (0xc8df_fc20, Some(Access::Read), "ldar x0, [x1]"),
            (0xc89f_fc20, Some(Access::Write), "stlr x0, [x1]"),
            (0xf820_0022, Some(Access::Write), "ldadd x0, x2, [x1]"),
            (0xf8a0_8022, Some(Access::Write), "swpa x0, x2, [x1]"),
            (0xc8a0_7c22, Some(Access::Write), "cas x0, x2, [x1]"),
            (0xf8bf_c020, Some(Access::Read), "ldapr x0, [x1]"),
            (0x4c40_7020, Some(Access::Read), "ld1 {v0.16b}, [x1]"),
            (0x4c00_7020, Some(Access::Write), "st1 {v0.16b}, [x1]"),
            (0x5800_0040, Some(Access::Read), "ldr x0, <literal>"),
            (0xf980_0020, None, "prfm pldl1keep, [x1]"),
            (0x8b02_0020, None, "add x0, x1, x2"),
            (0xd400_0001, None, "svc #0"),
            (0xb840_4c20, Some(Access::Read), "ldr w0, [x1, #4]!"),
            (0xb980_0020, Some(Access::Read), "ldrsw x0, [x1]"),
            (0x3c80_1020, Some(Access::Write), "stur q0, [x1, #1]"),
            (0x88e0_7c22, Some(Access::Write), "casa w0, w2, [x1]"),
            (0x4860_7c82, Some(Access::Write), "caspa x0, x1, x2, x3, [x4]"),
            (0xc87f_8440, Some(Access::Read), "ldaxp x0, x1, [x2]"),
            (0xc823_8440, Some(Access::Write), "stlxp w3, x0, x1, [x2]"),
            (0x4d60_e820, Some(Access::Read), "ld4r {v0.4s-v3.4s}, [x1]"),
            (0x0d00_9020, Some(Access::Write), "st1 {v0.s}[1], [x1]"),
            (0xd940_0020, Some(Access::Read), "ldapur x0, [x1]"),
            (0xd900_0020, Some(Access::Write), "stlur x0, [x1]"),
        ];
        for &(insn, want, text) in cases {
            assert_eq!(access_from_insn(insn), want, "{text} ({insn:#010x})");
        }
    }

    #[test]
    fn syscall_stops_keep_the_first_argument() {
        let mut r = Regs::for_entry(0x1000, 0x2000);
        r.regs[0] = 7;
        r.regs[1] = 8;
        r.regs[8] = 63;
        r.enter_syscall();
        r.set_return(3);
        assert_eq!(r.syscall_nr(), 63);
        assert_eq!(r.syscall_args()[..2], [7, 8]);
        assert_eq!(r.return_value(), 3);
        r.leave_syscall();
        assert_eq!(r.syscall_nr(), u64::MAX);
    }
}
