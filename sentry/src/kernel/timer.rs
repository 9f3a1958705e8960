//! Timers: deadlines at which something happens with no task acting (a
//! timerfd becomes readable, SIGALRM is sent).
//!
//! One thread per sandbox, started on first use, sleeps until the earliest
//! deadline and calls the timer that set it ([`Expiry`]). A timer is
//! re-armed or cancelled by moving to a new generation: an entry of an old
//! generation is skipped when it comes due, and entries of timers that are
//! gone or moved on are swept whenever the heap has doubled, so re-arming
//! in a loop cannot grow it without bound.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Something a deadline is for.
pub trait Expiry: Send + Sync {
    /// The deadline armed with generation `gen` came (at or before `now`).
    /// Returns the next deadline of the same generation (an interval
    /// timer), if any.
    fn expire(&self, gen: u64, now: Instant) -> Option<Instant>;

    /// Whether `gen` is still the timer's generation.
    fn is_current(&self, gen: u64) -> bool;
}

struct Entry {
    at: Instant,
    seq: u64,
    gen: u64,
    target: Weak<dyn Expiry>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Entry>,
    seq: u64,
    started: bool,
    /// The heap's size at which it is next swept.
    sweep_at: usize,
}

/// The sandbox's timer thread and its deadlines.
#[derive(Default)]
pub struct Timers {
    shared: Arc<(Mutex<State>, Condvar)>,
}

/// The smallest heap size that is swept.
const SWEEP_MIN: usize = 1024;
/// How long the thread sleeps at most between looks (it also notices
/// then that the sandbox is gone).
const MAX_SLEEP: Duration = Duration::from_secs(1);

impl Timers {
    /// Calls `target.expire(gen, ..)` at `at` (or soon after).
    pub fn arm(&self, at: Instant, gen: u64, target: Weak<dyn Expiry>) {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        st.seq += 1;
        let seq = st.seq;
        st.heap.push(Entry { at, seq, gen, target });
        if st.heap.len() >= st.sweep_at.max(SWEEP_MIN) {
            let entries = std::mem::take(&mut st.heap).into_vec();
            st.heap = entries.into_iter().filter(|e| e.target.upgrade().is_some_and(|t| t.is_current(e.gen))).collect();
            st.sweep_at = 2 * st.heap.len();
        }
        if !st.started {
            st.started = true;
            let shared = Arc::downgrade(&self.shared);
            let spawned = std::thread::Builder::new().name("husk-timers".into()).spawn(move || run(&shared));
            if spawned.is_err() {
                st.started = false;
                log::error!("cannot start the timer thread");
            }
        }
        cv.notify_one();
    }
}

impl Timers {
    /// Sets `sched` (which the caller holds locked) to fire after `value`
    /// (zero disarms), then every `interval`, for `target`; returns the
    /// old (time left, interval).
    pub fn set(
        &self,
        sched: &mut Schedule,
        value: Duration,
        interval: Duration,
        target: Weak<dyn Expiry>,
    ) -> (Duration, Duration) {
        self.set_on_clock(sched, value, interval, target, Instant::now(), |at| at)
    }

    /// [`Timers::set`] for a schedule on another clock, which reads `now`
    /// (as an instant): `wall` turns one of its deadlines into when the
    /// timer thread should look.
    pub fn set_on_clock(
        &self,
        sched: &mut Schedule,
        value: Duration,
        interval: Duration,
        target: Weak<dyn Expiry>,
        now: Instant,
        wall: impl FnOnce(Instant) -> Instant,
    ) -> (Duration, Duration) {
        let old = sched.remaining(now);
        let (gen, at) = sched.set(value, interval, now);
        if let Some(at) = at {
            self.arm(wall(at), gen, target);
        }
        old
    }
}

/// The timer thread: fires due entries outside the lock, re-arms interval
/// timers, and ends once the sandbox's timers are gone.
fn run(shared: &Weak<(Mutex<State>, Condvar)>) {
    loop {
        let Some(shared) = shared.upgrade() else { return };
        let (lock, cv) = &*shared;
        let mut due = Vec::new();
        {
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            while st.heap.peek().is_some_and(|e| e.at <= now) {
                if let Some(e) = st.heap.pop() {
                    due.push(e);
                }
            }
            if due.is_empty() {
                let wait = st.heap.peek().map_or(MAX_SLEEP, |e| e.at.saturating_duration_since(now).min(MAX_SLEEP));
                drop(cv.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner()));
                continue;
            }
        }
        let now = Instant::now();
        for e in due {
            let Some(target) = e.target.upgrade() else { continue };
            if let Some(next) = target.expire(e.gen, now) {
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                st.seq += 1;
                let seq = st.seq;
                st.heap.push(Entry { at: next, seq, gen: e.gen, target: e.target });
            }
        }
    }
}

