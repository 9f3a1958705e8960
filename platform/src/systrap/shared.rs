//! The control page shared by the Sentry and one stub, and the handoff on it.
//!
//! The page is the first page of a small memfd (the "control region") that the
//! Sentry maps wherever the host puts it and the stub maps at a fixed address
//! next to its code page. The rest of the region is the stub's signal stack,
//! so the frames the host kernel builds for the stub's signals (registers and
//! FPU state) are in shared memory too.
//!
//! Offsets are shared with the assembly in `arch/` through `const` operands,
//! so they are written once, here (the registers' layout, which is each
//! architecture's, there).
//!
//! # Handoff
//! One 32-bit futex word, `STATE`, says whose turn it is: [`S_APP`] (the stub's:
//! the app runs, or the stub serves a request) or [`S_SENTRY`] (the Sentry's:
//! the stub posted an event or finished a request and waits for the reply).
//! A side gives the turn away with an atomic exchange; if the old value had
//! [`WAITING`] set, the other side sleeps in `FUTEX_WAIT` and is woken. A side
//! waiting for its turn spins briefly, then sets [`WAITING`] with a
//! compare-and-swap (only if the turn is still the other side's) and sleeps.
//! Each side records the CPU it gives the turn from; a side that finds the
//! other on its own CPU does not spin, since spinning there only delays the
//! other side.
//!
//! # Trust
//! App code runs in the stub's address space and can write this page at any
//! time. Everything the Sentry reads from it is a snapshot copied out once and
//! then validated; nothing read here is used as an index or a length without a
//! check, and a bad value can only make the Sentry report an error or hand
//! odd registers back to the same app.

use std::sync::atomic::{AtomicU32, Ordering};

/// The page size.
pub const PAGE: usize = 4096;
/// The signal stack's size (the rest of the control region).
pub const SIGSTACK_LEN: usize = 8 * PAGE;
/// The control region: the control page, then the signal stack.
pub const CTRL_LEN: usize = PAGE + SIGSTACK_LEN;

// Control page layout. All fields are 8 bytes except the state word. What
// both sides touch on every round trip shares the first cache line, so a
// handoff between CPUs moves as few lines as possible: that line and the
// registers'.
/// The futex word (u32).
pub const STATE: usize = 0x00;
/// The Sentry's reply: [`REQ_RESUME`] or [`REQ_OPS`].
pub const REQ: usize = 0x08;
/// The signal number of the last event.
pub const SIGNO: usize = 0x10;
/// The CPU the stub last gave the turn from (written by the stub).
pub const STUB_CPU: usize = 0x18;
/// The CPU the Sentry last gave the turn from (written by the Sentry).
pub const SENTRY_CPU: usize = 0x20;
/// The fs base (x86_64); on aarch64, `tpidr_el0`.
pub const FS_BASE: usize = 0x28;
/// The gs base (x86_64).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub const GS_BASE: usize = 0x30;
/// Without FSGSBASE: bit 0 = set fs base, bit 1 = set gs base, on resume
/// (x86_64).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub const SET_FSGS: usize = 0x38;
/// How many `pause` iterations the stub spins before it sleeps.
pub const SPIN: usize = 0x40;
/// Nonzero: the stub reads and writes fs/gs bases with rd/wr{fs,gs}base.
pub const FSGS_MODE: usize = 0x48;
/// The stub's address of the last event's ucontext (its FPU state is there).
pub const UCTX: usize = 0x50;
/// The stub's address of an FPU area ([`SYNTH_FP_AREA`]) for the frame the
/// first resume builds, or 0 for a clean FPU.
pub const SYNTH_FP: usize = 0x58;
/// The raw result of the queued operation that failed.
pub const RESULT: usize = 0xc0;
/// How many address-space operations are queued at [`OPS`]; the stub runs
/// them in order at its next turn, before anything else, and sets this to 0,
/// or, when one fails, to how many were left (the failed one included).
pub const OPS_N: usize = 0xc8;
/// The queued operations: each a syscall number and six arguments.
pub const OPS: usize = 0x300;
/// One queued operation's size.
pub const OP_LEN: usize = 7 * 8;
/// How many operations fit in the control page.
pub const MAX_OPS: usize = (PAGE - OPS) / OP_LEN;
// The event's general registers (`GREGS`, as the kernel's `struct
// sigcontext` holds them), its siginfo and the first resume's frame: where
// and how long is each architecture's (`arch/`).
pub(super) use super::arch::{GREGS, GREGS_OUT, SIGINFO, SYNTH_FP_AREA, SYNTH_UCTX};
/// Where the Sentry puts the `struct prctl_mm_map` of a queued
/// PR_SET_MM_MAP ([`crate::AddressSpace::show_args`]).
pub const MM_MAP: usize = 0x280;
const _: () = assert!(SIGINFO + 128 <= MM_MAP && MM_MAP + 8 * crate::PRCTL_MM_MAP_WORDS <= OPS);
/// A queued operation that is no syscall: copy `arg2` bytes from `arg1`
/// to `arg0`, in the stub ([`crate::AddressSpace::show_args`]'s copy of
/// the command line into the stub's anonymous memory).
pub const OP_COPY: u64 = u64::MAX;
/// Where the Sentry stages the command line a stub copies: the signal
/// stack's lowest page, far below any frame the stub's handler has (one
/// at a time, its FPU state included, at the stack's top).
pub const ARGS_STAGING: usize = PAGE;
/// The most bytes of a command line a stub shows.
pub const ARGS_MAX: usize = PAGE;
/// The page of the stub region (an offset from its start) that holds the
/// command line the stub shows: the region's last, reserved and anonymous.
pub const ARGS_PAGE: usize = super::stub::REGION_LEN as usize - PAGE;
const _: () = assert!(ARGS_STAGING + ARGS_MAX + 4 * PAGE <= SYNTH_FP_AREA);
const _: () = assert!(SIGINFO + 128 <= OPS && GREGS + 8 * GREGS_OUT <= SIGINFO);
const _: () = assert!(SYNTH_FP_AREA >= PAGE && SYNTH_UCTX < CTRL_LEN);

