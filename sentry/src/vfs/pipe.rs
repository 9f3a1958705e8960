//! Pipes: a bounded buffer in the Sentry with a reading and a writing end.
//! Writes of at most PIPE_BUF bytes are atomic; readers see EOF once every
//! writer is gone, and writers get EPIPE once every reader is.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use abi::{Errno, PAGE_SIZE};
use gofer::FileAttr;

use super::file::{FileOps, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use super::Dentry;
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

/// Linux's atomic write size for pipes.
pub const PIPE_BUF: usize = 4096;
/// The default pipe capacity (16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// The most F_SETPIPE_SZ gives without CAP_SYS_RESOURCE
/// (/proc/sys/fs/pipe-max-size).
pub const PIPE_MAX_SIZE: usize = 1 << 20;

struct State {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
    /// How many times each end was opened (a named pipe's opener waits for
    /// the other end to have been opened).
    reader_opens: u64,
    writer_opens: u64,
    /// How many bytes it holds at most (F_SETPIPE_SZ).
    capacity: usize,
}

/// The shared part of a pipe.
pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

static NEXT_PIPE_INO: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Pipe {
    /// A new pipe and its two ends.
    pub fn create() -> (PipeReader, PipeWriter) {
        let p = Arc::new(Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                readers: 1,
                writers: 1,
                reader_opens: 1,
                writer_opens: 1,
                capacity: PIPE_CAPACITY,
            }),
            queue: WaitQueue::default(),
            ino: NEXT_PIPE_INO.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        });
        (PipeReader(p.clone()), PipeWriter(p))
    }

    /// The pipe behind a named pipe (FIFO): no ends open yet.
    pub fn new_fifo() -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                readers: 0,
                writers: 0,
                reader_opens: 0,
                writer_opens: 0,
                capacity: PIPE_CAPACITY,
            }),
            queue: WaitQueue::default(),
            ino: NEXT_PIPE_INO.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// What it holds and its capacity (for a checkpoint).
    pub fn contents(&self) -> (Vec<u8>, usize) {
        let st = self.state();
        (st.buf.iter().copied().collect(), st.capacity)
    }

    /// A pipe as a checkpoint left it, with no ends open yet: each end
    /// restored is opened with [`Pipe::open_reader`] or
    /// [`Pipe::open_writer`].
    pub fn restored(data: Vec<u8>, capacity: usize) -> Arc<Pipe> {
        let p = Pipe::new_fifo();
        p.refill(data, capacity);
        p
    }

    /// Gives a named pipe's pipe what a checkpoint left in it, unless it
    /// holds data or has an end open already (false).
    pub fn refill(&self, data: Vec<u8>, capacity: usize) -> bool {
        let mut st = self.state();
        if !st.buf.is_empty() || st.readers != 0 || st.writers != 0 {
            return false;
        }
        st.capacity = capacity.clamp(PAGE_SIZE as usize, i32::MAX as usize).max(data.len());
        st.buf = data.into();
        true
    }

    /// Its capacity in bytes (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.state().capacity
    }

    /// F_SETPIPE_SZ: the capacity becomes `size` rounded up to a power of
    /// two pages (at least one page), as Linux's `round_pipe_size` does;
    /// EBUSY if the pipe holds more than that. Returns the new capacity.
    pub fn set_capacity(&self, size: usize) -> SysResult<usize> {
        let pages = size.div_ceil(PAGE_SIZE as usize).max(1).checked_next_power_of_two().ok_or(Errno::EINVAL)?;
        let capacity =
            pages.checked_mul(PAGE_SIZE as usize).filter(|&c| c <= i32::MAX as usize).ok_or(Errno::EINVAL)?;
        let mut st = self.state();
        if st.buf.len() > capacity {
            return Err(Errno::EBUSY);
        }
        st.capacity = capacity;
        drop(st);
        self.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(capacity)
    }

    /// Opens another reading end. Returns it with the number of writers
    /// open and of writer opens so far, taken atomically with the opening.
    pub fn open_reader(self: &Arc<Self>) -> (PipeReader, usize, u64) {
        let seen = {
            let mut st = self.state();
            st.readers += 1;
            st.reader_opens += 1;
            (st.writers, st.writer_opens)
        };
        self.queue.notify();
        (PipeReader(self.clone()), seen.0, seen.1)
    }

    /// Opens another writing end. Returns it with the number of readers
    /// open and of reader opens so far, taken atomically with the opening.
    pub fn open_writer(self: &Arc<Self>) -> (PipeWriter, usize, u64) {
        let seen = {
            let mut st = self.state();
            st.writers += 1;
            st.writer_opens += 1;
            (st.readers, st.reader_opens)
        };
        self.queue.notify();
        (PipeWriter(self.clone()), seen.0, seen.1)
    }

    /// (readers, writers) open now, and how many times each end was opened.
    pub fn ends(&self) -> ((usize, usize), (u64, u64)) {
        let st = self.state();
        ((st.readers, st.writers), (st.reader_opens, st.writer_opens))
    }

    /// The queue of tasks waiting on this pipe.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Bytes it can take now.
    pub fn room(&self) -> usize {
        let st = self.state();
        st.capacity.saturating_sub(st.buf.len())
    }

    /// Copies up to `dst`'s length of what it holds into `dst`, leaving it
    /// there (tee): Ok(n), or EAGAIN when it is empty with writers (Ok(0)
    /// without).
    pub fn peek(&self, mf: &MemoryFile, dst: &[Chunk]) -> SysResult<usize> {
        let st = self.state();
        if st.buf.is_empty() {
            return if st.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        let mut done = 0;
        let (a, b) = st.buf.as_slices();
        let mut from = a.iter().chain(b.iter()).copied();
        for c in dst {
            let n = (c.len as usize).min(st.buf.len() - done);
            if n == 0 {
                break;
            }
            let bytes: Vec<u8> = from.by_ref().take(n).collect();
            mf.write(c.off, &bytes);
            done += n;
        }
        Ok(done)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attr(&self) -> FileAttr {
        let size = self.state().buf.len() as u64;
        FileAttr {
            mode: abi::flags::mode::S_IFIFO | 0o600,
            nlink: 1,
            size,
            blksize: 4096,
            ino: self.ino,
            dev: 0xc,
            ..FileAttr::default()
        }
    }
}

/// The reading end.
pub struct PipeReader(Arc<Pipe>);
/// The writing end.
pub struct PipeWriter(Arc<Pipe>);

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.0.state().readers -= 1;
        self.0.queue.notify();
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.0.state().writers -= 1;
        self.0.queue.notify();
    }
}

