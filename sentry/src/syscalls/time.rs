//! Clocks and sleeping. Time comes from the host's clocks: the sandbox has
//! no clock of its own to keep.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::clock::*;
use abi::types::{Timespec, Timeval};

use crate::kernel::signal::{SIG_DFL, SIG_IGN};
use abi::Errno;

use super::Args;
use crate::kernel::task::{RestartBlock, Task};
use crate::kernel::timer::CpuClock;
use crate::mm::SysResult;
use crate::sys;

/// The clocks an app may read; CPU-time clocks of other processes (negative
/// ids) are not offered.
fn valid_clock(id: u32) -> SysResult<u32> {
    match id {
        CLOCK_REALTIME
        | CLOCK_MONOTONIC
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID
        | CLOCK_MONOTONIC_RAW
        | CLOCK_REALTIME_COARSE
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_REALTIME_ALARM
        | CLOCK_BOOTTIME_ALARM
        | CLOCK_TAI => Ok(id),
        _ => Err(Errno::EINVAL),
    }
}

/// The CPU-time clock `id` names: CLOCK_PROCESS_CPUTIME_ID,
/// CLOCK_THREAD_CPUTIME_ID, or the negative ids of clock_getcpuclockid and
/// pthread_getcpuclockid (`~pid << 3`, the per-thread bit 4, and the kind:
/// 0 PROF, 1 VIRT, 2 SCHED). None for other clocks; EINVAL for a CPU
/// clock of a process that does not exist here, or of another process's
/// thread, as Linux answers.
pub(super) fn cpu_clock(t: &Task, id: u32) -> SysResult<Option<CpuClock>> {
    let id = id as i32;
    let own_process = CpuClock::Process { pid: t.pid, user_only: false };
    match id {
        2 => Ok(Some(own_process)),
        3 => Ok(Some(CpuClock::Thread(Arc::downgrade(&t.handle)))),
        id if id < 0 => {
            let kind = id & 3;
            if kind == 3 {
                return Err(Errno::EINVAL);
            }
            let target = !(id >> 3);
            if id & 4 != 0 {
                if target == 0 {
                    return Ok(Some(CpuClock::Thread(Arc::downgrade(&t.handle))));
                }
                let procs = t.kernel.procs();
                let h = procs.threads.get(&target).filter(|h| h.tg.tgid == t.pid).ok_or(Errno::EINVAL)?;
                return Ok(Some(CpuClock::Thread(Arc::downgrade(h))));
            }
            let pid = if target == 0 { t.pid } else { target };
            if !t.kernel.procs().procs.contains_key(&pid) {
                return Err(Errno::EINVAL);
            }
            Ok(Some(CpuClock::Process { pid, user_only: kind == 1 }))
        }
        _ => Ok(None),
    }
}

/// The time on clock `id` (any clock an app may read), as the caller's
/// time namespace shows it.
pub(super) fn read_clock(t: &Task, id: u32) -> SysResult<Duration> {
    if let Some(c) = cpu_clock(t, id)? {
        return c.read(&t.kernel).ok_or(Errno::EINVAL);
    }
    let (s, ns) = wall_clock(t, valid_clock(id)?)?;
    Ok(Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32))
}

/// The host's clock `id` (not a CPU clock), shifted by the caller's time
/// namespace's offset for it (Linux's timens_add_monotonic and
/// timens_add_boottime).
fn wall_clock(t: &Task, id: u32) -> SysResult<(i64, i64)> {
    let (s, ns) = sys::clock_gettime(id)?;
    let offset = crate::kernel::ns::clock_offset(t.handle.tg.ns().time_offsets(), id);
    if offset == 0 {
        return Ok((s, ns));
    }
    let host = Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32);
    Ok(crate::kernel::ns::shifted(host, offset))
}

