//! System V shared memory: shmget, shmat, shmdt and shmctl.
//!
//! A segment is an unlinked file of memory-file pages on a filesystem of its
//! own (so `SHM_INFO` can count its pages), and an attach is a shared
//! mapping of that file. Every mapping of a segment holds one [`ShmMap`];
//! Linux counts `shm_nattch` per mapping (a split mapping counts twice, a
//! fork adds the child's), and so does the number of references to it here.
//! A segment removed while attached keeps living, keyless and marked
//! `SHM_DEST`, until its last mapping goes.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::flags::ipc::SHM_DEST;
use abi::types::ShmidDs;
use abi::{Errno, PAGE_SIZE};

use super::{now_secs, GetRequest, IpcObject, Perm, Registry};
use crate::mm::{Chunk, MemoryFile, PageSource, SysResult};
use crate::vfs::tmpfs::{FsKind, Inode, MemFs};

/// SHMMAX and SHMALL's defaults (ULONG_MAX - 2^24).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// SHMALL, in pages.
pub const SHMALL: u64 = SHMMAX;
/// The most segments.
pub const SHMMNI: usize = 4096;

/// One segment.
pub struct ShmSeg {
    pub(super) perm: Mutex<Perm>,
    pub(super) times: Mutex<ShmTimes>,
    pub(super) size: u64,
    /// The key it was made with (its file's name, even once removed).
    pub(super) key_at_creation: i32,
    pub(super) cpid: i32,
    pub(super) id: i32,
    pub(super) file: Arc<Inode>,
    /// The mappings' shared handle, while any exists.
    pub(super) attached: Mutex<Weak<ShmMap>>,
    pub(super) registry: Weak<Registry<ShmSeg>>,
}

#[derive(Default)]
pub(super) struct ShmTimes {
    pub(super) atime: i64,
    pub(super) dtime: i64,
    pub(super) ctime: i64,
    pub(super) lpid: i32,
}

impl IpcObject for ShmSeg {
    type Stat = ShmidDs;

    fn perm(&self) -> MutexGuard<'_, Perm> {
        self.perm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_removed(&self) {}

    fn stat(&self) -> ShmidDs {
        let t = self.times();
        ShmidDs {
            shm_perm: self.perm().to_abi(),
            shm_segsz: self.size,
            shm_atime: t.atime,
            shm_dtime: t.dtime,
            shm_ctime: t.ctime,
            shm_cpid: self.cpid,
            shm_lpid: t.lpid,
            shm_nattch: self.nattch(),
            ..ShmidDs::default()
        }
    }
}

impl ShmSeg {
    pub(super) fn times(&self) -> MutexGuard<'_, ShmTimes> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes of its pages in memory (/proc/sysvipc/shm's rss).
    pub fn rss(&self) -> u64 {
        self.file.attr().blocks * 512
    }

    /// The segment's size in bytes, as created.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many mappings of it exist.
    pub fn nattch(&self) -> u64 {
        self.attached.lock().unwrap_or_else(|e| e.into_inner()).strong_count() as u64
    }

    /// The handle a new attach maps, counting one more attach.
    pub fn attach(self: &Arc<Self>, pid: i32) -> Arc<ShmMap> {
        let map = self.mapping();
        let mut t = self.times();
        t.atime = now_secs();
        t.lpid = pid;
        map
    }

    /// The handle every mapping of it holds (a restored mapping's: no
    /// attach is recorded).
    pub fn mapping(self: &Arc<Self>) -> Arc<ShmMap> {
        let mut a = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        a.upgrade().unwrap_or_else(|| {
            let m = Arc::new(ShmMap { seg: self.clone() });
            *a = Arc::downgrade(&m);
            m
        })
    }

    /// Records a shmdt by `pid`.
    pub fn detached_by(&self, pid: i32) {
        let mut t = self.times();
        t.dtime = now_secs();
        t.lpid = pid;
    }

    /// Records a change of owner or mode.
    pub fn changed(&self) {
        self.times().ctime = now_secs();
    }
}