/// The longest time a timer counts (Linux's KTIME_MAX, about 292 years):
/// longer values and intervals are cut to it.
pub const KTIME_MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// The instant `d` from now, `d` cut to [`KTIME_MAX`]: an app's timeout
/// may be as long as it likes (a `timespec` of i64::MAX seconds) without
/// the sum overflowing.
pub fn deadline_in(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(KTIME_MAX)).unwrap_or(now + Duration::from_secs(1 << 32))
}

/// An interval timer's bookkeeping: the next deadline, the interval, and
/// the generation that cancels old deadlines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Schedule {
    /// Moves on at every (re)arm and disarm.
    pub gen: u64,
    /// When it next fires; `None` when disarmed.
    pub next: Option<Instant>,
    /// Zero for a one-shot timer.
    pub interval: Duration,
}

impl Schedule {
    /// Arms (or, with `value` zero, disarms) the schedule; returns the new
    /// generation and the deadline to give the timer thread, if any.
    /// Both are cut to [`KTIME_MAX`], as Linux cuts them.
    pub fn set(&mut self, value: Duration, interval: Duration, now: Instant) -> (u64, Option<Instant>) {
        self.gen += 1;
        self.interval = interval.min(KTIME_MAX);
        self.next = (!value.is_zero()).then(|| now.checked_add(value.min(KTIME_MAX)).unwrap_or(now + KTIME_MAX / 2));
        (self.gen, self.next)
    }

    /// Moves the armed deadline `late` into the past: an absolute first
    /// expiry that had already passed when it was set, which fires at once
    /// and, for an interval timer, counts the intervals missed since as
    /// overruns, as Linux's hrtimer_forward does.
    pub fn backdate(&mut self, late: Duration) {
        self.next = self.next.map(|n| n.checked_sub(late).unwrap_or(n));
    }

    /// The time left and the interval, as getitimer and timerfd_gettime
    /// report them.
    pub fn remaining(&self, now: Instant) -> (Duration, Duration) {
        (self.next.map_or(Duration::ZERO, |n| n.saturating_duration_since(now)), self.interval)
    }

    /// The deadline of generation `gen` came: how many times it fired
    /// (overruns of an interval timer count), and its next deadline.
    pub fn fire(&mut self, gen: u64, now: Instant) -> (u64, Option<Instant>) {
        let Some(next) = self.next.filter(|_| gen == self.gen) else { return (0, None) };
        if self.interval.is_zero() {
            self.next = None;
            return (1, None);
        }
        let late = now.saturating_duration_since(next);
        let count = 1 + (late.as_nanos() / self.interval.as_nanos()) as u64;
        let after =
            self.interval.checked_mul(u32::try_from(count).unwrap_or(u32::MAX)).and_then(|d| next.checked_add(d));
        self.next = after;
        (count, after)
    }
}

/// A CPU-time clock: what ITIMER_VIRTUAL, ITIMER_PROF and the POSIX
/// timers and clocks on CPU time measure.
#[derive(Clone)]
pub enum CpuClock {
    /// Process `pid`'s CPU time: in its own code only (`user_only`,
    /// ITIMER_VIRTUAL), or all of it.
    Process {
        /// The process.
        pid: i32,
        /// Only time in the app's own code.
        user_only: bool,
    },
    /// One thread's CPU time.
    Thread(Weak<super::task::TaskHandle>),
}

impl CpuClock {
    /// The time on the clock; None once its process or thread is gone.
    pub fn read(&self, kernel: &super::Kernel) -> Option<Duration> {
        match self {
            CpuClock::Process { pid, user_only } => {
                let c = kernel.procs().procs.get(pid).map(|p| p.cpu_time())?;
                Some(if *user_only { c.user } else { c.total() })
            }
            CpuClock::Thread(h) => Some(h.upgrade()?.cpu_time().total()),
        }
    }
}

