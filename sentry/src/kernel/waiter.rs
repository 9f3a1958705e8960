//! Blocking: a task sleeps on its own [`Waker`]; objects that tasks wait for
//! keep a [`WaitQueue`] of wakers to notify when their state changes.
//! Signals wake a task through the same waker, so every sleep can be cut
//! short by a signal.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// One task's sleep and wake-up point.
#[derive(Default)]
pub struct Waker {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    /// Wakes the task if it sleeps, or makes its next sleep return at once.
    pub fn wake(&self) {
        let mut w = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        *w = true;
        self.cv.notify_all();
    }

    /// Forgets earlier wake-ups; call before checking the condition.
    pub fn reset(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Sleeps until woken or `deadline`. Returns false on timeout.
    pub fn sleep(&self, deadline: Option<Instant>) -> bool {
        let mut w = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        while !*w {
            match deadline {
                None => w = self.cv.wait(w).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    w = self.cv.wait_timeout(w, d - now).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        true
    }
}

/// The wakers of the tasks waiting for one object.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<Waker>>>,
}

impl WaitQueue {
    /// Adds a waiter.
    pub fn add(&self, w: &Arc<Waker>) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).push(w.clone());
    }

    /// Removes a waiter.
    pub fn remove(&self, w: &Arc<Waker>) {
        let mut v = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = v.iter().position(|x| Arc::ptr_eq(x, w)) {
            v.swap_remove(i);
        }
    }

    /// Wakes every waiter.
    pub fn notify(&self) {
        for w in self.waiters.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            w.wake();
        }
    }
}
