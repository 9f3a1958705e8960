//! The memory manager's bookkeeping for threads: which changes interrupt
//! the other threads (shootdown) and which faults of a stale stub are
//! retried.

use std::any::Any;
use std::sync::atomic::AtomicUsize;

use super::*;
use platform::PlatformError;

/// A stub that maps nothing.
struct NullSpace;

impl AddressSpace for NullSpace {
    fn map_file(&mut self, _: u64, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Ok(())
    }
    fn unmap(&mut self, _: u64, _: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn protect(&mut self, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Ok(())
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Counts interrupts.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Interrupter for Counter {
    fn interrupt(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A thread: its cursor, with an interrupter that counts.
fn thread() -> (SpaceCursor, Arc<Counter>) {
    let cursor = SpaceCursor::new();
    let counter = Arc::new(Counter::default());
    cursor.runner().set_interrupter(counter.clone());
    (cursor, counter)
}

/// Both threads replay the log.
fn sync_both(mm: &mut MemoryManager, a: &mut SpaceCursor, b: &mut SpaceCursor) {
    mm.sync_space(a, &mut NullSpace).unwrap();
    mm.sync_space(b, &mut NullSpace).unwrap();
}

fn manager() -> MemoryManager {
    let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
    MemoryManager::new(mf, 0x10000, 0x7fff_ffff_f000)
}

fn anon(mm: &mut MemoryManager, prot: u32) -> u64 {
    mm.mmap(MmapRequest { addr: 0, len: 4 * PAGE_SIZE, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None }).unwrap()
}

#[test]
fn a_change_that_takes_rights_away_waits_for_threads_running_behind() {
    let mut mm = manager();
    let (mut a, _) = thread();
    let (mut b, b_interrupts) = thread();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    sync_both(&mut mm, &mut a, &mut b);

    mm.munmap(addr, PAGE_SIZE).unwrap();
    assert!(mm.shootdown(&a).is_none(), "b is not running app code");

    b.runner().set_in_app(true);
    let sd = mm.shootdown(&a).expect("b runs app code with the old view");
    assert_eq!(sd.runners().count(), 1);
    assert!(mm.shootdown(&b).is_none(), "a thread never waits for itself");

    // b comes back when interrupted, and replays the log.
    let mm = Arc::new(std::sync::Mutex::new(mm));
    let b_thread = {
        let mm = mm.clone();
        std::thread::spawn(move || {
            while b_interrupts.0.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            mm.lock().unwrap().sync_space(&mut b, &mut NullSpace).unwrap();
            b
        })
    };
    let start = std::time::Instant::now();
    await_shootdown(&mm, sd);
    assert!(start.elapsed() < SHOOTDOWN_PATIENCE, "it returned because b caught up");
    let b = b_thread.join().unwrap();

    // Stopping is as good as catching up.
    let mut mm = mm.lock().unwrap();
    mm.mprotect(addr + PAGE_SIZE, PAGE_SIZE, PROT_READ).unwrap();
    let mut sd = mm.shootdown(&a).expect("b is behind again");
    assert!(!mm.shootdown_done(&mut sd));
    b.runner().set_in_app(false);
    assert!(mm.shootdown_done(&mut sd));
}

#[test]
fn additions_and_fork_are_told_apart() {
    let mut mm = manager();
    let (mut a, _) = thread();
    let (mut b, _) = thread();
    let addr = anon(&mut mm, PROT_NONE);
    sync_both(&mut mm, &mut a, &mut b);
    b.runner().set_in_app(true);

    anon(&mut mm, PROT_READ);
    assert!(mm.shootdown(&a).is_none(), "a new mapping takes nothing away");
    mm.mprotect(addr, PAGE_SIZE, PROT_READ | PROT_WRITE).unwrap();
    assert!(mm.shootdown(&a).is_none(), "neither do added rights");

    let _child = mm.fork().unwrap();
    assert!(mm.shootdown(&a).is_some(), "fork makes writable pages read-only");
}

#[test]
fn a_stale_stub_retries_a_fault_once() {
    let mut mm = manager();
    let (mut a, _) = thread();
    let (mut b, _) = thread();
    sync_both(&mut mm, &mut a, &mut b);

    // a maps memory that b's stub does not have yet.
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    assert!(mm.handle_fault(addr, Some(Access::Write), &b), "b's view is old: replay and retry");
    assert!(!mm.handle_fault(addr, Some(Access::Exec), &b), "the VMA does not allow this access");
    mm.sync_space(&mut b, &mut NullSpace).unwrap();
    assert!(!mm.handle_fault(addr, Some(Access::Write), &b), "with an up-to-date view the fault is the app's");
    assert!(!mm.handle_fault(0x20000, Some(Access::Read), &a), "no VMA at all");
}

#[test]
fn a_copy_on_write_break_that_moves_a_page_is_a_revoke() {
    let mut mm = manager();
    let (mut a, _) = thread();
    let (mut b, _) = thread();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    let _child = mm.fork().unwrap();
    sync_both(&mut mm, &mut a, &mut b);
    b.runner().set_in_app(true);
    assert!(mm.shootdown(&a).is_none(), "both replayed the fork");

    // The child still holds the page: a's write gives a a copy, and b's
    // stub still maps the old page.
    assert!(mm.handle_fault(addr, Some(Access::Write), &a));
    assert!(mm.shootdown(&a).is_some());
}

#[test]
fn fork_copies_pages_that_a_read_in_flight_has_pinned() {
    let mut mm = manager();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    mm.copy_out(addr + PAGE_SIZE, b"at the fork").unwrap();
    // Another thread's read into the second page is under way.
    let pin = mm.pin_buffers(&[(addr + PAGE_SIZE + 100, 8)], true);
    let child = mm.fork().unwrap();
    // Its data arrives after the fork, and must land in the parent only.
    mm.memfile().write(pin.chunks()[0].off, b"arrived!");
    drop(pin);
    let (mut parent_buf, mut child_buf) = ([0u8; 8], [0u8; 8]);
    mm.copy_in(addr + PAGE_SIZE + 100, &mut parent_buf).unwrap();
    child.copy_in(addr + PAGE_SIZE + 100, &mut child_buf).unwrap();
    assert_eq!(&parent_buf, b"arrived!");
    assert_eq!(child_buf, [0; 8]);
    let mut kept = [0u8; 11];
    child.copy_in(addr + PAGE_SIZE, &mut kept).unwrap();
    assert_eq!(&kept, b"at the fork", "the child's copy is the page as it was at the fork");
    // Only the pinned page was copied: the rest is shared copy-on-write.
    assert_ne!(child.translate(addr + PAGE_SIZE), mm.translate(addr + PAGE_SIZE));
    assert_eq!(child.translate(addr), mm.translate(addr));
    assert_eq!(child.translate(addr + 2 * PAGE_SIZE), mm.translate(addr + 2 * PAGE_SIZE));
    let cow_at = |m: &MemoryManager, a: u64| m.vmas().filter(|(s, v)| *s <= a && v.end > a).map(|(_, v)| v.cow).next();
    assert_eq!(cow_at(&mm, addr + PAGE_SIZE), Some(false), "the parent's pinned page stays writable");
    assert_eq!(cow_at(&mm, addr), Some(true));
    assert_eq!(cow_at(&child, addr + PAGE_SIZE), Some(false));
    // A write pin that ended before the fork changes nothing.
    drop(mm.pin_buffers(&[(addr, 8)], true));
    let again = mm.fork().unwrap();
    assert_eq!(again.translate(addr), mm.translate(addr));
}

#[test]
fn a_pin_for_writing_breaks_copy_on_write_first() {
    let mut mm = manager();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    let child = mm.fork().unwrap();
    let shared = mm.translate(addr);
    assert_eq!(child.translate(addr), shared);
    let pin = mm.pin_buffers(&[(addr, 16)], true);
    assert_ne!(mm.translate(addr), shared, "data going into the parent gets a page of its own");
    assert_eq!(Some(pin.chunks()[0].off), mm.translate(addr));
    // A pin for reading (data going out) shares the page as it is.
    let child_pin = {
        let mut child = child;
        let p = child.pin_buffers(&[(addr, 16)], false);
        assert_eq!(Some(p.chunks()[0].off), shared);
        p
    };
    drop(child_pin);
    drop(pin);
}

#[test]
fn pages_an_unmap_drops_wait_until_every_stub_replayed_it() {
    let mut mm = manager();
    let (mut a, _) = thread();
    let (mut b, _) = thread();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    sync_both(&mut mm, &mut a, &mut b);
    let off = mm.translate(addr).unwrap();
    mm.memfile().write(off, b"data");
    mm.munmap(addr, 4 * PAGE_SIZE).unwrap();
    mm.sync_space(&mut a, &mut NullSpace).unwrap();
    // b has not replayed the unmap: it may still touch the pages.
    let mut buf = [0u8; 4];
    mm.memfile().read(off, &mut buf);
    assert_eq!(&buf, b"data", "freed while a stub still maps it");
    mm.sync_space(&mut b, &mut NullSpace).unwrap();
    mm.memfile().read(off, &mut buf);
    assert_eq!(buf, [0; 4], "freed once both replayed the unmap");
}

#[test]
fn a_pin_of_buffers_stops_at_the_first_hole() {
    let mut mm = manager();
    let addr = anon(&mut mm, PROT_READ | PROT_WRITE);
    mm.munmap(addr + 2 * PAGE_SIZE, PAGE_SIZE).unwrap();
    let pin = mm.pin_buffers(&[(addr, 10), (addr + PAGE_SIZE, 2 * PAGE_SIZE), (addr + 3 * PAGE_SIZE, 10)], true);
    assert_eq!(pin.len(), 10 + PAGE_SIZE, "the second buffer runs into the hole; the third is not reached");
    let ro = mm.mmap(MmapRequest {
        addr: 0,
        len: PAGE_SIZE,
        prot: PROT_READ,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
        file: None,
    });
    let ro = ro.unwrap();
    assert!(mm.pin_buffers(&[(ro, 8)], true).is_empty(), "no write into read-only memory");
    assert_eq!(mm.pin_buffers(&[(ro, 8)], false).len(), 8);
}

/// A pages file in the test's temporary directory holding `data`, which
/// is the memory file's at `off`, as a checkpoint writes it; with the
/// extents, checksums and stored blocks it records.
type PagesFile = (OwnedFd, Vec<(u64, u64)>, Vec<u32>, Vec<lazy::StoredBlock>);

fn pages_file(name: &str, off: u64, data: &[u8]) -> PagesFile {
    use std::os::unix::fs::FileExt;
    let path = std::env::temp_dir().join(format!("husk-lazy-{}-{name}", std::process::id()));
    let file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let extents = vec![(off, data.len() as u64)];
    let (crcs, stored, _) = lazy::write_blocks(
        &extents,
        |o, l, buf| buf.extend_from_slice(&data[(o - off) as usize..(o - off + l) as usize]),
        |at, bytes| file.write_all_at(bytes, at),
    )
    .unwrap();
    (file.into(), extents, crcs, stored)
}

/// An address space restored over `len` bytes of lazily loaded pages, each
/// byte `i % 251`, mapped with `prot` at 0x4000_0000.
fn restored_lazily(name: &str, len: u64, prot: u32) -> (MemoryManager, Vec<u8>) {
    let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
    let off = mf.allocate(len).unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let (fd, extents, crcs, stored) = pages_file(name, off, &data);
    mf.load_lazily(lazy::LazyPages::new(fd, extents, &crcs, &stored, off + len).unwrap()).unwrap();
    let vma = Vma {
        end: 0x4000_0000 + len,
        prot,
        shared: false,
        cow: false,
        may_write: true,
        may_exec: true,
        mem_off: off,
        backing: Backing::Anon,
        lazy: false,
        locked: false,
        sealed: false,
        grows_down: false,
    };
    let mm =
        MemoryManager::restored(mf, (0x10000, 0x7fff_ffff_f000), (0, 0, 0x7000_0000_0000), vec![(0x4000_0000, vma)])
            .unwrap();
    (mm, data)
}

#[test]
fn a_fault_loads_a_window_of_restored_pages_and_gives_it_its_rights() {
    let len = 4 * LAZY_WINDOW;
    let (mut mm, data) = restored_lazily("fault", len, PROT_READ | PROT_WRITE);
    let base = 0x4000_0000;
    let (cursor, _) = thread();
    let v = &mm.vmas[&base];
    assert!(v.lazy && effective_prot(v) == PROT_NONE, "a restored mapping is reached by faults first");
    let at = base + LAZY_WINDOW + 123;
    assert!(mm.handle_fault(at, Some(Access::Write), &cursor));
    let piece = &mm.vmas[&(base + LAZY_WINDOW)];
    assert!(!piece.lazy && piece.end == base + 2 * LAZY_WINDOW && effective_prot(piece) == PROT_READ | PROT_WRITE);
    assert!(mm.vmas[&base].lazy, "the rest waits");
    let off = mm.translate(base).unwrap();
    assert!(!mm.mf.pending(off + LAZY_WINDOW, LAZY_WINDOW) && mm.mf.pending(off, LAZY_WINDOW));
    // The Sentry's own reads load what they touch.
    let mut got = vec![0u8; 10];
    mm.mf.read(off + 3 * LAZY_WINDOW + 7, &mut got);
    let i = (3 * LAZY_WINDOW + 7) as usize;
    assert_eq!(got, data[i..i + 10]);
    mm.mf.load_all().unwrap();
    assert!(!mm.mf.loading());
    let mut all = vec![0u8; len as usize];
    mm.mf.read(off, &mut all);
    assert!(all == data, "every byte came back");
    // Once everything is in, one fault gives every mapping its rights.
    assert!(mm.handle_fault(base, Some(Access::Read), &cursor));
    assert!(mm.vmas.values().all(|v| !v.lazy));
}

#[test]
fn a_fault_the_mapping_does_not_allow_is_not_a_load() {
    let (mut mm, _) = restored_lazily("denied", LAZY_WINDOW, PROT_READ);
    let (cursor, _) = thread();
    assert!(!mm.handle_fault(0x4000_0000, Some(Access::Write), &cursor));
    assert!(mm.mf.pending(mm.translate(0x4000_0000).unwrap(), PAGE_SIZE));
}

#[test]
fn a_corrupt_block_is_never_used_and_is_reported_once() {
    use std::os::unix::fs::FileExt;
    let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
    let off = mf.allocate(2 * lazy::LOAD_BLOCK).unwrap();
    let data = vec![7u8; 2 * lazy::LOAD_BLOCK as usize];
    let (fd, extents, crcs, stored) = pages_file("corrupt", off, &data);
    let last = stored[1].at + u64::from(stored[1].len) - 1;
    std::fs::File::from(fd.try_clone().unwrap()).write_all_at(b"x", last).unwrap();
    mf.load_lazily(lazy::LazyPages::new(fd, extents, &crcs, &stored, off + 2 * lazy::LOAD_BLOCK).unwrap()).unwrap();
    assert_eq!(mf.load(off, 10), Ok(()), "the first block is sound");
    let reports = Arc::new(AtomicUsize::new(0));
    let r = reports.clone();
    mf.on_load_failure(Box::new(move |e| {
        assert!(e.to_string().contains("corrupt"), "{e}");
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let offset = off + lazy::LOAD_BLOCK;
    assert_eq!(mf.load_all(), Err(lazy::LoadError::Corrupt { offset }));
    assert_eq!(mf.load(offset, 10), Err(lazy::LoadError::Corrupt { offset }));
    assert!(mf.pending(offset, 1), "a corrupt block stays unloaded");
    assert_eq!(reports.load(Ordering::SeqCst), 1);
}

#[test]
fn a_truncated_pages_file_is_refused_before_anything_runs() {
    let (fd, _, crcs, _) = pages_file("short", 0, &[1u8; 4096]);
    let have = std::fs::File::from(fd.try_clone().unwrap()).metadata().unwrap().len();
    let stored = [lazy::StoredBlock { at: 0, len: 8192, compressed: false }];
    let e = lazy::LazyPages::new(fd, vec![(0, 8192)], &crcs, &stored, 8192).err();
    assert_eq!(e, Some(lazy::LoadError::Truncated { have, want: 8192 }));
}

#[test]
fn a_touch_past_user_space_grows_nothing() {
    // The fuzzer's find: a fault address near u64::MAX overflowed the
    // page after it.
    let mut mm = manager();
    for addr in [u64::MAX, u64::MAX - PAGE_SIZE, 1 << 63] {
        assert!(!mm.grow_down(addr, 8 << 20), "{addr:#x}");
    }
}
