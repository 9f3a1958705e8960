//! Event files: eventfd, and epoll's create, ctl and wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::open::{O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR};
use abi::types::Timespec;
use abi::Errno;

use super::poll::{with_mask, HOST_POLL_SLICE};
use super::Args;
use crate::kernel::task::Task;
use crate::kernel::timer::deadline_in;
use crate::mm::SysResult;
use crate::vfs::epoll::*;
use crate::vfs::eventfd::EventFd;
use crate::vfs::file::File;

/// eventfd2's EFD_SEMAPHORE.
const EFD_SEMAPHORE: u32 = 1;

/// `sizeof(struct epoll_event)`: packed on x86_64 (events, then data).
#[cfg(target_arch = "x86_64")]
const EPOLL_EVENT_SIZE: usize = 12;
#[cfg(not(target_arch = "x86_64"))]
const EPOLL_EVENT_SIZE: usize = 16;
/// Where `data` sits in `struct epoll_event`.
const EPOLL_DATA_OFF: usize = EPOLL_EVENT_SIZE - 8;
/// Linux's bound on maxevents: `INT_MAX / sizeof(struct epoll_event)`.
const EP_MAX_EVENTS: i32 = i32::MAX / EPOLL_EVENT_SIZE as i32;

fn install(t: &mut Task, file: Arc<File>, cloexec: bool) -> SysResult<u64> {
    let limit = t.nofile_limit();
    Ok(t.fds().insert(file, cloexec, 0, limit)? as u64)
}

fn new_eventfd(t: &mut Task, initval: u32, flags: u32) -> SysResult<u64> {
    if flags & !(EFD_SEMAPHORE | O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let efd = EventFd::new(initval, flags & EFD_SEMAPHORE != 0);
    install(t, File::new(Box::new(efd), O_RDWR | (flags & O_NONBLOCK), None), flags & O_CLOEXEC != 0)
}

#[cfg(target_arch = "x86_64")]
pub fn eventfd(t: &mut Task, a: &Args) -> SysResult<u64> {
    new_eventfd(t, a.u32(0), 0)
}

pub fn eventfd2(t: &mut Task, a: &Args) -> SysResult<u64> {
    new_eventfd(t, a.u32(0), a.u32(1))
}

fn new_epoll(t: &mut Task, cloexec: bool) -> SysResult<u64> {
    install(t, File::new(Box::new(EpollFile::new()), O_RDWR, None), cloexec)
}

#[cfg(target_arch = "x86_64")]
pub fn epoll_create(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    new_epoll(t, false)
}

pub fn epoll_create1(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(0);
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    new_epoll(t, flags & O_CLOEXEC != 0)
}

/// epoll_ctl, with its checks in Linux's order (`do_epoll_ctl`).
pub fn epoll_ctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (epfd, op, fd, addr) = (a.fd(0), a.i32(1), a.fd(2), a.addr(3));
    let event = if op != EPOLL_CTL_DEL {
        let mut raw = [0u8; EPOLL_EVENT_SIZE];
        t.mm().copy_in(addr, &mut raw)?;
        let events = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let mut data = [0u8; 8];
        data.copy_from_slice(&raw[EPOLL_DATA_OFF..]);
        // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND, and is dropped without it.
        Some((events & !EPOLLWAKEUP, u64::from_ne_bytes(data)))
    } else {
        None
    };
    let (set_file, target) = {
        let fds = t.fds();
        (fds.get(epfd)?.clone(), fds.get(fd)?.clone())
    };
    if !target.ops.pollable() {
        return Err(Errno::EPERM);
    }
    let set = match set_file.ops.epoll() {
        Some(set) if !Arc::ptr_eq(&set_file, &target) => set.clone(),
        _ => return Err(Errno::EINVAL),
    };
    if let Some((events, _)) = event {
        if events & EPOLLEXCLUSIVE != 0 {
            if op == EPOLL_CTL_MOD {
                return Err(Errno::EINVAL);
            }
            if op == EPOLL_CTL_ADD && (target.ops.epoll().is_some() || events & !EXCLUSIVE_OK_BITS != 0) {
                return Err(Errno::EINVAL);
            }
        }
    }
    set.ctl(op, fd, &target, event)?;
    Ok(0)
}

