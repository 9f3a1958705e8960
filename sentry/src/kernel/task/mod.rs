//! One app thread: its state, its host thread and its life.
//!
//! Each task runs on a host thread of its own, in a platform address space
//! (stub) of its own that mirrors its memory manager; threads of one process
//! share the memory manager, so they share memory. The task's code is split
//! by concern as gVisor splits `task_*.go`: [`run`] (the run loop and signal
//! delivery), [`clone`], [`exec`] and [`exit`] (exit, wait and kill).

pub mod clone;
pub mod exec;
pub mod exit;
pub mod ptrace;
pub mod run;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use abi::flags::rlimit::{RLIMIT_NOFILE, RLIM_NLIMITS};
use abi::types::Rlimit;
use abi::Errno;
use platform::{AddressSpace, Context, FpState, Interrupter, Regs};

use super::fd_table::FdTable;
use super::process::{Credentials, ThreadGroup};
use super::signal::{SigInfo, SigPending, SigSet};
use super::waiter::{WaitQueue, Waker};
use super::{ExitStatus, Kernel};
use crate::mm::{MemoryManager, SpaceCursor, SysResult};
use crate::vfs::Dentry;

/// The filesystem view of a task: its root, working directory and umask.
#[derive(Clone)]
pub struct FsContext {
    /// `/` for this task.
    pub root: Arc<Dentry>,
    /// The working directory.
    pub cwd: Arc<Dentry>,
    /// The file-creation mask.
    pub umask: u32,
}

/// What procfs shows of a task: the parts it shares or may replace (address
/// space, files, filesystem context) and what it was started with.
/// Published by the task itself whenever one of them changes.
#[derive(Clone)]
pub struct TaskView {
    /// The address space.
    pub mm: Arc<Mutex<MemoryManager>>,
    /// The fd table.
    pub fds: Arc<Mutex<FdTable>>,
    /// Root, cwd, umask.
    pub fs: Arc<Mutex<FsContext>>,
    /// The thread's name.
    pub comm: [u8; 16],
    /// The program the process runs (/proc/PID/exe).
    pub exe: Option<Arc<Dentry>>,
    /// argv as execve got it, each NUL-terminated (/proc/PID/cmdline).
    pub cmdline: Arc<Vec<u8>>,
    /// The environment as execve got it, each NUL-terminated.
    pub environ: Arc<Vec<u8>>,
    /// When the thread started.
    pub started: Instant,
}

