//! ptrace(2) between app processes: what a tracee shares with its tracer.
//!
//! Tracing is per thread, as in Linux. Each task's handle carries a
//! [`PtraceLink`]: as a tracee, who traces it and the stop it is in; as a
//! tracer, the tids it traces. A tracee stops on its own host thread (in
//! the run loop, `task/ptrace.rs`): it leaves its registers and FPU state
//! here, tells its tracer (SIGCHLD with CLD_TRAPPED, and a wake-up for
//! wait), and sleeps until the tracer resumes or detaches it. While it is
//! stopped the tracer reads and writes those copies, which the tracee takes
//! back when it runs on; memory goes through the tracee's address space.
//!
//! Untraced tasks pay one atomic load per syscall and per signal for all
//! this ([`PtraceLink::is_traced`]).
//!
//! Lock order: the process tree, then a tracer's `tracees`, then a tracee's
//! `state`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use platform::{FpState, Regs};

use super::signal::SigInfo;

/// The most tracees one thread may have: the table is bounded as every
/// other (the sandbox's task limit bounds it too).
pub const MAX_TRACEES: usize = 32_768;

/// The stop a tracee is in, as its tracer's wait reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    /// Bits 8..16 of the wait status: the signal, with an event in bits
    /// 16..24 (`SIGTRAP | PTRACE_EVENT_x << 8`) or 0x80 for a syscall stop
    /// under PTRACE_O_TRACESYSGOOD.
    pub status: i32,
    /// Whether a wait has reported it.
    pub reported: bool,
}

/// Where a tracee's stop was taken, which says how it goes on once its
/// tracer resumes it (a checkpoint keeps it, for the restore to go on from
/// the same stop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopKind {
    /// A syscall-enter-stop: the syscall runs next (unless the tracer made
    /// its number -1), then its exit stop.
    #[default]
    SyscallEntry,
    /// A syscall-exit-stop: the tracee returns to its code.
    SyscallExit,
    /// A signal-delivery-stop: the signal the tracer gives is delivered.
    Signal,
    /// A group-stop or a PTRACE_INTERRUPT trap.
    Group,
    /// A PTRACE_EVENT_* stop, in the middle of a clone, exec or exit.
    Event,
}

/// How the tracer let the tracee go on from its stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// The signal to deliver (0: none; the stop's signal is dropped).
    pub sig: u32,
    /// PTRACE_SYSCALL: stop at the next syscall entry or exit.
    pub syscall: bool,
    /// PTRACE_SINGLESTEP: trap after one instruction.
    pub step: bool,
    /// The tracer's pid and uid, for the siginfo of a signal it changed.
    pub from_pid: i32,
    pub from_uid: u32,
}

/// A tracee's side of the link.
#[derive(Default)]
pub struct TraceeState {
    /// The tracing thread (0: none).
    pub tracer: i32,
    /// Its process.
    pub tracer_pid: i32,
    /// Attached with PTRACE_SEIZE (no SIGSTOP at attach, no SIGTRAP after
    /// execve, PTRACE_INTERRUPT allowed).
    pub seized: bool,
    /// PTRACE_O_* options.
    pub options: u32,
    /// The stop the tracee is in.
    pub stop: Option<Stop>,
    /// Where it was taken.
    pub kind: StopKind,
    /// What the last resume asked for.
    pub resume: Resume,
    /// The signal of the last stop (PTRACE_GETSIGINFO).
    pub siginfo: Option<SigInfo>,
    /// PTRACE_GETEVENTMSG's value.
    pub event_msg: u64,
    /// The registers, while stopped.
    pub regs: Regs,
    /// Whether the tracer changed `regs`.
    pub regs_dirty: bool,
    /// The FPU state, while stopped (None if the platform has none).
    pub fp: Option<Box<FpState>>,
    /// Whether the tracer changed `fp`.
    pub fp_dirty: bool,
    /// The debug registers as the tracer set them (`u_debugreg`): stored
    /// and read back, not armed (no hardware breakpoints).
    pub debugreg: [u64; 8],
    /// PTRACE_INTERRUPT, or an attach to a stopped task: stop at once.
    pub trap_pending: bool,
    /// The group stop the tracee already reported (it runs on once the
    /// tracer resumes it, as in Linux, until the group stops again).
    pub group_stop_seen: bool,
    /// PTRACE_LISTEN: the tracee stays in its group-stop, and leaves it
    /// (to trap again) when the group continues or the tracer interrupts.
    pub listening: bool,
    /// The tracee runs with the trap flag its tracer's PTRACE_SINGLESTEP
    /// set (hidden from the tracer, and cleared at the next stop).
    pub stepping: bool,
    /// PTRACE_SETSIGMASK's mask, applied when the tracee runs on.
    pub set_mask: Option<u64>,
}

