//! poll, ppoll, select and pselect6 over the Sentry's files.
//!
//! A task waits on the wait queues of the files it polls. Files that are
//! host streams (the stdio `husk run` passed in) have no queue; while any is
//! polled the task wakes every few milliseconds to ask the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::types::Timespec;
#[cfg(target_arch = "x86_64")]
use abi::types::Timeval;
use abi::Errno;

use super::Args;
use crate::kernel::signal::SigSet;
use crate::kernel::task::{RestartBlock, Task, STICKY_TIMEOUTS};
use crate::kernel::timer::deadline_in;
use crate::mm::SysResult;
use crate::vfs::file::{File, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};

/// How long a task polling host streams sleeps between looks at the host.
pub(super) const HOST_POLL_SLICE: Duration = Duration::from_millis(10);
/// Most fds one poll takes (RLIMIT_NOFILE's hard cap here).
const MAX_POLL_FDS: u64 = 1 << 20;

/// The events a file reports for `events`.
pub(super) fn revents(f: &File, events: u32) -> u32 {
    let mut r = f.ops.readiness();
    if r & POLLIN != 0 {
        r |= POLLRDNORM;
    }
    if r & POLLOUT != 0 {
        r |= POLLWRNORM;
    }
    r & (events | POLLERR | POLLHUP)
}

/// Waits until one of `entries` (fd, events) is ready; returns the revents
/// of each, and how many are non-zero. `Ok(None)` is a timeout.
fn wait_any(t: &mut Task, entries: &[(i32, u32)], deadline: Option<Instant>) -> SysResult<(Vec<u32>, usize)> {
    let files: Vec<Option<Arc<File>>> =
        entries.iter().map(|&(fd, _)| if fd < 0 { None } else { t.fds().get(fd).ok().cloned() }).collect();
    let has_host = files.iter().flatten().any(|f| f.ops.host_fd().is_some());
    let check = |files: &[Option<Arc<File>>]| -> (Vec<u32>, usize) {
        let out: Vec<u32> = entries
            .iter()
            .zip(files)
            .map(|(&(fd, ev), f)| match f {
                _ if fd < 0 => 0,
                None => POLLNVAL,
                Some(f) => revents(f, ev),
            })
            .collect();
        let n = out.iter().filter(|&&r| r != 0).count();
        (out, n)
    };
    let queues: Vec<&crate::kernel::waiter::WaitQueue> =
        files.iter().flatten().filter_map(|f| f.ops.wait_queue()).collect();
    loop {
        let slice = if has_host {
            let s = Instant::now() + HOST_POLL_SLICE;
            Some(deadline.map_or(s, |d| d.min(s)))
        } else {
            deadline
        };
        let r = t.block(&queues, slice, |_| {
            let (out, n) = check(&files);
            Ok((n > 0).then_some((out, n)))
        });
        match r {
            Ok(v) => return Ok(v),
            Err(Errno::ETIMEDOUT) if deadline.is_none_or(|d| Instant::now() < d) => continue,
            Err(Errno::ETIMEDOUT) => return Ok((vec![0; entries.len()], 0)),
            Err(Errno::ERESTARTSYS) => return Err(Errno::ERESTARTNOHAND),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn deadline_from_ms(ms: i32) -> Option<Instant> {
    (ms >= 0).then(|| deadline_in(Duration::from_millis(ms as u64)))
}

fn read_timespec_deadline(t: &Task, addr: u64) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm().read_val(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(deadline_in(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))))
}

fn do_poll(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>) -> SysResult<u64> {
    if nfds > MAX_POLL_FDS || nfds > t.nofile_limit() {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; nfds as usize * 8];
    t.mm().copy_in(addr, &mut raw)?;
    let entries: Vec<(i32, u32)> = raw
        .chunks_exact(8)
        .map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]), u32::from(u16::from_le_bytes([c[4], c[5]]))))
        .collect();
    let (out, n) = wait_any(t, &entries, deadline)?;
    for (i, r) in out.iter().enumerate() {
        raw[i * 8 + 6..i * 8 + 8].copy_from_slice(&(*r as u16).to_le_bytes());
    }
    t.mm().copy_out(addr, &raw)?;
    Ok(n as u64)
}

/// pselect6's and io_pgetevents's signal mask argument: a pointer to a
/// mask and its size (none if either pointer is 0; EINVAL for a size but
/// 8, EFAULT), as Linux's set_user_sigmask reads it.
pub(super) fn read_sigset_arg(t: &Task, addr: u64) -> SysResult<Option<SigSet>> {
    if addr == 0 {
        return Ok(None);
    }
    let [mask, size]: [u64; 2] = t.mm().read_val(addr)?;
    if mask == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(t.mm().read_val::<u64>(mask)?))
}

/// Runs `f` with the signal mask `mask` in force, as ppoll and pselect6 do;
/// the old mask comes back when the call returns, or after a handler runs.
pub(super) fn with_mask<T>(
    t: &mut Task,
    mask: Option<SigSet>,
    f: impl FnOnce(&mut Task) -> SysResult<T>,
) -> SysResult<T> {
    let Some(m) = mask else { return f(t) };
    let old = t.sigmask;
    t.set_sigmask(m);
    let r = f(t);
    if r.is_err() {
        // A handler may run first: deliver_signals restores `saved_mask`.
        t.saved_mask = Some(old);
    } else {
        t.set_sigmask(old);
    }
    r
}

#[cfg(target_arch = "x86_64")]
pub fn poll(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = deadline_from_ms(a.i32(2));
    poll_restartable(t, a.addr(0), a.u64(1), deadline)
}