fn total(chunks: &[Chunk]) -> usize {
    chunks.iter().map(|c| c.len as usize).sum()
}

impl FileOps for PipeReader {
    fn pipe(&self) -> Option<&Arc<Pipe>> {
        Some(&self.0)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let mut st = self.0.state();
        if st.buf.is_empty() {
            return if st.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        let mut done = 0;
        for c in dst {
            let n = (c.len as usize).min(st.buf.len());
            if n == 0 {
                break;
            }
            // Straight from the ring's (at most two) slices into the
            // app's pages, then drop what was copied.
            let (a, b) = st.buf.as_slices();
            let from_a = n.min(a.len());
            mf.write(c.off, &a[..from_a]);
            if n > from_a {
                mf.write(c.off + from_a as u64, &b[..n - from_a]);
            }
            st.buf.drain(..n);
            done += n;
        }
        drop(st);
        self.0.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(done)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.0.attr())
    }

    fn readiness(&self) -> u32 {
        let st = self.0.state();
        let mut r = 0;
        if !st.buf.is_empty() {
            r |= POLLIN;
        }
        if st.writers == 0 {
            r |= POLLHUP;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        fionread(&self.0, cmd, arg)
    }
}

fn fionread(p: &Pipe, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
    if cmd != abi::flags::ioctl::FIONREAD || arg.len() != 4 {
        return Err(Errno::ENOTTY);
    }
    let n = p.state().buf.len() as i32;
    arg.copy_from_slice(&n.to_le_bytes());
    Ok(0)
}

impl FileOps for PipeWriter {
    fn pipe(&self) -> Option<&Arc<Pipe>> {
        Some(&self.0)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let want = total(src);
        let mut st = self.0.state();
        if st.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let room = st.capacity.saturating_sub(st.buf.len());
        if room == 0 || (want <= PIPE_BUF && room < want) {
            return Err(Errno::EAGAIN);
        }
        let mut done = 0;
        for c in src {
            let n = (c.len as usize).min(room - done);
            if n == 0 {
                break;
            }
            let mut bytes = vec![0u8; n];
            mf.read(c.off, &mut bytes);
            st.buf.extend(bytes);
            done += n;
        }
        drop(st);
        self.0.queue.notify_events(POLLIN | POLLRDNORM);
        Ok(done)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.0.attr())
    }