/// The wait of epoll_wait and its variants: up to `max` events into the
/// array at `addr`, waiting until `deadline`. Never restarted: a signal
/// ends it with EINTR, as on Linux.
fn do_wait(t: &mut Task, epfd: i32, addr: u64, max: i32, deadline: Option<Instant>) -> SysResult<u64> {
    if max <= 0 || max > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let file = t.fds().get(epfd)?.clone();
    let set = file.ops.epoll().ok_or(Errno::EINVAL)?.clone();
    let max = max as usize;
    let events = loop {
        // Host streams are asked, not told: look again now and then.
        let slice = if set.has_host_entries() {
            let s = Instant::now() + HOST_POLL_SLICE;
            Some(deadline.map_or(s, |d| d.min(s)))
        } else {
            deadline
        };
        let r = t.block(&[set.queue()], slice, |_| {
            let got = set.collect(max);
            Ok((!got.is_empty()).then_some(got))
        });
        match r {
            Ok(v) => break v,
            Err(Errno::ETIMEDOUT) if deadline.is_none_or(|d| Instant::now() < d) => continue,
            Err(Errno::ETIMEDOUT) => return Ok(0),
            Err(Errno::ERESTARTSYS) => return Err(t.eintr()),
            Err(e) => return Err(e),
        }
    };
    let mut raw = vec![0u8; events.len() * EPOLL_EVENT_SIZE];
    for (i, (ev, data)) in events.iter().enumerate() {
        let at = i * EPOLL_EVENT_SIZE;
        raw[at..at + 4].copy_from_slice(&ev.to_ne_bytes());
        raw[at + EPOLL_DATA_OFF..at + EPOLL_EVENT_SIZE].copy_from_slice(&data.to_ne_bytes());
    }
    t.mm().copy_out(addr, &raw)?;
    Ok(events.len() as u64)
}

fn deadline_from_ms(ms: i32) -> Option<Instant> {
    (ms >= 0).then(|| deadline_in(Duration::from_millis(ms as u64)))
}

/// The signal mask argument of epoll_pwait and epoll_pwait2.
fn read_mask(t: &Task, addr: u64, size: u64) -> SysResult<Option<u64>> {
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(t.mm().read_val::<u64>(addr)?))
}

#[cfg(target_arch = "x86_64")]
pub fn epoll_wait(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_wait(t, a.fd(0), a.addr(1), a.i32(2), deadline_from_ms(a.i32(3)))
}

pub fn epoll_pwait(t: &mut Task, a: &Args) -> SysResult<u64> {
    let mask = read_mask(t, a.addr(4), a.u64(5))?;
    let (epfd, addr, max, deadline) = (a.fd(0), a.addr(1), a.i32(2), deadline_from_ms(a.i32(3)));
    with_mask(t, mask, |t| do_wait(t, epfd, addr, max, deadline))
}

