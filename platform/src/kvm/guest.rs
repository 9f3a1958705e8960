//! The guest's ring-0 side: the entry stub (x86_64 assembly, copied into
//! each vCPU's block of guest memory), the per-vCPU block's layout, and the
//! descriptor tables and page-table entries the Sentry writes for it.
//!
//! The stub is the whole guest kernel. It takes the app's `syscall`
//! (MSR_LSTAR) and every exception and interrupt (the IDT), saves the app's
//! registers in the vCPU's data page, and leaves the guest with an `out` to
//! [`EXIT_PORT`]: the VM exit hands the event to the Sentry. When the
//! Sentry runs the vCPU again, the stub goes on after the `out`: it applies
//! the page-table changes the Sentry queued (re-writing each changed entry
//! from inside the guest, so that KVM's shadow page tables, where the host
//! has them, notice), loads CR3 if asked, and returns to ring 3 with
//! `iretq` (never `sysretq`: on a nested PVM host it triple-faults).
//!
//! Everything the stub addresses is RIP-relative, within its block: each
//! vCPU has its own copy of the code, followed by its own data page, so no
//! register is needed to find per-vCPU state on entry.

use super::super::arch::TASK_SIZE;

/// Bytes in a page.
pub const PAGE: u64 = 4096;

/// Pages of one vCPU's block: code, data (save area and kernel stack),
/// GDT and TSS, IDT, queued page-table touches.
pub const BLOCK_PAGES: u64 = 5;
/// Page offsets within a block.
pub const B_CODE: u64 = 0;
pub const B_DATA: u64 = PAGE;
pub const B_GDT: u64 = 2 * PAGE;
/// The TSS, in the GDT's page.
pub const B_TSS: u64 = 2 * PAGE + 128;
pub const B_IDT: u64 = 3 * PAGE;
pub const B_OPS: u64 = 4 * PAGE;
/// How many touches fit in the ops page.
pub const MAX_OPS: usize = (PAGE / 8) as usize;

// The data page's save area: the general registers in `Regs`' order (r15
// first), then the rest.
pub const D_REGS: u64 = 0;
pub const D_RIP: u64 = 120;
pub const D_RFLAGS: u64 = 128;
pub const D_RSP: u64 = 136;
pub const D_FS: u64 = 144;
pub const D_GS: u64 = 152;
/// Why the stub exited: [`KIND_SYSCALL`], [`KIND_EVENT`], [`KIND_OPS`] or
/// [`KIND_KERNEL_FAULT`].
pub const D_KIND: u64 = 160;
pub const D_VEC: u64 = 168;
pub const D_ERR: u64 = 176;
pub const D_CR2: u64 = 184;
pub const D_CS: u64 = 192;
/// Touches queued in the ops page.
pub const D_OPS_N: u64 = 200;
/// A CR3 to load before returning (0: none).
pub const D_CR3: u64 = 208;
/// [`REQ_RESUME`] or [`REQ_OPS`].
pub const D_REQ: u64 = 216;

pub const KIND_SYSCALL: u64 = 1;
pub const KIND_EVENT: u64 = 2;
pub const KIND_OPS: u64 = 3;
pub const KIND_KERNEL_FAULT: u64 = 4;

pub const REQ_RESUME: u64 = 0;
pub const REQ_OPS: u64 = 1;

/// The I/O port the stub's `out` writes: every exit of ours.
pub const EXIT_PORT: u16 = 0x4b4b;

/// A queued touch with this bit set stands for every entry of its page (a
/// reused page-table page).
pub const TOUCH_PAGE: u64 = 1;

/// Linux's selectors: kernel code and data, user code (32 and 64-bit) and
/// data, and the TSS.
pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER_CS: u64 = 0x33;
pub const USER_DS: u64 = 0x2b;
pub const TSS_SEL: u16 = 0x38;

/// The interrupt vector a kick injects ([`super::KvmInterrupter`]).
pub const KICK_VECTOR: u32 = 32;

/// Byte offsets in the code page of each vector's entry (32 bytes apart,
/// from [`VECTORS`]) and of the syscall entry and the resume point.
pub const VECTORS: u64 = 0x800;
pub const VECTOR_STRIDE: u64 = 16;
/// Vectors with an entry: the 32 exceptions and the kick.
pub const NR_VECTORS: u64 = 33;