/// How often a CPU-time timer looks at its clock at most: Linux checks
/// them at each tick (4 ms).
const CPU_POLL_MIN: Duration = Duration::from_millis(1);
const CPU_POLL_MAX: Duration = Duration::from_millis(4);

/// The instant that stands for CPU time zero: a CPU-time schedule keeps
/// its deadlines as this plus CPU time, so that [`Schedule`] serves both
/// kinds of clock.
fn cpu_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// What a process timer shares, ITIMER_REAL, the CPU-time itimers and POSIX
/// timers alike: the process it belongs to, the clock it runs on, and its
/// schedule.
pub struct TimerOwner {
    kernel: Weak<super::Kernel>,
    group: Weak<super::process::ThreadGroup>,
    pid: i32,
    /// None: wall-clock time.
    cpu: Option<CpuClock>,
    sched: Mutex<Schedule>,
}

impl TimerOwner {
    /// A disarmed wall-clock schedule of the process `pid` (whose thread
    /// group is `group`).
    pub fn new(kernel: Weak<super::Kernel>, group: Weak<super::process::ThreadGroup>, pid: i32) -> TimerOwner {
        TimerOwner { kernel, group, pid, cpu: None, sched: Mutex::new(Schedule::default()) }
    }

    /// The same, on CPU-time clock `clock`.
    pub fn on_cpu_clock(mut self, clock: CpuClock) -> TimerOwner {
        self.cpu = Some(clock);
        self
    }

    fn sched(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now on the timer's clock, as an instant (CPU time counts from
    /// [`cpu_epoch`]); None once what it measures is gone.
    fn now(&self) -> Option<Instant> {
        match &self.cpu {
            None => Some(Instant::now()),
            Some(c) => Some(cpu_epoch() + c.read(&*self.kernel.upgrade()?)?),
        }
    }

    /// When the timer thread should look next for a deadline `at` on the
    /// timer's clock, which reads `now`: a CPU-time clock is polled, since
    /// CPU time has no wall-clock deadline.
    fn wall_deadline(&self, at: Instant, now: Instant) -> Instant {
        match self.cpu {
            None => at,
            Some(_) => Instant::now() + at.saturating_duration_since(now).clamp(CPU_POLL_MIN, CPU_POLL_MAX),
        }
    }

    /// Arms (or disarms) for `target`, the deadline `late` in the past
    /// ([`Schedule::backdate`]); returns the old (time left, interval).
    fn set(
        &self,
        timers: &Timers,
        target: Weak<dyn Expiry>,
        (value, interval, late): (Duration, Duration, Duration),
    ) -> (Duration, Duration) {
        let Some(now) = self.now() else { return (Duration::ZERO, Duration::ZERO) };
        let mut sched = self.sched();
        let old = timers.set_on_clock(&mut sched, value, interval, target, now, |at| self.wall_deadline(at, now));
        sched.backdate(late);
        old
    }

    /// (time left, interval).
    fn get(&self) -> (Duration, Duration) {
        self.now().map_or((Duration::ZERO, Duration::ZERO), |now| self.sched().remaining(now))
    }

    /// The timer thread's look at generation `gen`: how many times it
    /// fired (0 if its deadline is not yet there), when to look next, and
    /// the kernel to signal through; `None` once the process or the
    /// sandbox is gone.
    fn fire(&self, gen: u64) -> Option<(Arc<super::Kernel>, u64, Option<Instant>)> {
        let (kernel, _group) = (self.kernel.upgrade()?, self.group.upgrade()?);
        let now = self.now()?;
        let mut sched = self.sched();
        if let Some(at) = sched.next.filter(|&at| sched.gen == gen && at > now) {
            // A CPU-time deadline not reached yet.
            return Some((kernel, 0, Some(self.wall_deadline(at, now))));
        }
        let (n, next) = sched.fire(gen, now);
        Some((kernel, n, next.map(|at| self.wall_deadline(at, now))))
    }

    fn is_current(&self, gen: u64) -> bool {
        self.sched().gen == gen
    }
}

/// A process's interval timer (setitimer): ITIMER_REAL sends SIGALRM,
/// ITIMER_VIRTUAL SIGVTALRM, ITIMER_PROF SIGPROF, to the process at each
/// expiry (which coalesce, as signals do).
pub struct RealTimer {
    owner: TimerOwner,
    signo: u32,
}

impl RealTimer {
    /// The signal it sends (SIGALRM: ITIMER_REAL; the others run on CPU
    /// time).
    pub fn signo(&self) -> u32 {
        self.signo
    }

