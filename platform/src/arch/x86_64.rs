//! x86_64 register state, laid out as the kernel's `struct user_regs_struct`
//! so that PTRACE_GETREGS and PTRACE_SETREGS fill it directly.

/// The general registers of one app thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

const _: () = assert!(core::mem::size_of::<Regs>() == core::mem::size_of::<libc::user_regs_struct>());

/// The user-mode code and stack segment selectors of x86_64 Linux.
const USER_CS: u64 = 0x33;
const USER_DS: u64 = 0x2b;
/// Interrupts enabled; every other flag clear, as at execve.
const INITIAL_EFLAGS: u64 = 0x202;
/// The flags a user thread may set: CF, PF, AF, ZF, SF, TF, DF, OF, RF
/// and AC (sigreturn's FIX_EFLAGS).
const USER_EFLAGS: u64 = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;

impl Regs {
    /// The state a new program starts in: every register zero but the
    /// instruction and stack pointers, as Linux's `start_thread` leaves it.
    pub fn for_entry(entry: u64, stack: u64) -> Regs {
        Regs { rip: entry, rsp: stack, cs: USER_CS, ss: USER_DS, eflags: INITIAL_EFLAGS, ..Regs::default() }
    }

    /// The registers as words, in the struct's order (for a checkpoint).
    pub fn to_words(&self) -> [u64; 27] {
        let r = self;
        [
            r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx, r.rsi, r.rdi,
            r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds, r.es, r.fs, r.gs,
        ]
    }

    /// Registers from [`Regs::to_words`]'s words, made safe to load for a
    /// user thread whatever the words say: the user code and stack
    /// selectors, the flags a user may set (as sigreturn takes them) with
    /// interrupts on, data selectors the user's or null, and canonical
    /// user TLS bases. `None` if there are not 27 words.
    pub fn from_words(w: &[u64]) -> Option<Regs> {
        let w: &[u64; 27] = w.try_into().ok()?;
        let selector = |s: u64| if s == USER_DS { USER_DS } else { 0 };
        let base = |b: u64| if b < TASK_SIZE { b } else { 0 };
        Some(Regs {
            r15: w[0],
            r14: w[1],
            r13: w[2],
            r12: w[3],
            rbp: w[4],
            rbx: w[5],
            r11: w[6],
            r10: w[7],
            r9: w[8],
            r8: w[9],
            rax: w[10],
            rcx: w[11],
            rdx: w[12],
            rsi: w[13],
            rdi: w[14],
            orig_rax: w[15],
            rip: w[16],
            cs: USER_CS,
            eflags: (w[18] & USER_EFLAGS) | INITIAL_EFLAGS,
            rsp: w[19],
            ss: USER_DS,
            fs_base: base(w[21]),
            gs_base: base(w[22]),
            ds: selector(w[23]),
            es: selector(w[24]),
            fs: selector(w[25]),
            gs: selector(w[26]),
        })
    }

    /// The syscall number of a syscall stop.
    #[inline]
    pub fn syscall_nr(&self) -> u64 {
        self.orig_rax
    }

    /// The six syscall arguments, in order.
    #[inline]
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// Sets the syscall's return value.
    #[inline]
    pub fn set_return(&mut self, v: u64) {
        self.rax = v;
    }

    /// The syscall's return value.
    #[inline]
    pub fn return_value(&self) -> u64 {
        self.rax
    }

    /// The instruction pointer.
    #[inline]
    pub fn ip(&self) -> u64 {
        self.rip
    }

    /// The stack pointer.
    #[inline]
    pub fn sp(&self) -> u64 {
        self.rsp
    }

    /// The thread-local storage base (`ARCH_SET_FS`).
    #[inline]
    pub fn tls(&self) -> u64 {
        self.fs_base
    }

    /// Sets the thread-local storage base.
    #[inline]
    pub fn set_tls(&mut self, v: u64) {
        self.fs_base = v;
    }
}

/// One past the highest user address with 4-level paging: where the stubs
/// end the address space they unmap.
pub(crate) const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// How many bytes an [`FpState`] can hold: the legacy area, the XSAVE header
/// and every user state component up to AVX-512 and PKRU (2,696 to 2,816
/// bytes on current CPUs). Components that are enabled only on request (AMX
/// tile data, 8 KiB) are not given to app threads, as Linux gives them only
/// after `arch_prctl(ARCH_REQ_XCOMP_PERM)`.
pub const FP_STATE_CAP: usize = 4096;

/// One thread's FPU and vector state: an XSAVE area in standard (not
/// compacted) format, of [`FpLayout::size`] bytes, as Linux puts it in a
/// signal frame. Without XSAVE only the 512-byte FXSAVE area is used.
///
/// Bytes 464..512 (`sw_reserved`) are not state: platforms hand them out
/// zeroed and ignore them on the way in.
#[repr(C, align(64))]
#[derive(Clone, PartialEq, Eq)]
pub struct FpState {
    /// The area; bytes past [`FpLayout::size`] are unused.
    pub bytes: [u8; FP_STATE_CAP],
}

