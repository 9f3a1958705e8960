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
//! not seen (as with gVisor's exclusive file caching). A writeback writes
//! only the bytes that differ from the host file's, as Linux writes back
//! only dirty pages: a mapping written with what was there already, or
//! not at all, leaves the host file (and its modification time) alone.
//!
//! A checkpoint writes every cache back first, and keeps each cache's
//! pages with its file's path ([`HostCache::checkpoint_state`]); a restore
//! makes the cache again from those very pages ([`restore`]), which the
//! restored mappings share.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;

use super::tmpfs::{FsKind, MemFs, Pages};
use super::Dentry;
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
    /// The name the first mapping was made by, by which a restore opens
    /// the file again (none for a disk-backed overlay's file).
    name: Mutex<Option<Arc<Dentry>>>,
}

/// What a checkpoint keeps of a cache.
pub struct CacheState {
    /// The file's name.
    pub name: Option<Arc<Dentry>>,
    /// Its size.
    pub size: u64,
    /// The memory-file page behind each page index held.
    pub pages: Vec<(u64, u64)>,
    /// Whether a mapping that may write was made (writeback goes on).
    pub writer: bool,
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
/// the mapping to be made may write. `name`: the file's, if it has one.
pub fn get_or_create(
    key: (u64, u64),
    fd: &Arc<OwnedFd>,
    writer: bool,
    name: Option<&Arc<Dentry>>,
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
            let c = Arc::new(HostCache {
                key,
                fs,
                pages: Mutex::new(pages),
                _file: fd.clone(),
                writer: Mutex::new(None),
                name: Mutex::new(None),
            });
            map.retain(|_, w| w.strong_count() > 0);
            map.insert(key, Arc::downgrade(&c));
            c
        }
    };
    if writer {
        cache.writer.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| fd.clone());
    }
    if let Some(name) = name {
        cache.name.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| name.clone());
    }
    Ok(cache)
}

/// A checkpointed cache made again for the host file `key`, open as
/// `file` (for writing, if `writer`): its pages are `pages`, references
/// the restored memory file still counts. EEXIST if the file has a cache.
pub fn restore(
    key: (u64, u64),
    file: Arc<OwnedFd>,
    state: CacheState,
    mf: &Arc<MemoryFile>,
) -> SysResult<Arc<HostCache>> {
    let mut guard = caches();
    let map = guard.get_or_insert_with(HashMap::new);
    if map.get(&key).is_some_and(|w| w.strong_count() > 0) {
        return Err(Errno::EEXIST);
    }
    let fs = MemFs::new(FsKind::Tmpfs, mf.clone());
    let pages = Pages::restored(&fs, state.size, &state.pages)?;
    LIVE.fetch_add(1, Ordering::AcqRel);
    let c = Arc::new(HostCache {
        key,
        fs,
        pages: Mutex::new(pages),
        writer: Mutex::new(state.writer.then(|| file.clone())),
        _file: file,
        name: Mutex::new(state.name),
    });
    map.insert(key, Arc::downgrade(&c));
    Ok(c)
}

/// Writes every live cache back to its host file (a checkpoint's first
/// step: the image then names each file as the host has it).
pub fn write_back_all() -> SysResult<()> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    let live: Vec<Arc<HostCache>> =
        caches().as_ref().map(|m| m.values().filter_map(Weak::upgrade).collect()).unwrap_or_default();
    live.iter().try_for_each(|c| c.flush(0, u64::MAX))
}

impl HostCache {
    /// The host file's (device, inode number).
    pub fn key(&self) -> (u64, u64) {
        self.key
    }

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

    /// What a checkpoint keeps of it.
    pub fn checkpoint_state(&self) -> CacheState {
        let pages = self.pages();
        CacheState {
            name: self.name.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            size: pages.size(),
            pages: pages.entries(),
            writer: self.writer.lock().unwrap_or_else(|e| e.into_inner()).is_some(),
        }
    }

    /// Writes `[offset, offset + len)` of the cache to the host file (if a
    /// mapping could have changed it), where the two differ.
    fn flush(&self, offset: u64, len: u64) -> SysResult<()> {
        let Some(fd) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return Ok(()) };
        let pages = self.pages();
        let runs = pages.file_runs(offset, len);
        if runs.is_empty() {
            return Ok(());
        }
        let (mut ours, mut theirs) = (vec![0u8; COMPARE_BLOCK], vec![0u8; COMPARE_BLOCK]);
        for (at, run) in runs {
            let mut done = 0;
            while done < run.len {
                let n = (run.len - done).min(COMPARE_BLOCK as u64) as usize;
                self.fs.mf().read(run.off + done, &mut ours[..n]);
                let same = crate::sys::pread(fd.as_raw_fd(), &mut theirs[..n], at + done)
                    .is_ok_and(|got| got == n && ours[..n] == theirs[..n]);
                if !same {
                    crate::sys::pwrite_all(fd.as_raw_fd(), &ours[..n], at + done).inspect_err(|e| {
                        log::warn!("host cache: writeback failed: {e:?}");
                    })?;
                }
                done += n as u64;
            }
        }
        Ok(())
    }
}

/// How much of a host file a writeback compares with its cache at a time.
const COMPARE_BLOCK: usize = 64 << 10;

impl PageSource for HostCache {
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()> {
        self.pages().read(mf, dst, offset);
        Ok(())
    }

    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        self.pages().share(&self.fs, offset, len)
    }

    fn host_cache(self: Arc<Self>) -> Option<Arc<HostCache>> {
        Some(self)
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