    /// The timer of `owner`'s process, sending `signo`.
    pub fn new(owner: TimerOwner, signo: u32) -> RealTimer {
        RealTimer { owner, signo }
    }

    /// setitimer: arms (or disarms) and returns the old (time left,
    /// interval).
    pub fn set(self: &Arc<Self>, timers: &Timers, value: Duration, interval: Duration) -> (Duration, Duration) {
        self.owner.set(timers, Arc::downgrade(self) as Weak<dyn Expiry>, (value, interval, Duration::ZERO))
    }

    /// getitimer: (time left, interval).
    pub fn get(&self) -> (Duration, Duration) {
        self.owner.get()
    }
}

impl Expiry for RealTimer {
    /// The owner reads its own clock (wall or CPU time), not `_now`.
    fn expire(&self, gen: u64, _now: Instant) -> Option<Instant> {
        let (kernel, n, next) = self.owner.fire(gen)?;
        if n > 0 {
            let info = super::signal::SigInfo::new(self.signo, super::signal::code::SI_KERNEL);
            super::task::exit::send_to_process(&kernel, self.owner.pid, info, None).ok()?;
        }
        next
    }

    fn is_current(&self, gen: u64) -> bool {
        self.owner.is_current(gen)
    }
}

/// RLIMIT_CPU, watched on the process's CPU time as Linux's
/// check_process_timers does: at the soft limit SIGXCPU, and again each
/// second after while below the hard limit, the soft limit rising by a
/// second each time (getrlimit shows it); at the hard limit SIGKILL.
pub struct CpuLimit {
    owner: TimerOwner,
    clock: CpuClock,
}

impl CpuLimit {
    /// The limit of `owner`'s process (a wall-clock owner: the CPU clock
    /// is set here).
    pub fn new(owner: TimerOwner, pid: i32) -> CpuLimit {
        let clock = CpuClock::Process { pid, user_only: false };
        CpuLimit { owner: owner.on_cpu_clock(clock.clone()), clock }
    }

    /// Arms for the process's limits now (`cur` and `max`, seconds of CPU
    /// time), or disarms when there is no soft limit.
    pub fn arm(self: &Arc<Self>, timers: &Timers, limit: abi::types::Rlimit) {
        use abi::flags::rlimit::RLIM_INFINITY;
        let target = Arc::downgrade(self) as Weak<dyn Expiry>;
        if limit.cur == RLIM_INFINITY {
            self.owner.set(timers, target, (Duration::ZERO, Duration::ZERO, Duration::ZERO));
            return;
        }
        let Some(kernel) = self.owner.kernel.upgrade() else { return };
        let used = self.clock.read(&kernel).unwrap_or_default();
        // Already past it: at once (a zero value would disarm).
        let left = Duration::from_secs(limit.cur).saturating_sub(used).max(Duration::from_nanos(1));
        self.owner.set(timers, target, (left, Duration::from_secs(1), Duration::ZERO));
    }

    /// The limit reached: the signal it calls for, with the soft limit
    /// raised as Linux raises it.
    fn enforce(&self, kernel: &Arc<super::Kernel>) -> Option<u32> {
        use abi::flags::rlimit::{RLIMIT_CPU, RLIM_INFINITY};
        use abi::flags::signal::{SIGKILL, SIGXCPU};
        let group = self.owner.group.upgrade()?;
        let used = self.clock.read(kernel)?;
        let mut limits = group.rlimits.lock().unwrap_or_else(|e| e.into_inner());
        let limit = &mut limits[RLIMIT_CPU as usize];
        if limit.max != RLIM_INFINITY && used >= Duration::from_secs(limit.max) {
            return Some(SIGKILL);
        }
        if limit.cur != RLIM_INFINITY && used >= Duration::from_secs(limit.cur) {
            if limit.cur < limit.max {
                limit.cur += 1;
            }
            return Some(SIGXCPU);
        }
        None
    }
}

impl Expiry for CpuLimit {
    fn expire(&self, gen: u64, _now: Instant) -> Option<Instant> {
        let (kernel, n, next) = self.owner.fire(gen)?;
        if n > 0 {
            if let Some(signo) = self.enforce(&kernel) {
                let info = super::signal::SigInfo::new(signo, super::signal::code::SI_KERNEL);
                super::task::exit::send_to_process(&kernel, self.owner.pid, info, None).ok()?;
                if signo == abi::flags::signal::SIGKILL {
                    return None;
                }
            }
        }
        next
    }