// The factory page (see `stub.rs`): the first page of the control pool's
// slot 0, which the stub factory maps at `FACTORY_PAGE` in its region.
/// Where the factory page sits, as an offset from the region's start (after
/// the code page and the control region, inside the reservation).
pub const FACTORY_PAGE: usize = PAGE + CTRL_LEN;
/// The factory's futex word (u32): [`F_IDLE`], [`F_REQUEST`] or [`F_DONE`].
pub const F_STATE: usize = 0x00;
/// A request: the offset in the control pool of the new stub's region.
pub const F_SLOT: usize = 0x08;
/// The reply: the new stub's pid, or a negated errno.
pub const F_RESULT: usize = 0x10;
/// The Sentry's pid, the new stub's parent (it checks, after asking to die
/// with it, that it still has that parent).
pub const F_SENTRY_PID: usize = 0x18;
/// The control pool's fd in the factory.
pub const F_POOL_FD: usize = 0x20;
/// A `struct sock_fprog` for the stubs' seccomp filter (16 bytes).
pub const F_PROG: usize = 0x28;
/// The filter's instructions, to the end of the page.
pub const F_FILTER: usize = 0x40;
/// Nothing asked.
pub const F_IDLE: u32 = 0;
/// The Sentry asks for a stub.
pub const F_REQUEST: u32 = 1;
/// The factory answered in [`F_RESULT`].
pub const F_DONE: u32 = 2;
const _: () = assert!(FACTORY_PAGE + PAGE <= ARGS_PAGE);

/// The stub's turn.
pub const S_APP: u32 = 1;
/// The Sentry's turn.
pub const S_SENTRY: u32 = 2;
/// The side whose turn it is not sleeps in FUTEX_WAIT.
pub const WAITING: u32 = 4;
/// The bits that say whose turn it is.
pub const TURN_MASK: u32 = 3;

/// Reply: run the queued operations, then resume the app with the
/// registers in [`GREGS`].
pub const REQ_RESUME: u64 = 1;
/// Reply: run the queued operations and give the turn back.
pub const REQ_OPS: u64 = 2;

