//! The memory manager: the app's view of its address space (VMAs) and the
//! memory-file pages that back it.
//!
//! Every mapping the app makes is backed by a range of the [`MemoryFile`]:
//! anonymous memory by fresh (sparse, zero) pages, private file mappings by
//! pages into which the file's bytes are copied, and shared mappings of
//! in-Sentry files (tmpfs) by the file's own pages ([`PageSource`]), one VMA
//! per contiguous run, each holding a reference on its pages. Each VMA mirrors one
//! contiguous range of the memory file, so the Sentry reaches any app byte
//! through its own mapping of the memory file, never through the app's process.
//!
//! Each app thread runs in a platform address space of its own (a stub), and
//! all the stubs of one memory manager map the same memory-file pages, so the
//! threads share memory. Changes to the VMAs are recorded in an operation log;
//! each stub replays the log before it next runs app code (see
//! [`MemoryManager::sync_space`]). Pages are freed only once every stub has
//! replayed the unmap that dropped them, so no stub can reach a page that was
//! reused. A change that takes rights away (unmap, protect, copy-on-write
//! at fork or its break, which moves a page) must also be in force for the
//! other threads before the thread that made it goes on, as Linux's TLB
//! shootdown makes it: that thread interrupts every other thread running
//! app code with an older view and waits until each has stopped or caught
//! up ([`Runner`], [`MemoryManager::shootdown`]).
//!
//! fork shares private pages copy-on-write: both sides map them read-only and
//! the first write (a fault in the app, or a copy-out by the Sentry) copies
//! the pages, unless no one else holds them any more.
//!
//! Copies in and out of app memory check the VMAs first: an unmapped address,
//! or one whose protection forbids the access, gives EFAULT, and a copy that
//! runs into one stops there (short reads and writes, as Linux does).
//!
//! A memory-file offset found through the VMAs is good only while this
//! manager's lock is held: any change after (an unmap, fork, a copy-on-write
//! break) may give the page to someone else. The one copy made outside the
//! lock, the data of a read or write syscall, goes through a [`PinnedIo`]
//! taken afresh for each attempt: its pages are not freed until the copy is
//! done, and fork gives its child a copy of pages that data is on its way
//! into instead of sharing them, as Linux does for pinned pages.
//!
//! Lock order: the MemoryManager is owned by its task; the memory file's
//! allocator lock is taken inside it and never the other way round.

pub mod lazy;
pub mod memfile;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use abi::flags::mm::*;
use abi::{page_down, page_up, Errno, PAGE_SIZE};
use platform::{Access, AddressSpace, Interrupter, Prot};

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

/// A file whose data lives in memory-file pages (tmpfs): shared mappings
/// map those very pages, private ones copy them.
pub trait PageSource: Send + Sync {
    /// Copies the file's bytes from `offset` into `dst` (which is zeroed),
    /// as far as the file reaches.
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()>;

    /// The memory-file runs behind `[offset, offset + len)` (page-aligned),
    /// in order, allocating holes, with one reference taken on each page for
    /// the caller. They cover less than `len` where the file ends first.
    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>>;

    /// For a System V shared-memory attachment: the segment's identity and
    /// size, which shmdt uses to find the mappings of one attach.
    fn sysv_shm(&self) -> Option<(usize, u64)> {
        None
    }

    /// A System V segment marked for removal (IPC_RMID): it goes with its
    /// last mapping, and can then no longer be mapped again.
    fn removed(&self) -> bool {
        false
    }

    /// Process `pid` let go of a mapping of it (shmdt, exit): a System V
    /// segment records the time and the pid.
    fn detached(&self, _pid: i32) {}

    /// What /proc/PID/maps names a mapping of it.
    fn map_name(&self) -> Option<String> {
        None
    }

    /// Whether it is a file, for /proc/PID/maps' offset and
    /// PROCMAP_QUERY's (Linux's `vm_file`): every source but the vDSO.
    fn is_file(&self) -> bool {
        true
    }

    /// A host file's cache (a volume's file mapped shared), which a
    /// checkpoint keeps with the file's path.
    fn host_cache(self: Arc<Self>) -> Option<Arc<crate::vfs::hostcache::HostCache>> {
        None
    }

    /// A shared mapping of `[offset, offset + len)` of the file is synced
    /// (`sync`: to stable storage, msync's MS_SYNC) or goes: a file whose
    /// data is elsewhere (a host file's cache) writes that range back.
    fn write_back(&self, _offset: u64, _len: u64, _sync: bool) -> SysResult<()> {
        Ok(())
    }
}

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
        /// The file's name, by which a restore opens it again.
        name: Option<Arc<crate::vfs::Dentry>>,
    },
    /// A file of memory-file pages: the pages themselves (shared mappings)
    /// or a private copy of them.
    Pages {
        /// The file.
        source: Arc<dyn PageSource>,
        /// File offset of the VMA's first byte.
        offset: u64,
    },
    /// The part of a shared file mapping wholly past the file's end: its
    /// pages are inaccessible, and touching them is a bus error.
    PastEof,
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
    /// The pages may be shared with another address space after fork: they
    /// are mapped read-only and copied on the first write.
    pub cow: bool,
    /// Whether mprotect may make it writable: not a shared mapping of a
    /// file opened without write access (Linux's VM_MAYWRITE).
    pub may_write: bool,
    /// Whether it may be executable: not a mapping of a file on a noexec
    /// mount (Linux's VM_MAYEXEC).
    pub may_exec: bool,
    /// Memory-file offset of the VMA's first byte.
    pub mem_off: u64,
    /// What fills the pages.
    pub backing: Backing,
    /// Some of its pages are a restore's, not loaded yet: stubs map it with
    /// no access, and a fault loads a window of it ([`lazy`]).
    pub lazy: bool,
    /// mlock'ed (Linux's VM_LOCKED): counted in VmLck, refused to
    /// MADV_DONTNEED and msync's MS_INVALIDATE. The memory file is never
    /// swapped for the app anyway, so this is all locking changes.
    pub locked: bool,
    /// mseal'ed (Linux's VM_SEALED): never unmapped, moved, remapped over
    /// or reprotected, nor, if anonymous and read-only, discarded
    /// (EPERM), for the rest of the address space's life.
    pub sealed: bool,
    /// MAP_GROWSDOWN (Linux's VM_GROWSDOWN): a touch of the free space
    /// below it grows it ([`MemoryManager::grow_down`]).
    pub grows_down: bool,
}

impl Vma {
    /// A new mapping up to `end` (not copy-on-write, executable if its
    /// protection says so, its pages in the memory file as they are).
    fn fresh(end: u64, prot: u32, shared: bool, may_write: bool, mem_off: u64, backing: Backing) -> Vma {
        Vma {
            end,
            prot,
            shared,
            cow: false,
            may_write,
            may_exec: true,
            mem_off,
            backing,
            lazy: false,
            locked: false,
            sealed: false,
            grows_down: false,
        }
    }
}

/// Where a mapped file's bytes come from.
pub enum FileSource {
    /// A host fd (the Gofer's donation, or a memfd) to copy from.
    Host(Arc<OwnedFd>),
    /// Memory-file pages.
    Pages(Arc<dyn PageSource>),
}

/// A file to map: its source, the offset, and the file's size.
pub struct MapFile {
    /// Where the bytes come from.
    pub source: FileSource,
    /// File offset of the mapping's start.
    pub offset: u64,
    /// The file's size, beyond which pages are zero.
    pub size: u64,
    /// The file is open for writing (a shared mapping of it may be made
    /// writable).
    pub may_write: bool,
    /// The file's name, if it has one (kept by a private mapping of a host
    /// file, for a restore).
    pub name: Option<Arc<crate::vfs::Dentry>>,
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

/// How many pages one copy-on-write fault copies at most: fewer faults, and
/// fewer VMA splits, for programs that write whole buffers after fork.
const COW_BLOCK: u64 = 16 * PAGE_SIZE;

/// How much of a restore's pages one fault loads: a few load blocks, so
/// that touching a large heap again takes hundreds of faults, not millions.
const LAZY_WINDOW: u64 = 4 * lazy::LOAD_BLOCK;

/// One change to apply to every stub of an address space.
#[derive(Clone, Copy, Debug)]
enum SpaceOp {
    Map { addr: u64, len: u64, off: u64, prot: u32 },
    Unmap { addr: u64, len: u64 },
    Protect { addr: u64, len: u64, prot: u32 },
}

/// The operation log that keeps each stub in step with the VMAs.
#[derive(Default)]
struct SpaceLog {
    ops: VecDeque<SpaceOp>,
    /// Sequence number of `ops[0]`.
    base: u64,
    /// Each attached stub's position in the log.
    users: HashMap<u64, u64>,
    /// Memory-file ranges to release once every stub has passed `seq`.
    deferred: Vec<(u64, u64, u64)>,
    /// The thread behind each attached stub.
    runners: HashMap<u64, Arc<Runner>>,
    /// The log's end after the last change that took rights away: a stub
    /// before it may reach pages it no longer should.
    revoke_end: u64,
}

impl SpaceLog {
    fn end(&self) -> u64 {
        self.base + self.ops.len() as u64
    }
}

static NEXT_MM_ID: AtomicU64 = AtomicU64::new(1);

/// One app address space.
pub struct MemoryManager {
    id: u64,
    vmas: BTreeMap<u64, Vma>,
    mf: Arc<MemoryFile>,
    min_addr: u64,
    max_addr: u64,
    mmap_top: u64,
    brk_base: u64,
    brk: u64,
    log: SpaceLog,
    /// mlockall(MCL_FUTURE): new mappings are locked, and populated unless
    /// MCL_ONFAULT came with it (Some(populate)).
    lock_future: Option<bool>,
    /// The membarrier commands this address space registered for (Linux's
    /// `mm->membarrier_state`, as the MEMBARRIER_CMD_REGISTER_* bits).
    membarrier: u32,
}

/// A stub's position in its memory manager's operation log.
#[derive(Debug)]
pub struct SpaceCursor {
    user: u64,
    seq: Option<u64>,
    /// The thread that runs app code through the stub.
    runner: Arc<Runner>,
    /// The `revoke_end` this thread last made sure the others reached.
    shot: u64,
}

impl SpaceCursor {
    /// A cursor for a stub that has mapped nothing yet.
    pub fn new() -> SpaceCursor {
        SpaceCursor::for_runner(Arc::default())
    }

