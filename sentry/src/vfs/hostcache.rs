//! Shared mappings of a writable host tree's files (a volume's).
//!
//! The app's pages are memory-file pages, and a host file's are the host's:
//! a `MAP_SHARED` mapping of a host file maps a cache of it instead, one per
//! file (by device and inode number) for as long as any mapping of it
//! lives. While it lives it is the file's contents for the sandbox: reads
//! of the file come from it, and writes go both to it and to the host.
//! What the app stores through a mapping reaches the host file when it
//! calls msync, unmaps it, or exits (and when the last mapping goes), as
//! Linux's writeback would, later; the host's own writers meanwhile are
//! not seen (as with gVisor's exclusive file caching).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;

use super::tmpfs::{FsKind, MemFs, Pages};
use crate::mm::{Chunk, MemoryFile, PageSource, SysResult};

/// The cached contents of one host file.
pub struct HostCache {
    key: (u64, u64),
    fs: Arc<MemFs>,
    pages: Mutex<Pages>,
    /// The file, held open: while the cache lives its inode cannot go and
    /// its number be another file's.
    _file: Arc<OwnedFd>,
    /// An fd open for writing, once a mapping that may write was made:
    /// where writeback goes.
    writer: Mutex<Option<Arc<OwnedFd>>>,
}

/// The live caches, by (device, inode number).
type Caches = HashMap<(u64, u64), Weak<HostCache>>;
static CACHES: Mutex<Option<Caches>> = Mutex::new(None);
/// How many caches may be live: reads and writes of host files look for a
/// cache only when there may be one.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn caches() -> MutexGuard<'static, Option<Caches>> {
    CACHES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The live cache of the host file `key`, if a mapping of it lives.
pub fn lookup(key: (u64, u64)) -> Option<Arc<HostCache>> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    caches().as_ref()?.get(&key)?.upgrade()
}

/// The cache of the host file `key` (open as `fd`, whose contents fill a
/// new one), made if none lives. `writer`: `fd` is open for writing, and
/// the mapping to be made may write.
pub fn get_or_create(
    key: (u64, u64),
    fd: &Arc<OwnedFd>,
    writer: bool,
    mf: &Arc<MemoryFile>,
) -> SysResult<Arc<HostCache>> {
    let mut guard = caches();
    let map = guard.get_or_insert_with(HashMap::new);
    let cache = match map.get(&key).and_then(Weak::upgrade) {
        Some(c) => c,
        None => {
            // Counted before it is filled: a write meanwhile waits for this
            // lock (in `lookup`) rather than miss the cache.
            LIVE.fetch_add(1, Ordering::AcqRel);
            let filled = crate::sys::fstat(fd.as_raw_fd()).and_then(|a| {
                let fs = MemFs::new(FsKind::Tmpfs, mf.clone());
                let pages = Pages::from_fd(&fs, fd.as_raw_fd(), a.size)?;
                Ok((fs, pages))
            });
            let (fs, pages) = match filled {
                Ok(f) => f,
                Err(e) => {
                    LIVE.fetch_sub(1, Ordering::AcqRel);
                    return Err(e);
                }
            };
            let c =
                Arc::new(HostCache { key, fs, pages: Mutex::new(pages), _file: fd.clone(), writer: Mutex::new(None) });
            map.retain(|_, w| w.strong_count() > 0);
            map.insert(key, Arc::downgrade(&c));
            c
        }
    };
    if writer {
        cache.writer.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| fd.clone());
    }
    Ok(cache)
}

impl HostCache {
    fn pages(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// read(2) of the file: from the cache.
    pub fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> usize {
        self.pages().read(mf, dst, offset)
    }

    /// After `src` was written to the host file at `offset`: the same bytes
    /// into the cache.
    pub fn wrote(&self, src: &[Chunk], offset: u64) -> SysResult<()> {
        self.pages().write(&self.fs, src, offset).map(drop)
    }

    /// After the host file was truncated to `size`.
    pub fn truncated(&self, size: u64) {
        self.pages().truncate(&self.fs, size);
    }

    /// After fallocate on the host file: a hole punched in
    /// `[offset, offset + len)`, or the file grown to `size`.
    pub fn allocated(&self, offset: u64, len: u64, punch: bool, size: u64) {
        let mut p = self.pages();
        if punch {
            p.punch(&self.fs, offset, offset.saturating_add(len));
        } else if size > p.size() {
            p.truncate(&self.fs, size);
        }
    }

    /// Writes `[offset, offset + len)` of the cache to the host file (if a
    /// mapping could have changed it).
    fn flush(&self, offset: u64, len: u64) -> SysResult<()> {
        let Some(fd) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return Ok(()) };
        let pages = self.pages();
        for (at, run) in pages.file_runs(offset, len) {
            let mut done = 0;
            while done < run.len {
                let chunk = Chunk { off: run.off + done, len: run.len - done };
                let n = self.fs.mf().write_to_fd(fd.as_raw_fd(), &[chunk], Some(at + done)).map_err(|e| {
                    log::warn!("host cache: writeback failed: {e}");
                    Errno(e.raw_os_error().unwrap_or(libc::EIO))
                })?;
                if n == 0 {
                    return Err(Errno::EIO);
                }
                done += n as u64;
            }
        }
        Ok(())
    }
}

impl PageSource for HostCache {
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()> {
        self.pages().read(mf, dst, offset);
        Ok(())
    }

    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        self.pages().share(&self.fs, offset, len)
    }

    fn write_back(&self, offset: u64, len: u64, sync: bool) -> SysResult<()> {
        self.flush(offset, len)?;
        match self.writer.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(fd) if sync => crate::sys::fsync(fd.as_raw_fd(), true),
            _ => Ok(()),
        }
    }
}

impl Drop for HostCache {
    fn drop(&mut self) {
        let _ = self.flush(0, u64::MAX);
        self.pages().truncate(&self.fs, 0);
        let mut guard = caches();
        if let Some(map) = guard.as_mut() {
            if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.key);
            }
        }
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}