    fn readiness(&self) -> u32 {
        let st = self.0.state();
        let mut r = 0;
        if st.buf.len() + PIPE_BUF <= st.capacity {
            r |= POLLOUT;
        }
        if st.readers == 0 {
            r |= POLLERR;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        fionread(&self.0, cmd, arg)
    }
}

/// An open named pipe: one or both ends, with the FIFO's own attributes.
pub struct FifoFile {
    reader: Option<PipeReader>,
    writer: Option<PipeWriter>,
    dentry: Arc<Dentry>,
}

impl FifoFile {
    /// Wraps the ends opened on the FIFO `dentry`.
    pub fn new(reader: Option<PipeReader>, writer: Option<PipeWriter>, dentry: Arc<Dentry>) -> FifoFile {
        FifoFile { reader, writer, dentry }
    }
}

/// The pipe behind `d` if it is a named pipe the sandbox can open: one of
/// the Sentry's filesystems' or of a host tree's (the rootfs's own, which
/// the Gofer serves, are not).
pub fn fifo_of(d: &Dentry) -> Option<Arc<Pipe>> {
    match d.node() {
        super::Node::Host(_) if d.file_type() == abi::flags::mode::S_IFIFO => Some(super::hostfs::fifo(d)),
        super::Node::Mem(inode) => match &inode.kind {
            super::tmpfs::InodeKind::Fifo(p) => Some(p.clone()),
            _ => None,
        },
        _ => None,
    }
}

impl FileOps for FifoFile {
    fn pipe(&self) -> Option<&Arc<Pipe>> {
        self.reader.as_ref().map(|r| &r.0).or(self.writer.as_ref().map(|w| &w.0))
    }

    fn seekable(&self) -> bool {
        false
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        self.reader.as_ref().ok_or(Errno::EBADF)?.read(mf, dst, offset)
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        self.writer.as_ref().ok_or(Errno::EBADF)?.write(mf, src, offset)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.dentry.attr())
    }

    fn readiness(&self) -> u32 {
        let r = self.reader.as_ref().map_or(0, |r| r.readiness());
        let w = self.writer.as_ref().map_or(0, |w| w.readiness());
        if self.reader.is_some() && self.writer.is_some() {
            // Holding both ends: never hung up, never broken.
            (r | w) & !(POLLHUP | POLLERR)
        } else {
            r | w
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        match (&self.reader, &self.writer) {
            (Some(r), _) => Some(&r.0.queue),
            (_, Some(w)) => Some(&w.0.queue),
            _ => None,
        }
    }

    fn fasync(&self) -> bool {
        true
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        match (&self.reader, &self.writer) {
            (Some(r), _) => fionread(&r.0, cmd, arg),
            (_, Some(w)) => fionread(&w.0, cmd, arg),
            _ => Err(Errno::ENOTTY),
        }
    }
}