/// What every mapping of one segment holds: the segment's pages.
pub struct ShmMap {
    seg: Arc<ShmSeg>,
}

impl PageSource for ShmMap {
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()> {
        self.seg.file.copy_to(mf, dst, offset)
    }

    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        self.seg.file.share(offset, len)
    }

    fn sysv_shm(&self) -> Option<(usize, u64)> {
        Some((Arc::as_ptr(&self.seg) as usize, self.seg.size))
    }

    fn detached(&self, pid: i32) {
        self.seg.detached_by(pid);
    }

    fn removed(&self) -> bool {
        self.seg.perm().mode & SHM_DEST != 0
    }

    /// Linux's name for the segment's file in its internal shm mount.
    fn map_name(&self) -> Option<String> {
        Some(format!("/SYSV{:08x} (deleted)", self.seg.key_at_creation as u32))
    }
}

impl Drop for ShmMap {
    /// The last mapping is gone: a segment marked for removal goes now.
    fn drop(&mut self) {
        let seg = &self.seg;
        if seg.perm().mode & SHM_DEST != 0 {
            if let Some(reg) = seg.registry.upgrade() {
                reg.drop_entry(seg.id, seg);
            }
        }
    }
}

/// The sandbox's segments.
pub struct ShmRegistry {
    /// The segments by id and key.
    pub segs: Arc<Registry<ShmSeg>>,
    fs: Arc<MemFs>,
}

impl ShmRegistry {
    /// No segments yet; their pages will come from `memfile`.
    pub fn new(memfile: Arc<MemoryFile>) -> ShmRegistry {
        ShmRegistry { segs: Arc::new(Registry::new(SHMMNI)), fs: MemFs::new(FsKind::Tmpfs, memfile) }
    }

    /// shmget.
    pub fn get(&self, req: GetRequest<'_>, size: u64, pid: i32) -> SysResult<i32> {
        let registry = Arc::downgrade(&self.segs);
        // Counted before the registry's lock is taken; the limit is loose.
        let in_use: u64 = self.segs.all().iter().map(|s| s.size.div_ceil(PAGE_SIZE)).sum();
        self.segs.get_or_create(
            req,
            |seg| if seg.size < size { Err(Errno::EINVAL) } else { Ok(()) },
            |perm, id| {
                if !(1..=SHMMAX).contains(&size) {
                    return Err(Errno::EINVAL);
                }
                let pages = size.div_ceil(PAGE_SIZE);
                if in_use.checked_add(pages).is_none_or(|total| total > SHMALL) {
                    return Err(Errno::ENOSPC);
                }
                let dentry = self.fs.new_file(perm.mode);
                let file = dentry.inode().cloned().ok_or(Errno::ENOMEM)?;
                // In no directory (a checkpoint saves it as such).
                file.orphan();
                file.truncate(size)?;
                Ok(ShmSeg {
                    key_at_creation: perm.key,
                    perm: Mutex::new(perm),
                    times: Mutex::new(ShmTimes { ctime: now_secs(), ..ShmTimes::default() }),
                    size,
                    cpid: pid,
                    id,
                    file,
                    attached: Mutex::new(Weak::new()),
                    registry,
                })
            },
        )
    }

    /// IPC_RMID: the segment goes now if nothing maps it, else at its last
    /// detach; either way its key is free at once.
    pub fn remove(&self, id: i32, creds: &crate::kernel::process::Credentials) -> SysResult<()> {
        let seg = self.segs.get(id)?;
        seg.perm().check_owner(creds)?;
        seg.perm().mode |= SHM_DEST;
        self.segs.forget_key(id, &seg);
        if seg.nattch() == 0 {
            self.segs.drop_entry(id, &seg);
        }
        Ok(())
    }

    /// The filesystem of the segments' files.
    pub fn fs(&self) -> &Arc<MemFs> {
        &self.fs
    }

    /// Pages the segments hold (SHM_INFO's shm_rss).
    pub fn pages_used(&self) -> u64 {
        self.fs.pages_used()
    }
}