std::arch::global_asm!(
    ".pushsection .text.husk_kvm,\"ax\",@progbits",
    ".globl husk_kvm_start",
    ".globl husk_kvm_syscall",
    ".globl husk_kvm_resume",
    ".globl husk_kvm_end",
    ".p2align 12",
    "husk_kvm_start:",
    ".Lk_start:",
    // The app's syscall: rcx holds its rip, r11 its rflags (as the app sees
    // them clobbered, so they are saved as they are), rsp is still the
    // app's.
    "husk_kvm_syscall:",
    "mov [rip + .Lk_start + {D} + {RSP}], rsp",
    "lea rsp, [rip + .Lk_start + {D} + {PAGE}]",
    "call .Lk_save",
    "mov [rip + .Lk_start + {D} + {RIP}], rcx",
    "mov [rip + .Lk_start + {D} + {RFLAGS}], r11",
    "mov qword ptr [rip + .Lk_start + {D} + {CS}], {USER_CS}",
    "mov eax, {KIND_SYSCALL}",
    "jmp .Lk_exit",
    // An exception or interrupt, by way of its vector's entry: the stack
    // holds vector, error code, rip, cs, rflags, rsp, ss.
    ".Lk_common:",
    "call .Lk_save",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {VEC}], rax",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {ERR}], rax",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {RIP}], rax",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {CS}], rax",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {RFLAGS}], rax",
    "pop rax",
    "mov [rip + .Lk_start + {D} + {RSP}], rax",
    "pop rax",
    "mov rax, cr2",
    "mov [rip + .Lk_start + {D} + {CR2}], rax",
    "lea rsp, [rip + .Lk_start + {D} + {PAGE}]",
    "mov eax, {KIND_EVENT}",
    "test byte ptr [rip + .Lk_start + {D} + {CS}], 3",
    "jnz .Lk_exit",
    "mov eax, {KIND_KERNEL_FAULT}",
    ".Lk_exit:",
    "mov [rip + .Lk_start + {D} + {KIND}], rax",
    "rdfsbase rax",
    "mov [rip + .Lk_start + {D} + {FS}], rax",
    "rdgsbase rax",
    "mov [rip + .Lk_start + {D} + {GS}], rax",
    ".Lk_out:",
    "mov edx, {PORT}",
    "out dx, al",
    // The Sentry has run the vCPU again: first the queued touches, then
    // CR3 (a new address space, or a flush after touches), then back to
    // the app, or out again if only the touches were asked for.
    "husk_kvm_resume:",
    "mov rcx, [rip + .Lk_start + {D} + {OPS_N}]",
    "lea rsi, [rip + .Lk_start + {OPS}]",
    "test rcx, rcx",
    "jz .Lk_no_ops",
    ".Lk_touch:",
    "mov rdi, [rsi]",
    "btr rdi, 0",
    "jc .Lk_touch_page",
    "mov rax, [rdi]",
    "mov [rdi], rax",
    "jmp .Lk_touched",
    ".Lk_touch_page:",
    "mov edx, 512",
    ".Lk_touch_word:",
    "mov rax, [rdi]",
    "mov [rdi], rax",
    "add rdi, 8",
    "dec edx",
    "jnz .Lk_touch_word",
    ".Lk_touched:",
    "add rsi, 8",
    "dec rcx",
    "jnz .Lk_touch",
    "mov qword ptr [rip + .Lk_start + {D} + {OPS_N}], 0",
    ".Lk_no_ops:",
    "mov rax, [rip + .Lk_start + {D} + {CR3}]",
    "test rax, rax",
    "jz .Lk_no_cr3",
    "mov cr3, rax",
    "mov qword ptr [rip + .Lk_start + {D} + {CR3}], 0",
    ".Lk_no_cr3:",
    "cmp qword ptr [rip + .Lk_start + {D} + {REQ}], {REQ_OPS}",
    "jne .Lk_return",
    "mov eax, {KIND_OPS}",
    "mov [rip + .Lk_start + {D} + {KIND}], rax",
    "jmp .Lk_out",
    ".Lk_return:",
    "mov rax, [rip + .Lk_start + {D} + {FS}]",
    "wrfsbase rax",
    "mov rax, [rip + .Lk_start + {D} + {GS}]",
    "wrgsbase rax",
    "lea rsp, [rip + .Lk_start + {D} + {PAGE}]",
    "push {USER_DS}",
    "push qword ptr [rip + .Lk_start + {D} + {RSP}]",
    "push qword ptr [rip + .Lk_start + {D} + {RFLAGS}]",
    "push {USER_CS}",
    "push qword ptr [rip + .Lk_start + {D} + {RIP}]",
    "mov r15, [rip + .Lk_start + {D} + 0]",
    "mov r14, [rip + .Lk_start + {D} + 8]",
    "mov r13, [rip + .Lk_start + {D} + 16]",
    "mov r12, [rip + .Lk_start + {D} + 24]",
    "mov rbp, [rip + .Lk_start + {D} + 32]",
    "mov rbx, [rip + .Lk_start + {D} + 40]",
    "mov r11, [rip + .Lk_start + {D} + 48]",
    "mov r10, [rip + .Lk_start + {D} + 56]",
    "mov r9, [rip + .Lk_start + {D} + 64]",
    "mov r8, [rip + .Lk_start + {D} + 72]",
    "mov rax, [rip + .Lk_start + {D} + 80]",
    "mov rcx, [rip + .Lk_start + {D} + 88]",
    "mov rdx, [rip + .Lk_start + {D} + 96]",
    "mov rsi, [rip + .Lk_start + {D} + 104]",
    "mov rdi, [rip + .Lk_start + {D} + 112]",
    "iretq",
    // Saves the general registers but rsp (called with one return address
    // on the stack).
    ".Lk_save:",
    "mov [rip + .Lk_start + {D} + 0], r15",
    "mov [rip + .Lk_start + {D} + 8], r14",
    "mov [rip + .Lk_start + {D} + 16], r13",
    "mov [rip + .Lk_start + {D} + 24], r12",
    "mov [rip + .Lk_start + {D} + 32], rbp",
    "mov [rip + .Lk_start + {D} + 40], rbx",
    "mov [rip + .Lk_start + {D} + 48], r11",
    "mov [rip + .Lk_start + {D} + 56], r10",
    "mov [rip + .Lk_start + {D} + 64], r9",
    "mov [rip + .Lk_start + {D} + 72], r8",
    "mov [rip + .Lk_start + {D} + 80], rax",
    "mov [rip + .Lk_start + {D} + 88], rcx",
    "mov [rip + .Lk_start + {D} + 96], rdx",
    "mov [rip + .Lk_start + {D} + 104], rsi",
    "mov [rip + .Lk_start + {D} + 112], rdi",
    "ret",
    // One entry per vector, 16 bytes apart: push a zero error code where
    // the CPU pushes none, then the vector.
    ".org .Lk_start + {VECTORS}",
    ".irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32",
    ".org .Lk_start + {VECTORS} + \\v * {STRIDE}",
    ".if (\\v - 8) * (\\v - 10) * (\\v - 11) * (\\v - 12) * (\\v - 13) * (\\v - 14) * (\\v - 17) * (\\v - 21) * (\\v - 29) * (\\v - 30)",
    "push 0",
    ".endif",
    "push \\v",
    "jmp .Lk_common",
    ".endr",
    "husk_kvm_end:",
    ".popsection",
    D = const B_DATA,
    PAGE = const PAGE,
    OPS = const B_OPS,
    RIP = const D_RIP,
    RFLAGS = const D_RFLAGS,
    RSP = const D_RSP,
    FS = const D_FS,
    GS = const D_GS,
    KIND = const D_KIND,
    VEC = const D_VEC,
    ERR = const D_ERR,
    CR2 = const D_CR2,
    CS = const D_CS,
    OPS_N = const D_OPS_N,
    CR3 = const D_CR3,
    REQ = const D_REQ,
    REQ_OPS = const REQ_OPS,
    KIND_SYSCALL = const KIND_SYSCALL,
    KIND_EVENT = const KIND_EVENT,
    KIND_OPS = const KIND_OPS,
    KIND_KERNEL_FAULT = const KIND_KERNEL_FAULT,
    USER_CS = const USER_CS,
    USER_DS = const USER_DS,
    PORT = const EXIT_PORT,
    VECTORS = const VECTORS,
    STRIDE = const VECTOR_STRIDE,
);

