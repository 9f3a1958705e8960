//! futex(2) and futex_waitv(2), emulated by the Sentry over its own waiter
//! table.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::clock::{CLOCK_MONOTONIC, CLOCK_REALTIME};
use abi::types::Timespec;
use abi::Errno;

use super::Args;
use crate::kernel::futex::{requeue_locked, wake_locked, FutexKey, FutexWaiter};
use crate::kernel::task::{RestartBlock, Task};
use crate::kernel::timer::deadline_in;
use crate::mm::SysResult;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// The key for the futex word at `addr`.
fn key(t: &Task, addr: u64) -> SysResult<FutexKey> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let mm = t.mm();
    let (shared, off) = mm.futex_backing(addr).ok_or(Errno::EFAULT)?;
    Ok(if shared { FutexKey::Shared(off) } else { FutexKey::Private(mm.id(), addr) })
}

/// A timeout at `addr` (none if 0) as a deadline: relative, or absolute on
/// clock `absolute`. EINVAL for a malformed timespec.
pub(super) fn read_timeout(t: &Task, addr: u64, absolute: Option<u32>) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm().read_val(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let rel = match absolute {
        None => d,
        Some(clock) => {
            let (s, ns) = crate::sys::clock_gettime(clock)?;
            d.saturating_sub(Duration::new(s.max(0) as u64, ns as u32))
        }
    };
    Ok(Some(deadline_in(rel)))
}

/// A futex wait. Interrupted by a signal, a wait without a timeout
/// restarts (ERESTARTSYS); one with a timeout fails with EINTR if a handler
/// runs, and otherwise goes on to the same deadline through
/// `restart_syscall`, as Linux's `futex_wait_restart`.
pub(super) fn wait(t: &mut Task, addr: u64, val: u32, bitset: u32, deadline: Option<Instant>) -> SysResult<u64> {
    match (wait_once(t, addr, val, bitset, deadline), deadline) {
        (Err(Errno::ERESTARTSYS), Some(deadline)) => {
            t.restart_block = Some(RestartBlock::FutexWait { addr, val, bitset, deadline });
            Err(Errno::ERESTART_RESTARTBLOCK)
        }
        (r, _) => r,
    }
}

fn wait_once(t: &mut Task, addr: u64, val: u32, bitset: u32, deadline: Option<Instant>) -> SysResult<u64> {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(t, addr)?;
    let w = Arc::new(FutexWaiter { waker: t.handle.waker.clone(), bitset, woken: Default::default() });
    {
        let kernel = t.kernel.clone();
        let mut q = kernel.futexes.lock();
        let cur: u32 = t.mm().read_val(addr)?;
        if cur != val {
            return Err(Errno::EAGAIN);
        }
        q.entry(k).or_default().push_back(w.clone());
    }
    let r = t.block(&[], deadline, |_| Ok(w.woken.load(Ordering::Acquire).then_some(())));
    match r {
        Ok(()) => Ok(0),
        Err(e) => {
            t.kernel.futexes.cancel(&w);
            if w.woken.load(Ordering::Acquire) {
                Ok(0)
            } else {
                Err(e)
            }
        }
    }
}