thread_local! {
    /// The tid of the task this host thread runs (0: none), for the answers
    /// that depend on who asks (/proc/self).
    static CURRENT_TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Strings joined as Linux lays out argv and envp: each followed by a NUL.
pub fn nul_join(list: &[Vec<u8>]) -> Arc<Vec<u8>> {
    let mut out = Vec::with_capacity(list.iter().map(|s| s.len() + 1).sum());
    for s in list {
        out.extend_from_slice(s);
        out.push(0);
    }
    Arc::new(out)
}

/// [`TaskHandle::sentry_clock`] before the task's thread runs.
pub const NO_CLOCK: u32 = u32::MAX;

/// The tid of the task running on this host thread, or 0.
pub fn current_tid() -> i32 {
    CURRENT_TID.with(|c| c.get())
}

/// Records the task this host thread runs.
pub(crate) fn set_current_tid(tid: i32) {
    CURRENT_TID.with(|c| c.set(tid));
}

/// The CPU time a Sentry thread spent running its app in the guest (kvm):
/// what finished runs added up, and when the current run began (by the
/// thread's CPU clock), under a sequence count so that another thread (a
/// CPU timer's) reads the two as one.
#[derive(Default)]
pub struct GuestTime {
    seq: AtomicU64,
    done_ns: AtomicU64,
    /// The thread's CPU clock when the run under way began (0: none).
    since_ns: AtomicU64,
}

impl GuestTime {
    /// A run in the guest begins, the thread's CPU clock at `now`.
    pub fn begin(&self, now: std::time::Duration) {
        self.seq.fetch_add(1, Ordering::AcqRel);
        self.since_ns.store(duration_ns(now).max(1), Ordering::Release);
        self.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// The run ends, the thread's CPU clock at `now`.
    pub fn end(&self, now: std::time::Duration) {
        self.seq.fetch_add(1, Ordering::AcqRel);
        let since = self.since_ns.swap(0, Ordering::AcqRel);
        if since != 0 {
            self.done_ns.fetch_add(duration_ns(now).saturating_sub(since), Ordering::AcqRel);
        }
        self.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the app ran in the guest at all (the platform has no stub).
    pub fn ran(&self) -> bool {
        self.seq.load(Ordering::Acquire) != 0
    }

    /// The time in the guest so far, the run under way counted up to
    /// `now` (the thread's CPU clock as the caller read it).
    pub fn read(&self, now: std::time::Duration) -> std::time::Duration {
        loop {
            let seq = self.seq.load(Ordering::Acquire);
            let (done, since) = (self.done_ns.load(Ordering::Acquire), self.since_ns.load(Ordering::Acquire));
            if seq.is_multiple_of(2) && self.seq.load(Ordering::Acquire) == seq {
                let running = if since == 0 { 0 } else { duration_ns(now).saturating_sub(since) };
                return std::time::Duration::from_nanos(done.saturating_add(running));
            }
            std::hint::spin_loop();
        }
    }
}

fn duration_ns(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// What other threads may touch of a task: its identity, pending signals
/// and the means to wake it.
pub struct TaskHandle {
    /// Thread id.
    pub tid: i32,
    /// Its process.
    pub tg: Arc<ThreadGroup>,
    /// Where it sleeps.
    pub waker: Arc<Waker>,
    pending: Mutex<SigPending>,
    pending_bits: AtomicU64,
    /// The task's signal mask, mirrored for senders.
    pub blocked: AtomicU64,
    /// The mask before rt_sigtimedwait unblocked the signals it waits for
    /// (Linux's `real_blocked`; 0 otherwise): init takes a signal blocked
    /// there as blocked.
    pub real_blocked: AtomicU64,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    /// Set when another thread's execve ends this one.
    pub exit_requested: AtomicBool,
    /// The host pid of the task's stub, for resource accounting (0: none).
    pub stub_pid: AtomicI32,
    /// The host CPU clock of the task's Sentry thread (`NO_CLOCK` before
    /// it runs).
    pub sentry_clock: AtomicU32,
    /// On a platform without stub processes (kvm, where the app runs in
    /// the guest on the Sentry thread itself): the CPU time that thread
    /// spent running the app ([`GuestTime`]).
    pub guest: GuestTime,
    /// PR_SET_NO_NEW_PRIVS, here so /proc can show it.
    pub no_new_privs: AtomicBool,
    /// seccomp(2): the thread's mode and filters. Here, not in the task,
    /// so that another thread's SECCOMP_FILTER_FLAG_TSYNC can set them.
    pub seccomp: Mutex<crate::kernel::seccomp::Mode>,
    /// Counts the changes to `seccomp` (0: disabled, as a mode once set
    /// stays): the only cost each syscall of a thread without filters
    /// pays is this load, and a thread with filters takes the lock only
    /// when it moved (a TSYNC from another thread).
    pub seccomp_gen: AtomicU64,
    /// The scheduling policy the thread asked for (low 32 bits; with
    /// SCHED_RESET_ON_FORK) and its priority (high 32): recorded and
    /// reported, as the host schedules the thread.
    pub sched: AtomicU64,
    /// set_robust_list's head, for get_robust_list from other threads.
    pub robust_head: AtomicU64,
    /// SCHED_DEADLINE's runtime, deadline and period (ns) and its flags
    /// (sched_setattr), recorded and reported as `sched` is.
    pub deadline: Mutex<DeadlineParams>,
    /// ioprio_set's value (0, class NONE, before any). Inherited by a new
    /// thread or process.
    pub ioprio: AtomicU32,
    /// PR_SET_TIMERSLACK's value, in nanoseconds (kept and reported: the
    /// host's timers do the sleeping).
    pub timer_slack: AtomicU64,
    /// What PR_SET_TIMERSLACK of 0 goes back to: the creator's value when
    /// the thread was made.
    pub default_timer_slack: AtomicU64,
    view: Mutex<Option<TaskView>>,
    /// ptrace(2): its tracer and stop as a tracee, its tracees as a tracer.
    pub ptrace: crate::kernel::ptrace::PtraceLink,
}

/// A SCHED_DEADLINE thread's parameters, as sched_setattr gave them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadlineParams {
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    /// SCHED_FLAG_RECLAIM and SCHED_FLAG_DL_OVERRUN.
    pub flags: u64,
}

/// Linux's timer slack for a thread no one set one for.
pub const DEFAULT_TIMER_SLACK_NS: u64 = 50_000;

impl TaskHandle {
    /// The thread's seccomp mode and filters.
    pub fn seccomp_mode(&self) -> crate::kernel::seccomp::Mode {
        self.seccomp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the thread's seccomp mode and filters.
    pub fn set_seccomp(&self, mode: crate::kernel::seccomp::Mode) {
        if matches!(mode, crate::kernel::seccomp::Mode::Disabled) {
            return;
        }
        let mut m = self.seccomp.lock().unwrap_or_else(|e| e.into_inner());
        *m = mode;
        self.seccomp_gen.fetch_add(1, Ordering::Release);
    }

    /// A handle for a new thread.
    pub fn new(tid: i32, tg: Arc<ThreadGroup>, blocked: SigSet) -> Arc<TaskHandle> {
        Arc::new(TaskHandle {
            tid,
            tg,
            waker: Arc::new(Waker::default()),
            pending: Mutex::new(SigPending::default()),
            pending_bits: AtomicU64::new(0),
            blocked: AtomicU64::new(blocked),
            real_blocked: AtomicU64::new(0),
            interrupter: Mutex::new(None),
            exit_requested: AtomicBool::new(false),
            stub_pid: AtomicI32::new(0),
            sentry_clock: AtomicU32::new(NO_CLOCK),
            guest: GuestTime::default(),
            no_new_privs: AtomicBool::new(false),
            seccomp: Mutex::new(crate::kernel::seccomp::Mode::Disabled),
            seccomp_gen: AtomicU64::new(0),
            sched: AtomicU64::new(0),
            robust_head: AtomicU64::new(0),
            deadline: Mutex::new(DeadlineParams::default()),
            ioprio: AtomicU32::new(0),
            timer_slack: AtomicU64::new(DEFAULT_TIMER_SLACK_NS),
            default_timer_slack: AtomicU64::new(DEFAULT_TIMER_SLACK_NS),
            view: Mutex::new(None),
            ptrace: Default::default(),
        })
    }

    /// A new thread's timer slack, current and default both, is its
    /// creator's current one.
    pub fn inherit_timer_slack(&self, creator: &TaskHandle) {
        // The I/O priority comes along too (Linux's copy_io).
        self.ioprio.store(creator.ioprio.load(Ordering::Relaxed), Ordering::Relaxed);
        let slack = creator.timer_slack.load(Ordering::Relaxed);
        self.timer_slack.store(slack, Ordering::Relaxed);
        self.default_timer_slack.store(slack, Ordering::Relaxed);
    }

    /// What procfs shows of the task (None before it is set up).
    pub fn view(&self) -> Option<TaskView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update_view(&self, f: impl FnOnce(&mut TaskView)) {
        if let Some(v) = self.view.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f(v);
        }
    }

    /// Wakes the task wherever it is: asleep in the Sentry, or running app
    /// code (the platform interrupts it).
    pub fn kick(&self) {
        self.waker.wake();
        if let Some(i) = self.interrupter.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            i.interrupt();
        }
    }

    /// Whether a thread-directed signal matching `pred` is queued.
    pub fn pending_any(&self, pred: impl Fn(&SigInfo) -> bool) -> bool {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).any(pred)
    }

    /// Drops the thread-directed signals matching `pred`.
    pub fn remove_pending(&self, pred: impl Fn(&SigInfo) -> bool) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.remove_where(pred);
        self.pending_bits.store(p.set(), Ordering::Release);
    }

    /// The thread-directed signals queued, oldest first (for a checkpoint).
    pub fn pending_queue(&self) -> Vec<SigInfo> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).queued().cloned().collect()
    }

    /// Queues a thread-directed signal and wakes the task.
    pub fn push_signal(&self, info: SigInfo) {
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push(info);
            self.pending_bits.store(p.set(), Ordering::Release);
        }
        self.kick();
        self.tg.signal_queue.notify();
    }

    fn pop_signal(&self, blocked: SigSet) -> Option<SigInfo> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let s = p.pop(blocked);
        self.pending_bits.store(p.set(), Ordering::Release);
        s
    }

    fn take_signal(&self, sig: u32) -> Option<SigInfo> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let s = p.take(sig);
        self.pending_bits.store(p.set(), Ordering::Release);
        s
    }

    /// The task's CPU time so far: its stub's (the app's code) and its
    /// Sentry thread's (the syscalls).
    pub fn cpu_time(&self) -> super::usage::CpuTime {
        use super::usage::cpu_clock;
        let user = match self.stub_pid.load(Ordering::Acquire) {
            0 => None,
            pid => cpu_clock(crate::sys::process_cpu_clock(pid)),
        };
        let system = match self.sentry_clock.load(Ordering::Acquire) {
            NO_CLOCK => None,
            id => cpu_clock(id),
        };
        let (user, system) = (user.unwrap_or_default(), system.unwrap_or_default());
        // Without a stub the Sentry thread's clock counts the app's time
        // in the guest too: that part is the user time.
        let guest = self.guest.read(system);
        if guest.is_zero() {
            return super::usage::CpuTime { user, system };
        }
        super::usage::CpuTime { user: user + guest, system: system.saturating_sub(guest) }
    }

    /// The CPU time and peak memory of the task's stub so far; on a
    /// platform without stubs (kvm), its time in the guest and the
    /// Sentry, and its resident memory now.
    pub fn stub_usage(&self) -> Option<super::usage::Usage> {
        match self.stub_pid.load(Ordering::Acquire) {
            0 if self.guest.ran() => {
                let cpu = self.cpu_time();
                let maxrss_kb = self.view().map_or(0, |v| crate::vfs::procfs::resident_kb(&v));
                Some(super::usage::Usage { utime: cpu.user, stime: cpu.system, maxrss_kb })
            }
            0 => None,
            pid => super::usage::of_stub(pid),
        }
    }

    /// Signals pending for this thread or its process.
    pub fn pending_set(&self) -> SigSet {
        self.pending_bits.load(Ordering::Acquire) | self.tg.pending_bits.load(Ordering::Acquire)
    }
}