    fn is_current(&self, gen: u64) -> bool {
        self.owner.is_current(gen)
    }
}

/// Watches process `pid`'s RLIMIT_CPU from now on (made on first use):
/// after setrlimit, in a fork child, at restore.
pub fn watch_cpu_limit(kernel: &Arc<super::Kernel>, group: &Arc<super::process::ThreadGroup>, pid: i32) {
    use abi::flags::rlimit::{RLIMIT_CPU, RLIM_INFINITY};
    let limit = group.rlimits.lock().unwrap_or_else(|e| e.into_inner())[RLIMIT_CPU as usize];
    if limit.cur == RLIM_INFINITY && group.cpu_limit.get().is_none() {
        return;
    }
    let watcher = group
        .cpu_limit
        .get_or_init(|| {
            let owner = TimerOwner::new(Arc::downgrade(kernel), Arc::downgrade(group), pid);
            Arc::new(CpuLimit::new(owner, pid))
        })
        .clone();
    watcher.arm(&kernel.timers, limit);
}

/// How a POSIX timer tells of its expiry (`struct sigevent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: nothing; timer_gettime shows it.
    None,
    /// SIGEV_SIGNAL: a signal to the process.
    Process,
    /// SIGEV_THREAD_ID: a signal to one thread of the process.
    Thread(i32),
}

/// What a POSIX timer sends: `signo` with `value` (the sigevent's), told
/// as `notify` says.
#[derive(Clone, Copy, Debug)]
pub struct SigEvent {
    /// Who is told.
    pub notify: Notify,
    /// The signal.
    pub signo: u32,
    /// `sigev_value`.
    pub value: u64,
}

/// A POSIX timer (timer_create).
pub struct PosixTimer {
    owner: TimerOwner,
    id: i32,
    /// The clock absolute times are read against.
    clock: u32,
    event: SigEvent,
    /// The expirations beyond the one signalled, for the last signal sent
    /// and the one before it (timer_getoverrun).
    overruns: Mutex<Overruns>,
}

/// A POSIX timer's overrun counts. Linux freezes a signal's count when the
/// signal is delivered (and only then re-arms the timer); here the timer
/// runs on, and a signal sent while the last one is still pending adds to
/// its count, so the count of a signal already delivered is `current`
/// until the next signal is sent, then `last`.
#[derive(Default)]
struct Overruns {
    current: u64,
    last: u64,
}

/// Most POSIX timers one process may hold.
pub const MAX_POSIX_TIMERS: usize = 4096;

impl PosixTimer {
    /// A disarmed timer `id` of `owner`'s process, on `clock`.
    pub fn new(owner: TimerOwner, id: i32, clock: u32, event: SigEvent) -> PosixTimer {
        PosixTimer { owner, id, clock, event, overruns: Mutex::new(Overruns::default()) }
    }

    /// timer_settime to fire after `value` (zero disarms), then every
    /// `interval`, the first deadline `late` in the past (an absolute time
    /// already passed): (old time left, old interval). A signal of the old
    /// setting still queued is dropped.
    pub fn set(self: &Arc<Self>, timers: &Timers, setting: (Duration, Duration, Duration)) -> (Duration, Duration) {
        self.drop_pending_signal();
        *self.overruns() = Overruns::default();
        self.owner.set(timers, Arc::downgrade(self) as Weak<dyn Expiry>, setting)
    }

    /// The clock it was made on.
    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// timer_gettime.
    pub fn get(&self) -> (Duration, Duration) {
        self.owner.get()
    }

    /// Its id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// What it sends, and to whom.
    pub fn event(&self) -> SigEvent {
        self.event
    }

    /// Whether it runs on a CPU-time clock.
    pub fn on_cpu_clock(&self) -> bool {
        self.owner.cpu.is_some()
    }

    /// The CPU-time clock it runs on, if it does.
    pub fn cpu_clock(&self) -> Option<&CpuClock> {
        self.owner.cpu.as_ref()
    }