impl TraceeState {
    /// Forgets the tracer (detach, or its exit). The debug registers stay,
    /// as the thread's own.
    pub fn forget_tracer(&mut self) {
        let debugreg = self.debugreg;
        let (regs, regs_dirty, fp, fp_dirty) = (self.regs, self.regs_dirty, self.fp.take(), self.fp_dirty);
        let set_mask = self.set_mask;
        let stopped = self.stop.is_some();
        *self = TraceeState { debugreg, ..TraceeState::default() };
        // A stop still in force hands back what the tracer changed.
        if stopped {
            (self.regs, self.regs_dirty, self.fp, self.fp_dirty) = (regs, regs_dirty, fp, fp_dirty);
            self.set_mask = set_mask;
        }
    }
}

/// One task's ptrace state, as tracee and as tracer.
#[derive(Default)]
pub struct PtraceLink {
    traced: AtomicBool,
    /// `trap_pending`, readable without the lock (blocking calls check it).
    trap: AtomicBool,
    state: Mutex<TraceeState>,
    /// Told when the tracee enters a stop (an attach to a stopped task
    /// waits for it).
    pub changed: Condvar,
    /// The tids this thread traces.
    tracees: Mutex<BTreeSet<i32>>,
    /// Tracees that exited and that no wait of this tracer reported yet
    /// (those that are not its own children: a child's exit is reported
    /// as any child's).
    exits: Mutex<Vec<TraceeExit>>,
}

/// A tracee's exit, for its tracer's wait.
#[derive(Clone, Copy, Debug)]
pub struct TraceeExit {
    /// The tracee's tid.
    pub tid: i32,
    /// Its process group then.
    pub pgid: i32,
    /// Its real uid.
    pub uid: u32,
    /// How it ended.
    pub status: super::ExitStatus,
}

impl PtraceLink {
    /// Whether a tracer is attached: the one check on the hot paths.
    #[inline]
    pub fn is_traced(&self) -> bool {
        self.traced.load(Ordering::Acquire)
    }

    /// Whether PTRACE_INTERRUPT (or a seized child's first stop) waits.
    #[inline]
    pub fn trap_pending(&self) -> bool {
        self.trap.load(Ordering::Acquire)
    }

    /// Sets or clears [`PtraceLink::trap_pending`].
    pub fn set_trap(&self, on: bool) {
        self.trap.store(on, Ordering::Release);
    }

    /// The tracee's state, locked.
    pub fn state(&self) -> MutexGuard<'_, TraceeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `tracer` (thread and process); the caller holds the process
    /// tree and has checked that there is none yet.
    pub fn attach(&self, tracer: i32, tracer_pid: i32, seized: bool, options: u32) {
        let mut st = self.state();
        st.forget_tracer();
        st.tracer = tracer;
        st.tracer_pid = tracer_pid;
        st.seized = seized;
        st.options = options;
        self.traced.store(true, Ordering::Release);
    }

    /// Ends the link from the tracee's side; the stop, if any, ends too.
    pub fn detach(&self) {
        self.detach_with(Resume::default());
    }