/// Signalled when a vfork child execs or exits, releasing its parent.
#[derive(Default)]
pub struct VforkDone {
    done: Mutex<bool>,
    cv: Condvar,
}

impl VforkDone {
    /// Releases the parent.
    pub fn complete(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits for the child for at most `limit`; whether it let go.
    pub fn wait_for(&self, limit: std::time::Duration) -> bool {
        let d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (d, _) = self.cv.wait_timeout_while(d, limit, |done| !*done).unwrap_or_else(|e| e.into_inner());
        *d
    }

    /// A wait already over (the restored parent of a child that is gone).
    pub fn completed() -> Arc<VforkDone> {
        Arc::new(VforkDone { done: Mutex::new(true), cv: Condvar::new() })
    }
}

/// How an interrupted syscall goes on when no handler ran: Linux's
/// `restart_block`, which `restart_syscall` resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartBlock {
    /// A relative sleep (nanosleep, clock_nanosleep without TIMER_ABSTIME):
    /// it goes on to its first deadline, not for its whole request again,
    /// and writes the time left to `rem` (if not 0) if a handler ends it.
    Sleep { deadline: Option<Instant>, rem: u64 },
    /// A futex wait with a timeout: it waits again on the same word, value
    /// and bitset, up to the same deadline.
    FutexWait { addr: u64, val: u32, bitset: u32, deadline: Instant },
    /// A poll with a timeout: it polls the same array again, up to the same
    /// deadline.
    Poll { addr: u64, nfds: u64, deadline: Instant },
}