    fn overruns(&self) -> std::sync::MutexGuard<'_, Overruns> {
        self.overruns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// timer_getoverrun: the overruns of the signal last delivered (the
    /// one before a signal still pending).
    pub fn overrun(&self, kernel: &super::Kernel) -> u64 {
        let o = self.overruns();
        if self.signal_pending(kernel) {
            o.last
        } else {
            o.current
        }
    }

    /// timer_delete: no more expiries.
    pub fn cancel(&self) {
        self.owner.sched().set(Duration::ZERO, Duration::ZERO, Instant::now());
        self.drop_pending_signal();
    }

    /// Whether a signal of this timer is queued and not yet delivered.
    fn signal_pending(&self, kernel: &super::Kernel) -> bool {
        let Some(group) = self.owner.group.upgrade() else { return false };
        let mine = |s: &super::signal::SigInfo| self.is_mine(s);
        if group.pending.lock().unwrap_or_else(|e| e.into_inner()).any(mine) {
            return true;
        }
        match self.event.notify {
            Notify::Thread(tid) => kernel.procs().threads.get(&tid).is_some_and(|h| h.pending_any(mine)),
            _ => false,
        }
    }

    fn is_mine(&self, s: &super::signal::SigInfo) -> bool {
        s.code() == super::signal::code::SI_TIMER
            && s.signo() == self.event.signo
            && s.0[16..20] == self.id.to_le_bytes()
    }

    /// Drops this timer's queued signal (re-armed or deleted: as Linux 6.13,
    /// a signal of a timer that has moved on is not delivered).
    pub fn drop_pending_signal(&self) {
        let Some(group) = self.owner.group.upgrade() else { return };
        let mine = |s: &super::signal::SigInfo| self.is_mine(s);
        {
            let mut p = group.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.remove_where(mine);
            group.pending_bits.store(p.set(), std::sync::atomic::Ordering::Release);
        }
        if let (Notify::Thread(tid), Some(kernel)) = (self.event.notify, self.owner.kernel.upgrade()) {
            if let Some(h) = kernel.procs().threads.get(&tid) {
                h.remove_pending(mine);
            }
        }
    }
}

impl Expiry for PosixTimer {
    /// The owner reads its own clock (wall or CPU time), not `_now`.
    fn expire(&self, gen: u64, _now: Instant) -> Option<Instant> {
        let (kernel, n, next) = self.owner.fire(gen)?;
        if n == 0 || self.event.notify == Notify::None {
            return next;
        }
        // At most one of its signals is pending at a time; the rest are
        // overruns, as in Linux. The counts stay locked until the signal
        // is queued, so that timer_getoverrun sees both or neither.
        let mut overruns = self.overruns();
        if self.signal_pending(&kernel) {
            overruns.current = overruns.current.saturating_add(n);
            return next;
        }
        overruns.last = std::mem::replace(&mut overruns.current, n - 1);
        let mut info = super::signal::SigInfo::new(self.event.signo, super::signal::code::SI_TIMER);
        info.0[16..20].copy_from_slice(&self.id.to_le_bytes());
        info.0[20..24].copy_from_slice(&((n - 1).min(i32::MAX as u64) as i32).to_le_bytes());
        info.0[24..32].copy_from_slice(&self.event.value.to_le_bytes());
        let pid = self.owner.pid;
        match self.event.notify {
            Notify::Thread(tid) => {
                // The kernel sends it: no permission check applies.
                let root = super::process::Credentials::new(0, 0);
                super::task::exit::send_to_thread(&kernel, Some(pid), tid, info, &root).ok()?;
            }
            _ => super::task::exit::send_to_process(&kernel, pid, info, None).ok()?,
        }
        next
    }

    fn is_current(&self, gen: u64) -> bool {
        self.owner.is_current(gen)
    }
}

/// A process's POSIX timers, by id.
#[derive(Default)]
pub struct PosixTimers {
    next_id: i32,
    map: std::collections::BTreeMap<i32, Arc<PosixTimer>>,
}