impl Default for FpState {
    fn default() -> Self {
        FpState { bytes: [0; FP_STATE_CAP] }
    }
}

impl std::fmt::Debug for FpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FpState").field("xstate_bv", &self.xstate_bv()).field("mxcsr", &self.mxcsr()).finish()
    }
}

/// Offset of MXCSR in the legacy area.
const MXCSR: usize = 24;
/// Offset of the XSAVE header (`xstate_bv`, then `xcomp_bv`, then reserved).
pub const XSAVE_HEADER: usize = 512;
/// Size of the legacy area plus the XSAVE header.
pub const XSAVE_MIN: usize = 576;
/// The x87 and SSE components.
pub const XFEATURE_FPSSE: u64 = 0b11;
/// Offset of `sw_reserved` in the legacy area, where a signal frame's
/// XSAVE area carries Linux's `_fpx_sw_bytes` marker.
pub const FX_SW_BYTES: usize = 464;
/// The marker's first word: the area is a whole XSAVE area.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// The word right after the area in a signal frame.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

impl FpState {
    /// The state of a thread after execve: x87 and SSE in their initial
    /// state (FCW 0x37f, MXCSR 0x1f80), every other component initial too
    /// (absent from `xstate_bv`).
    pub fn initial() -> FpState {
        let mut fp = FpState::default();
        fp.bytes[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        fp.set_mxcsr(0x1f80);
        fp.set_xstate_bv(XFEATURE_FPSSE);
        fp
    }

    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes([self.bytes[MXCSR], self.bytes[MXCSR + 1], self.bytes[MXCSR + 2], self.bytes[MXCSR + 3]])
    }