    /// A new cursor for the thread `runner` (after execve).
    pub fn for_runner(runner: Arc<Runner>) -> SpaceCursor {
        SpaceCursor { user: NEXT_MM_ID.fetch_add(1, Ordering::Relaxed), seq: None, runner, shot: 0 }
    }

    /// The thread behind this cursor.
    pub fn runner(&self) -> &Arc<Runner> {
        &self.runner
    }
}

impl Default for SpaceCursor {
    /// A fresh cursor with an id of its own (never the 0 a derived
    /// default would share).
    fn default() -> Self {
        SpaceCursor::new()
    }
}

/// A thread that runs app code through a stub, as its address space sees
/// it: whether it runs app code now (it says so before it replays the log
/// and runs, and again once the platform returned), and how to interrupt
/// it.
#[derive(Default)]
pub struct Runner {
    /// How many times the thread went into app code and came back: odd
    /// while it runs app code. Only the thread itself changes it.
    turns: AtomicU64,
    interrupter: OnceLock<Arc<dyn Interrupter>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("in_app", &self.in_app()).finish()
    }
}

impl Runner {
    /// How to interrupt the thread (set once, when its context exists).
    pub fn set_interrupter(&self, interrupter: Arc<dyn Interrupter>) {
        let _ = self.interrupter.set(interrupter);
    }

    /// Records whether the thread is about to run, or runs, app code.
    pub fn set_in_app(&self, running: bool) {
        // Only this thread writes: a load and a store, no read-modify-write.
        let turns = self.turns.load(Ordering::Relaxed);
        if (turns & 1 == 1) != running {
            self.turns.store(turns + 1, Ordering::SeqCst);
        }
    }

    /// Whether the thread is about to run, or runs, app code.
    pub fn in_app(&self) -> bool {
        self.turns.load(Ordering::SeqCst) & 1 == 1
    }

    /// A count that changes each time the thread goes into app code or
    /// comes back (membarrier waits for it to change).
    fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }

    /// Makes the thread come back to the Sentry (or not leave it).
    pub fn interrupt(&self) {
        if let Some(i) = self.interrupter.get() {
            i.interrupt();
        }
    }
}

/// How long a thread waits for the others to take in a change that took
/// rights away before it goes on regardless (a thread that long in app
/// code without stopping is not being scheduled; the wait only narrows
/// the window in which it sees its old view).
const SHOOTDOWN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Interrupts the threads of `sd` and waits, without holding `mm`'s lock
/// between looks, until each has stopped running app code or replayed the
/// log up to the change.
pub fn await_shootdown(mm: &std::sync::Mutex<MemoryManager>, mut sd: Shootdown) {
    for r in sd.runners() {
        r.interrupt();
    }
    let done = wait_for_threads(|| mm.lock().unwrap_or_else(|e| e.into_inner()).shootdown_done(&mut sd));
    if !done {
        log::warn!("{} threads still run app code with an old view of memory", sd.runners.len());
    }
}

/// Waits until `done` says so, or [`SHOOTDOWN_PATIENCE`] has passed
/// (false): for interrupted threads to come back.
fn wait_for_threads(mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    let mut looks = 0u32;
    while !done() {
        if start.elapsed() > SHOOTDOWN_PATIENCE {
            return false;
        }
        looks += 1;
        // The others need a CPU to come back: give ours up, then sleep.
        if looks < 200 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
    true
}

/// membarrier's barrier over the address space `mm`: each thread of it
/// that runs app code now is interrupted, and the call returns once each
/// has come back to the Sentry (or gone on to run app code anew).
///
/// Why that is a barrier: an app thread runs on a host CPU in its stub,
/// where the Sentry cannot run an instruction for it, and the host's own
/// membarrier is not in the Sentry's seccomp filter. But a thread that the
/// platform interrupts enters the host kernel, which stops it and wakes
/// its Sentry thread (a signal and a futex, or ptrace's stop): that path
/// is a full barrier on the thread's CPU, as Linux's IPI is, and the
/// Sentry thread then records the turn with a sequentially consistent
/// store, which this thread loads. So every app access that thread made
/// before the interruption is ordered before the call returns, and every
/// access it makes after comes after the mm lock and the store the caller
/// made before. Threads in the Sentry when the call starts (the caller
/// among them) go back to app code only through the same lock.
///
/// A thread that does not come back within [`SHOOTDOWN_PATIENCE`] (not
/// scheduled by the host for that long) is given up on, as a shootdown
/// gives up, with a warning.
pub fn app_barrier(mm: &std::sync::Mutex<MemoryManager>) {
    let running: Vec<(Arc<Runner>, u64)> = {
        let m = mm.lock().unwrap_or_else(|e| e.into_inner());
        m.log.runners.values().map(|r| (r.clone(), r.turns())).filter(|(_, turns)| turns & 1 == 1).collect()
    };
    for (r, _) in &running {
        r.interrupt();
    }
    if !wait_for_threads(|| running.iter().all(|(r, turns)| r.turns() != *turns)) {
        log::warn!("membarrier: a thread still runs app code");
    }
}

/// The threads a change that took rights away waits for: each runs app
/// code with a view older than log position `seq`.
#[derive(Debug)]
pub struct Shootdown {
    seq: u64,
    runners: Vec<(u64, Arc<Runner>)>,
}

impl Shootdown {
    /// The threads still to wait for.
    pub fn runners(&self) -> impl Iterator<Item = &Arc<Runner>> {
        self.runners.iter().map(|(_, r)| r)
    }
}

/// App memory pinned for an I/O done outside the memory manager's lock
/// ([`MemoryManager::pin_buffers`]): the memory-file runs behind the
/// buffers, which are not freed until this is dropped.
pub struct PinnedIo {
    mf: Arc<MemoryFile>,
    chunks: IoChunks,
    write: bool,
}

impl PinnedIo {
    /// The memory-file runs, in the buffers' order.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// How many bytes they cover.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len).sum()
    }

    /// Whether they cover nothing.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Copies the first `len` bytes of `src`'s runs into this pin's, as
    /// far as both reach (process_vm_readv and writev, between address
    /// spaces): returns how many bytes it copied.
    pub fn copy_from(&self, src: &PinnedIo, len: u64) -> u64 {
        // The address spaces of one sandbox share its memory file.
        if !Arc::ptr_eq(&self.mf, &src.mf) {
            return 0;
        }
        let len = len.min(self.len()).min(src.len());
        let (mut d, mut s) = (self.chunks.iter().copied(), src.chunks.iter().copied());
        let (mut dc, mut sc) = (Chunk { off: 0, len: 0 }, Chunk { off: 0, len: 0 });
        let mut done = 0;
        while done < len {
            if dc.len == 0 {
                dc = d.next().unwrap_or(Chunk { off: 0, len: 0 });
            }
            if sc.len == 0 {
                sc = s.next().unwrap_or(Chunk { off: 0, len: 0 });
            }
            let n = dc.len.min(sc.len).min(len - done);
            if n == 0 {
                break;
            }
            self.mf.copy(dc.off, sc.off, n);
            dc = Chunk { off: dc.off + n, len: dc.len - n };
            sc = Chunk { off: sc.off + n, len: sc.len - n };
            done += n;
        }
        done
    }
}

impl Drop for PinnedIo {
    fn drop(&mut self) {
        self.mf.unpin(&self.chunks, self.write);
    }
}

fn effective_prot(v: &Vma) -> u32 {
    if v.lazy || matches!(v.backing, Backing::PastEof) {
        PROT_NONE
    } else if v.cow {
        v.prot & !PROT_WRITE
    } else {
        v.prot
    }
}

/// `/proc/sys/vm/max_map_count`: the most mappings an address space may
/// have (Linux's default). mmap past it is ENOMEM, and so is a munmap or
/// mprotect that would split a mapping when there are that many already.
pub static MAX_MAP_COUNT: AtomicU64 = AtomicU64::new(65_530);

/// The most mappings the Sentry lets an app have, whatever max_map_count
/// says: each is a host mapping in each of its stubs, which have a few of
/// their own beside, and the host's limit (Linux's default, 65530) is the
/// stub's too. Past it the stub's mmap would fail; the app gets ENOMEM a
/// few mappings early instead.
const HOST_MAP_COUNT: u64 = 65_530 - 64;

/// The limit on mappings in force.
fn map_count_limit() -> u64 {
    MAX_MAP_COUNT.load(Ordering::Relaxed).min(HOST_MAP_COUNT)
}

