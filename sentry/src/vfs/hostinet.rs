//! `--network host`: the app's Internet sockets (TCP and UDP, IPv4 and
//! IPv6) are host sockets, as gVisor's hostinet makes them. The Sentry
//! makes each one (non-blocking) and carries the app's calls to it: its
//! bytes move between the memory file's pages and the host socket with
//! sendmsg and recvmsg, its names and options are the host's. A call that
//! would block waits on the socket's wait queue, which the poller thread
//! (`kernel::nat::Poller`) notifies when the armed events come, as it does
//! for NAT's flows.
//!
//! This is weaker isolation, asked for by name: the app reaches whatever
//! the host reaches (its loopback too), listens on the host's ports, and
//! the Sentry's filter allows the socket calls.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi::Errno;
use gofer::FileAttr;

use super::file::{FileOps, POLLIN, POLLOUT};
use crate::kernel::nat::{HostWatch, Poller, Watched};
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

/// One host socket of the app's.
pub struct HostSocket {
    /// Taken (closed) when the app's last fd for it goes, whoever else
    /// still holds the socket for a moment (the poller thread).
    fd: Mutex<Option<OwnedFd>>,
    /// AF_INET or AF_INET6.
    pub family: u32,
    /// SOCK_STREAM or SOCK_DGRAM.
    pub kind: u32,
    watch: HostWatch,
    queue: WaitQueue,
    /// SO_RCVTIMEO and SO_SNDTIMEO, which the Sentry applies (the host
    /// socket never blocks).
    pub timeouts: Mutex<(Duration, Duration)>,
}

impl HostSocket {
    /// Wraps the host socket `fd`, watched by `poller`.
    pub fn new(fd: OwnedFd, family: u32, kind: u32, poller: &Arc<Poller>) -> SysResult<Arc<HostSocket>> {
        let s = Arc::new(HostSocket {
            fd: Mutex::new(Some(fd)),
            family,
            kind,
            watch: HostWatch::new(poller),
            queue: WaitQueue::default(),
            timeouts: Mutex::new((Duration::ZERO, Duration::ZERO)),
        });
        let watched: std::sync::Weak<dyn Watched> = Arc::downgrade(&s) as std::sync::Weak<dyn Watched>;
        poller.watch(watched)?;
        Ok(s)
    }

    /// The host socket (-1 once released).
    pub fn fd(&self) -> RawFd {
        self.fd.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Closes the host socket: the app's last fd for it is gone. (Linux's
    /// final fput: a listener stops listening, a linger-0 close resets,
    /// at once.) Returns once the poller's poll, which may hold the host
    /// file, has let it go, so the close is done when the app's close is.
    fn release(&self) {
        let fd = self.fd.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(fd);
        self.watch.let_go();
    }

    /// The socket's wait queue.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Arms `events`: the queue hears when they come.
    pub fn arm(&self, events: u32) {
        self.watch.arm(events);
    }

    /// The `POLL*` events that would not block now; those that would are
    /// armed.
    pub fn readiness(&self) -> u32 {
        self.watch.readiness(self.fd())
    }

    /// One non-blocking receive into `dst` with the app's recvmsg `flags`
    /// (MSG_DONTWAIT added), the sender's address in `name`: (the length
    /// recvmsg gives, msg_flags, the address's length). EAGAIN arms
    /// POLLIN.
    pub fn recv(&self, mf: &MemoryFile, dst: &[Chunk], flags: i32, name: &mut [u8]) -> SysResult<(usize, i32, usize)> {
        let flags = flags | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
        self.watch.after_io(mf.recv_from_socket_named(self.fd(), dst, flags, name), POLLIN)
    }

    /// One non-blocking send from `src` to `name` (none if empty) with
    /// the app's flags (SIGPIPE is the caller's to raise). EAGAIN arms
    /// POLLOUT.
    pub fn send(&self, mf: &MemoryFile, src: &[Chunk], flags: i32, name: &[u8]) -> SysResult<usize> {
        let flags = flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        self.watch.after_io(mf.send_to_socket_named(self.fd(), src, flags, name), POLLOUT)
    }
}

impl Watched for HostSocket {
    fn host(&self) -> RawFd {
        self.fd()
    }

    fn armed(&self) -> u32 {
        self.watch.armed()
    }

    fn disarm(&self, events: u32) {
        self.watch.disarm(events);
    }

    fn notify(&self) {
        self.queue.notify();
    }
}

/// A host socket as an open file.
pub struct HostSocketFile(pub Arc<HostSocket>);

impl Drop for HostSocketFile {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl FileOps for HostSocketFile {
    fn seekable(&self) -> bool {
        false
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        let (n, _, _) = self.0.recv(mf, dst, 0, &mut [])?;
        Ok(n.min(dst.iter().map(|c| c.len as usize).sum()))
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        self.0.send(mf, src, 0, &[])
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(FileAttr {
            mode: abi::flags::mode::S_IFSOCK | 0o777,
            nlink: 1,
            blksize: 4096,
            dev: 0x8,
            ..FileAttr::default()
        })
    }

    fn readiness(&self) -> u32 {
        self.0.readiness()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn read_timeout(&self) -> Option<Duration> {
        let t = self.0.timeouts.lock().unwrap_or_else(|e| e.into_inner()).0;
        (!t.is_zero()).then_some(t)
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        const SIOCOUTQ: u32 = 0x5411;
        if cmd != abi::flags::ioctl::FIONREAD && cmd != SIOCOUTQ {
            return Err(Errno::ENOTTY);
        }
        if arg.len() != 4 {
            return Err(Errno::EFAULT);
        }
        let n = if cmd == SIOCOUTQ { crate::sys::outq(self.0.fd())? } else { crate::sys::fionread(self.0.fd())? };
        arg.copy_from_slice(&(n.min(i32::MAX as usize) as i32).to_le_bytes());
        Ok(0)
    }

    fn host_socket(&self) -> Option<&Arc<HostSocket>> {
        Some(&self.0)
    }
}
