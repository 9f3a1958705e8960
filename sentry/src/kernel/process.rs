//! Processes: the thread groups of the sandbox and their family tree, with
//! the app's own pid numbering (the first process is pid 1).
//!
//! The tree lives under one lock, [`Kernel::procs`](super::Kernel), as Linux's
//! tasklist lock: fork, exit, wait, kill and the process-group calls take it
//! briefly. No syscall's hot path does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use abi::flags::rlimit::RLIM_NLIMITS;
use abi::types::Rlimit;

use super::caps::CapSets;
use super::signal::{SigHandlers, SigInfo, SigPending, SigSet};
use super::task::TaskHandle;
use super::usage::Usage;
use super::ExitStatus;

/// User and group ids, and the capabilities that go with them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Real, effective and saved user ids.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Filesystem user id.
    pub fsuid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
    /// Filesystem group id.
    pub fsgid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The capability sets (see [`super::caps`]).
    pub caps: CapSets,
    /// PR_SET_SECUREBITS's bits (`SECBIT_*`).
    pub securebits: u32,
}

impl Credentials {
    /// Every id set to `uid` and `gid`, with the capabilities such a
    /// process has on a Linux host: all of them for root, none (but the
    /// bounding set) for others.
    pub fn new(uid: u32, gid: u32) -> Credentials {
        Credentials {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups: Vec::new(),
            caps: CapSets::for_uid(uid),
            securebits: 0,
        }
    }

    /// Whether capability `cap` is in the effective set: Linux's
    /// `capable()` (inside the sandbox only; it grants nothing outside).
    pub fn has_cap(&self, cap: u32) -> bool {
        self.caps.effective & super::caps::bit(cap) != 0
    }
}

/// What the threads of one process share.
pub struct ThreadGroup {
    /// The process id.
    pub tgid: i32,
    /// Signal actions.
    pub sighand: Mutex<SigHandlers>,
    /// Process-directed pending signals.
    pub pending: Mutex<SigPending>,
    /// `pending`'s set, readable without the lock.
    pub pending_bits: AtomicU64,
    /// Ids.
    pub creds: Mutex<Credentials>,
    /// Resource limits.
    pub rlimits: Mutex<[Rlimit; RLIM_NLIMITS]>,
    /// Set once the whole group is exiting (exit_group, a fatal signal, or
    /// execve in another thread).
    pub exiting: Mutex<Option<ExitStatus>>,
    /// `exiting.is_some()`, readable without the lock.
    pub exiting_flag: AtomicBool,
    /// Group stop (SIGSTOP and friends) and its end; change it only through
    /// [`ThreadGroup::set_stopped`], which keeps `stopped_flag` in step.
    pub stopped: Mutex<bool>,
    /// `stopped`, readable without the lock (the run loop checks it on every
    /// return to the app).
    pub stopped_flag: AtomicBool,
    /// Signalled when the group continues.
    pub stop_cv: Condvar,
    /// PR_SET_PDEATHSIG.
    pub pdeathsig: AtomicU32,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants come to this process
    /// rather than to init. Not inherited by fork.
    pub child_subreaper: AtomicBool,
    /// PR_SET_THP_DISABLE: inherited by fork, kept across execve.
    pub thp_disable: AtomicBool,
    /// The nice value (setpriority).
    pub nice: AtomicI32,
    /// /proc/PID/oom_score_adj: shown and kept, and inherited by children;
    /// the Sentry does no OOM killing of its own to weigh it.
    pub oom_score_adj: AtomicI32,
    /// The lowest oom_score_adj the process may set without
    /// CAP_SYS_RESOURCE (Linux's `oom_score_adj_min`).
    pub oom_score_adj_min: AtomicI32,
    /// Usage of this process's threads that have exited.
    pub exited_usage: Mutex<Usage>,
    /// Usage of reaped children and their reaped descendants.
    pub children_usage: Mutex<Usage>,
    /// CPU time of this process's threads that have exited.
    pub exited_cpu: Mutex<super::usage::CpuTime>,
    /// ITIMER_REAL (setitimer, alarm), ITIMER_VIRTUAL and ITIMER_PROF, by
    /// `which`, each made on first use; kept across execve, new in a fork
    /// child.
    pub itimers: [std::sync::OnceLock<Arc<super::timer::RealTimer>>; 3],
    /// RLIMIT_CPU's watcher, made when the limit is first finite.
    pub cpu_limit: std::sync::OnceLock<Arc<super::timer::CpuLimit>>,
    /// Set when the last thread has exited (the process is a zombie);
    /// `exit_queue` is told then, for pidfds.
    pub exited: AtomicBool,
    /// Waiters for the process's end (pidfds in poll and epoll).
    pub exit_queue: super::waiter::WaitQueue,
    /// Told whenever a signal is queued to the process or one of its
    /// threads (signalfds in poll and epoll).
    pub signal_queue: super::waiter::WaitQueue,
    /// POSIX timers (timer_create): deleted at execve, none in a fork child.
    pub posix_timers: Mutex<super::timer::PosixTimers>,
    /// /proc/PID/io's counters: bytes read and written through read- and
    /// write-family calls, and how many such calls.
    pub io: IoCounters,
    /// Which System V semaphore undo list the process has, as kcmp's
    /// KCMP_SYSVSEM compares them (0: none yet): see
    /// [`ThreadGroup::sem_undo_list`].
    pub sem_undo: AtomicI32,
    /// The process and session keyrings (fork passes the session one on).
    pub keys: Mutex<super::keys::ProcessKeys>,
    /// Its namespaces (`Default`: the sandbox's first of each kind).
    pub ns: Mutex<super::ns::NsSet>,
}

