//! How the Sentry takes control of the app's syscalls and faults.
//!
//! Three roles, after gVisor's `pkg/sentry/platform`:
//! - [`Platform`] creates address spaces and contexts and says which app
//!   addresses are usable;
//! - [`AddressSpace`] is one app address space: it maps ranges of the Sentry's
//!   memory file (one memfd) at app addresses, and unmaps and protects them;
//! - [`Context`] runs one app thread in an address space until the thread makes
//!   a syscall, faults or gets a signal, and returns that as a [`SwitchOutcome`]
//!   together with the thread's registers.
//!
//! The app never executes a host syscall: every syscall it makes stops in the
//! platform and is handed to the Sentry. Two implementations:
//! - [`systrap`]: a seccomp filter turns each app syscall into a SIGSYS in
//!   the stub, whose handler hands it to the Sentry through shared memory
//!   (the fast one, and the default where the host supports it);
//! - [`ptrace`]: PTRACE_SYSEMU stops the stub at each syscall.
//!
//! Both run on x86_64 and aarch64 (systrap's stub and handler are each
//! architecture's assembly: `systrap/arch/`).
//!
//! A third, [`kvm`] (x86_64 only), runs the app in ring 3 of a KVM guest
//! whose ring-0 stub hands each syscall and fault to the Sentry by a VM
//! exit.
//!
//! All of Husk's ptrace and stub code, and the unsafe code it needs, lives in
//! this crate.

pub mod arch;

#[cfg(target_arch = "x86_64")]
pub mod kvm;
pub mod ptrace;
pub mod systrap;

use std::any::Any;

#[cfg(target_arch = "aarch64")]
pub use arch::{access_from_esr, access_from_insn, PSTATE_USER};
pub use arch::{fp_layout, FpLayout, FpState, Regs, FP_STATE_CAP};
#[cfg(target_arch = "x86_64")]
pub use arch::{FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FX_SW_BYTES, XFEATURE_FPSSE, XSAVE_HEADER, XSAVE_MIN};

/// Page protections, as `PROT_*` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot(pub u32);

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot(0);
    /// Readable.
    pub const READ: u32 = 1;
    /// Writable.
    pub const WRITE: u32 = 2;
    /// Executable.
    pub const EXEC: u32 = 4;

    /// Whether all bits of `bits` are set.
    pub fn allows(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

/// The kind of access that faulted, where the platform can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read.
    Read,
    /// A write.
    Write,
    /// An instruction fetch.
    Exec,
}

/// Why [`Context::switch`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// The thread made a syscall; the number and arguments are in the
    /// registers. The syscall has not run: the Sentry emulates it and sets the
    /// return register.
    Syscall,
    /// The thread faulted (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP).
    Fault {
        /// The host signal that reported the fault.
        signo: u32,
        /// `si_code`.
        code: i32,
        /// `si_addr`: the faulting address.
        addr: u64,
        /// The access, when the platform knows it.
        access: Option<Access>,
        /// What the hardware said of it, when the platform saw the host's
        /// signal frame (systrap).
        syndrome: Option<Syndrome>,
    },
    /// [`Context::interrupt`] was called while the thread ran.
    Interrupted,
}

/// What the hardware reported of a fault, as the host's signal frame gave
/// it (and as Linux gives the app's): x86_64's trap number and error code
/// (the sigcontext's `trapno` and `err`); arm64's Exception Syndrome
/// Register in `code` (its `esr_context`), `number` 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Syndrome {
    /// The trap (exception vector) number.
    pub number: u64,
    /// The error code, or the ESR.
    pub code: u64,
}

