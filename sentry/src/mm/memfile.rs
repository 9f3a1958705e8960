//! The memory file: one memfd whose pages back all app memory.
//!
//! The Sentry maps the whole file once, shared, so it reaches any app page at
//! `base + offset` without asking the platform; the platform maps the same
//! pages into the app's address space. Ranges are handed out by a first-fit
//! allocator and returned with `FALLOC_FL_PUNCH_HOLE`, so freed memory goes
//! back to the host at once.
//!
//! This module and the raw copies behind it are the Sentry's only unsafe code.
//! App memory may change under us at any time (app threads, or the app writing
//! the page while we copy), so nothing here ever forms a Rust reference into
//! the mapping: all access is by raw, byte-wise copies.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use abi::{Errno, PAGE_SIZE};

use super::lazy::{FailureHandler, LazyPages, LoadError};
use super::Chunk;

/// The Sentry's memory file and its allocator.
pub struct MemoryFile {
    fd: OwnedFd,
    base: *mut u8,
    capacity: u64,
    free: Mutex<FreeList>,
    /// Owner counts of ranges held by more than one address space (after
    /// fork, or tmpfs pages mapped shared); a page in no range has one owner.
    shared: Mutex<SharedRanges>,
    /// Pages pinned by I/O in flight ([`MemoryFile::pin`]).
    pins: Mutex<Pins>,
    /// A restore's pages, loaded as they are needed.
    lazy: OnceLock<LazyPages>,
    /// Set while some of `lazy` is still to load: the one check every access
    /// pays.
    loading: AtomicBool,
}

/// The page runs that I/O in flight has pinned, and pages that lost their
/// last owner while pinned, to be freed when the pins go.
#[derive(Default)]
struct Pins {
    /// One entry per pinned run: `(start, end, write)`. A handful at most
    /// (one attempt per thread in a read or write), kept inline so that a
    /// pin allocates nothing.
    runs: smallvec::SmallVec<[(u64, u64, bool); 8]>,
    /// Runs whose freeing waits for a pin to go.
    deferred: Vec<(u64, u64)>,
}