pub fn epoll_pwait2(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = if a.addr(3) == 0 {
        None
    } else {
        let ts: Timespec = t.mm().read_val(a.addr(3))?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(deadline_in(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
    };
    let mask = read_mask(t, a.addr(4), a.u64(5))?;
    let (epfd, addr, max) = (a.fd(0), a.addr(1), a.i32(2));
    with_mask(t, mask, |t| do_wait(t, epfd, addr, max, deadline))
}

// ------------------------------------------------------------------ timers

use abi::flags::clock::{
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_TAI,
};
const TFD_TIMER_ABSTIME: u32 = 1;
/// Cancel a realtime timer when the clock is set: the sandbox cannot set
/// the clock, so it is taken and never fires.
const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

/// Checks that a timer may run on wall clock `clock` (EINVAL if not):
/// CLOCK_REALTIME, MONOTONIC, BOOTTIME, and for timer_create (`posix`)
/// CLOCK_TAI. The alarm clocks need CAP_WAKE_ALARM (EPERM); the sandbox
/// has no real-time clock device to wake the machine with, so timer_create
/// refuses them with EOPNOTSUPP first, as Linux does without one, and a
/// timerfd on one runs on its base clock, as Linux's does.
fn check_timer_clock(t: &Task, clock: u32, posix: bool) -> SysResult<()> {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => Ok(()),
        CLOCK_TAI if posix => Ok(()),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM if posix => Err(Errno::EOPNOTSUPP),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if t.creds().has_cap(abi::flags::capability::CAP_WAKE_ALARM) {
                Ok(())
            } else {
                Err(Errno::EPERM)
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The clock a timer on `clock` reads absolute times against: an alarm
/// clock's base clock (which Linux's alarm timers read without a
/// real-time clock device), else `clock` itself.
fn base_clock(clock: u32) -> u32 {
    match clock {
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        c => c,
    }
}

/// A `timespec` as a duration: EINVAL for a negative or out-of-range one.
fn duration_of(sec: i64, nsec: i64) -> SysResult<Duration> {
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, nsec as u32))
}

/// A `struct itimerspec` from the app as (first expiry, interval, late),
/// the expiry made relative: with `absolute`, a time on `clock`, where one
/// already past fires at once, `late` being how long ago it was (zero
/// still disarms).
fn read_itimerspec(t: &Task, addr: u64, clock: u32, absolute: bool) -> SysResult<(Duration, Duration, Duration)> {
    let spec: [i64; 4] = t.mm().read_val(addr)?;
    let interval = duration_of(spec[0], spec[1])?;
    let mut value = duration_of(spec[2], spec[3])?;
    let mut late = Duration::ZERO;
    if absolute && !value.is_zero() {
        let now = super::time::read_clock(t, base_clock(clock))?;
        late = now.saturating_sub(value);
        value = value.saturating_sub(now).max(Duration::from_nanos(1));
    }
    Ok((value, interval, late))
}

/// Two durations as a `struct itimerspec` (interval, then value).
fn itimerspec_bytes((value, interval): (Duration, Duration)) -> [i64; 4] {
    [
        interval.as_secs() as i64,
        i64::from(interval.subsec_nanos()),
        value.as_secs() as i64,
        i64::from(value.subsec_nanos()),
    ]
}

pub fn timerfd_create(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (clock, flags) = (a.u32(0), a.u32(1));
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    check_timer_clock(t, clock, false)?;
    let file = crate::vfs::timerfd::TimerFdFile(crate::vfs::timerfd::TimerFd::new(clock));
    install(t, File::new(Box::new(file), O_RDWR | (flags & O_NONBLOCK), None), flags & O_CLOEXEC != 0)
}

pub fn timerfd_settime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, flags, new_addr, old_addr) = (a.fd(0), a.u32(1), a.addr(2), a.addr(3));
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    // Linux copies the new value in first: EFAULT comes before EBADF.
    let _: [i64; 4] = t.mm().read_val(new_addr)?;
    let file = t.fds().get(fd)?.clone();
    let timer = file.ops.timerfd().ok_or(Errno::EINVAL)?.clone();
    let setting = read_itimerspec(t, new_addr, timer.clock(), flags & TFD_TIMER_ABSTIME != 0)?;
    let old = timer.set(&t.kernel.timers, setting);
    if old_addr != 0 {
        t.mm().write_val(old_addr, &itimerspec_bytes(old))?;
    }
    Ok(0)
}

pub fn timerfd_gettime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let file = t.fds().get(a.fd(0))?.clone();
    let timer = file.ops.timerfd().ok_or(Errno::EINVAL)?.clone();
    t.mm().write_val(a.addr(1), &itimerspec_bytes(timer.get()))?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
const ITIMER_REAL: u32 = 0;
const ITIMER_VIRTUAL: u32 = 1;
const ITIMER_PROF: u32 = 2;

/// A disarmed schedule of `t`'s process, for its timers.
fn timer_owner(t: &Task) -> crate::kernel::timer::TimerOwner {
    crate::kernel::timer::TimerOwner::new(Arc::downgrade(&t.kernel), Arc::downgrade(&t.handle.tg), t.pid)
}

/// This process's interval timer `which` (ITIMER_REAL, ITIMER_VIRTUAL or
/// ITIMER_PROF), or EINVAL.
fn itimer(t: &Task, which: u32) -> SysResult<Arc<crate::kernel::timer::RealTimer>> {
    use crate::kernel::timer::{CpuClock, RealTimer};
    use abi::flags::signal::{SIGALRM, SIGPROF, SIGVTALRM};
    let slot = t.handle.tg.itimers.get(which as usize).ok_or(Errno::EINVAL)?;
    let timer = slot.get_or_init(|| {
        let (owner, pid) = (timer_owner(t), t.pid);
        Arc::new(match which {
            ITIMER_VIRTUAL => RealTimer::new(owner.on_cpu_clock(CpuClock::Process { pid, user_only: true }), SIGVTALRM),
            ITIMER_PROF => RealTimer::new(owner.on_cpu_clock(CpuClock::Process { pid, user_only: false }), SIGPROF),
            _ => RealTimer::new(owner, SIGALRM),
        })
    });
    Ok(timer.clone())
}