/// The Sentry's mapping of one control region.
pub struct Ctrl {
    base: *mut u8,
}

// SAFETY: the mapping is owned by this value (unmapped on drop) and is only
// accessed through atomics and volatile copies, never references to plain
// data, so moving it to another thread is sound.
unsafe impl Send for Ctrl {}

impl Ctrl {
    /// Maps the control region at `offset` (page-aligned) in memfd `fd`,
    /// which must hold `CTRL_LEN` bytes there.
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, offset: u64) -> std::io::Result<Ctrl> {
        use std::os::fd::AsRawFd;
        // SAFETY: a new shared mapping of our own fd at an address the host
        // chooses; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CTRL_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                libc::off_t::try_from(offset).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // Stubs forked later for other address spaces must not inherit it.
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(p, CTRL_LEN, libc::MADV_DONTFORK) };
        Ok(Ctrl { base: p.cast() })
    }

    /// The futex word.
    pub fn state(&self) -> &AtomicU32 {
        // SAFETY: STATE is 4-byte aligned inside the page-aligned mapping,
        // which lives as long as `self`; all access to it is atomic (the stub
        // uses locked instructions and plain aligned loads).
        unsafe { &*self.base.add(STATE).cast::<AtomicU32>() }
    }

    /// The futex word's address, for FUTEX_WAIT and FUTEX_WAKE.
    pub fn state_ptr(&self) -> *const u32 {
        // SAFETY: in bounds of the mapping.
        unsafe { self.base.add(STATE).cast::<u32>() }
    }

    /// Reads the word at `off` (a constant of this module, or a checked
    /// offset into the signal stack).
    #[inline]
    pub fn get(&self, off: usize) -> u64 {
        assert!(off.is_multiple_of(8) && off + 8 <= CTRL_LEN);
        // SAFETY: aligned and inside the control page (asserted); volatile
        // because the stub (another process) writes it.
        unsafe { self.base.add(off).cast::<u64>().read_volatile() }
    }

    /// Writes the word at `off`.
    #[inline]
    pub fn set(&self, off: usize, v: u64) {
        assert!(off.is_multiple_of(8) && off + 8 <= CTRL_LEN);
        // SAFETY: as in `get`.
        unsafe { self.base.add(off).cast::<u64>().write_volatile(v) }
    }

    /// Copies `N` words starting at `off` out of the page.
    #[inline]
    pub fn get_words<const N: usize>(&self, off: usize) -> [u64; N] {
        let mut out = [0u64; N];
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.get(off + 8 * i);
        }
        out
    }

    /// Copies `dst.len()` bytes at `off` out of the region.
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        assert!(off.checked_add(dst.len()).is_some_and(|e| e <= CTRL_LEN));
        // SAFETY: the source range is inside the mapping (asserted) and `dst`
        // is ours. The stub may write the source meanwhile; a byte copy into
        // our own buffer tolerates that.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(off), dst.as_mut_ptr(), dst.len()) };
    }

    /// Copies `src` into the region at `off`.
    pub fn write_bytes(&self, off: usize, src: &[u8]) {
        assert!(off.checked_add(src.len()).is_some_and(|e| e <= CTRL_LEN));
        // SAFETY: as in `read_bytes`, in the other direction.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(off), src.len()) };
    }

    /// Copies the event's siginfo out.
    pub fn siginfo(&self) -> [u64; 16] {
        self.get_words(SIGINFO)
    }
}

impl Drop for Ctrl {
    fn drop(&mut self) {
        // SAFETY: unmapping the region mapped in `map`; nothing refers to it
        // any more (`state()` borrows end with `self`).
        unsafe { libc::munmap(self.base.cast(), CTRL_LEN) };
    }
}

/// Whether the turn in `state` is `turn`.
#[inline]
pub fn is_turn(state: u32, turn: u32) -> bool {
    state & TURN_MASK == turn
}

/// Gives the turn to the stub; returns whether it sleeps and needs a wake.
#[inline]
pub fn give_to_stub(state: &AtomicU32) -> bool {
    state.swap(S_APP, Ordering::SeqCst) & WAITING != 0
}