extern "C" {
    static husk_kvm_start: u8;
    static husk_kvm_syscall: u8;
    static husk_kvm_resume: u8;
    static husk_kvm_end: u8;
}

/// The stub's code, and the offsets of the syscall entry and the resume
/// point in it.
pub struct Stub {
    pub code: &'static [u8],
    pub syscall: u64,
    pub resume: u64,
}

/// The stub as assembled into this binary.
pub fn stub() -> Stub {
    // SAFETY: the four symbols are labels of the one section above, in
    // order, so `start..end` is the stub's code, which lives as long as the
    // program and is never written.
    unsafe {
        let start = std::ptr::addr_of!(husk_kvm_start);
        let end = std::ptr::addr_of!(husk_kvm_end);
        let len = end as usize - start as usize;
        let code = std::slice::from_raw_parts(start, len);
        let syscall = std::ptr::addr_of!(husk_kvm_syscall) as u64 - start as u64;
        let resume = std::ptr::addr_of!(husk_kvm_resume) as u64 - start as u64;
        Stub { code, syscall, resume }
    }
}

/// The GDT (9 entries: Linux's selectors, and a 64-bit TSS at 0x38) for a
/// TSS at `tss`.
pub fn gdt(tss: u64) -> [u64; 9] {
    let limit = 0x67u64;
    let tss_low = limit
        | ((tss & 0xff_ffff) << 16)
        | (0x89u64 << 40) // present, available 64-bit TSS
        | (((tss >> 24) & 0xff) << 56);
    [
        0,
        0,
        0x00af_9b00_0000_ffff, // 0x10 kernel code, 64-bit
        0x00cf_9300_0000_ffff, // 0x18 kernel data
        0x00cf_fb00_0000_ffff, // 0x23 user code, 32-bit
        0x00cf_f300_0000_ffff, // 0x2b user data
        0x00af_fb00_0000_ffff, // 0x33 user code, 64-bit
        tss_low,
        tss >> 32,
    ]
}