impl PosixTimers {
    /// Whether the process has no timer.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A free id: EAGAIN past [`MAX_POSIX_TIMERS`].
    pub fn next_id(&mut self) -> Option<i32> {
        if self.map.len() >= MAX_POSIX_TIMERS {
            return None;
        }
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(0);
            if !self.map.contains_key(&id) {
                return Some(id);
            }
        }
    }

    /// Every timer, by id, and the next id to try (for a checkpoint).
    pub fn all(&self) -> (Vec<Arc<PosixTimer>>, i32) {
        (self.map.values().cloned().collect(), self.next_id)
    }

    /// Goes on handing out ids from `id` (a restore).
    pub fn set_next_id(&mut self, id: i32) {
        self.next_id = id.max(0);
    }

    /// Adds a timer under its id.
    pub fn insert(&mut self, t: Arc<PosixTimer>) {
        self.map.insert(t.id, t);
    }

    /// The timer `id`.
    pub fn get(&self, id: i32) -> Option<Arc<PosixTimer>> {
        self.map.get(&id).cloned()
    }

    /// Deletes timer `id`.
    pub fn remove(&mut self, id: i32) -> Option<Arc<PosixTimer>> {
        let t = self.map.remove(&id)?;
        t.cancel();
        Some(t)
    }

    /// Deletes them all (execve, as Linux's `exit_itimers`).
    pub fn clear(&mut self) {
        for t in std::mem::take(&mut self.map).into_values() {
            t.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Counter {
        fired: AtomicU64,
        sched: Mutex<Schedule>,
    }

    impl Expiry for Counter {
        fn expire(&self, gen: u64, now: Instant) -> Option<Instant> {
            let (n, next) = self.sched.lock().unwrap().fire(gen, now);
            self.fired.fetch_add(n, Ordering::SeqCst);
            next
        }
        fn is_current(&self, gen: u64) -> bool {
            self.sched.lock().unwrap().gen == gen
        }
    }

    #[test]
    fn one_shot_interval_and_cancel() {
        let timers = Timers::default();
        let c = Arc::new(Counter { fired: AtomicU64::new(0), sched: Mutex::new(Schedule::default()) });
        let arm = |value: Duration, interval: Duration| {
            let (gen, at) = c.sched.lock().unwrap().set(value, interval, Instant::now());
            if let Some(at) = at {
                let weak: Weak<dyn Expiry> = Arc::downgrade(&c) as Weak<dyn Expiry>;
                timers.arm(at, gen, weak);
            }
        };
        arm(Duration::from_millis(20), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(c.fired.load(Ordering::SeqCst), 1);
        // Bounded by the time that really passed: a loaded machine oversleeps, and the
        // timer then counts every interval it missed.
        let started = Instant::now();
        arm(Duration::from_millis(10), Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(105));
        let n = c.fired.load(Ordering::SeqCst) - 1;
        let most = started.elapsed().as_millis() as u64 / 10 + 1;
        assert!((1..=most).contains(&n), "{n} ticks of 10 ms in {} ms", started.elapsed().as_millis());
        // Disarmed: no more.
        arm(Duration::ZERO, Duration::ZERO);
        let before = c.fired.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(c.fired.load(Ordering::SeqCst), before);
        // A re-arm in a loop does not pile up entries.
        for _ in 0..10_000 {
            arm(Duration::from_secs(3600), Duration::ZERO);
        }
        assert!(timers.shared.0.lock().unwrap().heap.len() <= 2 * SWEEP_MIN);
    }

    #[test]
    fn a_late_interval_timer_counts_overruns() {
        let mut s = Schedule::default();
        let t0 = Instant::now();
        let (gen, _) = s.set(Duration::from_millis(10), Duration::from_millis(10), t0);
        let (n, next) = s.fire(gen, t0 + Duration::from_millis(35));
        assert_eq!(n, 3);
        assert_eq!(next, Some(t0 + Duration::from_millis(40)));
        assert_eq!(s.fire(gen + 1, t0), (0, None), "an old generation is ignored");
    }

    #[test]
    fn a_backdated_first_expiry_counts_the_intervals_missed() {
        let mut s = Schedule::default();
        let t0 = Instant::now();
        let (gen, at) = s.set(Duration::from_nanos(1), Duration::from_millis(10), t0);
        assert_eq!(at, Some(t0 + Duration::from_nanos(1)));
        s.backdate(Duration::from_millis(95));
        let (n, _) = s.fire(gen, t0 + Duration::from_millis(1));
        assert_eq!(n, 10, "the deadline 95 ms ago, then 9 intervals since");
    }
}
