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

impl Regs {
    /// The state a new program starts in: every register zero but the
    /// instruction and stack pointers, as Linux's `start_thread` leaves it.
    pub fn for_entry(entry: u64, stack: u64) -> Regs {
        Regs { rip: entry, rsp: stack, cs: USER_CS, ss: USER_DS, eflags: INITIAL_EFLAGS, ..Regs::default() }
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