/// poll, which Linux restarts after a signal without a handler: without a
/// timeout from the start, with one through `restart_syscall` up to the
/// same deadline (`do_restart_poll`).
pub(super) fn poll_restartable(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>) -> SysResult<u64> {
    match (do_poll(t, addr, nfds, deadline), deadline) {
        (Err(Errno::ERESTARTNOHAND), Some(deadline)) => {
            t.restart_block = Some(RestartBlock::Poll { addr, nfds, deadline });
            Err(Errno::ERESTART_RESTARTBLOCK)
        }
        (r, _) => r,
    }
}

pub fn ppoll(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = read_timespec_deadline(t, a.addr(2))?;
    let mask = if a.addr(3) != 0 {
        if a.u64(4) != 8 {
            return Err(Errno::EINVAL);
        }
        Some(t.mm().read_val::<u64>(a.addr(3))?)
    } else {
        None
    };
    let (addr, n) = (a.addr(0), a.u64(1));
    let r = with_mask(t, mask, |t| do_poll(t, addr, n, deadline));
    // Linux writes back the time left, so a restart goes on for it.
    finish(t, r, deadline, |t, d| write_time_left(t, a.addr(2), d))
}

/// Linux's poll_select_finish for ppoll, select and pselect6: `write` puts
/// the time left until the deadline back into the app's timeout, unless
/// the personality has STICKY_TIMEOUTS, which leaves it as given, and
/// then an interrupted call is not restarted (EINTR). Nothing of this
/// without a timeout.
fn finish(
    t: &Task,
    r: SysResult<u64>,
    deadline: Option<Instant>,
    write: impl FnOnce(&Task, Instant),
) -> SysResult<u64> {
    let Some(d) = deadline else { return r };
    if t.personality & STICKY_TIMEOUTS != 0 {
        return match r {
            Err(Errno::ERESTARTNOHAND) => Err(Errno::EINTR),
            r => r,
        };
    }
    write(t, d);
    r
}

/// Writes the time left until `deadline` as a timespec at `addr`
/// (ppoll, pselect6); a bad address is the app's problem, not the call's.
fn write_time_left(t: &Task, addr: u64, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
    let _ = t.mm().write_val(addr, &ts);
}

/// The three fd sets of select, as bitmaps of `nfds` bits.
fn read_set(t: &Task, addr: u64, nfds: usize) -> SysResult<Vec<u8>> {
    let bytes = nfds.div_ceil(64) * 8;
    let mut v = vec![0u8; bytes];
    if addr != 0 {
        t.mm().copy_in(addr, &mut v)?;
    }
    Ok(v)
}

fn bit(set: &[u8], i: usize) -> bool {
    set[i / 8] & (1 << (i % 8)) != 0
}

fn do_select(t: &mut Task, nfds: i32, sets: [u64; 3], deadline: Option<Instant>) -> SysResult<u64> {
    if nfds < 0 || nfds as u64 > t.nofile_limit().max(1024) {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let (r, w, e) = (read_set(t, sets[0], n)?, read_set(t, sets[1], n)?, read_set(t, sets[2], n)?);
    let mut entries = Vec::new();
    for fd in 0..n {
        let mut ev = 0;
        if bit(&r, fd) {
            ev |= POLLIN | POLLHUP | POLLERR;
        }
        if bit(&w, fd) {
            ev |= POLLOUT | POLLERR;
        }
        if bit(&e, fd) {
            ev |= POLLPRI;
        }
        if ev != 0 {
            if t.fds().get(fd as i32).is_err() {
                return Err(Errno::EBADF);
            }
            entries.push((fd as i32, ev));
        }
    }
    let (out, _) = wait_any(t, &entries, deadline)?;
    let mut outs = [vec![0u8; r.len()], vec![0u8; w.len()], vec![0u8; e.len()]];
    let mut count = 0;
    for ((fd, _), rev) in entries.iter().zip(out) {
        let fd = *fd as usize;
        let hits = [
            bit(&r, fd) && rev & (POLLIN | POLLHUP | POLLERR) != 0,
            bit(&w, fd) && rev & (POLLOUT | POLLERR) != 0,
            bit(&e, fd) && rev & POLLPRI != 0,
        ];
        for (k, hit) in hits.iter().enumerate() {
            if *hit {
                outs[k][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (k, addr) in sets.iter().enumerate() {
        if *addr != 0 {
            t.mm().copy_out(*addr, &outs[k])?;
        }
    }
    Ok(count)
}

#[cfg(target_arch = "x86_64")]
pub fn select(t: &mut Task, a: &Args) -> SysResult<u64> {
    let tv_addr = a.addr(4);
    let deadline = if tv_addr != 0 {
        let tv: Timeval = t.mm().read_val(tv_addr)?;
        if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Some(deadline_in(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
    } else {
        None
    };
    let r = do_select(t, a.i32(0), [a.addr(1), a.addr(2), a.addr(3)], deadline);
    // Linux writes back the time left.
    finish(t, r, deadline, |t, d| {
        let left = d.saturating_duration_since(Instant::now());
        let tv = Timeval { tv_sec: left.as_secs() as i64, tv_usec: i64::from(left.subsec_micros()) };
        let _ = t.mm().write_val(tv_addr, &tv);
    })
}

pub fn pselect6(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = read_timespec_deadline(t, a.addr(4))?;
    let mask = read_sigset_arg(t, a.addr(5))?;
    let (nfds, sets) = (a.i32(0), [a.addr(1), a.addr(2), a.addr(3)]);
    let r = with_mask(t, mask, |t| do_select(t, nfds, sets, deadline));
    // Like select, pselect6 writes back the time left (glibc's select is
    // built on it).
    finish(t, r, deadline, |t, d| write_time_left(t, a.addr(4), d))
}
