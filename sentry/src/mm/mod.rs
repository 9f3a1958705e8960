//! The memory manager: the app's view of its address space (VMAs) and the
//! memory-file pages that back it.
//!
//! Every mapping the app makes is backed by a range of the [`MemoryFile`]:
//! anonymous memory by fresh (sparse, zero) pages, private file mappings by
//! pages into which the file's bytes are copied. Each VMA mirrors one
//! contiguous range of the memory file, and the platform's address space maps
//! exactly the VMAs, so the Sentry reaches any app byte through its own
//! mapping of the memory file, never through the app's process.
//!
//! Copies in and out of app memory check the VMAs first: an unmapped address,
//! or one whose protection forbids the access, gives EFAULT, and a copy that
//! runs into one stops there (short reads and writes, as Linux does).
//!
//! Lock order: the MemoryManager is owned by its task; the memory file's
//! allocator lock is taken inside it and never the other way round.

pub mod memfile;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use abi::flags::mm::*;
use abi::{page_down, page_up, Errno, PAGE_SIZE};
use platform::{AddressSpace, Prot};
use smallvec::SmallVec;
use zerocopy::{FromBytes, Immutable, IntoBytes};

pub use memfile::MemoryFile;

/// Result of a syscall-level operation.
pub type SysResult<T> = Result<T, Errno>;

/// A run of bytes in the memory file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Offset in the memory file.
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The memory-file runs behind a range of app memory, in order. Small lists
/// stay on the stack, so the read and write paths do not allocate.
pub type IoChunks = SmallVec<[Chunk; 8]>;

/// What a mapping is backed by, beyond its memory-file pages.
#[derive(Clone)]
pub enum Backing {
    /// Anonymous memory.
    Anon,
    /// A private copy of a file; `offset` is the file offset of the VMA's start.
    File {
        /// The host fd the Gofer donated, kept to refill pages on MADV_DONTNEED.
        fd: Arc<OwnedFd>,
        /// File offset of the VMA's first byte.
        offset: u64,
    },
}

/// One mapping, as the app sees it.
#[derive(Clone)]
pub struct Vma {
    /// One past the last address.
    pub end: u64,
    /// `PROT_*` bits.
    pub prot: u32,
    /// MAP_SHARED (kept for fork, which shares rather than copies).
    pub shared: bool,
    /// Memory-file offset of the VMA's first byte.
    pub mem_off: u64,
    /// What fills the pages.
    pub backing: Backing,
}

/// A file to map: the donated host fd, the offset, and the file's size.
pub struct MapFile {
    /// Host fd to copy from.
    pub fd: Arc<OwnedFd>,
    /// File offset of the mapping's start.
    pub offset: u64,
    /// The file's size, beyond which pages are zero.
    pub size: u64,
}

/// An mmap request, validated by [`MemoryManager::mmap`].
pub struct MmapRequest {
    /// The hint, or the fixed address.
    pub addr: u64,
    /// Length in bytes (rounded up to pages).
    pub len: u64,
    /// `PROT_*`.
    pub prot: u32,
    /// `MAP_*`.
    pub flags: u32,
    /// The file, for file mappings.
    pub file: Option<MapFile>,
}

/// The address-space layout constants of this Sentry.
const STACK_SIZE: u64 = 8 << 20;
/// Gap kept between the top of the stack and the platform's limit.
const STACK_GUARD_GAP: u64 = 1 << 30;
/// Where mmap's top-down search starts, below the stack.
const MMAP_GAP: u64 = 1 << 30;

/// One app address space.
pub struct MemoryManager {
    vmas: BTreeMap<u64, Vma>,
    space: Box<dyn AddressSpace>,
    mf: Arc<MemoryFile>,
    min_addr: u64,
    max_addr: u64,
    mmap_top: u64,
    brk_base: u64,
    brk: u64,
}

fn platform_err(e: platform::PlatformError) -> Errno {
    log::error!("address space update failed: {e}");
    Errno::ENOMEM
}

fn prot_valid(prot: u32) -> bool {
    prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) == 0
}

impl MemoryManager {
    /// An empty address space over `space`, whose app range is
    /// `[min_addr, max_addr)`.
    pub fn new(space: Box<dyn AddressSpace>, mf: Arc<MemoryFile>, min_addr: u64, max_addr: u64) -> Self {
        let stack_top = page_down(max_addr - STACK_GUARD_GAP);
        MemoryManager {
            vmas: BTreeMap::new(),
            space,
            mf,
            min_addr,
            max_addr,
            mmap_top: stack_top - STACK_SIZE - MMAP_GAP,
            brk_base: 0,
            brk: 0,
        }
    }