/// Counts of a process's I/O, as /proc/PID/io shows them.
#[derive(Default)]
pub struct IoCounters {
    /// Bytes read (rchar).
    pub rchar: AtomicU64,
    /// Bytes written (wchar).
    pub wchar: AtomicU64,
    /// Read calls (syscr).
    pub syscr: AtomicU64,
    /// Write calls (syscw).
    pub syscw: AtomicU64,
}

impl ThreadGroup {
    /// Its namespaces (a copy of the set).
    pub fn ns(&self) -> super::ns::NsSet {
        self.ns.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A new thread group.
    pub fn new(tgid: i32, sighand: SigHandlers, creds: Credentials, rlimits: [Rlimit; RLIM_NLIMITS]) -> Arc<Self> {
        Arc::new(ThreadGroup {
            tgid,
            sighand: Mutex::new(sighand),
            pending: Mutex::new(SigPending::default()),
            pending_bits: AtomicU64::new(0),
            creds: Mutex::new(creds),
            rlimits: Mutex::new(rlimits),
            exiting: Mutex::new(None),
            exiting_flag: AtomicBool::new(false),
            stopped: Mutex::new(false),
            stopped_flag: AtomicBool::new(false),
            stop_cv: Condvar::new(),
            pdeathsig: AtomicU32::new(0),
            child_subreaper: AtomicBool::new(false),
            thp_disable: AtomicBool::new(false),
            nice: AtomicI32::new(0),
            oom_score_adj: AtomicI32::new(0),
            oom_score_adj_min: AtomicI32::new(0),
            exited_usage: Mutex::new(Usage::default()),
            children_usage: Mutex::new(Usage::default()),
            itimers: Default::default(),
            cpu_limit: std::sync::OnceLock::new(),
            exited_cpu: Mutex::default(),
            exited: AtomicBool::new(false),
            exit_queue: super::waiter::WaitQueue::default(),
            signal_queue: super::waiter::WaitQueue::default(),
            posix_timers: Mutex::new(super::timer::PosixTimers::default()),
            io: IoCounters::default(),
            sem_undo: AtomicI32::new(0),
            keys: Mutex::default(),
            ns: Mutex::default(),
        })
    }

    /// The process's System V semaphore undo list, made now if it has none,
    /// as Linux makes one at the first SEM_UNDO semop or a clone with
    /// CLONE_SYSVSEM (whose child shares it). Only its identity is kept
    /// here: the adjustments themselves are kept by process (`ipc::sem`).
    pub fn sem_undo_list(&self) -> i32 {
        match self.sem_undo.compare_exchange(0, self.tgid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => self.tgid,
            Err(id) => id,
        }
    }

    /// Starts a group exit with `status`, unless one is already under way.
    /// Returns whether this call started it.
    pub fn begin_exit(&self, status: ExitStatus) -> bool {
        let mut e = self.exiting.lock().unwrap_or_else(|e| e.into_inner());
        if e.is_some() {
            return false;
        }
        *e = Some(status);
        self.exiting_flag.store(true, Ordering::Release);
        // A stopped group must wake up to die.
        self.set_stopped(false);
        true
    }

    /// Stops or continues the group; returns whether it was stopped before.
    pub fn set_stopped(&self, on: bool) -> bool {
        let mut s = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let was = *s;
        *s = on;
        self.stopped_flag.store(on, Ordering::Release);
        if !on {
            self.stop_cv.notify_all();
        }
        was
    }

    /// The group's exit status, once exiting.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.exiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a process-directed signal.
    pub fn push_signal(&self, info: SigInfo) {
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push(info);
            self.pending_bits.store(p.set(), Ordering::Release);
        }
        self.signal_queue.notify();
    }

    /// Takes a process-directed signal not in `blocked`.
    pub fn pop_signal(&self, blocked: SigSet) -> Option<SigInfo> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let s = p.pop(blocked);
        self.pending_bits.store(p.set(), Ordering::Release);
        s
    }
}