/// Errors of the platform layer. Any of them means the app thread cannot go
/// on: the Sentry ends the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A host call needed to create the stub failed.
    #[error("creating the stub process: {0}")]
    StubCreate(#[source] std::io::Error),
    /// A ptrace request failed.
    #[error("ptrace {op} on stub {pid}: {source}")]
    Ptrace {
        /// The request.
        op: &'static str,
        /// The stub's host pid.
        pid: i32,
        /// The host error.
        #[source]
        source: std::io::Error,
    },
    /// The stub process died or stopped unexpectedly.
    #[error("stub {pid} ended unexpectedly (wait status {status:#x})")]
    StubDied {
        /// The stub's host pid.
        pid: i32,
        /// The raw wait status.
        status: i32,
    },
    /// A map, unmap or protect request into the stub failed.
    #[error("{op} in stub {pid} failed with errno {errno}")]
    AddressSpaceOp {
        /// mmap, munmap or mprotect.
        op: &'static str,
        /// The stub's host pid.
        pid: i32,
        /// The host errno.
        errno: i32,
    },
    /// The stub broke the platform's protocol (its shared page is writable
    /// by the app, so this is the app's doing or a platform bug).
    #[error("stub {pid}: {what}")]
    Protocol {
        /// The stub's host pid.
        pid: i32,
        /// What was wrong.
        what: &'static str,
    },
    /// The KVM platform cannot run here, or its guest failed.
    #[error("kvm: {0}")]
    Kvm(String),
    /// The address space given to a context belongs to another platform.
    #[error("address space of the wrong platform")]
    WrongAddressSpace,
}

/// A way to run app threads under the Sentry's control.
pub trait Platform: Send + Sync {
    /// The name `--platform` selects it by.
    fn name(&self) -> &'static str;
    /// The lowest address the app may map.
    fn min_user_address(&self) -> u64 {
        0x10000
    }
    /// One past the highest address the app may map; everything above is the
    /// platform's (the stub's code lives there).
    fn max_user_address(&self) -> u64;
    /// A new, empty address space.
    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>, PlatformError>;
    /// A new context, to run one app thread.
    fn new_context(&self) -> Box<dyn Context>;
}