/// A 64-bit TSS (104 bytes) whose ring-0 stack is `rsp0`, with no I/O
/// permission bitmap.
pub fn tss(rsp0: u64) -> [u8; 104] {
    let mut t = [0u8; 104];
    t[4..12].copy_from_slice(&rsp0.to_le_bytes());
    // I/O map base past the limit: no bitmap.
    t[102..104].copy_from_slice(&104u16.to_le_bytes());
    t
}

/// The IDT: an interrupt gate per vector with an entry, at `code` +
/// [`VECTORS`] + vector * [`VECTOR_STRIDE`]; int3 and into may be used from
/// ring 3, as on Linux.
pub fn idt(code: u64) -> Vec<u8> {
    let mut idt = vec![0u8; 256 * 16];
    for v in 0..NR_VECTORS {
        let at = code + VECTORS + v * VECTOR_STRIDE;
        let dpl3 = v == 3 || v == 4;
        let attr: u64 = if dpl3 { 0xee } else { 0x8e };
        let low = (at & 0xffff) | (u64::from(KERNEL_CS) << 16) | (attr << 40) | (((at >> 16) & 0xffff) << 48);
        let high = at >> 32;
        let o = (v * 16) as usize;
        idt[o..o + 8].copy_from_slice(&low.to_le_bytes());
        idt[o + 8..o + 16].copy_from_slice(&high.to_le_bytes());
    }
    idt
}

// Page-table entry bits.
pub const PTE_P: u64 = 1;
pub const PTE_W: u64 = 2;
pub const PTE_U: u64 = 4;
pub const PTE_PS: u64 = 0x80;
/// Software bit: a mapping without access (PROT_NONE); the entry keeps its
/// address with P clear, so that a later protect can restore it.
pub const PTE_NONE: u64 = 1 << 9;
pub const PTE_NX: u64 = 1 << 63;
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The highest user address a guest page table maps (the platform keeps
/// the same bound as the host's 4-level layout).
pub const USER_END: u64 = TASK_SIZE;

/// The leaf entry mapping guest-physical `gpa` with `prot` (`PROT_*` bits).
pub fn leaf(gpa: u64, prot: u32) -> u64 {
    if prot & 7 == 0 {
        return gpa | PTE_NONE;
    }
    let mut e = gpa | PTE_P | PTE_U;
    if prot & 2 != 0 {
        e |= PTE_W;
    }
    if prot & 4 == 0 {
        e |= PTE_NX;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stub_fits_its_page_and_has_every_vector() {
        let s = stub();
        assert!(s.code.len() as u64 <= PAGE, "stub is {} bytes", s.code.len());
        assert!(s.code.len() as u64 >= VECTORS + (NR_VECTORS - 1) * VECTOR_STRIDE);
        assert!(s.syscall < VECTORS && s.resume < VECTORS);
        // Vector 14 (#PF) pushes no zero: its entry starts with `push 14`.
        let pf = (VECTORS + 14 * VECTOR_STRIDE) as usize;
        assert_eq!(&s.code[pf..pf + 2], &[0x6a, 14]);
        // Vector 6 (#UD) pushes a zero error code first.
        let ud = (VECTORS + 6 * VECTOR_STRIDE) as usize;
        assert_eq!(&s.code[ud..ud + 4], &[0x6a, 0, 0x6a, 6]);
    }

    #[test]
    fn entries_carry_the_protection() {
        assert_eq!(leaf(0x5000, 0), 0x5000 | PTE_NONE);
        assert_eq!(leaf(0x5000, 1), 0x5000 | PTE_P | PTE_U | PTE_NX);
        assert_eq!(leaf(0x5000, 3), 0x5000 | PTE_P | PTE_U | PTE_W | PTE_NX);
        assert_eq!(leaf(0x5000, 5), 0x5000 | PTE_P | PTE_U);
    }
}