/// personality(2)'s flag that makes readable mappings executable.
pub const READ_IMPLIES_EXEC: u32 = 0x0040_0000;
/// personality(2)'s flag that keeps select's and ppoll's timeouts as given.
pub const STICKY_TIMEOUTS: u32 = 0x0400_0000;

/// `sigaltstack` state.
#[derive(Clone, Copy, Debug, Default)]
pub struct AltStack {
    /// Base.
    pub sp: u64,
    /// Size (0: none).
    pub size: u64,
    /// SS_* flags as set by the app.
    pub flags: u32,
}

/// One app thread.
pub struct Task {
    /// The sandbox.
    pub kernel: Arc<Kernel>,
    /// What other threads see of this one.
    pub handle: Arc<TaskHandle>,
    /// Thread id.
    pub tid: i32,
    /// Process id.
    pub pid: i32,
    /// The address space (shared by the process's threads).
    pub mm: Arc<Mutex<MemoryManager>>,
    /// Open files (shared with CLONE_FILES).
    pub fds: Arc<Mutex<FdTable>>,
    /// Root, cwd, umask (shared with CLONE_FS).
    pub fs: Arc<Mutex<FsContext>>,
    /// The thread's registers while the Sentry handles an event.
    pub regs: Regs,
    /// Blocked signals.
    pub sigmask: SigSet,
    /// The mask to restore after sigsuspend-like calls.
    pub saved_mask: Option<SigSet>,
    /// sigaltstack.
    pub altstack: AltStack,
    /// What `restart_syscall` resumes: set by a syscall that returns
    /// ERESTART_RESTARTBLOCK, cleared by rt_sigreturn.
    pub restart_block: Option<RestartBlock>,
    /// The FPU state a new thread starts with: its parent's at the clone,
    /// as Linux copies it (none: a clean FPU). Applied when its stub exists.
    pub inherited_fp: Option<Box<FpState>>,
    /// set_tid_address.
    pub clear_child_tid: u64,
    /// set_robust_list (head, length).
    pub robust_list: (u64, u64),
    /// What the hardware said of the thread's last fault, for its signal
    /// frames (`arch::Trap`).
    pub trap: crate::arch::Trap,
    /// The thread's name (PR_SET_NAME).
    pub comm: [u8; 16],
    /// Released when this (vfork) child execs or exits.
    pub vfork_done: Option<Arc<VforkDone>>,
    /// Set by the exit syscall: this thread is done.
    pub exit: Option<ExitStatus>,
    /// PR_SET_DUMPABLE.
    pub dumpable: bool,
    /// When the thread started, for times and getrusage.
    pub started: Instant,
    /// The last switch stopped at a syscall (restart decisions need it).
    pub in_syscall: bool,
    /// A restored tracee caught by the checkpoint in a ptrace-stop: where
    /// the stop was, to wait in it again before anything else.
    pub restored_stop: Option<crate::kernel::ptrace::StopKind>,
    /// A vfork parent waiting for its child to exec or exit: the wait and
    /// the child's tid (a checkpoint keeps it, for the restored parent to
    /// wait on).
    pub vfork_waiting: Option<(Arc<VforkDone>, i32)>,
    /// A restored tracee whose exit's event stop the checkpoint caught: the
    /// exit goes on without stopping there again.
    pub exit_event_reported: bool,
    /// On a platform without stub processes (kvm): this thread's CPU
    /// clock, read around each switch to count the app's time.
    pub guest_clock: Option<u32>,
    /// The signal a restored signal-delivery-stop ended with, which its
    /// tracer has seen already: delivered next.
    pub tracer_gave: Option<crate::kernel::signal::SigInfo>,
    /// sched_setaffinity's mask, as the app set it (None: every CPU).
    pub affinity: Option<Vec<u8>>,
    /// personality(2)'s execution domain and flags (0: PER_LINUX).
    pub personality: u32,
    /// The thread keyring, and request_key's default keyring.
    pub keys: crate::kernel::keys::ThreadKeys,
    /// The thread's seccomp mode as of the handle's `seccomp_gen` here,
    /// so that a syscall reads it without the handle's lock.
    pub seccomp: (u64, crate::kernel::seccomp::Mode),
    space: Option<Box<dyn AddressSpace>>,
    cursor: SpaceCursor,
    ctx: Box<dyn Context>,
}

