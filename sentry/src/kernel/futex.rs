//! Futexes, implemented by the Sentry: the app's futex syscalls never reach
//! the host. Waiters are keyed by address space and address for private
//! memory, and by memory-file offset for shared memory, so a futex in a
//! MAP_SHARED region works across processes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::waiter::Waker;

/// What identifies one futex word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// Private memory: (address space id, address).
    Private(u64, u64),
    /// Shared memory: the memory-file offset.
    Shared(u64),
}

/// One waiting task.
pub struct FutexWaiter {
    /// Its waker.
    pub waker: Arc<Waker>,
    /// FUTEX_WAIT_BITSET's mask.
    pub bitset: u32,
    /// Set by the waker.
    pub woken: AtomicBool,
}

/// The table of waiters.
#[derive(Default)]
pub struct FutexTable {
    queues: Mutex<HashMap<FutexKey, VecDeque<Arc<FutexWaiter>>>>,
}

/// The table, locked: the futex word is read and compared under this lock,
/// so a wake cannot slip between the check and the sleep.
pub type FutexQueues<'a> = std::sync::MutexGuard<'a, HashMap<FutexKey, VecDeque<Arc<FutexWaiter>>>>;

impl FutexTable {
    /// Locks the table.
    pub fn lock(&self) -> FutexQueues<'_> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes a waiter that gave up (timeout or signal).
    pub fn cancel(&self, w: &Arc<FutexWaiter>) {
        let mut q = self.lock();
        for list in q.values_mut() {
            if let Some(i) = list.iter().position(|x| Arc::ptr_eq(x, w)) {
                list.remove(i);
                break;
            }
        }
        q.retain(|_, l| !l.is_empty());
    }
}

impl FutexTable {
    /// Removes the waiters of `ws` still queued (a futex_waitv that
    /// ended), in one pass over the table.
    pub fn cancel_all(&self, ws: &[Arc<FutexWaiter>]) {
        let mut q = self.lock();
        for list in q.values_mut() {
            list.retain(|x| !ws.iter().any(|w| Arc::ptr_eq(x, w)));
        }
        q.retain(|_, l| !l.is_empty());
    }
}

/// Wakes up to `n` waiters on `key` whose bitset meets `bitset`.
pub fn wake_locked(q: &mut FutexQueues<'_>, key: FutexKey, n: u32, bitset: u32) -> u32 {
    let Some(list) = q.get_mut(&key) else { return 0 };
    let mut woken = 0;
    let mut i = 0;
    while i < list.len() && woken < n {
        if list[i].bitset & bitset != 0 {
            if let Some(w) = list.remove(i) {
                w.woken.store(true, Ordering::Release);
                w.waker.wake();
                woken += 1;
            }
        } else {
            i += 1;
        }
    }
    if list.is_empty() {
        q.remove(&key);
    }
    woken
}

/// Moves up to `n` waiters from `from` to `to`.
pub fn requeue_locked(q: &mut FutexQueues<'_>, from: FutexKey, to: FutexKey, n: u32) -> u32 {
    let Some(mut list) = q.remove(&from) else { return 0 };
    let take = (n as usize).min(list.len());
    let moved: Vec<_> = list.drain(..take).collect();
    if !list.is_empty() {
        q.insert(from, list);
    }
    q.entry(to).or_default().extend(moved);
    take as u32
}
