//! pidfd: a file that stands for a process (pidfd_open(2)). It becomes
//! readable when the process has exited, and names it to
//! pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD) even after its pid
//! could have been reused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use gofer::FileAttr;

use super::file::{FileOps, POLLHUP, POLLIN, POLLRDNORM};
use crate::kernel::process::ThreadGroup;
use crate::kernel::waiter::WaitQueue;
use crate::kernel::Kernel;
use crate::mm::SysResult;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// An open pidfd.
pub struct PidFd {
    /// The process's id.
    pub pid: i32,
    /// The process itself: the pid alone could name another later.
    pub group: Arc<ThreadGroup>,
    kernel: Weak<Kernel>,
    ino: u64,
}

impl PidFd {
    /// A pidfd for process `pid` of thread group `group`.
    pub fn new(pid: i32, group: Arc<ThreadGroup>, kernel: Weak<Kernel>) -> PidFd {
        PidFd { pid, group, kernel, ino: NEXT_INO.fetch_add(1, Ordering::Relaxed) }
    }

    /// An open pidfd file for process `pid` of `group` (O_NONBLOCK with
    /// `nonblock`).
    pub fn open_file(
        pid: i32,
        group: Arc<ThreadGroup>,
        kernel: Weak<Kernel>,
        nonblock: bool,
    ) -> Arc<super::file::File> {
        use abi::flags::open::{O_NONBLOCK, O_RDWR};
        let status = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
        super::file::File::new(Box::new(PidFd::new(pid, group, kernel)), status, None)
    }

    /// Whether the process is still in the process table (not reaped).
    pub fn alive_in_table(&self) -> bool {
        self.kernel
            .upgrade()
            .is_some_and(|k| k.procs().procs.get(&self.pid).is_some_and(|p| Arc::ptr_eq(&p.tg, &self.group)))
    }
}

impl FileOps for PidFd {
    fn seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.ino))
    }

    /// POLLIN once the process has exited; POLLHUP too once it is reaped.
    fn readiness(&self) -> u32 {
        if !self.group.exited.load(Ordering::SeqCst) {
            return 0;
        }
        let mut r = POLLIN | POLLRDNORM;
        if !self.alive_in_table() {
            r |= POLLHUP;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.group.exit_queue)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[pidfd]")
    }

    fn pidfd(&self) -> Option<&PidFd> {
        Some(self)
    }
}