fn prot_valid(prot: u32) -> bool {
    prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) == 0
}

/// The flags MAP_SHARED_VALIDATE accepts: Linux's LEGACY_MAP_MASK (with
/// its two huge-page sizes) and MAP_FIXED_NOREPLACE.
const VALIDATED_MAP_FLAGS: u32 = 0x01
    | 0x02
    | 0x10
    | 0x20
    | 0x40
    | 0x100
    | 0x800
    | 0x1000
    | 0x2000
    | 0x4000
    | 0x8000
    | 0x1_0000
    | 0x2_0000
    | 0x4_0000
    | 0x10_0000
    | 0x400_0000
    | (21 << 26)
    | (30 << 26);

/// The madvise advice Husk takes: MADV_DONTNEED, which it acts on, and
/// the hints it may ignore.
const MADVICES: [u32; 12] = [
    MADV_DONTNEED,
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MADV_FREE,
    MADV_DONTFORK,
    MADV_DOFORK,
    // MADV_MERGEABLE and MADV_UNMERGEABLE are EINVAL, as on a Linux
    // without KSM: the sandbox merges no pages.
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MADV_DONTDUMP,
    MADV_DODUMP,
];

impl MemoryManager {
    /// An empty address space whose app range is `[min_addr, max_addr)`.
    pub fn new(mf: Arc<MemoryFile>, min_addr: u64, max_addr: u64) -> Self {
        let stack_top = page_down(max_addr - STACK_GUARD_GAP);
        MemoryManager {
            id: NEXT_MM_ID.fetch_add(1, Ordering::Relaxed),
            vmas: BTreeMap::new(),
            mf,
            min_addr,
            max_addr,
            mmap_top: stack_top - STACK_SIZE - MMAP_GAP,
            brk_base: 0,
            brk: 0,
            log: SpaceLog::default(),
            lock_future: None,
            membarrier: 0,
        }
    }

    /// mlockall(MCL_FUTURE)'s setting (for a checkpoint).
    pub fn lock_future(&self) -> Option<bool> {
        self.lock_future
    }

    /// Sets mlockall(MCL_FUTURE)'s setting (a restore).
    pub fn set_lock_future(&mut self, future: Option<bool>) {
        self.lock_future = future;
    }

    /// The membarrier registrations (MEMBARRIER_CMD_REGISTER_* bits).
    pub fn membarrier(&self) -> u32 {
        self.membarrier
    }

    /// Sets the membarrier registrations (a registration, a restore).
    pub fn set_membarrier(&mut self, registered: u32) {
        self.membarrier = registered;
    }

    /// mlock (`lock`) or munlock of `[addr, addr + len)`, page-aligned:
    /// ENOMEM unless it is mapped throughout. Locking populates anonymous
    /// memory unless `on_fault` (MLOCK_ONFAULT), as Linux faults it in.
    pub fn mlock(&mut self, addr: u64, len: u64, lock: bool, on_fault: bool) -> SysResult<()> {
        self.check_mapped(addr, len)?;
        let end = addr + len;
        self.split_at(addr);
        self.split_at(end);
        let mut fill = Vec::new();
        for (&s, v) in self.vmas.range_mut(addr..end) {
            v.locked = lock;
            if lock && !on_fault {
                fill.push((s, v.end, v.mem_off, v.lazy, fills_in_memory(&v.backing)));
            }
        }
        for (s, e, mem_off, lazy, anon) in fill {
            if anon && !lazy {
                self.mf.populate(mem_off, e - s);
            }
        }
        Ok(())
    }

    /// mlockall: locks every mapping now (`current`) and sets what new
    /// ones get (`future`); `on_fault` is MCL_ONFAULT.
    pub fn mlockall(&mut self, current: bool, future: bool, on_fault: bool) {
        if future {
            self.lock_future = Some(!on_fault);
        }
        if current {
            let all: Vec<(u64, u64)> = self.vmas.iter().map(|(&s, v)| (s, v.end - s)).collect();
            for (s, len) in all {
                let _ = self.mlock(s, len, true, on_fault);
            }
        }
    }

    /// munlockall: no mapping stays locked, and new ones are not.
    pub fn munlockall(&mut self) {
        self.lock_future = None;
        for v in self.vmas.values_mut() {
            v.locked = false;
        }
    }

    /// Bytes mapped locked (VmLck).
    pub fn locked_bytes(&self) -> u64 {
        self.vmas.iter().filter(|(_, v)| v.locked).map(|(&s, v)| v.end - s).sum()
    }

    /// Bytes of `[addr, addr + len)` already locked.
    pub fn locked_in(&self, addr: u64, len: u64) -> u64 {
        let end = addr.saturating_add(len);
        self.vmas
            .range(..end)
            .filter(|(_, v)| v.locked && v.end > addr)
            .map(|(&s, v)| v.end.min(end) - s.max(addr))
            .sum()
    }

    /// For a futex word: whether its mapping is shared between processes,
    /// and its memory-file offset.
    pub fn futex_backing(&self, addr: u64) -> Option<(bool, u64)> {
        let (&s, v) = self.vmas.range(..=addr).next_back()?;
        (v.end > addr).then(|| (v.shared, v.mem_off + (addr - s)))
    }

    /// A number unique to this address space (futex keys).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The program break's base and end, and where mmap's top-down search
    /// starts (for a checkpoint).
    pub fn layout(&self) -> (u64, u64, u64) {
        (self.brk_base, self.brk, self.mmap_top)
    }

    /// An address space as a checkpoint left it: its VMAs, each holding
    /// the memory-file references it held then (the memory file is
    /// restored as it was), and its layout ([`MemoryManager::layout`]).
    /// Its first stub maps everything anew.
    pub fn restored(
        mf: Arc<MemoryFile>,
        (min_addr, max_addr): (u64, u64),
        (brk_base, brk, mmap_top): (u64, u64, u64),
        vmas: Vec<(u64, Vma)>,
    ) -> SysResult<Self> {
        let mut mm = MemoryManager::new(mf, min_addr, max_addr);
        (mm.brk_base, mm.brk, mm.mmap_top) = (brk_base, brk, mmap_top);
        let mut last_end = min_addr;
        for (start, vma) in vmas {
            if start < last_end || vma.end <= start || vma.end > max_addr || !start.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            last_end = vma.end;
            let lazy = mm.mf.pending(vma.mem_off, vma.end - start);
            mm.vmas.insert(start, Vma { lazy, ..vma });
        }
        Ok(mm)
    }

    /// The memory-file offset behind an app address, if it is mapped.
    pub fn translate(&self, addr: u64) -> Option<u64> {
        let (&s, v) = self.vmas.range(..=addr).next_back()?;
        (v.end > addr).then(|| v.mem_off + (addr - s))
    }

    fn push(&mut self, op: SpaceOp) {
        if self.log.users.is_empty() {
            // No stub to tell: the next one to attach maps everything anew.
            self.log.base += 1;
        } else {
            self.log.ops.push_back(op);
        }
    }

    /// Pushes a change that takes rights away from stubs that may hold them
    /// (an unmap, a protect, a map that replaces pages): it must reach the
    /// other threads before this one goes on.
    fn push_revoking(&mut self, op: SpaceOp) {
        self.push(op);
        self.log.revoke_end = self.log.end();
    }

    /// The other threads that run app code with a view older than the last
    /// change that took rights away; `None` when there are none. The caller
    /// interrupts them and waits, without this lock, until
    /// [`MemoryManager::shootdown_done`].
    pub fn shootdown(&self, cursor: &SpaceCursor) -> Option<Shootdown> {
        let seq = self.log.revoke_end;
        let runners: Vec<_> = self
            .log
            .users
            .iter()
            .filter(|&(&user, &at)| user != cursor.user && at < seq)
            .filter_map(|(&user, _)| self.log.runners.get(&user).filter(|r| r.in_app()).map(|r| (user, r.clone())))
            .collect();
        (!runners.is_empty()).then_some(Shootdown { seq, runners })
    }

    /// [`MemoryManager::shootdown`] once per change that took rights away,
    /// for the thread of `cursor` before it runs app code again.
    pub fn shootdown_due(&self, cursor: &mut SpaceCursor) -> Option<Shootdown> {
        if cursor.shot >= self.log.revoke_end {
            return None;
        }
        cursor.shot = self.log.revoke_end;
        self.shootdown(cursor)
    }

    /// Drops from `s` the threads that stopped running app code or caught
    /// up; true when none is left.
    pub fn shootdown_done(&self, s: &mut Shootdown) -> bool {
        let seq = s.seq;
        s.runners.retain(|(user, r)| r.in_app() && self.log.users.get(user).is_some_and(|&at| at < seq));
        s.runners.is_empty()
    }

    /// Releases memory-file pages once no stub can still reach them: the
    /// caller pushes the operation that drops them next, at log position
    /// `seq`, so they go once every stub has replayed it (is past `seq`).
    fn release_later(&mut self, off: u64, len: u64) {
        if self.log.users.is_empty() {
            self.mf.release(off, len);
        } else {
            let seq = self.log.end();
            self.log.deferred.push((seq, off, len));
        }
    }

    fn trim_log(&mut self) {
        let min = self.log.users.values().copied().min().unwrap_or(self.log.end());
        while self.log.base < min && !self.log.ops.is_empty() {
            self.log.ops.pop_front();
            self.log.base += 1;
        }
        if self.log.ops.is_empty() {
            self.log.base = self.log.base.max(min);
        }
        let mf = self.mf.clone();
        self.log.deferred.retain(|&(seq, off, len)| {
            if seq < min {
                mf.release(off, len);
                false
            } else {
                true
            }
        });
    }

