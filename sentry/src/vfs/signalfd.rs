//! signalfd: a file from which a task reads its pending signals in a
//! mask, as `struct signalfd_siginfo` records (signalfd(2)).
//!
//! A read takes signals of the reading task (its own, then its process's),
//! so reads go through `syscalls::event::signalfd_read`, which has the
//! task. Readiness for poll and epoll, which have no reader, looks at the
//! process-directed signals of the process that made the file, and its
//! queue is told whenever a signal is queued to that process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gofer::FileAttr;

use super::file::{FileOps, POLLIN};
use crate::kernel::process::ThreadGroup;
use crate::kernel::signal::{SigInfo, SigSet};
use crate::kernel::waiter::WaitQueue;
use crate::mm::SysResult;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// `sizeof(struct signalfd_siginfo)`.
pub const SIGNALFD_SIGINFO_SIZE: usize = 128;

/// An open signalfd.
pub struct SignalFd {
    mask: AtomicU64,
    group: Arc<ThreadGroup>,
    ino: u64,
}

impl SignalFd {
    /// A signalfd for `mask`, made by a thread of `group`.
    pub fn new(mask: SigSet, group: Arc<ThreadGroup>) -> SignalFd {
        SignalFd { mask: AtomicU64::new(mask), group, ino: NEXT_INO.fetch_add(1, Ordering::Relaxed) }
    }

    /// The process whose signals it reads.
    pub fn group(&self) -> &Arc<ThreadGroup> {
        &self.group
    }

    /// The signals it reads.
    pub fn mask(&self) -> SigSet {
        self.mask.load(Ordering::SeqCst)
    }

    /// signalfd on an existing fd: a new mask.
    pub fn set_mask(&self, mask: SigSet) {
        self.mask.store(mask, Ordering::SeqCst);
        self.group.signal_queue.notify();
    }
}

/// A `struct signalfd_siginfo` for a queued signal, filled as Linux's
/// `signalfd_copyinfo` does for each kind of signal.
pub fn siginfo_record(info: &SigInfo) -> [u8; SIGNALFD_SIGINFO_SIZE] {
    use crate::kernel::signal::code;
    use abi::flags::signal::{SIGBUS, SIGCHLD, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
    let b = &info.0;
    let u32_at = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
    let mut r = [0u8; SIGNALFD_SIGINFO_SIZE];
    let mut put32 = |at: usize, v: u32| r[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let (signo, code) = (info.signo(), info.code());
    put32(0, signo);
    put32(4, u32_at(4));
    put32(8, code as u32);
    let mut words64: Vec<(usize, u64)> = Vec::new();
    if signo == SIGCHLD && code > 0 {
        put32(12, u32_at(16));
        put32(16, u32_at(20));
        put32(40, u32_at(24));
        words64.push((56, u64_at(32)));
        words64.push((64, u64_at(40)));
    } else if code == code::SI_TIMER {
        put32(24, u32_at(16));
        put32(32, u32_at(20));
        put32(44, u32_at(24));
        words64.push((48, u64_at(24)));
    } else if code > 0 && matches!(signo, SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP) {
        words64.push((72, u64_at(16)));
    } else {
        // kill, tkill, sigqueue and real-time signals: pid, uid, value.
        put32(12, u32_at(16));
        put32(16, u32_at(20));
        put32(44, u32_at(24));
        words64.push((48, u64_at(24)));
    }
    for (at, v) in words64 {
        r[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
    r
}

impl FileOps for SignalFd {
    fn seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.ino))
    }

    fn readiness(&self) -> u32 {
        if self.group.pending_bits.load(Ordering::Acquire) & self.mask() != 0 {
            POLLIN
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.group.signal_queue)
    }

    /// Linux's `noop_llseek`: the position stays 0.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Ok(0)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[signalfd]")
    }

    fn signalfd(&self) -> Option<&SignalFd> {
        Some(self)
    }
}