impl Pins {
    /// The pinned parts of `[start, end)`, in order and merged.
    fn covering(&self, start: u64, end: u64, write_only: bool) -> smallvec::SmallVec<[(u64, u64); 4]> {
        let mut parts: smallvec::SmallVec<[(u64, u64); 4]> = self
            .runs
            .iter()
            .filter(|&&(s, e, w)| s < end && e > start && (w || !write_only))
            .map(|&(s, e, _)| (s.max(start), e.min(end)))
            .collect();
        parts.sort_unstable();
        let mut merged: smallvec::SmallVec<[(u64, u64); 4]> = smallvec::SmallVec::new();
        for (s, e) in parts {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

// SAFETY: `base` points at a shared mapping that lives as long as the
// MemoryFile; it is only accessed through raw copies, never references, so
// sharing it between threads is as safe as sharing the fd.
unsafe impl Send for MemoryFile {}
// SAFETY: as for Send; the allocator is behind a Mutex.
unsafe impl Sync for MemoryFile {}

/// Ranges of the memory file with more than one owner: start → (end, owners).
/// Kept as ranges, not pages, so fork of a large address space costs a few
/// map operations per VMA rather than one per page.
#[derive(Default)]
struct SharedRanges {
    map: BTreeMap<u64, (u64, u32)>,
}

impl SharedRanges {
    /// Splits the range containing `at` so that one starts there.
    fn split(&mut self, at: u64) {
        if let Some((&s, &(e, n))) = self.map.range(..at).next_back() {
            if e > at {
                self.map.insert(s, (at, n));
                self.map.insert(at, (e, n));
            }
        }
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.map.range(..end).next_back().is_some_and(|(_, &(e, _))| e > start)
    }

    /// Merges neighbouring ranges with the same count from the one before
    /// `start` to the one at `end`, undoing the splits of a change to
    /// `[start, end)`: pins come and go on every read and write, and must
    /// not leave the map ever more fragmented.
    fn coalesce(&mut self, start: u64, end: u64) {
        let from = self.map.range(..start).next_back().map_or(start, |(&s, _)| s);
        let keys: Vec<u64> = self.map.range(from..=end).map(|(&s, _)| s).collect();
        let mut prev: Option<u64> = None;
        for s in keys {
            let Some(&(e, n)) = self.map.get(&s) else { continue };
            if let Some(p) = prev {
                if let Some(&(pe, pn)) = self.map.get(&p) {
                    if pe == s && pn == n {
                        self.map.remove(&s);
                        self.map.insert(p, (e, n));
                        continue;
                    }
                }
            }
            prev = Some(s);
        }
    }

    fn incref(&mut self, start: u64, end: u64) {
        self.split(start);
        self.split(end);
        let mut cur = start;
        let inside: Vec<(u64, u64)> = self.map.range(start..end).map(|(&s, &(e, _))| (s, e)).collect();
        for (s, e) in inside {
            if s > cur {
                self.map.insert(cur, (s, 2));
            }
            if let Some(r) = self.map.get_mut(&s) {
                r.1 += 1;
            }
            cur = e;
        }
        if cur < end {
            self.map.insert(cur, (end, 2));
        }
        self.coalesce(start, end);
    }

    /// Drops an owner of `[start, end)`; returns the runs nobody owns now.
    fn decref(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        if !self.overlaps(start, end) {
            return vec![(start, end - start)];
        }
        self.split(start);
        self.split(end);
        let mut freed = Vec::new();
        let mut cur = start;
        let inside: Vec<(u64, u64)> = self.map.range(start..end).map(|(&s, &(e, _))| (s, e)).collect();
        for (s, e) in inside {
            if s > cur {
                freed.push((cur, s - cur));
            }
            if let Some(r) = self.map.get_mut(&s) {
                r.1 -= 1;
                if r.1 <= 1 {
                    self.map.remove(&s);
                }
            }
            cur = e;
        }
        if cur < end {
            freed.push((cur, end - cur));
        }
        self.coalesce(start, end);
        freed
    }
}

/// Free ranges (offset → length) plus the untouched tail.
struct FreeList {
    ranges: BTreeMap<u64, u64>,
    tail: u64,
}

impl MemoryFile {
    /// Creates a memory file of `capacity` bytes (sparse: pages cost nothing
    /// until touched) and maps it into the Sentry.
    pub fn new(capacity: u64) -> io::Result<MemoryFile> {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let raw = unsafe { libc::memfd_create(c"husk-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain call on our own fd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), capacity as i64) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new shared mapping of our own fd at an address of the
        // kernel's choosing; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                capacity as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The Sentry forks stubs; they must not inherit this window.
        // SAFETY: advice on the mapping we just made.
        unsafe { libc::madvise(base, capacity as usize, libc::MADV_DONTFORK) };
        Ok(MemoryFile {
            fd,
            base: base.cast(),
            capacity,
            free: Mutex::new(FreeList { ranges: BTreeMap::new(), tail: 0 }),
            shared: Mutex::new(SharedRanges::default()),
            pins: Mutex::new(Pins::default()),
            lazy: OnceLock::new(),
            loading: AtomicBool::new(false),
        })
    }

    /// The memfd, for the platform to map.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Allocates `len` bytes (a multiple of the page size) of zeroed pages.
    pub fn allocate(&self, len: u64) -> Result<u64, Errno> {
        debug_assert_eq!(len % PAGE_SIZE, 0);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let found = free.ranges.iter().find(|(_, l)| **l >= len).map(|(o, l)| (*o, *l));
        if let Some((off, flen)) = found {
            free.ranges.remove(&off);
            if flen > len {
                free.ranges.insert(off + len, flen - len);
            }
            return Ok(off);
        }
        if free.tail + len > self.capacity {
            return Err(Errno::ENOMEM);
        }
        let off = free.tail;
        free.tail += len;
        Ok(off)
    }

    /// Adds an owner to every page of `[off, off + len)` (fork sharing them).
    pub fn incref(&self, off: u64, len: u64) {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).incref(off, off + len);
    }

    /// Whether any page of `[off, off + len)` has more than one owner.
    pub fn any_shared(&self, off: u64, len: u64) -> bool {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).overlaps(off, off + len)
    }

    /// Drops one owner of every page of `[off, off + len)`; pages left with
    /// none go back to the allocator and the host (once no I/O has them
    /// pinned).
    pub fn release(&self, off: u64, len: u64) {
        if len == 0 {
            return;
        }
        let runs = self.shared.lock().unwrap_or_else(|e| e.into_inner()).decref(off, off + len);
        for (o, l) in runs {
            self.free_unless_pinned(o, o + l);
        }
    }

    /// Frees `[start, end)`, but for the pinned parts, whose freeing waits
    /// for their pins to go. No pin can be taken on these pages meanwhile:
    /// pins come from translating app addresses, and no address space maps
    /// a page that has lost its last owner.
    fn free_unless_pinned(&self, start: u64, end: u64) {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        let pinned = if pins.runs.is_empty() { smallvec::SmallVec::new() } else { pins.covering(start, end, false) };
        pins.deferred.extend(pinned.iter().copied());
        drop(pins);
        let mut cur = start;
        for (s, e) in pinned.into_iter().chain([(end, end)]) {
            if s > cur {
                self.free_range(cur, s - cur);
            }
            cur = cur.max(e);
        }
    }

    /// Pins the pages behind `chunks` for an I/O that the Sentry does
    /// outside the memory manager's lock: none is freed, let alone reused,
    /// before [`MemoryFile::unpin`], and, for `write` (data going into app
    /// memory), fork gives its child a copy of them instead of sharing them
    /// ([`MemoryFile::write_pinned`]). Allocates nothing for the few pins
    /// in flight at a time.
    pub fn pin(&self, chunks: &[Chunk], write: bool) {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        pins.runs.extend(chunks.iter().filter_map(page_run).map(|(s, e)| (s, e, write)));
    }

    /// Ends a [`MemoryFile::pin`] of the same `chunks` and `write`, and
    /// frees the pages that lost their last owner meanwhile and are pinned
    /// no more.
    pub fn unpin(&self, chunks: &[Chunk], write: bool) {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        for (s, e) in chunks.iter().filter_map(page_run) {
            if let Some(i) = pins.runs.iter().position(|&p| p == (s, e, write)) {
                pins.runs.swap_remove(i);
            }
        }
        if pins.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut pins.deferred);
        drop(pins);
        for (s, e) in deferred {
            self.free_unless_pinned(s, e);
        }
    }

    /// The parts of `[off, off + len)` pinned for data on its way into app
    /// memory, as page-aligned `(start, end)` runs, in order and merged.
    pub fn write_pinned(&self, off: u64, len: u64) -> smallvec::SmallVec<[(u64, u64); 4]> {
        let pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if pins.runs.is_empty() {
            return smallvec::SmallVec::new();
        }
        pins.covering(off, off.saturating_add(len), true)
    }

    fn free_range(&self, off: u64, len: u64) {
        self.punch_hole(off, len);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let (mut start, mut end) = (off, off + len);
        if let Some((&p, &pl)) = free.ranges.range(..start).next_back() {
            if p + pl == start {
                free.ranges.remove(&p);
                start = p;
            }
        }
        if let Some(&nl) = free.ranges.get(&end) {
            free.ranges.remove(&end);
            end += nl;
        }
        if end == free.tail {
            free.tail = start;
        } else {
            free.ranges.insert(start, end - start);
        }
    }

    /// Gives `[off, off + len)` pages now, as a write fault would (mlock's
    /// population: the pages then count as resident). fallocate would not
    /// do: its pages are not up to date until written, and mincore does
    /// not count them.
    pub fn populate(&self, off: u64, len: u64) {
        /// MADV_POPULATE_WRITE (Linux 5.14).
        const MADV_POPULATE_WRITE: i32 = 23;
        let p = self.ptr(off, len as usize);
        // SAFETY: `p..p+len` lies inside our window of the memory file
        // (`ptr` checks it, and lands a restore's bytes there first); the
        // advice faults its pages in for writing without changing them.
        unsafe {
            libc::madvise(p.cast(), len as usize, MADV_POPULATE_WRITE);
        }
    }

    /// Zeroes `[off, off + len)` by giving its pages back to the host.
    pub fn punch_hole(&self, off: u64, len: u64) {
        // A restore's bytes must not land in the hole afterwards.
        self.settle(off, len);
        // SAFETY: plain call on our own fd; only the file's contents change.
        unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as i64,
                len as i64,
            );
        }
    }