    /// Brings a stub up to date with the VMAs: replays the operations it has
    /// not seen, or maps everything anew if it is new to this address space.
    pub fn sync_space(
        &mut self,
        cursor: &mut SpaceCursor,
        space: &mut dyn AddressSpace,
    ) -> Result<(), platform::PlatformError> {
        let end = self.log.end();
        match cursor.seq {
            Some(seq) if seq == end && self.log.users.contains_key(&cursor.user) => return Ok(()),
            Some(seq) if seq >= self.log.base && self.log.users.contains_key(&cursor.user) => {
                let skip = (seq - self.log.base) as usize;
                for op in self.log.ops.iter().skip(skip) {
                    match *op {
                        SpaceOp::Map { addr, len, off, prot } => space.map_file(addr, len, off, Prot(prot))?,
                        SpaceOp::Unmap { addr, len } => space.unmap(addr, len)?,
                        SpaceOp::Protect { addr, len, prot } => space.protect(addr, len, Prot(prot))?,
                    }
                }
            }
            _ => {
                space.unmap(self.min_addr, self.max_addr - self.min_addr)?;
                for (&start, v) in &self.vmas {
                    space.map_file(start, v.end - start, v.mem_off, Prot(effective_prot(v)))?;
                }
            }
        }
        cursor.seq = Some(end);
        self.log.users.insert(cursor.user, end);
        self.log.runners.entry(cursor.user).or_insert_with(|| cursor.runner.clone());
        self.trim_log();
        Ok(())
    }

    /// Forgets a stub (its thread exited or moved to another address space).
    pub fn detach(&mut self, cursor: &SpaceCursor) {
        self.log.users.remove(&cursor.user);
        self.log.runners.remove(&cursor.user);
        self.trim_log();
    }

    /// The copy-on-write child of this address space (fork).
    ///
    /// Private pages are shared copy-on-write, except those pinned for data
    /// on its way into them (a read another thread has in flight, see
    /// [`MemoryManager::pin_buffers`]): the parent keeps those writable,
    /// since the data must land in its memory, and the child gets a copy
    /// of them as they are now, as Linux's fork does for pinned pages.
    pub fn fork(&mut self) -> SysResult<MemoryManager> {
        let mut child = MemoryManager::new(self.mf.clone(), self.min_addr, self.max_addr);
        child.mmap_top = self.mmap_top;
        child.brk_base = self.brk_base;
        child.brk = self.brk;
        child.membarrier = self.membarrier;
        let copies = self.copy_write_pinned()?;
        let mut protects = Vec::new();
        for (&start, v) in self.vmas.iter_mut() {
            if copies.contains_key(&start) {
                continue;
            }
            self.mf.incref(v.mem_off, v.end - start);
            if !v.shared {
                let before = effective_prot(v);
                v.cow = true;
                let after = effective_prot(v);
                if after != before {
                    protects.push(SpaceOp::Protect { addr: start, len: v.end - start, prot: after });
                }
            }
        }
        for op in protects {
            self.push_revoking(op);
        }
        child.vmas = self.vmas.clone();
        // Locks are not inherited (Linux clears VM_LOCKED in dup_mmap).
        for v in child.vmas.values_mut() {
            v.locked = false;
        }
        for (start, mem_off) in copies {
            if let Some(v) = child.vmas.get_mut(&start) {
                v.mem_off = mem_off;
                v.cow = false;
            }
        }
        Ok(child)
    }

    /// For fork: splits the private VMAs at the edges of write-pinned
    /// pages, and copies each VMA that lies in them into fresh pages for
    /// the child. Returns the copies by VMA start; ENOMEM, with nothing
    /// changed but the splits, if they do not fit.
    fn copy_write_pinned(&mut self) -> SysResult<BTreeMap<u64, u64>> {
        let mut edges = Vec::new();
        for (&start, v) in self.vmas.iter().filter(|(_, v)| !v.shared) {
            for (s, e) in self.mf.write_pinned(v.mem_off, v.end - start) {
                edges.push(start + (s - v.mem_off));
                edges.push(start + (e - v.mem_off));
            }
        }
        if edges.is_empty() {
            return Ok(BTreeMap::new());
        }
        for at in edges {
            self.split_at(at);
        }
        let mut copies = BTreeMap::new();
        for (&start, v) in self.vmas.iter().filter(|(_, v)| !v.shared) {
            let len = v.end - start;
            if self.mf.write_pinned(v.mem_off, len).first() != Some(&(v.mem_off, v.mem_off + len)) {
                continue;
            }
            match self.mf.allocate(len) {
                Ok(off) => {
                    self.mf.copy(off, v.mem_off, len);
                    copies.insert(start, off);
                }
                Err(e) => {
                    for (&s, &off) in &copies {
                        let end = self.vmas.get(&s).map_or(s, |v| v.end);
                        self.mf.release(off, end - s);
                    }
                    return Err(e);
                }
            }
        }
        Ok(copies)
    }

    /// Gives the pages of `[start, end)` (inside one VMA) to this address
    /// space alone, copying them if anyone else still holds them.
    fn break_cow(&mut self, start: u64, end: u64) -> SysResult<()> {
        if start >= end {
            return Ok(());
        }
        self.split_at(start);
        self.split_at(end);
        let Some(v) = self.vmas.get(&start) else { return Ok(()) };
        if !v.cow {
            return Ok(());
        }
        let (old, len, prot) = (v.mem_off, end - start, v.prot);
        // The pages keep their bytes (or are copied): a restore's come in
        // first, and the piece is no longer reached by faults.
        self.mf.load(old, len).map_err(|_| Errno::EFAULT)?;
        let new = if self.mf.any_shared(old, len) {
            let new = self.mf.allocate(len)?;
            self.mf.copy(new, old, len);
            self.release_later(old, len);
            new
        } else {
            old
        };
        if let Some(v) = self.vmas.get_mut(&start) {
            v.mem_off = new;
            v.cow = false;
            v.lazy = false;
        }
        let op = SpaceOp::Map { addr: start, len, off: new, prot };
        if new == old {
            // Only write access comes back.
            self.push(op);
        } else {
            self.push_revoking(op);
        }
        Ok(())
    }

    /// Breaks copy-on-write sharing for the pages of `[addr, addr + len)`
    /// that a write there can reach, before the Sentry writes there for the
    /// app: those of the writable mappings from `addr` up to the first hole
    /// or unwritable page, where the write stops with EFAULT. Nothing is
    /// copied for a write of nothing, nor past where the write would stop,
    /// however long the range asked for.
    fn prepare_write(&mut self, addr: u64, len: u64) -> SysResult<()> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.saturating_add(len);
        let last = page_up(end).unwrap_or(end);
        let mut targets: SmallVec<[(u64, u64); 4]> = SmallVec::new();
        let mut cur = addr;
        while cur < end {
            let Some((&s, v)) = self.vmas.range(..=cur).next_back() else { break };
            if v.end <= cur || v.prot & PROT_WRITE == 0 || matches!(v.backing, Backing::PastEof) {
                break;
            }
            if v.cow {
                targets.push((s.max(page_down(cur)), v.end.min(last)));
            }
            cur = v.end;
        }
        for (s, e) in targets {
            self.break_cow(s, e)?;
        }
        Ok(())
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

    /// An empty address space over the same range: what an exited
    /// process's /proc entries show.
    pub fn emptied(&self) -> MemoryManager {
        MemoryManager::new(self.mf.clone(), self.min_addr, self.max_addr)
    }

    /// Tells the file of every shared file mapping that process `pid` lets
    /// go of it (the address space is going away).
    pub fn release_mappings(&self, pid: i32) {
        for v in self.vmas.values() {
            if let Backing::Pages { source, .. } = &v.backing {
                source.detached(pid);
            }
        }
    }

    /// Where the vDSO's image is mapped (its `[vdso]` mapping at offset 0),
    /// if it is: what an arm64 signal frame returns through.
    pub fn vdso_base(&self) -> Option<u64> {
        self.vmas.iter().find_map(|(&start, v)| match &v.backing {
            Backing::Pages { source, offset: 0 } if source.map_name().as_deref() == Some("[vdso]") => Some(start),
            _ => None,
        })
    }

    /// The VMAs, for diagnostics and tests.
    pub fn vmas(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.vmas.iter().map(|(s, v)| (*s, v))
    }

