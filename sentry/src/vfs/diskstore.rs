//! An overlay's upper layer on disk (`husk run --overlay disk:DIR`): the
//! data of its regular files lives in host files, so that big writes do
//! not take the sandbox's memory.
//!
//! The runtime makes a private directory under DIR and has the Gofer serve
//! it writable; each upper-layer regular file is a host file made there
//! (and unlinked at once: only its donated fd keeps it, so nothing is left
//! when the sandbox goes). Names, directories, attributes and whiteouts
//! stay in the Sentry, as in the memory upper layer. A file's reads and
//! writes go to its fd, and a mapping maps its cache (`super::hostcache`),
//! written back to the fd.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::Errno;
use gofer::{Fid, GoferClient};

use super::gofer_errno;
use super::hostcache::{self, HostCache};
use crate::mm::{Chunk, MemoryFile, SysResult};

/// Where an overlay's file data goes on disk.
pub struct DiskStore {
    gofer: Arc<GoferClient>,
    dir: Fid,
    next: AtomicU64,
    mf: Arc<MemoryFile>,
}

impl DiskStore {
    /// The store in the Gofer's served tree `index` (a directory served
    /// writable, of this sandbox's own).
    pub fn attach(gofer: &Arc<GoferClient>, index: u32, mf: Arc<MemoryFile>) -> SysResult<Arc<DiskStore>> {
        let (dir, _) = gofer.attach_root(index).map_err(gofer_errno)?;
        Ok(Arc::new(DiskStore { gofer: gofer.clone(), dir, next: AtomicU64::new(1), mf }))
    }

    /// A new, empty file of the store.
    pub fn new_file(&self) -> SysResult<DiskData> {
        let name = format!("f{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (fid, _, fd) = self
            .gofer
            .create(self.dir, name.as_bytes(), abi::flags::open::O_RDWR, 0o600, (0, 0))
            .map_err(gofer_errno)?;
        // Only the fd keeps it: nothing is left behind.
        let unlinked = self.gofer.unlink(self.dir, name.as_bytes(), false);
        let _ = self.gofer.clunk(fid);
        unlinked.map_err(gofer_errno)?;
        let a = crate::sys::fstat(fd.as_raw_fd())?;
        Ok(DiskData { fd: Arc::new(fd), key: (a.dev, a.ino), mf: self.mf.clone() })
    }
}

/// One upper-layer file's data, in a host file.
pub struct DiskData {
    fd: Arc<OwnedFd>,
    key: (u64, u64),
    mf: Arc<MemoryFile>,
}

fn io(r: std::io::Result<usize>) -> SysResult<usize> {
    r.map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
}

impl DiskData {
    /// The file's size and 512-byte blocks.
    pub fn size_and_blocks(&self) -> (u64, u64) {
        crate::sys::fstat(self.fd.as_raw_fd()).map_or((0, 0), |a| (a.size, a.blocks))
    }

    /// The cache, while mappings of the file live.
    fn cache(&self) -> Option<Arc<HostCache>> {
        hostcache::lookup(self.key)
    }

    /// Reads into `dst` from `offset`.
    pub fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<usize> {
        match self.cache() {
            Some(c) => Ok(c.read(mf, dst, offset)),
            None => io(mf.read_from_fd(self.fd.as_raw_fd(), dst, Some(offset))),
        }
    }

    /// Writes `src` at `offset`.
    pub fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: u64) -> SysResult<usize> {
        let mut done = 0usize;
        let total: u64 = src.iter().map(|c| c.len).sum();
        // All of it: a short host write is retried from where it stopped.
        while (done as u64) < total {
            let rest = crate::mm::sub_chunks(src, done as u64);
            let n = io(mf.write_to_fd(self.fd.as_raw_fd(), &rest, Some(offset + done as u64)))?;
            if n == 0 {
                return Err(Errno::ENOSPC);
            }
            done += n;
        }
        if let Some(c) = self.cache() {
            c.wrote(src, offset)?;
        }
        Ok(done)
    }

    /// Truncates or extends the file.
    pub fn truncate(&self, size: u64) -> SysResult<()> {
        crate::sys::ftruncate(self.fd.as_raw_fd(), size)?;
        if let Some(c) = self.cache() {
            c.truncated(size);
        }
        Ok(())
    }