    /// The address of `[off, off + len)` in the Sentry's window, with any
    /// of a restore's pages there loaded first.
    fn ptr(&self, off: u64, len: usize) -> *mut u8 {
        self.settle(off, len as u64);
        self.ptr_unsettled(off, len)
    }

    /// As [`Self::ptr`], as the bytes are: for loading them.
    fn ptr_unsettled(&self, off: u64, len: usize) -> *mut u8 {
        assert!(off.checked_add(len as u64).is_some_and(|e| e <= self.capacity));
        // SAFETY: the assertion keeps the result inside the mapping.
        unsafe { self.base.add(off as usize) }
    }

    /// Copies `dst.len()` bytes at `off` out of the file.
    pub fn read(&self, off: u64, dst: &mut [u8]) {
        let src = self.ptr(off, dst.len());
        // SAFETY: `src` spans dst.len() bytes of the mapping (checked by
        // `ptr`); `dst` is ours. The source may change concurrently; a byte
        // copy tolerates that.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
    }

    /// Copies `src` into the file at `off`.
    pub fn write(&self, off: u64, src: &[u8]) {
        let dst = self.ptr(off, src.len());
        // SAFETY: as in `read`, in the other direction.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
    }

    /// Atomically replaces the 32-bit word at `off` (4-byte aligned) with
    /// `f(old)` and returns the old value, racing safely with app threads
    /// doing atomic operations on the same word.
    pub fn atomic_update_u32(&self, off: u64, f: impl Fn(u32) -> u32) -> u32 {
        assert!(off.is_multiple_of(4));
        let p = self.ptr(off, 4).cast::<std::sync::atomic::AtomicU32>();
        // SAFETY: `p` is 4-byte aligned and inside the mapping, which lives as
        // long as `self`; AtomicU32 has u32's layout, and atomics are the
        // right way to share a word with other processes.
        let word = unsafe { &*p };
        let mut old = word.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            match word.compare_exchange(
                old,
                f(old),
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            ) {
                Ok(v) => return v,
                Err(v) => old = v,
            }
        }
    }

    /// Which pages of `[off, off + len)` hold data (one byte per page, 1 if
    /// resident): never-touched pages of the sparse file read as 0.
    pub fn residency(&self, off: u64, len: u64) -> Vec<u8> {
        let pages = len.div_ceil(PAGE_SIZE) as usize;
        let mut vec = vec![0u8; pages];
        // Pages a restore has not loaded yet are not resident.
        let p = self.ptr_unsettled(off, len as usize);
        // SAFETY: `p..p+len` lies inside our mapping (checked by `ptr`), and
        // `vec` has one byte per page of it, as mincore writes.
        let r = unsafe { libc::mincore(p.cast(), len as usize, vec.as_mut_ptr()) };
        if r != 0 {
            vec.fill(1);
        }
        for b in vec.iter_mut() {
            *b &= 1;
        }
        vec
    }

    /// Copies `len` bytes within the file.
    pub fn copy(&self, dst: u64, src: u64, len: u64) {
        let s = self.ptr(src, len as usize);
        let d = self.ptr(dst, len as usize);
        // SAFETY: both ranges are inside the mapping; `copy` allows overlap.
        unsafe { std::ptr::copy(s, d, len as usize) };
    }

    fn iovecs(&self, chunks: &[Chunk]) -> smallvec::SmallVec<[libc::iovec; 8]> {
        chunks
            .iter()
            .map(|c| libc::iovec { iov_base: self.ptr(c.off, c.len as usize).cast(), iov_len: c.len as usize })
            .collect()
    }

    /// Reads from a host fd straight into the file's pages: at `offset`, or
    /// at the fd's own position when `offset` is `None` (`preadv2` with
    /// offset -1, which is `readv`: one syscall for the Sentry's filter).
    pub fn read_from_fd(&self, fd: RawFd, chunks: &[Chunk], offset: Option<u64>) -> io::Result<usize> {
        let iov = self.iovecs(chunks);
        let n = iov.len().min(1024) as i32;
        // SAFETY: every iovec spans memory inside our mapping (`ptr` checks);
        // the host writes at most their total length.
        let r = unsafe {
            match offset {
                Some(o) => libc::preadv2(fd, iov.as_ptr(), n, o as i64, 0),
                None => libc::preadv2(fd, iov.as_ptr(), n, -1, 0),
            }
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Writes the file's pages to a host fd: at `offset`, or at the fd's
    /// own position when `offset` is `None` (`pwritev2`, as above).
    pub fn write_to_fd(&self, fd: RawFd, chunks: &[Chunk], offset: Option<u64>) -> io::Result<usize> {
        let iov = self.iovecs(chunks);
        let n = iov.len().min(1024) as i32;
        // SAFETY: as in `read_from_fd`; the host only reads the buffers.
        let r = unsafe {
            match offset {
                Some(o) => libc::pwritev2(fd, iov.as_ptr(), n, o as i64, 0),
                None => libc::pwritev2(fd, iov.as_ptr(), n, -1, 0),
            }
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}

/// The allocator's state, as a checkpoint keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocatorState {
    /// Free runs below the tail: (offset, length).
    pub free: Vec<(u64, u64)>,
    /// Where never-allocated space starts.
    pub tail: u64,
    /// Runs with more than one owner: (start, end, owners).
    pub shared: Vec<(u64, u64, u32)>,
}

impl MemoryFile {
    /// The allocator's state (for a checkpoint, with every user frozen).
    pub fn allocator_state(&self) -> AllocatorState {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        AllocatorState {
            free: free.ranges.iter().map(|(&o, &l)| (o, l)).collect(),
            tail: free.tail,
            shared: shared.map.iter().map(|(&s, &(e, n))| (s, e, n)).collect(),
        }
    }

    /// Takes a checkpoint's allocator state, in a memory file nothing has
    /// allocated from yet. Refuses runs outside the file, overlapping or
    /// out of order.
    pub fn restore_allocator(&self, state: &AllocatorState) -> Result<(), Errno> {
        fn ordered(runs: impl Iterator<Item = (u64, u64)>, limit: u64) -> bool {
            let mut last = 0;
            let page = |a: u64| a.is_multiple_of(PAGE_SIZE);
            runs.into_iter().all(|(s, e)| {
                let ok = s >= last && e > s && e <= limit && page(s) && page(e);
                last = e;
                ok
            })
        }
        let tail = state.tail;
        if tail > self.capacity
            || !ordered(state.free.iter().map(|&(o, l)| (o, o.saturating_add(l))), tail)
            || !ordered(state.shared.iter().map(|&(s, e, _)| (s, e)), tail)
            || state.shared.iter().any(|&(_, _, n)| n < 2)
        {
            return Err(Errno::EINVAL);
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.tail != 0 {
            return Err(Errno::EBUSY);
        }
        free.ranges = state.free.iter().copied().collect();
        free.tail = tail;
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.map = state.shared.iter().map(|&(s, e, n)| (s, (e, n))).collect();
        Ok(())
    }

    /// The runs of `[0, end)` that hold data, as the host's sparse file
    /// knows them (SEEK_DATA and SEEK_HOLE): a checkpoint writes only these.
    pub fn data_extents(&self, end: u64) -> Result<Vec<(u64, u64)>, Errno> {
        // What a restore has not loaded yet is data too.
        self.load_all().map_err(|e| {
            log::error!("checkpoint: {e}");
            Errno::EIO
        })?;
        let fd = self.fd.as_raw_fd();
        let mut out = Vec::new();
        let mut at = 0;
        while at < end {
            let start = match crate::sys::lseek(fd, at as i64, libc::SEEK_DATA as u32) {
                Ok(s) => s,
                Err(Errno::ENXIO) => break,
                Err(e) => return Err(e),
            };
            if start >= end {
                break;
            }
            let stop = crate::sys::lseek(fd, start as i64, libc::SEEK_HOLE as u32)?.min(end);
            out.push((start, stop - start));
            at = stop;
        }
        Ok(out)
    }

    /// Feeds `[off, off + len)` to `f` in pieces, without copying it.
    pub fn for_each_piece(&self, off: u64, len: u64, mut f: impl FnMut(&[u8])) {
        const PIECE: u64 = 1 << 20;
        let mut at = off;
        while at < off + len {
            let n = PIECE.min(off + len - at) as usize;
            let p = self.ptr(at, n);
            // SAFETY: `p..p+n` lies inside our mapping (checked by `ptr`),
            // which lives as long as `self`. Its bytes may change under an
            // app thread's hand; a checkpoint reads them with every task
            // frozen, and a byte slice of u8 has no invalid values.
            f(unsafe { std::slice::from_raw_parts(p, n) });
            at += n as u64;
        }
    }
}

impl MemoryFile {
    /// Takes a restore's pages, to be loaded as they are needed ([`LazyPages`]).
    pub fn load_lazily(&self, pages: LazyPages) -> Result<(), Errno> {
        let done = pages.done();
        self.lazy.set(pages).map_err(|_| Errno::EBUSY)?;
        if !done {
            self.loading.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Whether some of a restore's pages are still to load.
    pub fn loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// Whether some of `[off, off + len)` is still to load.
    pub fn pending(&self, off: u64, len: u64) -> bool {
        self.loading() && self.lazy.get().is_some_and(|l| l.pending(off, len))
    }

    /// Loads what of `[off, off + len)` is still to load.
    pub fn load(&self, off: u64, len: u64) -> Result<(), LoadError> {
        match self.lazy.get() {
            Some(l) if self.loading() => l.load(self, off, len),
            _ => Ok(()),
        }
    }

    /// Loads every page still to load (the background loader; a checkpoint).
    pub fn load_all(&self) -> Result<(), LoadError> {
        match self.lazy.get() {
            Some(l) if self.loading() => l.load_all(self),
            _ => Ok(()),
        }
    }

    /// Has a failure to load reported to `report` (at once if one happened).
    pub fn on_load_failure(&self, report: FailureHandler) {
        if let Some(l) = self.lazy.get() {
            l.on_failure(report);
        }
    }

    /// Loads what of `[off, off + len)` is still to load, before an access.
    /// A failure has been reported to the handler, which ends the sandbox;
    /// the access goes on over bytes that are then never used.
    #[inline]
    fn settle(&self, off: u64, len: u64) {
        if self.loading.load(Ordering::Acquire) {
            let _ = self.load(off, len);
        }
    }

    /// Called by [`LazyPages`] once every page is in.
    pub(super) fn all_loaded(&self) {
        self.loading.store(false, Ordering::Release);
    }

    /// Reads `len` bytes at `at` of `fd` into the file at `off`, as they
    /// are (for [`LazyPages`]).
    pub(super) fn fill_unsettled(&self, fd: RawFd, off: u64, len: u64, at: u64) -> io::Result<()> {
        // The pages allocated and mapped in one call, not one fault each
        // (MADV_POPULATE_WRITE, Linux 5.14; without it the copy faults them).
        const MADV_POPULATE_WRITE: i32 = 23;
        let p = self.ptr_unsettled(off, len as usize);
        // SAFETY: advice on part of our own mapping (checked by
        // `ptr_unsettled`); populating changes no byte.
        unsafe { libc::madvise(p.cast(), len as usize, MADV_POPULATE_WRITE) };
        let mut done = 0;
        while done < len {
            let n = (len - done).min(1 << 30) as usize;
            let p = self.ptr_unsettled(off + done, n);
            let iov = libc::iovec { iov_base: p.cast(), iov_len: n };
            // SAFETY: `p..p+n` lies inside our mapping (checked by
            // `ptr_unsettled`); the host writes at most `n` bytes there.
            // preadv2, as in `read_from_fd`: the one read the filter allows.
            let r = unsafe { libc::preadv2(fd, &iov, 1, (at + done) as i64, 0) };
            match r {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                r if r < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                r => done += r as u64,
            }
        }
        Ok(())
    }

    /// Copies `src` into the file at `off`, over what is there (for
    /// [`LazyPages`]).
    pub(super) fn write_unsettled(&self, off: u64, src: &[u8]) {
        let dst = self.ptr_unsettled(off, src.len());
        // SAFETY: as in `write`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
    }

    /// Feeds `[off, off + len)` to `hasher`, as it is (for [`LazyPages`]).
    pub(super) fn hash_unsettled(&self, off: u64, len: u64, hasher: &mut crc32fast::Hasher) {
        let p = self.ptr_unsettled(off, len as usize);
        // SAFETY: `p..p+len` lies inside our mapping (checked by
        // `ptr_unsettled`), which lives as long as `self`; the block being
        // loaded is mapped by no stub yet, and u8 has no invalid values.
        hasher.update(unsafe { std::slice::from_raw_parts(p, len as usize) });
    }
}

impl MemoryFile {
    /// Receives from a host socket straight into the file's pages, with
    /// recvmsg's `flags` (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT, ...); returns
    /// the length recvmsg gives and its msg_flags.
    pub fn recv_from_socket(&self, fd: RawFd, chunks: &[Chunk], flags: i32) -> io::Result<(usize, i32)> {
        self.recv_from_socket_named(fd, chunks, flags, &mut []).map(|(n, f, _)| (n, f))
    }

    /// As [`Self::recv_from_socket`], with the sender's address put in
    /// `name` (cut to its length); also returns the address's length.
    pub fn recv_from_socket_named(
        &self,
        fd: RawFd,
        chunks: &[Chunk],
        flags: i32,
        name: &mut [u8],
    ) -> io::Result<(usize, i32, usize)> {
        let mut iov = self.iovecs(chunks);
        // SAFETY: all-zero is a valid (empty) msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len().min(1024);
        if !name.is_empty() {
            msg.msg_name = name.as_mut_ptr().cast();
            msg.msg_namelen = name.len() as libc::socklen_t;
        }
        // SAFETY: every iovec spans memory inside our mapping (`ptr`
        // checks); the host writes at most their total length, and at
        // most `msg_namelen` bytes of `name`; no control buffer is given.
        let r = unsafe { libc::recvmsg(fd, &mut msg, flags) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok((r as usize, msg.msg_flags, msg.msg_namelen as usize))
        }
    }

    /// Sends the file's pages on a host socket with sendmsg's `flags`.
    pub fn send_to_socket(&self, fd: RawFd, chunks: &[Chunk], flags: i32) -> io::Result<usize> {
        self.send_to_socket_named(fd, chunks, flags, &[])
    }

    /// As [`Self::send_to_socket`], to the raw address `name` (none if
    /// empty).
    pub fn send_to_socket_named(&self, fd: RawFd, chunks: &[Chunk], flags: i32, name: &[u8]) -> io::Result<usize> {
        let mut iov = self.iovecs(chunks);
        // SAFETY: all-zero is a valid (empty) msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len().min(1024);
        if !name.is_empty() {
            msg.msg_name = name.as_ptr().cast_mut().cast();
            msg.msg_namelen = name.len() as libc::socklen_t;
        }
        // SAFETY: as in `recv_from_socket_named`; the host only reads the
        // buffers and the name.
        let r = unsafe { libc::sendmsg(fd, &msg, flags) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}

/// The whole pages under a chunk, as `(start, end)`; `None` for an empty one.
fn page_run(c: &Chunk) -> Option<(u64, u64)> {
    let end = abi::page_up(c.off.checked_add(c.len)?)?;
    (c.len > 0).then(|| (abi::page_down(c.off), end))
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: unmapping the window mapped in `new`; no references into it
        // exist (we never create any).
        unsafe { libc::munmap(self.base.cast(), self.capacity as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_release_reuse_and_zero() {
        let m = MemoryFile::new(1 << 30).unwrap();
        let a = m.allocate(3 * PAGE_SIZE).unwrap();
        let b = m.allocate(PAGE_SIZE).unwrap();
        assert_eq!(b, a + 3 * PAGE_SIZE);
        m.write(a, b"hello");
        let mut buf = [0u8; 5];
        m.read(a, &mut buf);
        assert_eq!(&buf, b"hello");
        m.release(a, 3 * PAGE_SIZE);
        let c = m.allocate(2 * PAGE_SIZE).unwrap();
        assert_eq!(c, a, "first fit reuses the freed range");
        m.read(c, &mut buf);
        assert_eq!(buf, [0; 5], "released pages read back as zero");
        assert!(m.allocate(2 << 30).is_err());
    }

    #[test]
    fn shared_ranges_count_owners_by_range() {
        let mut r = SharedRanges::default();
        r.incref(0, 10 * PAGE_SIZE);
        r.incref(5 * PAGE_SIZE, 15 * PAGE_SIZE);
        assert!(r.overlaps(12 * PAGE_SIZE, 13 * PAGE_SIZE));
        // Pages 0-4 have 2 owners, 5-9 three, 10-14 two.
        assert_eq!(r.decref(0, 15 * PAGE_SIZE), vec![]);
        // Now 5-9 have two owners; 0-4 and 10-14 one.
        assert_eq!(r.decref(0, 15 * PAGE_SIZE), vec![(0, 5 * PAGE_SIZE), (10 * PAGE_SIZE, 5 * PAGE_SIZE)]);
        assert_eq!(r.decref(5 * PAGE_SIZE, 10 * PAGE_SIZE), vec![(5 * PAGE_SIZE, 5 * PAGE_SIZE)]);
        assert!(!r.overlaps(0, 100 * PAGE_SIZE));
    }

    #[test]
    fn a_released_pin_leaves_the_ranges_as_they_were() {
        let mut r = SharedRanges::default();
        r.incref(0, 100 * PAGE_SIZE);
        for (s, e) in [(10, 20), (0, 1), (99, 100), (50, 51)] {
            r.incref(s * PAGE_SIZE, e * PAGE_SIZE);
            assert!(r.map.len() > 1);
            assert_eq!(r.decref(s * PAGE_SIZE, e * PAGE_SIZE), vec![]);
            assert_eq!(r.map.len(), 1, "after a pin of pages {s}..{e}: {:?}", r.map);
        }
        assert_eq!(r.map.get(&0), Some(&(100 * PAGE_SIZE, 2)));
    }

    #[test]
    fn a_pinned_page_outlives_its_release_and_write_pins_are_listed() {
        let m = MemoryFile::new(1 << 30).unwrap();
        let a = m.allocate(4 * PAGE_SIZE).unwrap();
        m.write(a + PAGE_SIZE, b"pinned");
        // A two-byte read into the second page, and one across pages 2-3.
        let chunks = [Chunk { off: a + PAGE_SIZE + 10, len: 2 }, Chunk { off: a + 2 * PAGE_SIZE - 1, len: 2 }];
        m.pin(&chunks, true);
        assert_eq!(m.write_pinned(a, 4 * PAGE_SIZE).to_vec(), vec![(a + PAGE_SIZE, a + 3 * PAGE_SIZE)]);
        assert!(m.write_pinned(a, PAGE_SIZE).is_empty());
        // A read's pin keeps pages too, but fork need not copy them.
        let read_chunk = [Chunk { off: a + 3 * PAGE_SIZE, len: 8 }];
        m.pin(&read_chunk, false);
        assert_eq!(m.write_pinned(a, 4 * PAGE_SIZE).to_vec(), vec![(a + PAGE_SIZE, a + 3 * PAGE_SIZE)]);
        m.release(a, 4 * PAGE_SIZE);
        // Page 0 is free again; 1 and 2 wait for the write pin, 3 for the read pin.
        let again = m.allocate(PAGE_SIZE).unwrap();
        assert_eq!(again, a);
        m.unpin(&read_chunk, false);
        let mut buf = [0u8; 6];
        m.read(a + PAGE_SIZE, &mut buf);
        assert_eq!(&buf, b"pinned", "a pinned page is neither zeroed nor reused");
        m.unpin(&chunks, true);
        assert!(m.write_pinned(a, 4 * PAGE_SIZE).is_empty());
        m.read(a + PAGE_SIZE, &mut buf);
        assert_eq!(buf, [0; 6], "freed once unpinned");
        let rest = m.allocate(3 * PAGE_SIZE).unwrap();
        assert_eq!(rest, a + PAGE_SIZE, "and reused after");
    }

    #[test]
    fn an_allocator_state_comes_back_with_its_data_and_bad_states_are_refused() {
        let m = MemoryFile::new(1 << 30).unwrap();
        let a = m.allocate(4 * PAGE_SIZE).unwrap();
        let b = m.allocate(2 * PAGE_SIZE).unwrap();
        m.incref(b, PAGE_SIZE);
        m.release(a, PAGE_SIZE);
        m.write(a + 2 * PAGE_SIZE, b"kept");
        let state = m.allocator_state();
        assert_eq!(state.tail, 6 * PAGE_SIZE);
        assert_eq!(state.free, vec![(a, PAGE_SIZE)]);
        assert_eq!(state.shared, vec![(b, b + PAGE_SIZE, 2)]);
        // Only the written page holds data.
        assert_eq!(m.data_extents(state.tail).unwrap(), vec![(a + 2 * PAGE_SIZE, PAGE_SIZE)]);
        let n = MemoryFile::new(1 << 30).unwrap();
        n.restore_allocator(&state).unwrap();
        assert_eq!(n.allocator_state(), state);
        assert_eq!(n.allocate(PAGE_SIZE).unwrap(), a, "the free run is reused first");
        assert_eq!(n.restore_allocator(&state), Err(Errno::EBUSY), "only into an unused file");
        let fresh = || MemoryFile::new(1 << 30).unwrap();
        let bad = |s: AllocatorState| fresh().restore_allocator(&s);
        let past = AllocatorState { tail: 2 << 30, ..AllocatorState::default() };
        assert_eq!(bad(past), Err(Errno::EINVAL));
        let overlapping = AllocatorState {
            free: vec![(0, 2 * PAGE_SIZE), (PAGE_SIZE, PAGE_SIZE)],
            tail: 4 * PAGE_SIZE,
            ..Default::default()
        };
        assert_eq!(bad(overlapping), Err(Errno::EINVAL));
        let one_owner = AllocatorState { shared: vec![(0, PAGE_SIZE, 1)], tail: PAGE_SIZE, ..Default::default() };
        assert_eq!(bad(one_owner), Err(Errno::EINVAL));
        let unaligned = AllocatorState { free: vec![(1, PAGE_SIZE)], tail: 4 * PAGE_SIZE, ..Default::default() };
        assert_eq!(bad(unaligned), Err(Errno::EINVAL));
    }
}
