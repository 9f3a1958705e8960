//! Blocking: a task sleeps on its own [`Waker`]; objects that tasks wait for
//! keep a [`WaitQueue`] of waiters to notify when their state changes.
//! Signals wake a task through the same waker, so every sleep can be cut
//! short by a signal.
//!
//! A waiter is a task's waker or an epoll set's entry for a file
//! ([`Waiter`]), so one design serves blocking calls, poll, select and
//! epoll, as gVisor's `waiter.Queue` does: readiness is kept by each file,
//! and a file tells its queue which events may have come true, which an
//! epoll entry compares with the events it watches (Linux's wake-up keys).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// One task's sleep and wake-up point.
#[derive(Default)]
pub struct Waker {
    woken: Mutex<bool>,
    cv: Condvar,
    /// Set while the task sleeps here (its state in /proc: S, not R).
    sleeping: AtomicBool,
}

impl Waker {
    /// Wakes the task if it sleeps, or makes its next sleep return at once.
    /// A sleeping task is running (R in /proc) from here on, before its
    /// thread is back on a CPU, as Linux's try_to_wake_up makes it: a
    /// process that waits for another to sleep again after a signal
    /// (LTP's TST_PROCESS_STATE_WAIT) must not see the sleep the signal
    /// ended.
    pub fn wake(&self) {
        let mut w = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        *w = true;
        self.sleeping.store(false, Ordering::Release);
        self.cv.notify_all();
    }

    /// Forgets earlier wake-ups; call before checking the condition.
    pub fn reset(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Sleeps until woken or `deadline`. Returns false on timeout.
    pub fn sleep(&self, deadline: Option<Instant>) -> bool {
        let mut w = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        self.sleeping.store(true, Ordering::Release);
        let mut woken = true;
        while !*w {
            match deadline {
                None => w = self.cv.wait(w).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        woken = false;
                        break;
                    }
                    w = self.cv.wait_timeout(w, d - now).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        self.sleeping.store(false, Ordering::Release);
        woken
    }

    /// Whether the task sleeps here now.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Acquire)
    }
}

/// Something told when an object it waits on may have changed state.
pub trait Waiter: Send + Sync {
    /// The object's readiness may have changed; `events` holds the `POLL*`
    /// bits that may have come true ([`ALL_EVENTS`] when not known).
    fn notify(&self, events: u32);
}

impl Waiter for Waker {
    fn notify(&self, _events: u32) {
        self.wake();
    }
}

/// "Any event": what [`WaitQueue::notify`] tells.
pub const ALL_EVENTS: u32 = u32::MAX;

/// The waiters of one object: tasks, and epoll entries.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<dyn Waiter>>>,
}

/// Whether two waiters are the same object (their data pointers; a
/// `dyn` pointer's vtable half may differ between codegen units).
fn same(a: &Arc<dyn Waiter>, b: &Arc<dyn Waiter>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl WaitQueue {
    /// Adds a task's waker.
    pub fn add(&self, w: &Arc<Waker>) {
        self.add_waiter(w.clone());
    }

    /// Removes a task's waker.
    pub fn remove(&self, w: &Arc<Waker>) {
        let w: Arc<dyn Waiter> = w.clone();
        self.remove_waiter(&w);
    }

    /// Adds any waiter.
    pub fn add_waiter(&self, w: Arc<dyn Waiter>) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    /// Removes a waiter added with [`WaitQueue::add_waiter`].
    pub fn remove_waiter(&self, w: &Arc<dyn Waiter>) {
        let mut v = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = v.iter().position(|x| same(x, w)) {
            v.swap_remove(i);
        }
    }

    /// Tells every waiter that anything may have changed.
    pub fn notify(&self) {
        self.notify_events(ALL_EVENTS);
    }

    /// Tells every waiter that `events` may have come true. The waiters
    /// are told after the queue's lock is let go, so that a waiter may
    /// take locks of its own (an epoll set's) that are also held around
    /// adding to this queue.
    pub fn notify_events(&self, events: u32) {
        let waiters: smallvec::SmallVec<[Arc<dyn Waiter>; 4]> = {
            let v = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if v.is_empty() {
                return;
            }
            v.iter().cloned().collect()
        };
        for w in waiters {
            w.notify(events);
        }
    }
}