/// Two durations as a `struct itimerval` (interval, then value).
fn itimerval_bytes((value, interval): (Duration, Duration)) -> [i64; 4] {
    [
        interval.as_secs() as i64,
        i64::from(interval.subsec_micros()),
        value.as_secs() as i64,
        i64::from(value.subsec_micros()),
    ]
}

pub fn setitimer(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (which, new_addr, old_addr) = (a.u32(0), a.addr(1), a.addr(2));
    // A NULL new value disarms, as Linux (with a warning) takes it.
    let spec: [i64; 4] = if new_addr == 0 { [0; 4] } else { t.mm().read_val(new_addr)? };
    let usec = |u: i64| if (0..1_000_000).contains(&u) { Ok(u * 1000) } else { Err(Errno::EINVAL) };
    let interval = duration_of(spec[0], usec(spec[1])?)?;
    let value = duration_of(spec[2], usec(spec[3])?)?;
    let old = itimer(t, which)?.set(&t.kernel.timers, value, interval);
    if old_addr != 0 {
        t.mm().write_val(old_addr, &itimerval_bytes(old))?;
    }
    Ok(0)
}

pub fn getitimer(t: &mut Task, a: &Args) -> SysResult<u64> {
    let now = itimer(t, a.u32(0))?.get();
    t.mm().write_val(a.addr(1), &itimerval_bytes(now))?;
    Ok(0)
}

/// alarm(2): SIGALRM in `seconds` (0 cancels); returns the seconds that
/// were left, rounded as Linux's `alarm_setitimer` does.
#[cfg(target_arch = "x86_64")]
pub fn alarm(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (left, _) =
        itimer(t, ITIMER_REAL)?.set(&t.kernel.timers, Duration::from_secs(u64::from(a.u32(0))), Duration::ZERO);
    let mut secs = left.as_secs();
    let usec = left.subsec_micros();
    if (secs == 0 && usec > 0) || usec >= 500_000 {
        secs += 1;
    }
    Ok(secs)
}

/// io_uring_setup, io_uring_enter and io_uring_register: refused with
/// ENOSYS, as gVisor does by default; glibc, libuv and Python fall back to
/// ordinary calls.
pub fn io_uring_refused(_t: &mut Task, _a: &Args) -> SysResult<u64> {
    Err(Errno::ENOSYS)
}

// ---------------------------------------------------------------- signalfd

const SFD_CLOEXEC: u32 = O_CLOEXEC;
const SFD_NONBLOCK: u32 = O_NONBLOCK;

fn do_signalfd(t: &mut Task, fd: i32, mask_addr: u64, size: u64, flags: u32) -> SysResult<u64> {
    if size != 8 || flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = t.mm().read_val(mask_addr)?;
    // SIGKILL and SIGSTOP cannot be read, as they cannot be blocked.
    let mask = mask & !crate::kernel::signal::UNBLOCKABLE;
    if fd != -1 {
        let file = t.fds().get(fd)?.clone();
        file.ops.signalfd().ok_or(Errno::EINVAL)?.set_mask(mask);
        return Ok(fd as u64);
    }
    let sfd = crate::vfs::signalfd::SignalFd::new(mask, t.handle.tg.clone());
    install(t, File::new(Box::new(sfd), O_RDWR | (flags & SFD_NONBLOCK), None), flags & SFD_CLOEXEC != 0)
}

#[cfg(target_arch = "x86_64")]
pub fn signalfd(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_signalfd(t, a.fd(0), a.addr(1), a.u64(2), 0)
}

pub fn signalfd4(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_signalfd(t, a.fd(0), a.addr(1), a.u64(2), a.u32(3))
}