    /// fallocate on the host file.
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
        crate::sys::fallocate(self.fd.as_raw_fd(), offset, len, keep_size, punch)?;
        if let Some(c) = self.cache() {
            c.allocated(offset, len, punch, self.size_and_blocks().0);
        }
        Ok(())
    }

    /// What a shared mapping maps: the file's cache, written back to it.
    pub fn pages(&self) -> SysResult<Arc<HostCache>> {
        hostcache::get_or_create(self.key, &self.fd, true, None, &self.mf)
    }

    /// What a private mapping maps: the cache, if a shared mapping made
    /// one; else copies from the file.
    pub fn mappable(&self) -> super::file::Mappable {
        let size = self.size_and_blocks().0;
        match self.cache() {
            Some(c) => super::file::Mappable::Pages(c, size),
            None => super::file::Mappable::Host(self.fd.clone(), size),
        }
    }

    /// A copy of the fd, for the loader to read and map a program from.
    pub fn reopen(&self) -> SysResult<OwnedFd> {
        self.fd.try_clone().map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    /// Fills the file with `size` bytes read from the host fd `from`.
    pub fn fill_from(&self, from: std::os::fd::RawFd, size: u64) -> SysResult<()> {
        let mut buf = vec![0u8; 1 << 16];
        let mut at = 0u64;
        while at < size {
            let want = buf.len().min((size - at) as usize);
            let n = crate::sys::pread(from, &mut buf[..want], at)?;
            if n == 0 {
                break;
            }
            crate::sys::pwrite_all(self.fd.as_raw_fd(), &buf[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// The host file's (device, inode number), which its cache is keyed
    /// by.
    pub fn key(&self) -> (u64, u64) {
        self.key
    }

    /// The cache a checkpoint kept, made again over this file.
    pub fn restore_cache(&self, state: hostcache::CacheState) -> SysResult<Arc<HostCache>> {
        hostcache::restore(self.key, self.fd.clone(), state, &self.mf)
    }

    /// The file's runs of data, (offset, length), below `size`: its holes
    /// are left out. Past [`MAX_RUNS`], the rest is one run.
    fn data_runs(&self, size: u64) -> SysResult<Vec<(u64, u64)>> {
        use abi::flags::seek::{SEEK_DATA, SEEK_HOLE};
        let fd = self.fd.as_raw_fd();
        let mut runs = Vec::new();
        let mut pos = 0u64;
        while pos < size {
            let start = match crate::sys::lseek(fd, pos as i64, SEEK_DATA) {
                Ok(s) => s,
                // No data past `pos`.
                Err(Errno::ENXIO) => break,
                Err(e) => return Err(e),
            };
            if start >= size {
                break;
            }
            let end = if runs.len() + 1 == MAX_RUNS { size } else { crate::sys::lseek(fd, start as i64, SEEK_HOLE)? };
            let end = end.clamp(start + 1, size);
            runs.push((start, end - start));
            pos = end;
        }
        Ok(runs)
    }

    /// Writes the file's data (not its holes) to the host fd `out` from
    /// `at`, for a checkpoint: what [`DiskStore::file_from_copy`] needs to
    /// make the file again.
    pub fn copy_out(&self, out: RawFd, at: u64) -> SysResult<DiskCopy> {
        let size = self.size_and_blocks().0;
        let runs = self.data_runs(size)?;
        let mut crc = crc32fast::Hasher::new();
        let mut to = at;
        for &(off, len) in &runs {
            copy_range((self.fd.as_raw_fd(), off), (out, to), len, &mut crc)?;
            to += len;
        }
        Ok(DiskCopy { at, size, runs, crc: crc.finalize() })
    }
}

/// The most runs of data a file's copy in a checkpoint keeps apart.
const MAX_RUNS: usize = 1 << 16;

/// Where a checkpoint keeps an on-disk file's data: in the image's disk
/// file, from `at`, its runs of data one after another (each an offset in
/// the file and a length; the holes between are not stored), with the
/// CRC-32 of those bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskCopy {
    /// Where the data starts in the image's disk file.
    pub at: u64,
    /// The file's size.
    pub size: u64,
    /// (offset in the file, length) of each run of data.
    pub runs: Vec<(u64, u64)>,
    /// The CRC-32 of the stored bytes.
    pub crc: u32,
}

impl DiskCopy {
    /// The bytes it takes in the image's disk file.
    pub fn stored(&self) -> u64 {
        self.runs.iter().map(|r| r.1).sum()
    }
}

impl DiskStore {
    /// A new file of the store made from a checkpoint's `copy`, read from
    /// the image's disk file `src`: EINVAL if the copy's runs do not fit
    /// in its size, EIO if the bytes read do not match its checksum (or
    /// the image's file ends first).
    pub fn file_from_copy(&self, src: RawFd, copy: &DiskCopy) -> SysResult<DiskData> {
        if copy.runs.len() > MAX_RUNS
            || copy.runs.iter().any(|&(off, len)| off.checked_add(len).is_none_or(|end| end > copy.size))
            || copy.at.checked_add(copy.stored()).is_none()
        {
            return Err(Errno::EINVAL);
        }
        let data = self.new_file()?;
        crate::sys::ftruncate(data.fd.as_raw_fd(), copy.size)?;
        let mut crc = crc32fast::Hasher::new();
        let mut from = copy.at;
        for &(off, len) in &copy.runs {
            copy_range((src, from), (data.fd.as_raw_fd(), off), len, &mut crc)?;
            from += len;
        }
        if crc.finalize() != copy.crc {
            return Err(Errno::EIO);
        }
        Ok(data)
    }
}

/// Copies `len` bytes from `from` to `to` (each a host fd and an offset),
/// adding them to `crc`; EIO if `from` ends first.
fn copy_range(from: (RawFd, u64), to: (RawFd, u64), len: u64, crc: &mut crc32fast::Hasher) -> SysResult<()> {
    let mut buf = vec![0u8; len.min(1 << 16) as usize];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = crate::sys::pread(from.0, &mut buf[..want], from.1 + done)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        crc.update(&buf[..n]);
        crate::sys::pwrite_all(to.0, &buf[..n], to.1 + done)?;
        done += n as u64;
    }
    Ok(())
}