pub fn clock_gettime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let id = a.u32(0);
    let (tv_sec, tv_nsec) = match cpu_clock(t, id)? {
        Some(c) => {
            let d = c.read(&t.kernel).ok_or(Errno::EINVAL)?;
            (d.as_secs() as i64, i64::from(d.subsec_nanos()))
        }
        None => wall_clock(t, valid_clock(id)?)?,
    };
    t.mm().write_val(a.addr(1), &Timespec { tv_sec, tv_nsec })?;
    Ok(0)
}

pub fn clock_getres(t: &mut Task, a: &Args) -> SysResult<u64> {
    let id = a.u32(0);
    let (tv_sec, tv_nsec) = match cpu_clock(t, id)? {
        // CPU clocks count in nanoseconds.
        Some(_) => (0, 1),
        None => sys::clock_getres(valid_clock(id)?)?,
    };
    if a.addr(1) != 0 {
        t.mm().write_val(a.addr(1), &Timespec { tv_sec, tv_nsec })?;
    }
    Ok(0)
}

/// The latest second Linux lets the wall clock be set to
/// (`TIME_SETTOD_SEC_MAX`: KTIME_SEC_MAX less 30 years of uptime).
const SETTOD_SEC_MAX: i64 = i64::MAX / 1_000_000_000 - 30 * 365 * 24 * 3600;

/// clock_settime(2): the sandbox never sets the host's clock, so a valid
/// request for the wall clock is EPERM, as without CAP_SYS_TIME (and as
/// gVisor answers it). Linux's other errors come first: EINVAL for any
/// other clock (none can be set, CPU-time clocks included) or a bad time,
/// EFAULT for a bad pointer.
pub fn clock_settime(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u32(0) != CLOCK_REALTIME {
        return Err(Errno::EINVAL);
    }
    let ts: Timespec = t.mm().read_val(a.addr(1))?;
    if !(0..=SETTOD_SEC_MAX).contains(&ts.tv_sec) || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EPERM)
}

/// settimeofday(2): as clock_settime, after Linux's checks of both
/// arguments (a time zone's minutes must lie within a day either way).
pub fn settimeofday(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.addr(0) != 0 {
        let tv: Timeval = t.mm().read_val(a.addr(0))?;
        if !(0..=SETTOD_SEC_MAX).contains(&tv.tv_sec) || !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
    }
    if a.addr(1) != 0 {
        let [minuteswest, _dsttime]: [i32; 2] = t.mm().read_val(a.addr(1))?;
        if !(-15 * 60..=15 * 60).contains(&minuteswest) {
            return Err(Errno::EINVAL);
        }
    }
    Err(Errno::EPERM)
}