/// read(2) (and readv) of a signalfd: as many of the reading task's
/// pending signals in the mask as whole records fit in the buffers; EINVAL
/// under one record, EAGAIN (or a wait) when none is pending.
pub(super) fn signalfd_read(t: &mut Task, file: &Arc<File>, bufs: &[(u64, u64)]) -> SysResult<u64> {
    let len: u64 = bufs.iter().map(|&(_, l)| l).sum();
    use crate::vfs::signalfd::{siginfo_record, SIGNALFD_SIGINFO_SIZE};
    let sfd = file.ops.signalfd().ok_or(Errno::EINVAL)?;
    let max = (len / SIGNALFD_SIGINFO_SIZE as u64) as usize;
    if max == 0 {
        return Err(Errno::EINVAL);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0;
    loop {
        let mask = sfd.mask();
        let mut records = Vec::new();
        while records.len() < max {
            match t.take_signal_in(mask) {
                Some(info) => records.push(siginfo_record(&info)),
                None => break,
            }
        }
        if !records.is_empty() {
            let bytes: Vec<u8> = records.concat();
            let mut at = 0usize;
            for &(addr, l) in bufs {
                let n = (l as usize).min(bytes.len() - at);
                t.mm().copy_out(addr, &bytes[at..at + n])?;
                at += n;
                if at == bytes.len() {
                    break;
                }
            }
            return Ok(bytes.len() as u64);
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        let group = t.handle.tg.clone();
        t.block(&[&group.signal_queue], None, |t| Ok((t.pending_signals() & sfd.mask() != 0).then_some(())))?;
    }
}

/// A write to an eventfd (Linux's eventfd_write, through `->write`, so that
/// a vectored write is one write per buffer): each buffer must hold exactly
/// one 8-byte value (EINVAL otherwise, as Linux 6.8 and later check), which
/// is added to the count; a blocking write waits until the count has room
/// for it. Says 8 for each value added, or the first buffer's error.
pub(super) fn eventfd_write(t: &mut Task, file: &Arc<File>, bufs: &[(u64, u64)]) -> SysResult<u64> {
    let efd = file.ops.eventfd().ok_or(Errno::EINVAL)?;
    let mut done = 0u64;
    for &(addr, len) in bufs {
        let added = (|| {
            if len != 8 {
                return Err(Errno::EINVAL);
            }
            let value: u64 = t.mm().read_val(addr)?;
            loop {
                match efd.add(value) {
                    Err(Errno::EAGAIN) if file.flags() & O_NONBLOCK == 0 => {
                        t.block(&[efd.queue()], None, |_| Ok(efd.has_room_for(value).then_some(())))?;
                    }
                    r => return r,
                }
            }
        })();
        match added {
            Ok(()) => done += 8,
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
    }
    Ok(done)
}

// ------------------------------------------------------------ POSIX timers

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
/// Taken by the kernel as SIGEV_SIGNAL (glibc makes the thread).
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: u32 = 1;

/// The process's POSIX timer `id`, or EINVAL.
fn posix_timer(t: &Task, id: i32) -> SysResult<Arc<crate::kernel::timer::PosixTimer>> {
    t.handle.tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).get(id).ok_or(Errno::EINVAL)
}

pub fn timer_create(t: &mut Task, a: &Args) -> SysResult<u64> {
    use crate::kernel::timer::{Notify, PosixTimer, SigEvent};
    let (clock, sevp, idp) = (a.u32(0), a.addr(1), a.addr(2));
    // Linux copies the sigevent in first: EFAULT comes before the clock's
    // errors.
    let ev: Option<[u8; 64]> = if sevp == 0 { None } else { Some(t.mm().read_val(sevp)?) };
    let cpu = super::time::cpu_clock(t, clock)?;
    if cpu.is_none() {
        check_timer_clock(t, clock, true)?;
    }
    let mut timers = t.handle.tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner());
    let id = timers.next_id().ok_or(Errno::EAGAIN)?;
    let (notify, signo, value) = match ev {
        // No sigevent: SIGALRM with the timer's id as its value.
        None => (Notify::Process, abi::flags::signal::SIGALRM, id as u64),
        Some(ev) => {
            let word = |at: usize| i32::from_ne_bytes([ev[at], ev[at + 1], ev[at + 2], ev[at + 3]]);
            let value = u64::from_ne_bytes(ev[0..8].try_into().unwrap_or([0; 8]));
            let (signo, how) = (word(8), word(12));
            let notify = match how {
                SIGEV_NONE => Notify::None,
                SIGEV_SIGNAL | SIGEV_THREAD => Notify::Process,
                SIGEV_THREAD_ID => {
                    let tid = word(16);
                    let same_group = t.kernel.procs().threads.get(&tid).is_some_and(|h| h.tg.tgid == t.pid);
                    if !same_group {
                        return Err(Errno::EINVAL);
                    }
                    Notify::Thread(tid)
                }
                _ => return Err(Errno::EINVAL),
            };
            if notify != Notify::None && !(1..=crate::kernel::signal::NSIG as i32).contains(&signo) {
                return Err(Errno::EINVAL);
            }
            (notify, signo.max(0) as u32, value)
        }
    };
    let owner = match cpu {
        Some(c) => timer_owner(t).on_cpu_clock(c),
        None => timer_owner(t),
    };
    let timer = PosixTimer::new(owner, id, clock, SigEvent { notify, signo, value });
    timers.insert(Arc::new(timer));
    drop(timers);
    if let Err(e) = t.mm().write_val(idp, &id) {
        t.handle.tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        return Err(e);
    }
    Ok(0)
}

pub fn timer_settime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, flags, new_addr, old_addr) = (a.i32(0), a.u32(1), a.addr(2), a.addr(3));
    // No new value is EINVAL; Linux copies it in first: EFAULT comes
    // before a bad timer's EINVAL.
    if new_addr == 0 {
        return Err(Errno::EINVAL);
    }
    let _: [i64; 4] = t.mm().read_val(new_addr)?;
    let timer = posix_timer(t, id)?;
    let setting = read_itimerspec(t, new_addr, timer.clock(), flags & TIMER_ABSTIME != 0)?;
    let old = timer.set(&t.kernel.timers, setting);
    if old_addr != 0 {
        t.mm().write_val(old_addr, &itimerspec_bytes(old))?;
    }
    Ok(0)
}