/// One app address space. Mappings always come from the memory file given to
/// the platform at creation, so an address space holds nothing of the host
/// but those pages.
pub trait AddressSpace: Send {
    /// Maps `len` bytes of the memory file at `file_offset` to `addr`,
    /// replacing whatever was mapped there. All values are page-aligned.
    fn map_file(&mut self, addr: u64, len: u64, file_offset: u64, prot: Prot) -> Result<(), PlatformError>;
    /// Removes the mappings in `[addr, addr + len)`.
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError>;
    /// Changes the protection of `[addr, addr + len)`.
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError>;
    /// The host process holding this address space, where there is one (for
    /// resource accounting and `ps`).
    fn host_pid(&self) -> Option<i32> {
        None
    }
    /// Has the host show `cmdline` (the app's argv, each argument
    /// NUL-terminated, as /proc/PID/cmdline gives it) as the host
    /// process's command line, what the host's `ps`, and so `docker top`,
    /// print. The bytes are copied into anonymous memory of the host
    /// process (the host reads a command line from nothing else, never
    /// from the memory file's shared pages, where the app's own argv is),
    /// cut to what fits there. A no-op where there is no host process.
    fn show_args(&mut self, _cmdline: &[u8]) -> Result<(), PlatformError> {
        Ok(())
    }
    /// For the platform's own downcasts.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// `struct prctl_mm_map` (`<linux/prctl.h>`) for PR_SET_MM_MAP, as a stub
/// gives it to show `[start, end)` as its command line: the arguments
/// there, which end in a NUL, and no environment after them; every other
/// field a valid address that changes nothing a stub uses (it has no brk,
/// and no executable to point at: `exe_fd` is -1). Linux wants each field
/// within user space and the pairs ordered.
pub(crate) fn prctl_mm_map(start: u64, end: u64) -> [u64; PRCTL_MM_MAP_WORDS] {
    let at = start;
    [
        at,                // start_code
        at + 1,            // end_code (past start_code)
        at,                // start_data
        at,                // end_data
        at,                // start_brk
        at,                // brk
        at,                // start_stack
        start,             // arg_start
        end,               // arg_end
        end,               // env_start
        end,               // env_end
        0,                 // auxv
        0xffff_ffff << 32, // auxv_size 0, exe_fd -1
    ]
}

/// The words of `struct prctl_mm_map` (104 bytes).
pub(crate) const PRCTL_MM_MAP_WORDS: usize = 13;

/// Whether this host lets a stub show a command line (PR_SET_MM_MAP), as
/// the first stub that tried learnt: [`ARGS_UNKNOWN`], [`ARGS_SHOWN`] or
/// [`ARGS_REFUSED`] (a kernel built without CONFIG_CHECKPOINT_RESTORE).
pub(crate) static SHOWS_ARGS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(ARGS_UNKNOWN);
pub(crate) const ARGS_UNKNOWN: u8 = 0;
pub(crate) const ARGS_SHOWN: u8 = 1;
pub(crate) const ARGS_REFUSED: u8 = 2;

/// The first `cap` bytes at most of `cmdline` (NUL-separated arguments),
/// ending in a NUL, or None if there is nothing to show.
pub(crate) fn cmdline_within(cmdline: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut out = cmdline.get(..cmdline.len().min(cap.checked_sub(1)?))?.to_vec();
    if out.is_empty() {
        return None;
    }
    if out.last() != Some(&0) {
        out.push(0);
    }
    Some(out)
}

/// Makes a context's [`Context::switch`] return [`SwitchOutcome::Interrupted`]
/// soon; callable from any thread.
pub trait Interrupter: Send + Sync {
    /// Interrupts the context if it is running app code, or makes its next
    /// switch return at once.
    fn interrupt(&self);
}

/// One app thread's execution context.
pub trait Context: Send {
    /// Runs the thread in `space` with `regs` until it makes a syscall, faults
    /// or is interrupted; on return `regs` holds the thread's registers.
    fn switch(&mut self, space: &mut dyn AddressSpace, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError>;

    /// A handle other threads use to interrupt this context, if the platform
    /// can.
    fn interrupter(&self) -> Option<std::sync::Arc<dyn Interrupter>> {
        None
    }

    /// Reads the thread's FPU and vector state (after a switch returned):
    /// the first [`fp_layout`]`().size` bytes of `fp`, with `sw_reserved`
    /// zeroed. `Ok(false)` if the platform does not expose it.
    fn get_fp_state(&mut self, _space: &mut dyn AddressSpace, _fp: &mut FpState) -> Result<bool, PlatformError> {
        Ok(false)
    }

    /// Replaces the thread's FPU and vector state before the next switch with
    /// the first [`fp_layout`]`().size` bytes of `fp` (components absent
    /// from its `xstate_bv` are reset to their initial state).
    fn set_fp_state(&mut self, _space: &mut dyn AddressSpace, _fp: &FpState) -> Result<bool, PlatformError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_command_line_is_cut_to_fit_and_ends_in_a_nul() {
        assert_eq!(super::cmdline_within(b"ls\0-l\0", 100).as_deref(), Some(&b"ls\0-l\0"[..]));
        assert_eq!(super::cmdline_within(b"ls\0-l", 100).as_deref(), Some(&b"ls\0-l\0"[..]));
        assert_eq!(super::cmdline_within(b"abcdef\0", 4).as_deref(), Some(&b"abc\0"[..]));
        assert_eq!(super::cmdline_within(b"", 4), None);
        assert_eq!(super::cmdline_within(b"abc", 1), None);
        assert_eq!(super::cmdline_within(b"abc", 0), None);
    }

    #[test]
    fn the_mm_map_shows_the_range_and_keeps_the_pairs_ordered() {
        let m = super::prctl_mm_map(0x7fff_0000, 0x7fff_0010);
        assert!(m[0] < m[1] && m[2] <= m[3] && m[4] <= m[5]);
        assert_eq!((m[7], m[8], m[9], m[10]), (0x7fff_0000, 0x7fff_0010, 0x7fff_0010, 0x7fff_0010));
        // auxv_size 0, exe_fd -1 (unchanged).
        assert_eq!(m[12], 0xffff_ffff_0000_0000);
    }
}
