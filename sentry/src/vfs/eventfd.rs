//! eventfd: a 64-bit counter that reads take and writes add to, for one
//! thread or process to wake another (eventfd(2)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use abi::Errno;
use gofer::FileAttr;

use super::file::{get_bytes, put_bytes, FileOps, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

/// The counter's largest value: a write that would pass it waits.
const MAX_COUNT: u64 = u64::MAX - 1;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// One eventfd.
pub struct EventFd {
    count: Mutex<u64>,
    /// EFD_SEMAPHORE: a read takes 1, not the whole count.
    semaphore: bool,
    queue: WaitQueue,
    ino: u64,
}

impl EventFd {
    /// A new eventfd whose counter starts at `initval`.
    pub fn new(initval: u32, semaphore: bool) -> EventFd {
        EventFd {
            count: Mutex::new(u64::from(initval)),
            semaphore,
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Its counter and whether it is a semaphore (for a checkpoint).
    pub fn state(&self) -> (u64, bool) {
        (*self.count(), self.semaphore)
    }

    /// An eventfd as a checkpoint left it (the counter is at most
    /// `u64::MAX - 1`, as writes keep it).
    pub fn restored(count: u64, semaphore: bool) -> EventFd {
        let e = EventFd::new(0, semaphore);
        *e.count() = count.min(u64::MAX - 1);
        e
    }

    fn count(&self) -> std::sync::MutexGuard<'_, u64> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `value` to the count: EINVAL for u64::MAX, EAGAIN while the sum
    /// would pass the maximum (see [`EventFd::has_room_for`]).
    pub fn add(&self, value: u64) -> SysResult<()> {
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        {
            let mut count = self.count();
            if MAX_COUNT - *count < value {
                return Err(Errno::EAGAIN);
            }
            *count += value;
        }
        if value > 0 {
            self.queue.notify_events(POLLIN | POLLRDNORM);
        }
        Ok(())
    }

    /// Whether `value` can be added now. A blocked write waits for this,
    /// not for POLLOUT, which only says that the count is below its
    /// maximum (as in Linux's eventfd_write).
    pub fn has_room_for(&self, value: u64) -> bool {
        MAX_COUNT - *self.count() >= value
    }

    /// The queue that reads and writes notify.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }
}

fn total(chunks: &[Chunk]) -> u64 {
    chunks.iter().map(|c| c.len).sum()
}

impl FileOps for EventFd {
    fn seekable(&self) -> bool {
        false
    }

    /// Takes the count (or 1, in semaphore mode) into an 8-byte buffer;
    /// EAGAIN while it is 0, EINVAL for a buffer under 8 bytes.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if total(dst) < 8 {
            return Err(Errno::EINVAL);
        }
        let value = {
            let mut count = self.count();
            if *count == 0 {
                return Err(Errno::EAGAIN);
            }
            let take = if self.semaphore { 1 } else { *count };
            *count -= take;
            take
        };
        put_bytes(mf, dst, &value.to_ne_bytes());
        self.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(8)
    }

    /// Adds an 8-byte value; EAGAIN while the sum would pass the maximum,
    /// EINVAL for u64::MAX or a buffer of any length but 8 (Linux 6.8 and
    /// later).
    fn write(&self, mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if total(src) != 8 {
            return Err(Errno::EINVAL);
        }
        let mut raw = [0u8; 8];
        get_bytes(mf, src, &mut raw);
        self.add(u64::from_ne_bytes(raw))?;
        Ok(8)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.ino))
    }

    fn readiness(&self) -> u32 {
        let count = *self.count();
        let mut r = 0;
        if count > 0 {
            r |= POLLIN;
        }
        if count < MAX_COUNT {
            r |= POLLOUT;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    /// Linux's `noop_llseek`: the position stays 0.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Ok(0)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[eventfd]")
    }

    fn eventfd(&self) -> Option<&EventFd> {
        Some(self)
    }
}