    /// [`PtraceLink::detach`], the tracee going on as `resume` says
    /// (PTRACE_DETACH's signal).
    pub fn detach_with(&self, resume: Resume) {
        let mut st = self.state();
        st.forget_tracer();
        st.resume = resume;
        st.stop = None;
        self.trap.store(false, Ordering::Release);
        self.traced.store(false, Ordering::Release);
    }

    /// The tids this thread traces, locked.
    pub fn tracees(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        self.tracees.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this thread traces anyone.
    pub fn has_tracees(&self) -> bool {
        !self.tracees().is_empty()
    }

    /// The exits of tracees not yet reported, locked.
    pub fn exits(&self) -> MutexGuard<'_, Vec<TraceeExit>> {
        self.exits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The link as a checkpoint left it: the tracee's side `st`, the tids
    /// this thread traces and their exits not yet reported.
    pub fn restore(&self, st: TraceeState, tracees: BTreeSet<i32>, exits: Vec<TraceeExit>) {
        self.traced.store(st.tracer != 0, Ordering::Release);
        self.trap.store(st.trap_pending, Ordering::Release);
        *self.state() = st;
        *self.tracees() = tracees;
        *self.exits() = exits;
    }
}

/// x86_64's `struct user`, as PTRACE_PEEKUSER and PTRACE_POKEUSER see it:
/// the general registers, then the FPU area (read as zeros here), then the
/// debug registers.
#[cfg(target_arch = "x86_64")]
pub mod user {
    use abi::Errno;
    use platform::Regs;

    /// `sizeof(struct user)`.
    pub const SIZE: u64 = 928;
    /// `sizeof(struct user_regs_struct)`.
    pub const REGS_SIZE: u64 = 27 * 8;
    /// `offsetof(struct user, u_debugreg)`.
    pub const DEBUGREG: u64 = 848;
    /// One past `u_debugreg` (then `error_code` and `fault_address`, read
    /// as zeros).
    const DEBUGREG_END: u64 = DEBUGREG + 8 * 8;
    /// One past the highest user address (Linux's TASK_SIZE_MAX).
    const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;
    /// The user data and code selectors.
    const USER_DS: u64 = 0x2b;
    const USER_CS: u64 = 0x33;
    /// The flags ptrace may change (Linux's FLAG_MASK).
    const FLAG_MASK: u64 = 0x40000 | 0x800 | 0x400 | 0x200 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;

    /// The word at `off` of `struct user`, or EIO for an offset that is
    /// unaligned or past the end.
    pub fn peek(regs: &Regs, debugreg: &[u64; 8], off: u64) -> Result<u64, Errno> {
        if !off.is_multiple_of(8) || off >= SIZE {
            return Err(Errno::EIO);
        }
        if off < REGS_SIZE {
            return Ok(regs.to_words()[(off / 8) as usize]);
        }
        if (DEBUGREG..DEBUGREG_END).contains(&off) {
            return Ok(debugreg.get(((off - DEBUGREG) / 8) as usize).copied().unwrap_or(0));
        }
        Ok(0)
    }

    /// Writes the word at `off` of `struct user` as Linux's putreg and
    /// ptrace_set_debugreg do: EIO for a bad offset, selector or TLS base,
    /// EINVAL for a breakpoint address outside user space. Other words
    /// (the FPU area, padding) are ignored.
    pub fn poke(regs: &mut Regs, debugreg: &mut [u64; 8], off: u64, val: u64) -> Result<(), Errno> {
        if !off.is_multiple_of(8) || off >= SIZE {
            return Err(Errno::EIO);
        }
        if off < REGS_SIZE {
            return set_reg(regs, (off / 8) as usize, val);
        }
        if (DEBUGREG..DEBUGREG_END).contains(&off) {
            return set_debugreg(debugreg, ((off - DEBUGREG) / 8) as usize, val);
        }
        Ok(())
    }