    /// A touch at `addr`, in no mapping, just below a MAP_GROWSDOWN one:
    /// as Linux's expand_downwards, that mapping grows down to the page
    /// touched (a mapping of its own here, with its protection), unless
    /// that comes within the stack guard gap (256 pages) of an
    /// accessible mapping below that does not grow down itself, or takes
    /// the run of growing mappings past `stack_limit` bytes
    /// (RLIMIT_STACK), or past the limit on mappings. Returns whether it
    /// grew (else the touch is the app's SIGSEGV).
    pub fn grow_down(&mut self, addr: u64, stack_limit: u64) -> bool {
        /// Linux's stack_guard_gap.
        const GUARD_GAP: u64 = 256 * PAGE_SIZE;
        let start = page_down(addr);
        // (A touch past user space, up to u64::MAX, grows nothing.)
        if start < self.min_addr || start >= self.max_addr || self.overlaps(start, start + PAGE_SIZE) {
            return false;
        }
        let Some((&above, v)) = self.vmas.range(start..).next() else {
            return false;
        };
        if !v.grows_down || !matches!(v.backing, Backing::Anon) {
            return false;
        }
        let (prot, locked) = (v.prot, v.locked);
        if let Some((_, below)) = self.vmas.range(..start).next_back() {
            if !below.grows_down && below.prot != PROT_NONE && start - below.end < GUARD_GAP {
                return false;
            }
        }
        // The size the stack would have: through the growing mappings
        // that follow on from `above`.
        let mut top = above;
        for (&s, n) in self.vmas.range(above..) {
            if s != top || !n.grows_down {
                break;
            }
            top = n.end;
        }
        if top - start > stack_limit {
            return false;
        }
        if self.may_split().is_err() {
            return false;
        }
        let Ok(mem_off) = self.mf.allocate(above - start) else {
            return false;
        };
        let mut vma = Vma::fresh(above, prot, false, true, mem_off, Backing::Anon);
        vma.grows_down = true;
        vma.locked = locked;
        if locked {
            self.mf.populate(mem_off, above - start);
        }
        self.insert(start, vma).is_ok()
    }

    /// `/proc/PID/pagemap`'s entries for the `n` pages from page number
    /// `first`, as Linux's pagemap_read makes them, with the page frame
    /// numbers hidden (zero), as Linux hides them from a reader without
    /// CAP_SYS_ADMIN in the host's namespace: bit 63 for a page in memory,
    /// 61 for a page of a file or of shared memory, 56 for one no other
    /// address space maps. No soft-dirty bit (55): the sandbox has no
    /// clear_refs to track it from. Pages past the app's range are not
    /// there (fewer entries come back); pages in no mapping are 0.
    pub fn pagemap(&self, first: u64, n: u64) -> Vec<u64> {
        const PRESENT: u64 = 1 << 63;
        const FILE: u64 = 1 << 61;
        const EXCLUSIVE: u64 = 1 << 56;
        let last = (self.max_addr / PAGE_SIZE).min(first.saturating_add(n));
        if first >= last {
            return Vec::new();
        }
        let (start, end) = (first * PAGE_SIZE, last * PAGE_SIZE);
        let mut out = vec![0u64; (last - first) as usize];
        for (&s, v) in self.vmas.range(..end).filter(|(_, v)| v.end > start) {
            let (from, to) = (s.max(start), v.end.min(end));
            let file = v.shared || (!matches!(v.backing, Backing::Anon) && v.prot & PROT_WRITE == 0);
            let off = v.mem_off + (from - s);
            let resident = self.mf.residency(off, to - from);
            let at = ((from - start) / PAGE_SIZE) as usize;
            for (i, (e, r)) in out[at..].iter_mut().zip(resident).enumerate() {
                if r == 0 {
                    continue;
                }
                // A file's pages have the file's reference beside the
                // mapping's; others are another's too after fork.
                let exclusive = match v.backing {
                    Backing::Pages { .. } => true,
                    _ => !v.cow && !self.mf.any_shared(off + i as u64 * PAGE_SIZE, PAGE_SIZE),
                };
                *e = PRESENT | if file { FILE } else { 0 } | if exclusive { EXCLUSIVE } else { 0 };
            }
        }
        out
    }

    /// Where the first sealed mapping in `[start, end)` begins (at
    /// `start` at the earliest), if there is one.
    fn sealed_in(&self, start: u64, end: u64) -> Option<u64> {
        self.vmas.range(..end).find(|(_, v)| v.end > start && v.sealed).map(|(&s, _)| s.max(start))
    }