/// FUTEX_WAKE_OP's operation on the second word; returns the old value.
fn wake_op_update(t: &Task, addr: u64, encoded: u32) -> SysResult<u32> {
    let op = (encoded >> 28) & 7;
    let shift = (encoded >> 28) & 8 != 0;
    let mut oparg = (encoded >> 12) & 0xfff;
    if shift {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let mut mm = t.mm();
    let (chunks, n) = mm.chunks(addr, 4, true);
    if n < 4 || chunks.len() != 1 {
        return Err(Errno::EFAULT);
    }
    let f = move |old: u32| match op {
        0 => Some(oparg),
        1 => Some(old.wrapping_add(oparg)),
        2 => Some(old | oparg),
        3 => Some(old & !oparg),
        4 => Some(old ^ oparg),
        _ => None,
    };
    if f(0).is_none() {
        return Err(Errno::ENOSYS);
    }
    Ok(mm.memfile().atomic_update_u32(chunks[0].off, |v| f(v).unwrap_or(v)))
}

fn wake_op_cmp(encoded: u32, old: u32) -> bool {
    let cmp = (encoded >> 24) & 15;
    let arg = encoded & 0xfff;
    match cmp {
        0 => old == arg,
        1 => old != arg,
        2 => (old as i32) < arg as i32,
        3 => (old as i32) <= arg as i32,
        4 => (old as i32) > arg as i32,
        5 => (old as i32) >= arg as i32,
        _ => false,
    }
}

pub fn futex(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (addr, op, val) = (a.addr(0), a.u32(1), a.u32(2));
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let clock = if op & FUTEX_CLOCK_REALTIME != 0 { CLOCK_REALTIME } else { CLOCK_MONOTONIC };
    match cmd {
        FUTEX_WAIT => {
            let deadline = read_timeout(t, a.addr(3), None)?;
            wait(t, addr, val, FUTEX_BITSET_MATCH_ANY, deadline)
        }
        FUTEX_WAIT_BITSET => {
            let deadline = read_timeout(t, a.addr(3), Some(clock))?;
            wait(t, addr, val, a.u32(5), deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { a.u32(5) };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let k = key(t, addr)?;
            let mut q = t.kernel.futexes.lock();
            Ok(u64::from(wake_locked(&mut q, k, val, bitset)))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            // Both counts are ints: negative ones are EINVAL, before all else.
            if (val as i32) < 0 || a.i32(3) < 0 {
                return Err(Errno::EINVAL);
            }
            let (k1, k2) = (key(t, addr)?, key(t, a.addr(4))?);
            let nr_requeue = a.u32(3);
            let kernel = t.kernel.clone();
            let mut q = kernel.futexes.lock();
            if cmd == FUTEX_CMP_REQUEUE {
                let cur: u32 = t.mm().read_val(addr)?;
                if cur != a.u32(5) {
                    return Err(Errno::EAGAIN);
                }
            }
            let woken = wake_locked(&mut q, k1, val, FUTEX_BITSET_MATCH_ANY);
            let moved = requeue_locked(&mut q, k1, k2, nr_requeue);
            // Both report the waiters woken plus those requeued.
            Ok(u64::from(woken + moved))
        }
        FUTEX_WAKE_OP => {
            let (k1, k2) = (key(t, addr)?, key(t, a.addr(4))?);
            let nr2 = a.u64(3).min(u64::from(u32::MAX)) as u32;
            let kernel = t.kernel.clone();
            let mut q = kernel.futexes.lock();
            let old = wake_op_update(t, a.addr(4), a.u32(5))?;
            let mut n = wake_locked(&mut q, k1, val, FUTEX_BITSET_MATCH_ANY);
            if wake_op_cmp(a.u32(5), old) {
                n += wake_locked(&mut q, k2, nr2, FUTEX_BITSET_MATCH_ANY);
            }
            Ok(u64::from(n))
        }
        6..=8 | 11..=13 => {
            // Priority-inheritance futexes.
            t.kernel.log_unimplemented(abi::nr::FUTEX);
            Err(Errno::ENOSYS)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// futex_waitv's most futexes.
const FUTEX_WAITV_MAX: u32 = 128;
/// futex2 flags: the word's size (only 32 bits is implemented, as on
/// Linux), NUMA and memory-policy placement, and a private futex.
const FUTEX2_SIZE_MASK: u32 = 3;
const FUTEX2_SIZE_U32: u32 = 2;
const FUTEX2_NUMA: u32 = 4;
const FUTEX2_MPOL: u32 = 8;
const FUTEX2_PRIVATE: u32 = 128;

/// `struct futex_waitv`.
#[repr(C)]
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// futex_waitv(2): waits on up to 128 futexes at once, until one is woken
/// (its index is returned: the last one woken, if several were), a word
/// is not its expected value (EAGAIN), the absolute timeout on `clockid`
/// passes, or a signal comes. As Linux's: the arguments, the timeout,
/// then each entry are checked; the words are compared and the waits
/// queued atomically, under the futex table's lock.
pub fn futex_waitv(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (addr, nr, flags, timeout, clockid) = (a.addr(0), a.u32(1), a.u32(2), a.addr(3), a.u32(4));
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || addr == 0 {
        return Err(Errno::EINVAL);
    }
    let deadline = match timeout {
        0 => None,
        _ if clockid != CLOCK_REALTIME && clockid != CLOCK_MONOTONIC => return Err(Errno::EINVAL),
        _ => read_timeout(t, timeout, Some(clockid))?,
    };
    let mut entries = Vec::with_capacity(nr as usize);
    for i in 0..u64::from(nr) {
        let w: FutexWaitv = t.mm().read_val(addr + i * std::mem::size_of::<FutexWaitv>() as u64)?;
        let valid = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_MPOL | FUTEX2_PRIVATE;
        if w.flags & !valid != 0 || w.reserved != 0 || w.flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 {
            return Err(Errno::EINVAL);
        }
        // NUMA-placed futexes (Linux 6.16) are not offered.
        if w.flags & (FUTEX2_NUMA | FUTEX2_MPOL) != 0 {
            return Err(Errno::EINVAL);
        }
        // The expected value must fit the word.
        let val = u32::try_from(w.val).map_err(|_| Errno::EINVAL)?;
        entries.push((w.uaddr, val));
    }
    let keys = entries.iter().map(|&(uaddr, _)| key(t, uaddr)).collect::<SysResult<Vec<_>>>()?;
    let waiters: Vec<Arc<FutexWaiter>> = keys
        .iter()
        .map(|_| {
            Arc::new(FutexWaiter {
                waker: t.handle.waker.clone(),
                bitset: FUTEX_BITSET_MATCH_ANY,
                woken: Default::default(),
            })
        })
        .collect();
    {
        let kernel = t.kernel.clone();
        let mut q = kernel.futexes.lock();
        for &(uaddr, val) in &entries {
            let cur: u32 = t.mm().read_val(uaddr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
        }
        for (k, w) in keys.iter().zip(&waiters) {
            q.entry(*k).or_default().push_back(w.clone());
        }
    }
    let woken = |ws: &[Arc<FutexWaiter>]| ws.iter().rposition(|w| w.woken.load(Ordering::Acquire));
    let r = t.block(&[], deadline, |_| Ok(woken(&waiters)));
    t.kernel.futexes.cancel_all(&waiters);
    // A wake that came as the wait ended still counts.
    woken(&waiters).map_or(r, Ok).map(|i| i as u64)
}