    /// Sets register `i` (in `user_regs_struct`'s order).
    pub fn set_reg(regs: &mut Regs, i: usize, val: u64) -> Result<(), Errno> {
        let mut w = regs.to_words();
        let sel = val & 0xffff;
        let bad = match i {
            // cs, ss: only the user's selectors; ds, es, fs, gs: null or
            // the user's data selector.
            17 => sel != USER_CS,
            20 => sel != USER_DS,
            23..=26 => sel != 0 && sel != USER_DS,
            _ => false,
        };
        if bad {
            return Err(Errno::EIO);
        }
        if matches!(i, 21 | 22) && val >= TASK_SIZE_MAX {
            return Err(Errno::EIO);
        }
        if i == 18 {
            w[18] = (w[18] & !FLAG_MASK) | (val & FLAG_MASK);
            return finish(regs, &w);
        }
        if let Some(slot) = w.get_mut(i) {
            *slot = val;
        }
        finish(regs, &w)
    }

    fn finish(regs: &mut Regs, w: &[u64; 27]) -> Result<(), Errno> {
        *regs = Regs::from_words(w).ok_or(Errno::EIO)?;
        Ok(())
    }

    /// A breakpoint address a debug register may hold: in user space.
    fn user_addr(a: u64) -> bool {
        a < TASK_SIZE_MAX
    }

    /// Sets debug register `n` as Linux's ptrace_set_debugreg does.
    fn set_debugreg(debugreg: &mut [u64; 8], n: usize, val: u64) -> Result<(), Errno> {
        match n {
            0..=3 => {
                if !user_addr(val) {
                    return Err(Errno::EINVAL);
                }
            }
            6 => {}
            7 => {
                for (i, &addr) in debugreg.iter().take(4).enumerate() {
                    let enabled = (val >> (i * 2)) & 3 != 0;
                    let rw = (val >> (16 + i * 4)) & 3;
                    let len = (val >> (18 + i * 4)) & 3;
                    // I/O breakpoints are not for users; an execution
                    // breakpoint is one byte long.
                    if enabled && (rw == 2 || (rw == 0 && len != 0) || !user_addr(addr)) {
                        return Err(Errno::EINVAL);
                    }
                }
            }
            _ => return Err(Errno::EIO),
        }
        if let Some(slot) = debugreg.get_mut(n) {
            *slot = val;
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn offsets_bounds_and_debug_registers() {
            let mut r = Regs::for_entry(0x1000, 0x2000);
            let mut d = [0u64; 8];
            assert_eq!(peek(&r, &d, 16 * 8), Ok(0x1000));
            assert_eq!(peek(&r, &d, SIZE), Err(Errno::EIO));
            assert_eq!(peek(&r, &d, 3), Err(Errno::EIO));
            assert_eq!(peek(&r, &d, u64::MAX), Err(Errno::EIO));
            assert_eq!(poke(&mut r, &mut d, 10 * 8, 42), Ok(()));
            assert_eq!(r.rax, 42);
            assert_eq!(poke(&mut r, &mut d, 17 * 8, 0x10), Err(Errno::EIO));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG, 1), Ok(()));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG + 7 * 8, 1), Ok(()));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG, 0xffff_8000_0000_0000), Err(Errno::EINVAL));
            assert_eq!(peek(&r, &d, DEBUGREG), Ok(1));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG, 2), Ok(()));
            assert_eq!(peek(&r, &d, DEBUGREG), Ok(2));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG + 4 * 8, 2), Err(Errno::EIO));
            assert_eq!(poke(&mut r, &mut d, DEBUGREG + 7 * 8, 0x20001), Err(Errno::EINVAL));
            // error_code and fault_address, past u_debugreg: zeros, and
            // writes to them are ignored.
            for off in [SIZE - 16, SIZE - 8] {
                assert_eq!(peek(&r, &d, off), Ok(0));
                assert_eq!(poke(&mut r, &mut d, off, 5), Ok(()));
            }
            // Every aligned offset is answered without a panic.
            for off in (0..SIZE).step_by(8) {
                let _ = peek(&r, &d, off);
                let _ = poke(&mut r, &mut d, off, u64::MAX);
            }
        }
    }
}
