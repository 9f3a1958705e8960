//! memfd_create's files: anonymous regular files of memory-file pages (a
//! tmpfs file in no directory), with file seals (F_ADD_SEALS).
//!
//! The seals live with the memfd, which every descriptor of it shares
//! (dup, fork, SCM_RIGHTS, a reopen through /proc/PID/fd). What they forbid is checked here, on
//! the way to the tmpfs file: writes (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE),
//! shrinking and growing (F_SEAL_SHRINK, F_SEAL_GROW), and new writable
//! shared mappings.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use abi::Errno;
use gofer::FileAttr;

use super::file::{FileOps, Mappable};
use super::tmpfs::{Inode, RegFile};
use crate::mm::{Chunk, MemoryFile, SysResult};

/// No more seals may be added.
pub const F_SEAL_SEAL: u32 = 0x1;
/// The file may not shrink.
pub const F_SEAL_SHRINK: u32 = 0x2;
/// The file may not grow.
pub const F_SEAL_GROW: u32 = 0x4;
/// The contents may not change.
pub const F_SEAL_WRITE: u32 = 0x8;
/// No new writes or writable mappings (existing mappings stay writable).
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
/// The mode's execute bits may not change.
pub const F_SEAL_EXEC: u32 = 0x20;
const ALL_SEALS: u32 = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/// An open memfd.
pub struct MemFd {
    file: RegFile,
    inode: Arc<Inode>,
    /// `/memfd:NAME (deleted)`, as /proc/PID/fd shows it.
    link: Vec<u8>,
    /// Shared by every open of the memfd (a reopen through /proc too).
    seals: Arc<AtomicU32>,
}

impl MemFd {
    /// A memfd named `name` over the (unlinked) tmpfs file `inode`;
    /// `sealable` is MFD_ALLOW_SEALING (without it, F_SEAL_SEAL is set).
    pub fn new(inode: Arc<Inode>, name: &[u8], sealable: bool) -> MemFd {
        let mut link = b"/memfd:".to_vec();
        link.extend_from_slice(name);
        link.extend_from_slice(b" (deleted)");
        MemFd {
            file: RegFile::new(inode.clone()),
            inode,
            link,
            seals: Arc::new(AtomicU32::new(if sealable { 0 } else { F_SEAL_SEAL })),
        }
    }

    /// A memfd a restore makes again: over `inode`, as /proc shows `link`,
    /// with `seals`, shared with the other files of the same inode.
    pub fn restored(inode: Arc<Inode>, link: Vec<u8>, seals: Arc<AtomicU32>) -> MemFd {
        MemFd { file: RegFile::new(inode.clone()), inode, link, seals }
    }

    /// Its inode and /proc link, for a checkpoint.
    pub fn parts(&self) -> (&Arc<Inode>, &[u8]) {
        (&self.inode, &self.link)
    }

    /// Another open of the same memfd (its /proc/PID/fd link opened).
    pub fn reopen(&self) -> MemFd {
        MemFd {
            file: RegFile::new(self.inode.clone()),
            inode: self.inode.clone(),
            link: self.link.clone(),
            seals: self.seals.clone(),
        }
    }

    /// F_GET_SEALS.
    pub fn seals(&self) -> u32 {
        self.seals.load(Ordering::SeqCst)
    }

    /// F_ADD_SEALS: EINVAL for unknown bits, EPERM once F_SEAL_SEAL is set.
    pub fn add_seals(&self, add: u32) -> SysResult<()> {
        if add & !ALL_SEALS != 0 {
            return Err(Errno::EINVAL);
        }
        self.seals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| (s & F_SEAL_SEAL == 0).then_some(s | add))
            .map(|_| ())
            .map_err(|_| Errno::EPERM)
    }

    fn check_size(&self, new: u64) -> SysResult<()> {
        let size = self.inode.attr().size;
        let s = self.seals();
        if (new < size && s & F_SEAL_SHRINK != 0) || (new > size && s & F_SEAL_GROW != 0) {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    fn check_write(&self, offset: u64, len: u64) -> SysResult<()> {
        if self.write_sealed() {
            return Err(Errno::EPERM);
        }
        self.check_size(self.inode.attr().size.max(offset.saturating_add(len)))
    }
}

fn total(chunks: &[Chunk]) -> u64 {
    chunks.iter().map(|c| c.len).sum()
}

impl FileOps for MemFd {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        self.file.read(mf, dst, offset)
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        self.check_write(offset.unwrap_or(0), total(src))?;
        self.file.write(mf, src, offset)
    }

    fn write_append(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<(usize, u64)> {
        self.check_write(self.inode.attr().size, total(src))?;
        self.file.write_append(mf, src)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        self.file.stat()
    }

    fn cached_pages(&self, first: u64, last: u64) -> u64 {
        self.file.cached_pages(first, last)
    }

    fn truncate(&self, size: u64) -> SysResult<()> {
        self.check_size(size)?;
        self.file.truncate(size)
    }

    fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
        if punch && self.write_sealed() {
            return Err(Errno::EPERM);
        }
        if !keep_size {
            self.check_size(self.inode.attr().size.max(offset.saturating_add(len)))?;
        }
        self.file.allocate(offset, len, keep_size, punch)
    }

    fn mappable(&self) -> Option<Mappable> {
        self.file.mappable()
    }

    fn write_sealed(&self) -> bool {
        self.seals() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
    }

    fn memfd(&self) -> Option<&MemFd> {
        Some(self)
    }

    fn fd_link(&self) -> Option<Vec<u8>> {
        Some(self.link.clone())
    }
}