/// Linux's default limits for init, as far as the app sees them.
pub fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    use abi::flags::rlimit::*;
    let mut r = [Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY }; RLIM_NLIMITS];
    r[RLIMIT_STACK as usize] = Rlimit { cur: 8 << 20, max: RLIM_INFINITY };
    r[RLIMIT_NOFILE as usize] = Rlimit { cur: 1024, max: 1 << 20 };
    r[RLIMIT_CORE as usize] = Rlimit { cur: 0, max: RLIM_INFINITY };
    r[RLIMIT_MEMLOCK as usize] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    r[RLIMIT_SIGPENDING as usize] = Rlimit { cur: 63_000, max: 63_000 };
    r[RLIMIT_NPROC as usize] = Rlimit { cur: 63_000, max: 63_000 };
    r[RLIMIT_MSGQUEUE as usize] = Rlimit { cur: 819_200, max: 819_200 };
    r[RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    r[RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    r
}

/// The parts a new task is made of.
pub struct TaskParts {
    /// Its handle (already in the process table).
    pub handle: Arc<TaskHandle>,
    /// Process id.
    pub pid: i32,
    /// Address space.
    pub mm: Arc<Mutex<MemoryManager>>,
    /// Files.
    pub fds: Arc<Mutex<FdTable>>,
    /// Filesystem context.
    pub fs: Arc<Mutex<FsContext>>,
    /// Initial registers.
    pub regs: Regs,
    /// Initial mask.
    pub sigmask: SigSet,
}

impl Task {
    /// A task from its parts. Its stub is made on its own host thread, by
    /// [`Task::start`].
    pub fn new(kernel: Arc<Kernel>, parts: TaskParts) -> Task {
        let ctx = kernel.platform.new_context();
        *parts.handle.view.lock().unwrap_or_else(|e| e.into_inner()) = Some(TaskView {
            mm: parts.mm.clone(),
            fds: parts.fds.clone(),
            fs: parts.fs.clone(),
            comm: [0; 16],
            exe: None,
            cmdline: Arc::default(),
            environ: Arc::default(),
            started: Instant::now(),
        });
        Task {
            tid: parts.handle.tid,
            pid: parts.pid,
            handle: parts.handle,
            kernel,
            mm: parts.mm,
            fds: parts.fds,
            fs: parts.fs,
            regs: parts.regs,
            sigmask: parts.sigmask,
            saved_mask: None,
            altstack: AltStack::default(),
            inherited_fp: None,
            restart_block: None,
            clear_child_tid: 0,
            robust_list: (0, 0),
            trap: Default::default(),
            comm: [0; 16],
            vfork_done: None,
            exit: None,
            dumpable: true,
            started: Instant::now(),
            in_syscall: false,
            restored_stop: None,
            vfork_waiting: None,
            exit_event_reported: false,
            guest_clock: None,
            tracer_gave: None,
            affinity: None,
            personality: 0,
            keys: Default::default(),
            seccomp: (0, crate::kernel::seccomp::Mode::Disabled),
            space: None,
            cursor: SpaceCursor::new(),
            ctx,
        }
    }

    /// Runs the task on a new host thread.
    pub fn start(self) -> SysResult<()> {
        let kernel = self.kernel.clone();
        let h = std::thread::Builder::new()
            .name(format!("task-{}", self.tid))
            .spawn(move || self.run_thread())
            .map_err(|_| Errno::EAGAIN)?;
        kernel.adopt_thread(h);
        Ok(())
    }

    /// The address space, locked.
    /// The IPC namespace the task's process is in.
    pub fn ipc(&self) -> crate::kernel::ns::IpcRef {
        crate::kernel::ns::ipc_of(&self.kernel, &self.handle.tg)
    }

    pub fn mm(&self) -> MutexGuard<'_, MemoryManager> {
        self.mm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fd table, locked.
    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        self.fds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The filesystem context, locked.
    pub fn fs(&self) -> MutexGuard<'_, FsContext> {
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process's credentials (a copy).
    pub fn creds(&self) -> Credentials {
        self.handle.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The process's resource limits, locked.
    pub fn rlimits(&self) -> MutexGuard<'_, [Rlimit; RLIM_NLIMITS]> {
        self.handle.tg.rlimits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The RLIMIT_NOFILE soft limit.
    pub fn nofile_limit(&self) -> u64 {
        self.rlimits()[RLIMIT_NOFILE as usize].cur
    }

    /// Whether a blocking call should give up: a signal the task does not
    /// block is pending, the task is being ended, or a checkpoint is
    /// freezing the sandbox (the call is then restarted, as for a signal
    /// with no handler).
    pub fn interrupted(&self) -> bool {
        self.handle.pending_set() & !self.sigmask != 0
            || self.must_exit()
            || self.kernel.freezer.requested()
            || self.handle.ptrace.trap_pending()
    }

    /// What a call Linux never restarts (semop, epoll_wait, sigtimedwait)
    /// returns once [`Task::block`] was interrupted: EINTR, unless only a
    /// checkpoint's freeze interrupted it. That must not show, so the call
    /// restarts then, as after a signal with no handler (ERESTARTNOHAND:
    /// a handler that comes meanwhile still makes it EINTR).
    pub fn eintr(&self) -> Errno {
        let signalled = self.handle.pending_set() & !self.sigmask != 0 || self.must_exit();
        if self.kernel.freezer.requested() && !signalled {
            Errno::ERESTARTNOHAND
        } else {
            Errno::EINTR
        }
    }

    /// Whether the thread must stop running app code and exit.
    pub fn must_exit(&self) -> bool {
        self.exit.is_some()
            || self.handle.tg.exiting_flag.load(Ordering::Acquire)
            || self.handle.exit_requested.load(Ordering::Acquire)
    }

    /// Sleeps until `ready` yields a value, a signal interrupts (ERESTARTSYS),
    /// or `deadline` passes (ETIMEDOUT). `queues` are the wait queues of the
    /// objects `ready` looks at.
    pub fn block<T>(
        &mut self,
        queues: &[&WaitQueue],
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Task) -> SysResult<Option<T>>,
    ) -> SysResult<T> {
        let w = self.handle.waker.clone();
        for q in queues {
            q.add(&w);
        }
        let r = loop {
            w.reset();
            match ready(self) {
                Ok(Some(v)) => break Ok(v),
                Err(e) => break Err(e),
                Ok(None) => {}
            }
            if self.interrupted() {
                // The condition may have come true as the signal arrived
                // (sigtimedwait's own signal, say): prefer the result.
                match ready(self) {
                    Ok(Some(v)) => break Ok(v),
                    Err(e) => break Err(e),
                    Ok(None) => break Err(Errno::ERESTARTSYS),
                }
            }
            if !w.sleep(deadline) {
                break Err(Errno::ETIMEDOUT);
            }
        };
        for q in queues {
            q.remove(&w);
        }
        r
    }

    /// Sets the signal mask (SIGKILL and SIGSTOP stay unblocked).
    pub fn set_sigmask(&mut self, mask: SigSet) {
        self.sigmask = mask & !super::signal::UNBLOCKABLE;
        self.handle.blocked.store(self.sigmask, Ordering::Release);
    }

    /// The thread's name, without trailing NULs.
    pub fn comm_str(&self) -> &[u8] {
        let n = self.comm.iter().position(|&b| b == 0).unwrap_or(self.comm.len());
        &self.comm[..n]
    }

    /// Sets the thread's name (truncated to 15 bytes).
    pub fn set_comm(&mut self, name: &[u8]) {
        self.comm = [0; 16];
        let n = name.len().min(15);
        self.comm[..n].copy_from_slice(&name[..n]);
        let comm = self.comm;
        self.handle.update_view(|v| v.comm = comm);
    }

    /// Publishes the task's current address space, fd table, filesystem
    /// context and name for procfs, after one of them was replaced.
    pub fn publish_view(&self) {
        let (mm, fds, fs, comm) = (self.mm.clone(), self.fds.clone(), self.fs.clone(), self.comm);
        self.handle.update_view(|v| {
            v.mm = mm;
            v.fds = fds;
            v.fs = fs;
            v.comm = comm;
        });
    }

    /// Publishes what the process now runs (execve, boot, and a fork's copy
    /// of its parent's).
    pub fn publish_program(&self, exe: Option<Arc<Dentry>>, cmdline: Arc<Vec<u8>>, environ: Arc<Vec<u8>>) {
        self.handle.update_view(|v| {
            v.exe = exe;
            v.cmdline = cmdline;
            v.environ = environ;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::GuestTime;
    use std::time::Duration;

    #[test]
    fn guest_time_counts_finished_runs_and_the_one_under_way() {
        let ms = Duration::from_millis;
        let g = GuestTime::default();
        assert!(!g.ran());
        assert_eq!(g.read(ms(5)), Duration::ZERO);
        g.begin(ms(10));
        assert!(g.ran());
        assert_eq!(g.read(ms(15)), ms(5));
        g.end(ms(20));
        assert_eq!(g.read(ms(25)), ms(10), "no run under way: the finished ones only");
        g.begin(ms(30));
        assert_eq!(g.read(ms(31)), ms(11));
        g.end(ms(29));
        assert_eq!(g.read(ms(40)), ms(10), "a clock read out of order adds nothing");
    }
}
