//! The POSIX message-queue filesystem at /dev/mqueue, and the file an
//! mq_open descriptor is.
//!
//! The directory lists the sandbox's queues ([`MqNamespace`]); reading a
//! queue's entry, or its descriptor, gives Linux's status line (`QSIZE:`
//! ...), and unlinking an entry is mq_unlink. Queues are made with
//! mq_open only: creating files in the directory is refused.

use std::sync::Arc;

use abi::flags::mode::S_IFREG;
use abi::Errno;
use gofer::FileAttr;

use super::file::{put_bytes, FileOps, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use super::synth::{child_ino, Opener, SynthDir, SynthFs, SynthNode};
use super::tmpfs::NewKind;
use super::Dentry;
use crate::kernel::ipc::mqueue::{Mq, MqNamespace, OpenRequest};
use crate::kernel::ipc::{MAY_READ, MAY_WRITE};
use crate::kernel::process::Credentials;
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

/// mqueue's `f_type`.
pub const MQUEUE_MAGIC: i64 = 0x1980_0202;
/// RLIMIT_MSGQUEUE's default (819200 bytes).
const DEFAULT_MSGQUEUE_LIMIT: u64 = 819_200;
/// The size Linux gives a queue's inode (FILENT_SIZE).
const FILENT_SIZE: u64 = 80;

/// An open queue.
pub struct MqFile {
    mq: Arc<Mq>,
}

impl MqFile {
    /// A descriptor's file for `mq`.
    pub fn new(mq: Arc<Mq>) -> MqFile {
        MqFile { mq }
    }
}

impl FileOps for MqFile {
    fn seekable(&self) -> bool {
        true
    }

    /// The status line, from `offset`.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        let line = self.mq.status_line();
        let from = (offset.unwrap_or(0) as usize).min(line.len());
        Ok(put_bytes(mf, dst, &line.as_bytes()[from..]))
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        let m = self.mq.meta();
        Ok(FileAttr {
            mode: S_IFREG | m.mode,
            nlink: 1,
            uid: m.uid,
            gid: m.gid,
            size: FILENT_SIZE,
            blksize: 4096,
            atime_sec: m.atime,
            mtime_sec: m.mtime,
            ctime_sec: m.ctime,
            ino: self.mq.ino,
            ..FileAttr::default()
        })
    }

    fn readiness(&self) -> u32 {
        let mut r = 0;
        if !self.mq.is_empty() {
            r |= POLLIN | POLLRDNORM;
        }
        if !self.mq.is_full() {
            r |= POLLOUT | POLLWRNORM;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.mq.queue)
    }

    fn mqueue(&self) -> Option<&Arc<Mq>> {
        Some(&self.mq)
    }
}

/// /dev/mqueue's directory.
struct MqDir {
    fs: Arc<SynthFs>,
    names: Arc<MqNamespace>,
}

impl SynthDir for MqDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        self.names
            .list()
            .into_iter()
            .map(|(name, q)| {
                let m = q.meta();
                let open: Opener = Arc::new(move || Ok(Box::new(MqFile::new(q.clone())) as Box<dyn FileOps>));
                let node = SynthNode::object(&self.fs, child_ino(1, &name), m.mode, FILENT_SIZE, open);
                (name, node.owned(m.uid, m.gid))
            })
            .collect()
    }

    /// open(O_CREAT) makes a queue with the default attributes; nothing
    /// else may be made here (EPERM, as the mqueue filesystem has no
    /// mkdir, mknod or symlink).
    fn create(&self, name: &[u8], kind: &NewKind, perm: u32, creds: &Credentials) -> Option<SysResult<()>> {
        if !matches!(kind, NewKind::Regular) {
            return Some(Err(Errno::EPERM));
        }
        let req = OpenRequest {
            name,
            create: true,
            exclusive: true,
            access: Some(MAY_READ | MAY_WRITE),
            mode: perm,
            attr: None,
            creds,
            // The filesystem's open(O_CREAT) has no task at hand; the
            // default limit applies.
            rlimit: DEFAULT_MSGQUEUE_LIMIT,
        };
        Some(self.names.open(req).map(|_| ()))
    }

    fn unlink(&self, name: &[u8], creds: &Credentials) -> Option<SysResult<()>> {
        Some(self.names.unlink(name, creds))
    }
}

/// The root of an mqueue filesystem over `names`, to mount.
pub fn new_root(names: Arc<MqNamespace>) -> Arc<Dentry> {
    let fs = SynthFs::new(MQUEUE_MAGIC);
    let dir = Arc::new(MqDir { fs: fs.clone(), names });
    super::synth::new_root(SynthNode::dir(&fs, 1, 0o1777, dir))
}