/// Where a process is in its life, as wait sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Running (or sleeping).
    Running,
    /// Stopped by this signal; `reported` once a waiter saw it.
    Stopped {
        /// The stop signal.
        sig: u32,
        /// Whether wait has reported it.
        reported: bool,
    },
    /// Exited; waiting to be reaped.
    Zombie(ExitStatus),
}

/// One process in the tree.
pub struct Process {
    /// Its thread group.
    pub tg: Arc<ThreadGroup>,
    /// Parent's pid (0 for init).
    pub parent: i32,
    /// Children's pids.
    pub children: BTreeSet<i32>,
    /// Live threads.
    pub threads: Vec<Arc<TaskHandle>>,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// Life state.
    pub state: ProcState,
    /// A SIGCONT not yet reported to a WCONTINUED waiter.
    pub continued: bool,
    /// The signal the parent gets when this process exits.
    pub exit_signal: u32,
    /// Whether the process called execve since fork (setpgid refuses then).
    pub did_exec: bool,
    /// Its controlling terminal (inherited by fork, dropped by setsid).
    pub ctty: Option<Arc<super::tty::Tty>>,
    /// A zombie's last thread, whose view /proc/PID shows until the
    /// process is reaped.
    pub remains: Option<Arc<super::task::TaskHandle>>,
}

impl Process {
    /// The process's CPU time: exited threads plus the live ones.
    pub fn cpu_time(&self) -> super::usage::CpuTime {
        // Held while the live threads are read: a thread that exits moves
        // its time to `exited_cpu` under it.
        let exited = self.tg.exited_cpu.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = *exited;
        for t in &self.threads {
            c.add(t.cpu_time());
        }
        c
    }

    /// The process's usage: exited threads plus the live ones' stubs.
    pub fn usage(&self) -> Usage {
        let mut u = *self.tg.exited_usage.lock().unwrap_or_else(|e| e.into_inner());
        for t in &self.threads {
            if let Some(live) = t.stub_usage() {
                u.add(&live);
            }
        }
        u
    }
}

/// The process tree.
#[derive(Default)]
pub struct ProcessTable {
    /// pid → process.
    pub procs: BTreeMap<i32, Process>,
    /// tid → thread, for tkill and friends.
    pub threads: BTreeMap<i32, Arc<TaskHandle>>,
    next_id: i32,
    /// The most tasks (threads) the sandbox may have: its pids.max (without
    /// one, [`DEFAULT_TASK_LIMIT`]). A fork or clone past it fails with
    /// EAGAIN, as the pids controller makes it fail.
    pub task_limit: Option<usize>,
}

/// The most tasks a sandbox without a pids limit may have: each is a host
/// thread of the Sentry (and each process a stub), so the Sentry bounds
/// them itself, at Linux's smallest default pid_max, well below what the
/// host could hold.
pub const DEFAULT_TASK_LIMIT: usize = 32_768;

/// The highest pid the sandbox hands out before wrapping.
const PID_MAX: i32 = 4_194_304;

impl ProcessTable {
    /// The last id handed out (for a checkpoint).
    pub fn last_id(&self) -> i32 {
        self.next_id
    }

    /// Goes on handing out ids after `id` (a restore).
    pub fn set_last_id(&mut self, id: i32) {
        self.next_id = id.clamp(0, PID_MAX);
    }

    /// A free id for a new thread or process.
    pub fn alloc_id(&mut self) -> Option<i32> {
        for _ in 0..PID_MAX {
            self.next_id = if self.next_id >= PID_MAX { 2 } else { self.next_id + 1 };
            let id = self.next_id;
            if !self.threads.contains_key(&id) && !self.procs.contains_key(&id) && !self.is_group_id(id) {
                return Some(id);
            }
        }
        None
    }

    /// Takes back the task `tid` (of process `pid`) that a clone registered
    /// and then failed to start: it never ran, so nothing waits for it.
    pub fn forget_unstarted(&mut self, tid: i32, pid: i32) {
        self.threads.remove(&tid);
        if tid == pid {
            if let Some(p) = self.procs.remove(&tid) {
                if let Some(parent) = self.procs.get_mut(&p.parent) {
                    parent.children.remove(&tid);
                }
            }
        } else if let Some(p) = self.procs.get_mut(&pid) {
            p.threads.retain(|h| h.tid != tid);
        }
    }

    fn is_group_id(&self, id: i32) -> bool {
        self.procs.values().any(|p| p.pgid == id || p.sid == id)
    }

    /// Pids in process group `pgid`.
    pub fn group_members(&self, pgid: i32) -> Vec<i32> {
        self.procs
            .iter()
            .filter(|(_, p)| p.pgid == pgid && !matches!(p.state, ProcState::Zombie(_)))
            .map(|(k, _)| *k)
            .collect()
    }
}