    /// The platform address space, for the task's context to run in.
    pub fn space_mut(&mut self) -> &mut dyn AddressSpace {
        self.space.as_mut()
    }

    /// The memory file behind this address space.
    pub fn memfile(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    /// Where the initial stack's top goes.
    pub fn stack_top(&self) -> u64 {
        page_down(self.max_addr - STACK_GUARD_GAP)
    }

    /// Maps the initial stack and returns its top.
    pub fn map_stack(&mut self) -> SysResult<u64> {
        let top = self.stack_top();
        self.map_anon_fixed(top - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE)?;
        Ok(top)
    }

    /// Sets the program break's start (the page after the loaded image).
    pub fn set_brk_base(&mut self, addr: u64) {
        self.brk_base = addr;
        self.brk = addr;
    }

    /// The VMAs, for diagnostics and tests.
    pub fn vmas(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.vmas.iter().map(|(s, v)| (*s, v))
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas.range(..end).next_back().is_some_and(|(_, v)| v.end > start)
    }

    /// Top-down search for a free range of `len` bytes below `mmap_top`.
    fn find_free(&self, len: u64) -> SysResult<u64> {
        let mut end = self.mmap_top;
        for (&s, v) in self.vmas.range(..self.mmap_top).rev() {
            if v.end <= end && end - v.end >= len {
                return Ok(end - len);
            }
            end = end.min(s);
        }
        if end >= self.min_addr && end - self.min_addr >= len {
            return Ok(end - len);
        }
        Err(Errno::ENOMEM)
    }

    /// Splits the VMA containing `addr` (if `addr` is inside one) so that a
    /// VMA starts at `addr`.
    fn split_at(&mut self, addr: u64) {
        let Some((&start, vma)) = self.vmas.range(..addr).next_back() else {
            return;
        };
        if vma.end <= addr {
            return;
        }
        let mut tail = vma.clone();
        let delta = addr - start;
        tail.mem_off += delta;
        if let Backing::File { offset, .. } = &mut tail.backing {
            *offset += delta;
        }
        if let Some(head) = self.vmas.get_mut(&start) {
            head.end = addr;
        }
        self.vmas.insert(addr, tail);
    }

    /// Removes every mapping in `[start, end)`, returning their pages.
    fn unmap_range(&mut self, start: u64, end: u64) -> SysResult<()> {
        if !self.overlaps(start, end) {
            return Ok(());
        }
        self.split_at(start);
        self.split_at(end);
        let doomed: Vec<u64> = self.vmas.range(start..end).map(|(s, _)| *s).collect();
        for s in doomed {
            if let Some(v) = self.vmas.remove(&s) {
                self.mf.release(v.mem_off, v.end - s);
            }
        }
        self.space.unmap(start, end - start).map_err(platform_err)
    }

    fn insert(&mut self, start: u64, vma: Vma) -> SysResult<()> {
        let len = vma.end - start;
        let (off, prot) = (vma.mem_off, vma.prot);
        self.vmas.insert(start, vma);
        self.space.map_file(start, len, off, Prot(prot)).map_err(platform_err)
    }

    fn map_anon_fixed(&mut self, start: u64, len: u64, prot: u32) -> SysResult<()> {
        let mem_off = self.mf.allocate(len)?;
        let vma = Vma {
            end: start + len,
            prot,
            shared: false,
            mem_off,
            backing: Backing::Anon,
        };
        self.insert(start, vma)
    }

    /// mmap(2).
    pub fn mmap(&mut self, req: MmapRequest) -> SysResult<u64> {
        let map_type = req.flags & MAP_TYPE;
        if req.len == 0 || !prot_valid(req.prot) {
            return Err(Errno::EINVAL);
        }
        if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(req.len).ok_or(Errno::ENOMEM)?;
        if let Some(f) = &req.file {
            if !f.offset.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            if f.offset.checked_add(len).is_none() {
                return Err(Errno::EOVERFLOW);
            }
        }
        let fixed = req.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            if !req.addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let end = req.addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if req.addr < self.min_addr || end > self.max_addr {
                return Err(Errno::ENOMEM);
            }
            if req.flags & MAP_FIXED_NOREPLACE != 0 && self.overlaps(req.addr, end) {
                return Err(Errno::EEXIST);
            }
            self.unmap_range(req.addr, end)?;
            req.addr
        } else {
            let hint = page_down(req.addr);
            let hint_ok = hint >= self.min_addr
                && hint
                    .checked_add(len)
                    .is_some_and(|e| e <= self.max_addr && !self.overlaps(hint, e));
            if hint != 0 && hint_ok {
                hint
            } else {
                self.find_free(len)?
            }
        };
        let mem_off = self.mf.allocate(len)?;
        let backing = match req.file {
            None => Backing::Anon,
            Some(f) => {
                let avail = f.size.saturating_sub(f.offset).min(len);
                if avail > 0 {
                    let chunk = [Chunk {
                        off: mem_off,
                        len: avail,
                    }];
                    if let Err(e) = self.fill_from_file(&f.fd, &chunk, f.offset) {
                        self.mf.release(mem_off, len);
                        return Err(e);
                    }
                }
                Backing::File {
                    fd: f.fd,
                    offset: f.offset,
                }
            }
        };
        let shared = map_type != MAP_PRIVATE;
        let vma = Vma {
            end: start + len,
            prot: req.prot,
            shared,
            mem_off,
            backing,
        };
        self.insert(start, vma)?;
        Ok(start)
    }