    /// Sets MXCSR.
    pub fn set_mxcsr(&mut self, v: u32) {
        self.bytes[MXCSR..MXCSR + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// The XSAVE header's `xstate_bv`: which components hold saved state
    /// (the others are in their initial state).
    pub fn xstate_bv(&self) -> u64 {
        self.word(XSAVE_HEADER)
    }

    /// Sets `xstate_bv`.
    pub fn set_xstate_bv(&mut self, v: u64) {
        self.bytes[XSAVE_HEADER..XSAVE_HEADER + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// The little-endian u64 at `off` (which must be below `FP_STATE_CAP - 8`).
    fn word(&self, off: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.bytes[off..off + 8]);
        u64::from_le_bytes(w)
    }

    /// Writes the `_fpx_sw_bytes` marker Linux puts in a signal frame's
    /// XSAVE area (magic1, extended_size, xfeatures, xstate_size) and marks
    /// x87 and SSE present, so that `rt_sigreturn` loads the whole area. The
    /// frame also needs [`FP_XSTATE_MAGIC2`] right after the area's
    /// `layout.size` bytes.
    pub fn mark_sigframe(&mut self, layout: &FpLayout) {
        let sw = &mut self.bytes[FX_SW_BYTES..XSAVE_HEADER];
        sw.fill(0);
        let size = layout.size as u32;
        sw[0..4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        sw[4..8].copy_from_slice(&(size + 4).to_le_bytes());
        sw[8..16].copy_from_slice(&layout.features.to_le_bytes());
        sw[16..20].copy_from_slice(&size.to_le_bytes());
        let bv = self.xstate_bv() | XFEATURE_FPSSE;
        self.set_xstate_bv(bv);
    }

    /// Makes the area one the host's XRSTOR accepts for `layout`: only
    /// `layout.features` in `xstate_bv`, a zero `xcomp_bv` and reserved
    /// header bytes, no reserved MXCSR bits. The Sentry validates what apps
    /// give it before this; platforms call it so that a Sentry bug cannot
    /// make the host refuse the state.
    pub fn sanitize(&mut self, layout: &FpLayout) {
        let m = self.mxcsr() & layout.mxcsr_mask;
        self.set_mxcsr(m);
        if layout.xsave {
            let bv = self.xstate_bv() & layout.features;
            self.set_xstate_bv(bv);
            self.bytes[XSAVE_HEADER + 8..XSAVE_MIN].fill(0);
        }
    }
}

/// The shape of [`FpState`] on this host, from CPUID leaf 0xD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpLayout {
    /// Whether the host kernel saves state with XSAVE (else the area is the
    /// 512-byte FXSAVE area alone).
    pub xsave: bool,
    /// Bytes of the area: Linux's `xstate_size` in a signal frame.
    pub size: usize,
    /// The state components app threads have (`xfeatures` in a signal
    /// frame): XCR0 less the components enabled only on request.
    pub features: u64,
    /// XCR0: a bit outside it in `xstate_bv` makes XRSTOR fault.
    pub xcr0: u64,
    /// The MXCSR bits that may be set.
    pub mxcsr_mask: u32,
    /// The largest XSAVE area the host may use for a thread (every
    /// component it supports, those enabled on request included): what
    /// ptrace's `NT_X86_XSTATE` regset may need.
    pub max_size: usize,
}

/// The host's [`FpLayout`], computed once.
pub fn fp_layout() -> &'static FpLayout {
    static LAYOUT: std::sync::OnceLock<FpLayout> = std::sync::OnceLock::new();
    LAYOUT.get_or_init(compute_layout)
}

fn cpuid(leaf: u32, sub: u32) -> std::arch::x86_64::CpuidResult {
    std::arch::x86_64::__cpuid_count(leaf, sub)
}

fn compute_layout() -> FpLayout {
    let mxcsr_mask = host_mxcsr_mask();
    let legacy =
        FpLayout { xsave: false, size: 512, features: XFEATURE_FPSSE, xcr0: XFEATURE_FPSSE, mxcsr_mask, max_size: 512 };
    // CPUID.1:ECX.OSXSAVE (bit 27): the OS enabled XSAVE and XGETBV.
    if cpuid(0, 0).eax < 0xd || cpuid(1, 0).ecx & (1 << 27) == 0 {
        return legacy;
    }
    let xcr0 = xgetbv0();
    let mut features = XFEATURE_FPSSE;
    let mut size = XSAVE_MIN;
    for i in 2..63u32 {
        if xcr0 & (1 << i) == 0 {
            continue;
        }
        let c = cpuid(0xd, i);
        // ECX bit 0: a supervisor component; bit 2: it can be disabled
        // per thread (XFD), which Linux uses for components apps must ask
        // for (AMX tile data).
        if c.ecx & 0b101 != 0 || c.eax == 0 {
            continue;
        }
        let end = c.ebx as usize + c.eax as usize;
        if end > FP_STATE_CAP {
            log::warn!("xsave component {i} ends at {end}, past {FP_STATE_CAP} bytes: not given to apps");
            continue;
        }
        features |= 1 << i;
        size = size.max(end);
    }
    let leaf = cpuid(0xd, 0);
    let max_size = size.max(leaf.ebx as usize).max(leaf.ecx as usize);
    FpLayout { xsave: true, size, features, xcr0, mxcsr_mask, max_size }
}

/// XCR0, the state components the host kernel enabled.
fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 reads XCR0; the caller checked
    // CPUID.OSXSAVE, without which it would fault. It touches no memory.
    unsafe {
        std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
    }
    u64::from(hi) << 32 | u64::from(lo)
}

/// MXCSR_MASK as FXSAVE reports it (0 there means the default 0xffbf).
fn host_mxcsr_mask() -> u32 {
    #[repr(C, align(16))]
    struct Fx([u8; 512]);
    let mut fx = Fx([0; 512]);
    // SAFETY: FXSAVE writes exactly 512 bytes to a 16-byte-aligned buffer,
    // which `fx` is; it changes no register.
    unsafe {
        std::arch::asm!("fxsave64 [{}]", in(reg) fx.0.as_mut_ptr(), options(nostack, preserves_flags));
    }
    match u32::from_le_bytes([fx.0[28], fx.0[29], fx.0[30], fx.0[31]]) {
        0 => 0xffbf,
        m => m,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registers_from_words_are_made_safe_for_user_mode() {
        let r = Regs { rip: 0x401000, rsp: 0x7ffd_0000, rax: 7, fs_base: 0x7f00_0000_1000, ..Regs::for_entry(0, 0) };
        assert_eq!(Regs::from_words(&r.to_words()), Some(r));
        let mut w = r.to_words();
        w[17] = 0x10; // a kernel code selector
        w[18] = 0x3000 | 0x200 | 0x1; // IOPL 3, IF, CF
        w[21] = 0xffff_8000_0000_0000; // a kernel address as the TLS base
        w[23] = 0x18;
        let safe = Regs::from_words(&w).expect("27 words");
        assert_eq!((safe.cs, safe.ss), (USER_CS, USER_DS));
        assert_eq!(safe.eflags, 0x202 | 0x1, "no IOPL; interrupts on");
        assert_eq!((safe.fs_base, safe.ds), (0, 0));
        assert_eq!(Regs::from_words(&w[..26]), None);
    }

    use super::*;

    #[test]
    fn layout_is_consistent() {
        let l = fp_layout();
        assert!(l.size <= FP_STATE_CAP);
        assert_eq!(l.features & XFEATURE_FPSSE, XFEATURE_FPSSE);
        assert_eq!(l.features & !l.xcr0, 0);
        if l.xsave {
            assert!(l.size >= XSAVE_MIN);
            // CPUID's EBX is the size for everything in XCR0, which covers ours.
            assert!(l.size <= cpuid(0xd, 0).ebx as usize);
        } else {
            assert_eq!(l.size, 512);
        }
        assert_eq!(l.mxcsr_mask & 0x1f80, 0x1f80);
    }
}
