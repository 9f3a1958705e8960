//! The control pool: one memfd that holds every stub's control region, in
//! slots of `CTRL_LEN` bytes. Slot 0's first page is the stub factory's page
//! (see `stub::Factory`), so that the factory, holding this one fd, can give
//! each stub it clones its own region.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use super::shared::CTRL_LEN;
use super::sys;

/// At most this many control regions at once: far more address spaces than
/// the Sentry's task limits let an app make.
const MAX_SLOTS: u32 = 1 << 16;
/// The pool grows by this many slots at a time.
const GROW_BY: u32 = 16;

/// The control pool.
pub struct CtrlPool {
    fd: OwnedFd,
    slots: Mutex<Slots>,
}

struct Slots {
    /// Slots given back, to be reused first.
    free: Vec<u32>,
    /// The lowest slot never handed out.
    next: u32,
    /// How many slots the memfd holds.
    cap: u32,
}

/// One control region of the pool, given back (and zeroed) when dropped:
/// drop it only once no stub maps it any more.
pub struct PoolSlot {
    pool: Arc<CtrlPool>,
    index: u32,
}

impl CtrlPool {
    /// A new pool with room for a few regions.
    pub fn new() -> io::Result<Arc<CtrlPool>> {
        let fd = sys::memfd(c"husk-systrap-ctrl", CTRL_LEN * GROW_BY as usize)?;
        Ok(Arc::new(CtrlPool { fd, slots: Mutex::new(Slots { free: Vec::new(), next: 1, cap: GROW_BY }) }))
    }

    /// The memfd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Hands out a zeroed region.
    pub fn alloc(self: &Arc<Self>) -> io::Result<PoolSlot> {
        let mut s = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let index = match s.free.pop() {
            Some(i) => i,
            None => {
                if s.next >= MAX_SLOTS {
                    return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                }
                if s.next >= s.cap {
                    let cap = (s.cap + GROW_BY).min(MAX_SLOTS);
                    sys::set_len(self.fd(), u64::from(cap) * CTRL_LEN as u64)?;
                    s.cap = cap;
                }
                s.next += 1;
                s.next - 1
            }
        };
        Ok(PoolSlot { pool: Arc::clone(self), index })
    }
}

impl PoolSlot {
    /// The region's offset in the pool's memfd.
    pub fn offset(&self) -> u64 {
        u64::from(self.index) * CTRL_LEN as u64
    }
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        // Zeroed for its next stub (and its memory freed). A slot that
        // cannot be zeroed is not reused.
        if sys::punch_hole(self.pool.fd(), self.offset(), CTRL_LEN as u64).is_ok() {
            self.pool.slots.lock().unwrap_or_else(|e| e.into_inner()).free.push(self.index);
        }
    }
}