    fn fill_from_file(&self, fd: &OwnedFd, chunks: &[Chunk], offset: u64) -> SysResult<()> {
        let mut done = 0u64;
        let total: u64 = chunks.iter().map(|c| c.len).sum();
        while done < total {
            let rest = sub_chunks(chunks, done);
            match self.mf.read_from_fd(fd.as_raw_fd(), &rest, Some(offset + done)) {
                Ok(0) => break,
                Ok(n) => done += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(_) => return Err(Errno::EIO),
            }
        }
        Ok(())
    }

    /// munmap(2).
    pub fn munmap(&mut self, addr: u64, len: u64) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > self.max_addr {
            return Err(Errno::EINVAL);
        }
        self.unmap_range(addr, end)
    }

    /// mprotect(2).
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: u32) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) || !prot_valid(prot) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        // Every page in the range must be mapped.
        let mut cursor = addr;
        if let Some((_, v)) = self.vmas.range(..=addr).next_back() {
            if v.end > addr {
                cursor = v.end;
            }
        }
        if cursor == addr {
            return Err(Errno::ENOMEM);
        }
        for (&s, v) in self.vmas.range(addr + 1..end) {
            if s > cursor {
                return Err(Errno::ENOMEM);
            }
            cursor = cursor.max(v.end);
        }
        if cursor < end {
            return Err(Errno::ENOMEM);
        }
        let prot = prot & !(PROT_GROWSDOWN | PROT_GROWSUP);
        self.split_at(addr);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(addr..end) {
            v.prot = prot;
        }
        self.space.protect(addr, len, Prot(prot)).map_err(platform_err)
    }

    /// brk(2): returns the new break, or the old one if the request fails.
    pub fn brk(&mut self, addr: u64) -> u64 {
        if addr < self.brk_base {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_up(self.brk), page_up(addr)) else {
            return self.brk;
        };
        if new_end > old_end {
            if new_end > self.mmap_top
                || self.overlaps(old_end, new_end)
                || self
                    .map_anon_fixed(old_end, new_end - old_end, PROT_READ | PROT_WRITE)
                    .is_err()
            {
                return self.brk;
            }
        } else if new_end < old_end && self.unmap_range(new_end, old_end).is_err() {
            return self.brk;
        }
        self.brk = addr;
        addr
    }

    /// madvise(2). MADV_DONTNEED drops the pages: anonymous memory reads back
    /// as zero and private file mappings as the file's bytes again. Other
    /// advice is accepted and ignored, as it changes no semantics.
    pub fn madvise(&mut self, addr: u64, len: u64, advice: u32) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        match advice {
            MADV_DONTNEED => {
                let mut cursor = addr;
                let parts: Vec<(u64, u64, Vma)> = self
                    .vmas
                    .range(..end)
                    .filter(|(_, v)| v.end > addr)
                    .map(|(s, v)| (*s, v.end, v.clone()))
                    .collect();
                for (s, e, v) in parts {
                    if s > cursor {
                        return Err(Errno::ENOMEM);
                    }
                    let (from, to) = (s.max(addr), e.min(end));
                    let off = v.mem_off + (from - s);
                    self.mf.punch_hole(off, to - from);
                    if let Backing::File { fd, offset } = &v.backing {
                        self.fill_from_file(fd, &[Chunk { off, len: to - from }], offset + (from - s))?;
                    }
                    cursor = to;
                }
                if cursor < end {
                    return Err(Errno::ENOMEM);
                }
                Ok(())
            }
            MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_WILLNEED | MADV_FREE | MADV_DONTFORK | MADV_DOFORK
            | MADV_MERGEABLE | MADV_UNMERGEABLE | MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_DONTDUMP | MADV_DODUMP => {
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The memory-file runs behind `[addr, addr + len)`, as far as the range
    /// is mapped with `write` (or read) access. Returns the runs and how many
    /// bytes they cover, which is less than `len` if the range runs into a
    /// hole or a protected page.
    pub fn chunks(&self, addr: u64, len: u64, write: bool) -> (IoChunks, u64) {
        let mut out = IoChunks::new();
        let mut cur = addr;
        let Some(end) = addr.checked_add(len) else {
            return (out, 0);
        };
        while cur < end {
            let Some((&s, v)) = self.vmas.range(..=cur).next_back() else {
                break;
            };
            let ok = if write {
                v.prot & PROT_WRITE != 0
            } else {
                v.prot != PROT_NONE
            };
            if v.end <= cur || !ok {
                break;
            }
            let take = v.end.min(end) - cur;
            let off = v.mem_off + (cur - s);
            match out.last_mut() {
                Some(last) if last.off + last.len == off => last.len += take,
                _ => out.push(Chunk { off, len: take }),
            }
            cur += take;
        }
        (out, cur - addr)
    }

    /// Copies app memory at `addr` into `dst`; EFAULT unless all of it is
    /// readable.
    pub fn copy_in(&self, addr: u64, dst: &mut [u8]) -> SysResult<()> {
        let (chunks, n) = self.chunks(addr, dst.len() as u64, false);
        if n < dst.len() as u64 {
            return Err(Errno::EFAULT);
        }
        let mut at = 0usize;
        for c in chunks {
            self.mf.read(c.off, &mut dst[at..at + c.len as usize]);
            at += c.len as usize;
        }
        Ok(())
    }

    /// Copies `src` to app memory at `addr`; EFAULT unless all of it is
    /// writable.
    pub fn copy_out(&self, addr: u64, src: &[u8]) -> SysResult<()> {
        let (chunks, n) = self.chunks(addr, src.len() as u64, true);
        if n < src.len() as u64 {
            return Err(Errno::EFAULT);
        }
        let mut at = 0usize;
        for c in chunks {
            self.mf.write(c.off, &src[at..at + c.len as usize]);
            at += c.len as usize;
        }
        Ok(())
    }

    /// Writes to app memory even where the app may not write (the loader
    /// filling read-only segments and the initial stack).
    pub fn poke(&self, addr: u64, src: &[u8]) -> SysResult<()> {
        let (chunks, n) = self.chunks(addr, src.len() as u64, false);
        if n < src.len() as u64 {
            return Err(Errno::EFAULT);
        }
        let mut at = 0usize;
        for c in chunks {
            self.mf.write(c.off, &src[at..at + c.len as usize]);
            at += c.len as usize;
        }
        Ok(())
    }

    /// Reads a plain value.
    pub fn read_val<T: FromBytes + IntoBytes>(&self, addr: u64) -> SysResult<T> {
        let mut v = T::new_zeroed();
        self.copy_in(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes a plain value.
    pub fn write_val<T: IntoBytes + Immutable>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.copy_out(addr, v.as_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes including the NUL:
    /// ENAMETOOLONG if there is no NUL within `max`, EFAULT if memory runs out
    /// first.
    pub fn read_cstr(&self, addr: u64, max: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = addr;
        while out.len() < max {
            let page_left = PAGE_SIZE - (cur % PAGE_SIZE);
            let want = page_left.min((max - out.len()) as u64) as usize;
            let mut buf = [0u8; PAGE_SIZE as usize];
            self.copy_in(cur, &mut buf[..want])?;
            if let Some(i) = buf[..want].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..want]);
            cur += want as u64;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// A page fault the platform reported. Every VMA is mapped eagerly, so a
    /// fault is the app's own error and becomes a signal; this is the hook for
    /// lazily filled and copy-on-write pages.
    pub fn handle_fault(&mut self, _addr: u64) -> bool {
        false
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        for (s, v) in std::mem::take(&mut self.vmas) {
            self.mf.release(v.mem_off, v.end - s);
        }
    }
}

/// `chunks` with the first `skip` bytes removed.
pub fn sub_chunks(chunks: &[Chunk], mut skip: u64) -> IoChunks {
    let mut out = IoChunks::new();
    for c in chunks {
        if skip >= c.len {
            skip -= c.len;
            continue;
        }
        out.push(Chunk {
            off: c.off + skip,
            len: c.len - skip,
        });
        skip = 0;
    }
    out
}