pub fn timer_gettime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let timer = posix_timer(t, a.i32(0))?;
    t.mm().write_val(a.addr(1), &itimerspec_bytes(timer.get()))?;
    Ok(0)
}

pub fn timer_getoverrun(t: &mut Task, a: &Args) -> SysResult<u64> {
    Ok(posix_timer(t, a.i32(0))?.overrun(&t.kernel).min(i32::MAX as u64))
}

pub fn timer_delete(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.handle.tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).remove(a.i32(0)).ok_or(Errno::EINVAL)?;
    Ok(0)
}

/// inotify_init1's flags.
const IN_NONBLOCK: u32 = O_NONBLOCK;
const IN_CLOEXEC: u32 = O_CLOEXEC;

fn new_inotify(t: &mut Task, flags: u32) -> SysResult<u64> {
    use crate::vfs::inotify::{Inotify, InotifyFile};
    if flags & !(IN_NONBLOCK | IN_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = File::new(Box::new(InotifyFile(Inotify::new())), O_RDONLY | (flags & IN_NONBLOCK), None);
    install(t, file, flags & IN_CLOEXEC != 0)
}

#[cfg(target_arch = "x86_64")]
pub fn inotify_init(t: &mut Task, _a: &Args) -> SysResult<u64> {
    new_inotify(t, 0)
}

pub fn inotify_init1(t: &mut Task, a: &Args) -> SysResult<u64> {
    new_inotify(t, a.u32(0))
}

/// inotify_add_watch: the file at `path` (not following a final symlink
/// with IN_DONT_FOLLOW; a directory only with IN_ONLYDIR), which the
/// caller must be able to read.
pub fn inotify_add_watch(t: &mut Task, a: &Args) -> SysResult<u64> {
    use crate::vfs::inotify::{IN_DONT_FOLLOW, IN_ONLYDIR};
    let (fd, path_addr, mask) = (a.fd(0), a.addr(1), a.u32(2));
    let file = t.fds().get(fd)?.clone();
    let ino = file.ops.inotify().ok_or(Errno::EINVAL)?.clone();
    let path = super::fs::read_path(t, path_addr)?;
    let follow = if mask & IN_DONT_FOLLOW != 0 { crate::vfs::Follow::No } else { crate::vfs::Follow::Yes };
    let d = super::fs::resolve_at(t, abi::flags::at::AT_FDCWD, &path, follow)?;
    if mask & IN_ONLYDIR != 0 && !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let attr = d.attr();
    crate::vfs::ops::check_perm(&t.creds(), &attr, crate::vfs::ops::MAY_READ)?;
    ino.add_watch(&d, &attr, mask).map(|wd| wd as u64)
}

pub fn inotify_rm_watch(t: &mut Task, a: &Args) -> SysResult<u64> {
    let file = t.fds().get(a.fd(0))?.clone();
    let ino = file.ops.inotify().ok_or(Errno::EINVAL)?.clone();
    ino.rm_watch(a.i32(1)).map(|_| 0)
}