    /// mseal(2): seals the mappings of `[addr, addr + len)`, which must be
    /// mapped throughout (ENOMEM, with nothing sealed); EINVAL for flags,
    /// an unaligned start or a range that wraps.
    pub fn mseal(&mut self, addr: u64, len: u64, flags: u64) -> SysResult<()> {
        if flags != 0 || !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        self.check_mapped(addr, len)?;
        self.split_at(addr);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(addr..end) {
            v.sealed = true;
        }
        Ok(())
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

    /// How many mappings the address space has, as Linux's map_count
    /// counts them, but for neighbours the Sentry keeps apart and a host
    /// mapping joins (one run of the memory file, the same protection):
    /// they count once, as they take one host mapping in a stub. Cheap
    /// (the number of VMAs) until that nears `limit`.
    fn map_count(&self, limit: u64) -> u64 {
        let n = self.vmas.len() as u64;
        if n < limit {
            return n;
        }
        let mut joined = 0;
        let mut prev: Option<(u64, &Vma)> = None;
        for (&s, v) in &self.vmas {
            if let Some((ps, p)) = prev {
                if p.end == s && p.mem_off + (p.end - ps) == v.mem_off && effective_prot(p) == effective_prot(v) {
                    joined += 1;
                }
            }
            prev = Some((s, v));
        }
        n - joined
    }

    /// ENOMEM if splitting a mapping would take the address space past the
    /// limit on mappings (Linux's split_vma: `map_count >= max_map_count`).
    fn may_split(&self) -> SysResult<()> {
        let limit = map_count_limit();
        if self.map_count(limit) >= limit {
            return Err(Errno::ENOMEM);
        }
        Ok(())
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
        if let Backing::File { offset, .. } | Backing::Pages { offset, .. } = &mut tail.backing {
            *offset += delta;
        }
        if let Some(head) = self.vmas.get_mut(&start) {
            head.end = addr;
        }
        self.vmas.insert(addr, tail);
    }

    /// Removes every mapping in `[start, end)`, returning their pages:
    /// EPERM, with nothing removed, if any of them is sealed.
    fn unmap_range(&mut self, start: u64, end: u64) -> SysResult<()> {
        if start >= end || !self.overlaps(start, end) {
            return Ok(());
        }
        if self.sealed_in(start, end).is_some() {
            return Err(Errno::EPERM);
        }
        // Cutting a hole in one mapping makes two of it: refused at the
        // limit, as Linux's munmap refuses it (other splits may go a
        // mapping past it for a while, to free memory).
        if self.vmas.range(..start).next_back().is_some_and(|(&s, v)| s < start && v.end > end) {
            self.may_split()?;
        }
        self.split_at(start);
        self.split_at(end);
        let doomed: Vec<u64> = self.vmas.range(start..end).map(|(s, _)| *s).collect();
        for s in doomed {
            if let Some(v) = self.vmas.remove(&s) {
                let _ = write_back(&v, s, s, v.end, false);
                self.release_later(v.mem_off, v.end - s);
            }
        }
        self.push_revoking(SpaceOp::Unmap { addr: start, len: end - start });
        Ok(())
    }

    fn insert(&mut self, start: u64, mut vma: Vma) -> SysResult<()> {
        // Pages of a restore that are still to load (a shared mapping of a
        // restored tmpfs file, a move by mremap) are reached by faults.
        vma.lazy |= self.mf.pending(vma.mem_off, vma.end - start);
        // After mlockall(MCL_FUTURE) every new mapping is locked.
        if let Some(populate) = self.lock_future {
            vma.locked = true;
            if populate && !vma.lazy && fills_in_memory(&vma.backing) {
                self.mf.populate(vma.mem_off, vma.end - start);
            }
        }
        let op = SpaceOp::Map { addr: start, len: vma.end - start, off: vma.mem_off, prot: effective_prot(&vma) };
        self.vmas.insert(start, vma);
        self.push(op);
        Ok(())
    }

    fn map_anon_fixed(&mut self, start: u64, len: u64, prot: u32) -> SysResult<()> {
        let mem_off = self.mf.allocate(len)?;
        let vma = Vma::fresh(start + len, prot, false, true, mem_off, Backing::Anon);
        self.insert(start, vma)
    }

    /// Marks the mappings of `[start, start + len)` as never writable (a
    /// shared mapping of a device opened read-only): mprotect then refuses
    /// PROT_WRITE with EACCES.
    pub fn deny_write(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(page_up(len).unwrap_or(len));
        for (_, v) in self.vmas.range_mut(start..end) {
            v.may_write = false;
        }
    }

    /// Marks the VMAs in `[start, start+len)` as never executable: mprotect
    /// refuses PROT_EXEC there (a mapping of a file on a noexec mount).
    pub fn deny_exec(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(page_up(len).unwrap_or(len));
        for (_, v) in self.vmas.range_mut(start..end) {
            v.may_exec = false;
        }
    }

    /// mmap(2).
    pub fn mmap(&mut self, req: MmapRequest) -> SysResult<u64> {
        let map_type = req.flags & MAP_TYPE;
        if req.len == 0 {
            return Err(Errno::EINVAL);
        }
        // Linux's mmap takes only these bits of prot and ignores the rest
        // (PROT_GROWSDOWN too, which only mprotect acts on).
        let prot = req.prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
        if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
            return Err(Errno::EINVAL);
        }
        // MAP_SHARED_VALIDATE: a flag Linux does not know, or one it cannot
        // honour here (MAP_SYNC: no DAX), is EOPNOTSUPP rather than ignored.
        if map_type == MAP_SHARED_VALIDATE && req.flags & !VALIDATED_MAP_FLAGS != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // Shared anonymous memory never grows down (Linux's do_mmap).
        if req.file.is_none() && map_type != MAP_PRIVATE && req.flags & MAP_GROWSDOWN != 0 {
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
        // Linux's do_mmap: ENOMEM once there are more mappings than
        // max_map_count.
        let limit = map_count_limit();
        if self.map_count(limit) > limit {
            return Err(Errno::ENOMEM);
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
                && hint.checked_add(len).is_some_and(|e| e <= self.max_addr && !self.overlaps(hint, e));
            if hint != 0 && hint_ok {
                hint
            } else {
                self.find_free(len)?
            }
        };
        let shared = map_type != MAP_PRIVATE;
        if let Some(MapFile { source: FileSource::Pages(source), offset, may_write, .. }) = &req.file {
            self.map_file_pages(start, start + len, prot, source, *offset, shared, !shared || *may_write)?;
            return Ok(start);
        }
        let may_write = !shared || req.file.as_ref().is_none_or(|f| f.may_write);
        let mem_off = self.mf.allocate(len)?;
        let backing = match req.file {
            None => Backing::Anon,
            Some(f) => {
                let avail = f.size.saturating_sub(f.offset).min(len);
                let chunk = [Chunk { off: mem_off, len: avail }];
                let filled = match &f.source {
                    _ if avail == 0 => Ok(()),
                    FileSource::Host(fd) => self.fill_from_file(fd, &chunk, f.offset),
                    FileSource::Pages(src) => src.copy_to(&self.mf, &chunk, f.offset),
                };
                if let Err(e) = filled {
                    self.mf.release(mem_off, len);
                    return Err(e);
                }
                match f.source {
                    FileSource::Host(fd) => Backing::File { fd, offset: f.offset, name: f.name },
                    FileSource::Pages(source) => Backing::Pages { source, offset: f.offset },
                }
            }
        };
        let mut vma = Vma::fresh(start + len, prot, shared, may_write, mem_off, backing);
        vma.grows_down = req.flags & MAP_GROWSDOWN != 0 && !shared;
        self.insert(start, vma)?;
        // MAP_POPULATE (without MAP_NONBLOCK) faults the pages in now,
        // but those of a mapping no access reaches.
        if req.flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE && prot != PROT_NONE {
            self.mf.populate(mem_off, len);
        }
        Ok(start)
    }

    /// remap_file_pages(2), as Linux (4.0 and later) emulates it: the
    /// shared file mapping at `start` (which may run on through mappings
    /// of the same file with the same protection, without holes) is
    /// mapped again over `[start, start + size)`, at page `pgoff` of the
    /// file. EINVAL for any `prot` but 0, an empty or wrapping range, or
    /// one not so mapped. A System V segment marked for removal whose last
    /// mapping this was goes with the old mapping, and the new one fails
    /// (EINVAL, as Linux's shm_mmap finds no segment), leaving the range
    /// unmapped.
    pub fn remap_file_pages(&mut self, start: u64, size: u64, prot: u64, pgoff: u64) -> SysResult<()> {
        if prot != 0 {
            return Err(Errno::EINVAL);
        }
        let start = page_down(start);
        let size = page_down(size);
        let end = start.checked_add(size).filter(|&e| e > start).ok_or(Errno::EINVAL)?;
        pgoff.checked_add(size / PAGE_SIZE).ok_or(Errno::EINVAL)?;
        let offset = pgoff.checked_mul(PAGE_SIZE).ok_or(Errno::EINVAL)?;
        let (_, v) = self.vmas.range(..=start).next_back().filter(|(_, v)| v.end > start).ok_or(Errno::EINVAL)?;
        let Backing::Pages { source, .. } = &v.backing else {
            return Err(Errno::EINVAL);
        };
        if !v.shared {
            return Err(Errno::EINVAL);
        }
        let source = source.clone();
        let (vprot, may_write, may_exec, locked) = (v.prot, v.may_write, v.may_exec, v.locked);
        let mut cur = v.end;
        for (&s, n) in self.vmas.range(cur.min(end)..end) {
            let same_file = match &n.backing {
                Backing::Pages { source: other, .. } => std::ptr::addr_eq(Arc::as_ptr(other), Arc::as_ptr(&source)),
                Backing::PastEof => true,
                _ => false,
            };
            if s != cur || !same_file || !n.shared || n.prot != vprot || n.locked != locked {
                return Err(Errno::EINVAL);
            }
            cur = n.end;
        }
        if cur < end {
            return Err(Errno::EINVAL);
        }
        let limit = map_count_limit();
        if self.map_count(limit) > limit {
            return Err(Errno::ENOMEM);
        }
        self.unmap_range(start, end)?;
        if source.removed() && Arc::strong_count(&source) == 1 {
            drop(source);
            return Err(Errno::EINVAL);
        }
        self.map_file_pages(start, end, vprot, &source, offset, true, may_write)?;
        for (_, v) in self.vmas.range_mut(start..end) {
            v.locked = locked;
            v.may_exec = may_exec;
        }
        Ok(())
    }

    /// Maps `[start, end)` onto the pages of `source` from `offset`: one VMA
    /// per contiguous run of pages, each holding a reference on its pages,
    /// and an inaccessible VMA for whatever lies past the file's end. A
    /// private mapping maps them copy-on-write, so it sees the file until it
    /// first writes a page, as in Linux.
    #[allow(clippy::too_many_arguments)]
    fn map_file_pages(
        &mut self,
        start: u64,
        end: u64,
        prot: u32,
        source: &Arc<dyn PageSource>,
        offset: u64,
        shared: bool,
        may_write: bool,
    ) -> SysResult<()> {
        let runs = source.share(offset, end - start)?;
        let covered: u64 = runs.iter().map(|r| r.len).sum();
        let tail = if start + covered < end {
            match self.mf.allocate(end - start - covered) {
                Ok(off) => Some(off),
                Err(e) => {
                    for r in &runs {
                        self.mf.release(r.off, r.len);
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        let mut at = start;
        for r in runs {
            let backing = Backing::Pages { source: source.clone(), offset: offset + (at - start) };
            self.insert(
                at,
                Vma {
                    end: at + r.len,
                    prot,
                    shared,
                    cow: !shared,
                    may_write,
                    may_exec: true,
                    mem_off: r.off,
                    backing,
                    lazy: false,
                    locked: false,
                    sealed: false,
                    grows_down: false,
                },
            )?;
            at += r.len;
        }
        if let Some(mem_off) = tail {
            self.insert(at, Vma::fresh(end, prot, shared, may_write, mem_off, Backing::PastEof))?;
        }
        Ok(())
    }

    /// Whether a fault at `addr` touched a shared file mapping past the
    /// file's end (a bus error, SIGBUS with BUS_ADRERR, rather than SIGSEGV).
    pub fn fault_is_past_eof(&self, addr: u64) -> bool {
        self.vmas.range(..=addr).next_back().is_some_and(|(_, v)| v.end > addr && matches!(v.backing, Backing::PastEof))
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
        // A shared mapping of a file opened read-only never becomes writable.
        if prot & PROT_WRITE != 0 && self.vmas.range(..end).any(|(_, v)| v.end > addr && !v.may_write) {
            return Err(Errno::EACCES);
        }
        // Nor does a mapping of a file on a noexec mount become executable.
        if prot & PROT_EXEC != 0 && self.vmas.range(..end).any(|(_, v)| v.end > addr && !v.may_exec) {
            return Err(Errno::EACCES);
        }
        // A sealed mapping keeps its protection (EPERM); as on Linux,
        // which changes the mappings one by one, those before it change.
        let sealed = self.sealed_in(addr, end);
        let end = sealed.unwrap_or(end);
        // Linux splits a mapping only where its protection changes.
        let splits =
            |at: u64| self.vmas.range(..at).next_back().is_some_and(|(&s, v)| s < at && v.end > at && v.prot != prot);
        if splits(addr) || splits(end) {
            self.may_split()?;
        }
        self.split_at(addr);
        self.split_at(end);
        let mut ops = Vec::new();
        let mut takes_away = false;
        for (&s, v) in self.vmas.range_mut(addr..end) {
            let before = effective_prot(v);
            v.prot = prot;
            let after = effective_prot(v);
            takes_away |= before & !after != 0;
            ops.push(SpaceOp::Protect { addr: s, len: v.end - s, prot: after });
        }
        for op in ops {
            // Rights only added reach the others when they next stop (a
            // touch before that faults, and the fault replays the log).
            if takes_away {
                self.push_revoking(op);
            } else {
                self.push(op);
            }
        }
        if sealed.is_some() {
            return Err(Errno::EPERM);
        }
        Ok(())
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
                || self.map_anon_fixed(old_end, new_end - old_end, PROT_READ | PROT_WRITE).is_err()
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
        // Advice on nothing is done at once, once the advice is known.
        if len == 0 {
            return if MADVICES.contains(&advice) { Ok(()) } else { Err(Errno::EINVAL) };
        }
        match advice {
            MADV_DONTNEED if self.vmas.range(..end).any(|(_, v)| v.end > addr && v.locked) => Err(Errno::EINVAL),
            MADV_DONTNEED => {
                let mut cursor = addr;
                let parts: Vec<(u64, u64, Vma)> =
                    self.vmas.range(..end).filter(|(_, v)| v.end > addr).map(|(s, v)| (*s, v.end, v.clone())).collect();
                for (s, e, v) in parts {
                    if s > cursor {
                        return Err(Errno::ENOMEM);
                    }
                    if keeps_its_pages(&v) {
                        return Err(Errno::EPERM);
                    }
                    let (from, to) = (s.max(addr), e.min(end));
                    if v.shared {
                        // Shared memory keeps its contents for the other users.
                        cursor = to;
                        continue;
                    }
                    if v.cow {
                        self.break_cow(from, to)?;
                    }
                    let off = self.translate(from).ok_or(Errno::ENOMEM)?;
                    self.mf.punch_hole(off, to - from);
                    match &v.backing {
                        Backing::File { fd, offset, .. } => {
                            self.fill_from_file(fd, &[Chunk { off, len: to - from }], offset + (from - s))?;
                        }
                        Backing::Pages { source, offset } => {
                            source.copy_to(&self.mf, &[Chunk { off, len: to - from }], offset + (from - s))?;
                        }
                        Backing::Anon | Backing::PastEof => {}
                    }
                    cursor = to;
                }
                if cursor < end {
                    return Err(Errno::ENOMEM);
                }
                Ok(())
            }
            // The rest change nothing here, but Linux's checks: MADV_FREE
            // is for private anonymous memory only (EINVAL), and a range
            // with holes is ENOMEM.
            a if MADVICES.contains(&a) => {
                let mut cursor = addr;
                let mut hole = false;
                for (s, v) in self.vmas.range(..end).filter(|(_, v)| v.end > addr) {
                    hole |= *s > cursor;
                    if a == MADV_FREE && (v.shared || v.locked || !matches!(v.backing, Backing::Anon)) {
                        return Err(Errno::EINVAL);
                    }
                    if matches!(a, MADV_FREE | MADV_DONTFORK) && keeps_its_pages(v) {
                        return Err(Errno::EPERM);
                    }
                    cursor = v.end;
                }
                if hole || cursor < end {
                    return Err(Errno::ENOMEM);
                }
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The memory-file runs behind `[addr, addr + len)`, as far as the range
    /// is mapped with `write` (or read) access. Returns the runs and how many
    /// bytes they cover, which is less than `len` if the range runs into a
    /// hole or a protected page.
    pub fn chunks(&mut self, addr: u64, len: u64, write: bool) -> (IoChunks, u64) {
        if write && self.prepare_write(addr, len).is_err() {
            return (IoChunks::new(), 0);
        }
        self.chunks_now(addr, len, write)
    }

    /// Pins the memory-file runs behind the app buffers `bufs`, in order,
    /// for an I/O done outside this lock: `write` for data going into app
    /// memory (copy-on-write is broken first, as for any write). The runs
    /// stop at the first buffer not wholly accessible.
    ///
    /// The pin is good for one attempt: an I/O that waits drops it and pins
    /// afresh when it goes on, so the data moves through the mappings as
    /// they are then, as Linux's copies do.
    pub fn pin_buffers(&mut self, bufs: &[(u64, u64)], write: bool) -> PinnedIo {
        let mut chunks = IoChunks::new();
        for &(addr, len) in bufs {
            let (c, n) = self.chunks(addr, len, write);
            chunks.extend(c);
            if n < len {
                break;
            }
        }
        self.mf.pin(&chunks, write);
        PinnedIo { mf: self.mf.clone(), chunks, write }
    }

    fn chunks_now(&self, addr: u64, len: u64, write: bool) -> (IoChunks, u64) {
        let mut out = IoChunks::new();
        let mut cur = addr;
        let Some(end) = addr.checked_add(len) else {
            return (out, 0);
        };
        while cur < end {
            let Some((&s, v)) = self.vmas.range(..=cur).next_back() else {
                break;
            };
            let ok = if write { v.prot & PROT_WRITE != 0 } else { v.prot != PROT_NONE };
            if v.end <= cur || !ok || matches!(v.backing, Backing::PastEof) {
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
        let (chunks, n) = self.chunks_now(addr, dst.len() as u64, false);
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
    pub fn copy_out(&mut self, addr: u64, src: &[u8]) -> SysResult<()> {
        let (chunks, n) = self.chunks(addr, src.len() as u64, true);
        self.write_chunks(&chunks, n, src)
    }

    /// Copies `src` into `chunks` (which cover `n` bytes); EFAULT unless they
    /// cover all of it.
    fn write_chunks(&self, chunks: &[Chunk], n: u64, src: &[u8]) -> SysResult<()> {
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
    pub fn poke(&mut self, addr: u64, src: &[u8]) -> SysResult<()> {
        self.prepare_write(addr, src.len() as u64)?;
        let (chunks, n) = self.chunks_now(addr, src.len() as u64, false);
        self.write_chunks(&chunks, n, src)
    }

    /// Reads a plain value.
    pub fn read_val<T: FromBytes + IntoBytes>(&self, addr: u64) -> SysResult<T> {
        let mut v = T::new_zeroed();
        self.copy_in(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes a plain value.
    pub fn write_val<T: IntoBytes + Immutable>(&mut self, addr: u64, v: &T) -> SysResult<()> {
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

    /// A page fault the platform reported for the stub of `cursor`. Returns
    /// whether it is resolved and the access should be retried: a
    /// copy-on-write fault, now broken; or a fault of a stub whose view is
    /// older than the VMAs (another thread mapped, or gave this page a copy
    /// of its own, since this one last replayed the log), on an access the
    /// VMA allows: the replay before the retry fixes it. Any other fault is
    /// the app's own error and becomes a signal.
    pub fn handle_fault(&mut self, addr: u64, access: Option<Access>, cursor: &SpaceCursor) -> bool {
        let Some((&s, v)) = self.vmas.range(..=addr).next_back() else {
            return false;
        };
        if v.end <= addr || matches!(v.backing, Backing::PastEof) {
            return false;
        }
        if v.lazy {
            return self.load_window(addr, access);
        }
        if v.cow && v.prot & PROT_WRITE != 0 {
            let block = addr & !(COW_BLOCK - 1);
            let (from, to) = (block.max(s), (block + COW_BLOCK).min(v.end));
            return self.break_cow(from, to).is_ok();
        }
        let needed = match access {
            Some(Access::Read) | None => PROT_READ,
            Some(Access::Write) => PROT_WRITE,
            Some(Access::Exec) => PROT_EXEC,
        };
        let stale = cursor.seq.is_none_or(|seq| seq < self.log.end());
        stale && effective_prot(v) & needed != 0
    }

    /// A fault in a mapping with a restore's pages still to load: loads the
    /// [`LAZY_WINDOW`] around `addr` and gives it the mapping's rights back
    /// (or every mapping's, once everything is in). False for an access the
    /// mapping does not allow, or pages that could not be loaded.
    fn load_window(&mut self, addr: u64, access: Option<Access>) -> bool {
        let Some((&s, v)) = self.vmas.range(..=addr).next_back() else { return false };
        let needed = match access {
            Some(Access::Read) | None => PROT_READ,
            Some(Access::Write) => PROT_WRITE,
            Some(Access::Exec) => PROT_EXEC,
        };
        if v.prot & needed == 0 {
            return false;
        }
        if !self.mf.loading() {
            let mut ops = Vec::new();
            for (&start, v) in self.vmas.iter_mut().filter(|(_, v)| v.lazy) {
                v.lazy = false;
                ops.push(SpaceOp::Protect { addr: start, len: v.end - start, prot: effective_prot(v) });
            }
            for op in ops {
                self.push(op);
            }
            return true;
        }
        let window = addr & !(LAZY_WINDOW - 1);
        let (from, to) = (window.max(s), (window + LAZY_WINDOW).min(v.end));
        self.split_at(from);
        self.split_at(to);
        let Some(v) = self.vmas.get_mut(&from) else { return false };
        if self.mf.load(v.mem_off, to - from).is_err() {
            return false;
        }
        v.lazy = false;
        let op = SpaceOp::Protect { addr: from, len: to - from, prot: effective_prot(v) };
        // Only rights are added: the others take them at their next fault.
        self.push(op);
        true
    }

    /// mremap(2).
    pub fn mremap(&mut self, old: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64) -> SysResult<u64> {
        const MREMAP_MAYMOVE: u32 = 1;
        const MREMAP_FIXED: u32 = 2;
        const MREMAP_DONTUNMAP: u32 = 4;
        if !old.is_multiple_of(PAGE_SIZE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        // A new address (MREMAP_FIXED, or MREMAP_DONTUNMAP's) implies a
        // move; MREMAP_DONTUNMAP moves without resizing.
        let moves = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0;
        if moves && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        // The new address, a hint for MREMAP_DONTUNMAP alone, must be
        // page-aligned and leave room in user space.
        if moves
            && (!new_addr.is_multiple_of(PAGE_SIZE)
                || new_addr.checked_add(new_len).is_none_or(|e| e > self.max_addr)
                || (dont_unmap && old_len != new_len))
        {
            return Err(Errno::EINVAL);
        }
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        // A sealed mapping is never moved, grown or shrunk.
        if self.sealed_in(old, old_end).is_some() {
            return Err(Errno::EPERM);
        }
        // The old range must lie in one mapping, as the app sees mappings:
        // adjacent VMAs this memory manager split for its own reasons
        // (copy-on-write, earlier mremaps) count as one.
        let (_, first) = self.vmas.range(..=old).next_back().map(|(s, v)| (*s, v.clone())).ok_or(Errno::EFAULT)?;
        if first.end <= old {
            return Err(Errno::EFAULT);
        }
        let mut end = first.end;
        while end < old_end {
            match self.vmas.get(&end) {
                Some(n) if n.prot == first.prot && n.shared == first.shared => end = n.end,
                _ => return Err(Errno::EFAULT),
            }
        }
        // Growth continues the mapping's last piece.
        let (vs, v) = self.vmas.range(..old_end).next_back().map(|(s, v)| (*s, v.clone())).ok_or(Errno::EFAULT)?;
        if !moves {
            if new_len <= old_len {
                // Shrinking by less than a page changes nothing.
                self.unmap_range(old + new_len, old_end)?;
                return Ok(old);
            }
            let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
            if end == old_end && grow_end <= self.mmap_top.max(self.max_addr) && !self.overlaps(old_end, grow_end) {
                self.extend_like(&v, vs, old_end, grow_end)?;
                return Ok(old);
            }
            if flags & MREMAP_MAYMOVE == 0 {
                return Err(Errno::ENOMEM);
            }
        }
        let dest = if flags & MREMAP_FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            // The new range must lie in user space (Linux's mremap_to:
            // EINVAL past TASK_SIZE).
            let e = new_addr.checked_add(new_len).filter(|&e| e <= self.max_addr).ok_or(Errno::EINVAL)?;
            if new_addr < self.min_addr {
                return Err(Errno::EPERM);
            }
            if new_addr < old_end && e > old {
                return Err(Errno::EINVAL);
            }
            self.unmap_range(new_addr, e)?;
            new_addr
        } else if new_addr != 0 && new_addr >= self.min_addr && !self.overlaps(new_addr, new_addr + new_len) {
            // MREMAP_DONTUNMAP's hint, taken when it is free (checked
            // above to end in user space).
            new_addr
        } else {
            self.find_free(new_len)?
        };
        // Move the pages without copying: the new VMAs take over the memory-file
        // ranges of the old ones.
        let keep = old_len.min(new_len);
        self.split_at(old);
        self.split_at(old + keep);
        let moved: Vec<(u64, Vma)> = self.vmas.range(old..old + keep).map(|(s, v)| (*s, v.clone())).collect();
        for (s, _) in &moved {
            self.vmas.remove(s);
        }
        self.push_revoking(SpaceOp::Unmap { addr: old, len: keep });
        self.unmap_range(old + keep, old_end)?;
        for (s, mv) in &moved {
            let at = dest + (s - old);
            self.insert(at, Vma { end: at + (mv.end - s), ..mv.clone() })?;
        }
        if dont_unmap {
            for (s, mv) in &moved {
                self.map_again(*s, mv)?;
            }
        }
        if new_len > keep {
            self.extend_like(&v, vs, dest + keep, dest + new_len)?;
        }
        Ok(dest)
    }

    /// For MREMAP_DONTUNMAP: maps `[start, v.end)` again as the mapping `v`
    /// was there before its pages moved away, as Linux leaves the old
    /// mapping in place without pages: a shared mapping shares the pages
    /// that moved, a private one of a file reads the file's bytes again,
    /// and anonymous memory reads zero. Unlocked, as Linux clears
    /// VM_LOCKED on the old mapping.
    fn map_again(&mut self, start: u64, v: &Vma) -> SysResult<()> {
        let len = v.end - start;
        if v.shared {
            self.mf.incref(v.mem_off, len);
            return self.insert(start, Vma { lazy: false, locked: false, ..v.clone() });
        }
        if let Backing::Pages { source, offset } = &v.backing {
            self.map_file_pages(start, v.end, v.prot, source, *offset, false, v.may_write)?;
            if !v.may_exec {
                self.deny_exec(start, len);
            }
            return Ok(());
        }
        let mem_off = self.mf.allocate(len)?;
        if let Backing::File { fd, offset, .. } = &v.backing {
            if let Err(e) = self.fill_from_file(fd, &[Chunk { off: mem_off, len }], *offset) {
                self.mf.release(mem_off, len);
                return Err(e);
            }
        }
        self.insert(start, Vma { cow: false, mem_off, lazy: false, locked: false, ..v.clone() })
    }

    /// Maps `[from, to)` as a continuation of the mapping `v` (which starts at
    /// `vs`): fresh zero pages, or the file's next bytes.
    fn extend_like(&mut self, v: &Vma, vs: u64, from: u64, to: u64) -> SysResult<()> {
        let len = to - from;
        if let Backing::Pages { source, offset } = &v.backing {
            self.map_file_pages(from, to, v.prot, source, offset + (v.end - vs), v.shared, v.may_write)?;
            if !v.may_exec {
                self.deny_exec(from, len);
            }
            return Ok(());
        }
        let mem_off = self.mf.allocate(len)?;
        let backing = match &v.backing {
            Backing::Anon => Backing::Anon,
            Backing::PastEof => Backing::PastEof,
            Backing::File { fd, offset, name } => {
                let at = offset + (v.end - vs);
                self.fill_from_file(fd, &[Chunk { off: mem_off, len }], at)?;
                Backing::File { fd: fd.clone(), offset: at, name: name.clone() }
            }
            Backing::Pages { .. } => {
                // Handled above; never here.
                self.mf.release(mem_off, len);
                return Err(Errno::EINVAL);
            }
        };
        let vma = Vma {
            end: to,
            prot: v.prot,
            shared: v.shared,
            cow: false,
            may_write: v.may_write,
            may_exec: v.may_exec,
            mem_off,
            backing,
            lazy: false,
            // Growing a locked mapping locks (and fills) the new part.
            locked: v.locked,
            // A sealed mapping never grows (mremap refuses it).
            sealed: false,
            grows_down: v.grows_down,
        };
        if v.locked && fills_in_memory(&vma.backing) {
            self.mf.populate(mem_off, len);
        }
        self.insert(from, vma)
    }

    /// ENOMEM unless `[addr, addr + len)` is mapped throughout.
    pub fn check_mapped(&self, addr: u64, len: u64) -> SysResult<()> {
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        let mut cur = addr;
        while cur < end {
            match self.vmas.range(..=cur).next_back() {
                Some((_, v)) if v.end > cur => cur = v.end,
                _ => return Err(Errno::ENOMEM),
            }
        }
        Ok(())
    }

    /// msync(2): shared mappings of host files write the range back (their
    /// pages are a cache, `vfs::hostcache`); the rest is always in sync
    /// (rootfs mappings are private copies, and shared tmpfs mappings map
    /// the file's pages).
    pub fn msync(&self, addr: u64, len: u64, flags: u32) -> SysResult<()> {
        const MS_ASYNC: u32 = 1;
        const MS_INVALIDATE: u32 = 2;
        const MS_SYNC: u32 = 4;
        if !addr.is_multiple_of(PAGE_SIZE)
            || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
            || flags & (MS_ASYNC | MS_SYNC) == (MS_ASYNC | MS_SYNC)
        {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        self.check_mapped(addr, len)?;
        let end = addr + len;
        // Locked pages may not be invalidated.
        if flags & MS_INVALIDATE != 0 && self.vmas.range(..end).any(|(_, v)| v.end > addr && v.locked) {
            return Err(Errno::EBUSY);
        }
        for (&s, v) in self.vmas.range(..end).filter(|(_, v)| v.end > addr) {
            let (from, to) = (s.max(addr), v.end.min(end));
            write_back(v, s, from, to, flags & MS_SYNC != 0)?;
        }
        Ok(())
    }

    /// mincore(2): a page is resident once its memory-file page holds data.
    pub fn mincore(&self, addr: u64, len: u64) -> SysResult<Vec<u8>> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        self.check_mapped(addr, len)?;
        let mut out = Vec::with_capacity((len / PAGE_SIZE) as usize);
        let end = addr + len;
        for (&s, v) in self.vmas.range(..end).filter(|(_, v)| v.end > addr) {
            let (from, to) = (s.max(addr), v.end.min(end));
            out.extend(self.mf.residency(v.mem_off + (from - s), to - from));
        }
        Ok(out)
    }
}

/// Whether advice that discards pages (MADV_DONTNEED, MADV_FREE,
/// MADV_DONTFORK) is refused on `v` (EPERM), as Linux's
/// can_madvise_modify: a sealed mapping of private anonymous memory that
/// the app may not write (else it could as well zero it itself).
fn keeps_its_pages(v: &Vma) -> bool {
    v.sealed && !v.shared && matches!(v.backing, Backing::Anon) && v.prot & PROT_WRITE == 0
}

/// Whether the pages of a mapping backed by `b` are memory-file pages
/// that a fault would give (anonymous memory, a tmpfs file's pages), which
/// mlock fills at once; a host file's are copied in when it is mapped.
fn fills_in_memory(b: &Backing) -> bool {
    matches!(b, Backing::Anon | Backing::Pages { .. })
}

/// Writes back the part `[from, to)` of the shared mapping `v`, which
/// starts at `start`, if its file's data lives elsewhere (a host file).
fn write_back(v: &Vma, start: u64, from: u64, to: u64, sync: bool) -> SysResult<()> {
    match (v.shared, &v.backing) {
        (true, Backing::Pages { source, offset }) => source.write_back(offset + (from - start), to - from, sync),
        _ => Ok(()),
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        // Every stub of this address space is gone or about to be replaced.
        for (s, v) in std::mem::take(&mut self.vmas) {
            let _ = write_back(&v, s, s, v.end, false);
            self.mf.release(v.mem_off, v.end - s);
        }
        for (_, off, len) in std::mem::take(&mut self.log.deferred) {
            self.mf.release(off, len);
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
        out.push(Chunk { off: c.off + skip, len: c.len - skip });
        skip = 0;
    }
    out
}

#[cfg(test)]
mod tests;