pub fn gettimeofday(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.addr(0) != 0 {
        let (tv_sec, nsec) = sys::clock_gettime(CLOCK_REALTIME)?;
        t.mm().write_val(a.addr(0), &Timeval { tv_sec, tv_usec: nsec / 1000 })?;
    }
    if a.addr(1) != 0 {
        // struct timezone: minutes west and DST type, both zero (UTC).
        t.mm().write_val(a.addr(1), &[0u32; 2])?;
    }
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn time(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (sec, _) = sys::clock_gettime(CLOCK_REALTIME)?;
    if a.addr(0) != 0 {
        t.mm().write_val(a.addr(0), &sec)?;
    }
    Ok(sec as u64)
}

fn read_timespec(t: &Task, addr: u64) -> SysResult<Duration> {
    let ts: Timespec = t.mm().read_val(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

pub fn nanosleep(t: &mut Task, a: &Args) -> SysResult<u64> {
    let d = read_timespec(t, a.addr(0))?;
    sleep_relative(t, Instant::now().checked_add(d), a.addr(1))
}

pub fn clock_nanosleep(t: &mut Task, a: &Args) -> SysResult<u64> {
    let id = a.u32(0);
    // A thread cannot sleep on its own CPU clock.
    if matches!(id, CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EOPNOTSUPP);
    }
    if let Some(clock) = cpu_clock(t, id)? {
        let req = read_timespec(t, a.addr(2))?;
        return cpu_sleep(t, clock, req, a.u32(1) & TIMER_ABSTIME != 0, a.addr(3));
    }
    let id = valid_clock(id)?;
    let req = read_timespec(t, a.addr(2))?;
    if a.u32(1) & TIMER_ABSTIME != 0 {
        // A time on the caller's namespace's clock.
        let d = req.saturating_sub(read_clock(t, id)?);
        // An absolute deadline restarts exactly (ERESTARTNOHAND reads it
        // again); there is no remainder.
        return sleep_until(t, Instant::now().checked_add(d), 0);
    }
    sleep_relative(t, Instant::now().checked_add(req), a.addr(3))
}

/// How often a sleep on a CPU clock looks at it (Linux: each tick).
const CPU_SLEEP_POLL: Duration = Duration::from_millis(4);

/// clock_nanosleep on a CPU clock: until the clock reads the target,
/// looking every few milliseconds. EINTR (with the CPU time left) when a
/// handler is to run; a relative sleep interrupted otherwise restarts
/// with what is left.
fn cpu_sleep(t: &mut Task, clock: CpuClock, req: Duration, absolute: bool, rem: u64) -> SysResult<u64> {
    let kernel = t.kernel.clone();
    let now = || clock.read(&kernel).ok_or(Errno::EINVAL);
    let target = if absolute { req } else { now()?.saturating_add(req) };
    loop {
        let left = target.saturating_sub(now()?);
        if left.is_zero() {
            return Ok(0);
        }
        let poll = Instant::now() + left.min(CPU_SLEEP_POLL);
        match t.block(&[], Some(poll), |_| Ok(None::<()>)) {
            Err(Errno::ETIMEDOUT) | Ok(()) => continue,
            Err(Errno::ERESTARTSYS) if handler_pending(t) => {
                if rem != 0 && !absolute {
                    let left = target.saturating_sub(clock.read(&kernel).unwrap_or(target));
                    let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
                    t.mm().write_val(rem, &ts)?;
                }
                return Err(Errno::EINTR);
            }
            Err(Errno::ERESTARTSYS) => {
                if t.must_exit() {
                    return Err(Errno::ERESTARTNOHAND);
                }
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a pending, unblocked signal has a handler to run.
fn handler_pending(t: &Task) -> bool {
    let pending = t.handle.pending_set() & !t.sigmask;
    if pending == 0 {
        return false;
    }
    let handlers = t.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner());
    (1..=64u32).any(|sig| pending & (1u64 << (sig - 1)) != 0 && !matches!(handlers.get(sig).handler, SIG_DFL | SIG_IGN))
}

/// A relative sleep up to `deadline` (`None`: past the clock's range), in
/// a way signals interrupt: with a handler to run, the call fails with
/// EINTR and the time left goes to `rem` (if not 0); a signal without one
/// (a stop and continue, say) restarts it through `restart_syscall`, up to
/// the same deadline, as Linux does.
pub(super) fn sleep_relative(t: &mut Task, deadline: Option<Instant>, rem: u64) -> SysResult<u64> {
    match sleep_until(t, deadline, rem) {
        Err(Errno::ERESTARTNOHAND) => {
            t.restart_block = Some(RestartBlock::Sleep { deadline, rem });
            Err(Errno::ERESTART_RESTARTBLOCK)
        }
        r => r,
    }
}

/// Sleeps until `deadline`: EINTR with the time left in `rem` (if not 0)
/// when a handler is to run; ERESTARTNOHAND when a signal without one (a
/// stop, an ignored signal, the task's end) woke it.
fn sleep_until(t: &mut Task, deadline: Option<Instant>, rem: u64) -> SysResult<u64> {
    match t.block(&[], deadline, |_| Ok(None::<()>)) {
        Err(Errno::ETIMEDOUT) | Ok(()) => Ok(0),
        Err(Errno::ERESTARTSYS) if handler_pending(t) => {
            if rem != 0 {
                let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
                let ts = Timespec {
                    tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(left.subsec_nanos()),
                };
                t.mm().write_val(rem, &ts)?;
            }
            Err(Errno::EINTR)
        }
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        Err(e) => Err(e),
    }
}
