//! timerfd: a timer read as a file, whose reads return how many times it
//! fired since the last read (timerfd_create(2)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use abi::Errno;
use gofer::FileAttr;

use super::file::{put_bytes, FileOps, POLLIN, POLLRDNORM};
use crate::kernel::timer::{Expiry, Schedule, Timers};
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct State {
    sched: Schedule,
    /// Expirations since the last read.
    ticks: u64,
}

/// One timer.
pub struct TimerFd {
    /// The clock its absolute times are read against.
    clock: u32,
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

impl TimerFd {
    /// A disarmed timer on `clock`.
    pub fn new(clock: u32) -> Arc<TimerFd> {
        Arc::new(TimerFd {
            clock,
            state: Mutex::new(State::default()),
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock (`CLOCK_*`) it was made on.
    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// timerfd_settime with a relative first expiry `value` (zero
    /// disarms) and `interval`, the first deadline `late` in the past (an
    /// absolute time already passed, whose missed intervals count as
    /// expirations); returns the old (time left, interval). The count of
    /// expirations not yet read starts again at 0.
    pub fn set(
        self: &Arc<Self>,
        timers: &Timers,
        (value, interval, late): (Duration, Duration, Duration),
    ) -> (Duration, Duration) {
        let target: Weak<dyn Expiry> = Arc::downgrade(self) as Weak<dyn Expiry>;
        let mut st = self.state();
        st.ticks = 0;
        let old = timers.set(&mut st.sched, value, interval, target);
        st.sched.backdate(late);
        old
    }

    /// Expirations not yet read (for a checkpoint).
    pub fn ticks(&self) -> u64 {
        self.state().ticks
    }

    /// A timer as a checkpoint left it: armed for `value` from now (zero:
    /// not armed) with `interval`, `ticks` expirations unread.
    pub fn restored(clock: u32, timers: &Timers, (value, interval): (Duration, Duration), ticks: u64) -> Arc<TimerFd> {
        let t = TimerFd::new(clock);
        // A periodic timer due as the checkpoint was taken has no time
        // left, and is armed all the same.
        let value = if value.is_zero() && !interval.is_zero() { Duration::from_nanos(1) } else { value };
        if !value.is_zero() {
            t.set(timers, (value, interval, Duration::ZERO));
        }
        t.state().ticks = ticks;
        t
    }

    /// timerfd_gettime: (time left, interval).
    pub fn get(&self) -> (Duration, Duration) {
        self.state().sched.remaining(Instant::now())
    }
}

impl Expiry for TimerFd {
    fn expire(&self, gen: u64, now: Instant) -> Option<Instant> {
        let (n, next) = {
            let mut st = self.state();
            let (n, next) = st.sched.fire(gen, now);
            st.ticks = st.ticks.saturating_add(n);
            (n, next)
        };
        if n > 0 {
            self.queue.notify_events(POLLIN | POLLRDNORM);
        }
        next
    }

    fn is_current(&self, gen: u64) -> bool {
        self.state().sched.gen == gen
    }
}

/// An open timerfd.
pub struct TimerFdFile(pub Arc<TimerFd>);

impl FileOps for TimerFdFile {
    fn seekable(&self) -> bool {
        false
    }

    /// The expirations since the last read, as 8 bytes; EAGAIN while there
    /// are none, EINVAL for a buffer under 8 bytes.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if dst.iter().map(|c| c.len).sum::<u64>() < 8 {
            return Err(Errno::EINVAL);
        }
        let ticks = std::mem::take(&mut self.0.state().ticks);
        if ticks == 0 {
            return Err(Errno::EAGAIN);
        }
        put_bytes(mf, dst, &ticks.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.0.ino))
    }

    fn readiness(&self) -> u32 {
        if self.0.state().ticks > 0 {
            POLLIN
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    /// Linux's `noop_llseek`: the position stays 0.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Ok(0)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[timerfd]")
    }

    fn timerfd(&self) -> Option<&Arc<TimerFd>> {
        Some(&self.0)
    }
}
