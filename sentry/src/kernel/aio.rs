//! Linux AIO contexts (io_setup, io_submit, io_getevents and the rest), as
//! Linux's `fs/aio.c` keeps them: each context is a ring of completion
//! events mapped in its address space (its address is the context's id),
//! with a header (`struct aio_ring`) that the app may read, and whose head
//! it may move, to reap events without a syscall (as libaio does).
//!
//! Reads, writes and fsyncs complete at submit time (Linux's buffered I/O
//! does too), so their event is in the ring when io_submit returns. A poll
//! request (IOCB_CMD_POLL) whose file is not ready waits in its context
//! until io_getevents, io_pgetevents or io_submit next look at it, or
//! io_cancel ends it: only then does its event reach the ring.
//! The contexts of an address space go with it (exit, execve): the
//! registry holds it weakly, and forgets its contexts, giving their events
//! back to `aio-max-nr`, the next time it looks.
//!
//! Lock order: a memory manager, then a context's ring lock; the registry's
//! lock is never held with either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::flags::mm::{MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE};
use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::waiter::WaitQueue;
use crate::mm::{MemoryManager, MmapRequest, SysResult};
use crate::vfs::file::File;

/// `/proc/sys/fs/aio-max-nr`: the most events all contexts may ask for.
pub const AIO_MAX_NR: u64 = 65536;
const AIO_RING_MAGIC: u32 = 0xa10a_10a1;
/// `struct aio_ring`'s size, where the events start.
const RING_HEADER: u64 = 32;
const PAGE: u64 = 4096;

/// `struct io_event`: a request's completion.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct IoEvent {
    /// The request's `aio_data`.
    pub data: u64,
    /// The request's address (its `struct iocb`).
    pub obj: u64,
    /// The result: a byte count or -errno.
    pub res: i64,
    /// A second result, 0.
    pub res2: i64,
}
const EVENT_SIZE: u64 = std::mem::size_of::<IoEvent>() as u64;

/// `struct aio_ring`'s header.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable)]
struct RingHeader {
    id: u32,
    nr: u32,
    head: u32,
    tail: u32,
    magic: u32,
    compat_features: u32,
    incompat_features: u32,
    header_length: u32,
}
const _: () = assert!(std::mem::size_of::<RingHeader>() as u64 == RING_HEADER);
/// Where `head` and `tail` are in the header.
const HEAD_AT: u64 = 8;
const TAIL_AT: u64 = 12;

/// What the kernel keeps of a ring beside the app's view of it.
#[derive(Default)]
struct RingState {
    /// Where the next event goes (the app's `tail` is a copy).
    tail: u32,
    /// io_destroy ended the context.
    dead: bool,
}

/// An IOCB_CMD_POLL waiting for its file to be ready.
pub struct PendingPoll {
    /// The file polled.
    pub file: Arc<File>,
    /// The events it waits for (with POLLERR and POLLHUP).
    pub events: u32,
    /// Its event, but for the result.
    pub event: IoEvent,
    /// IOCB_FLAG_RESFD's eventfd, signalled when it completes.
    pub eventfd: Option<Arc<File>>,
}

/// One AIO context.
pub struct AioContext {
    /// The ring's address, which is the context's id.
    pub id: u64,
    /// The ring's length (whole pages).
    pub ring_len: u64,
    /// Its slot in its address space's table (the ring's `id` field).
    slot: u32,
    /// How many events the ring holds (the kernel's trusted copy).
    nr_events: u32,
    /// io_setup's count, charged against `aio-max-nr`.
    max_reqs: u64,
    /// Held while events go into or out of the ring.
    ring: Mutex<RingState>,
    /// Poll requests in flight.
    pending: Mutex<Vec<PendingPoll>>,
    /// Tasks in io_getevents.
    pub queue: WaitQueue,
}

impl AioContext {
    fn ring(&self) -> MutexGuard<'_, RingState> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many events the ring holds (io_submit takes no more requests at
    /// once).
    pub fn capacity(&self) -> u32 {
        self.nr_events
    }

    /// Whether io_destroy ended it.
    pub fn is_dead(&self) -> bool {
        self.ring().dead
    }

    /// A field of the ring's header as the app left it, within the ring
    /// (the app may write anything there).
    fn index_at(&self, mm: &MemoryManager, off: u64) -> u32 {
        mm.read_val::<u32>(self.id + off).unwrap_or(0) % self.nr_events
    }

    /// Whether a request may be submitted: the ring has room for its event
    /// besides those not reaped yet (Linux keeps one slot free).
    pub fn has_room(&self, mm: &MemoryManager) -> bool {
        let in_flight = self.pending().len() as u32;
        let ring = self.ring();
        let head = self.index_at(mm, HEAD_AT);
        let queued = (ring.tail + self.nr_events - head) % self.nr_events;
        queued + in_flight + 1 < self.nr_events
    }

    fn pending(&self) -> MutexGuard<'_, Vec<PendingPoll>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a poll request in flight (io_submit has made room for it).
    pub fn add_poll(&self, p: PendingPoll) {
        self.pending().push(p);
    }

    /// The files of the poll requests in flight, for a wait on them.
    pub fn polled_files(&self) -> Vec<Arc<File>> {
        self.pending().iter().map(|p| p.file.clone()).collect()
    }

    /// Completes the poll requests in flight whose file `ready` says is
    /// ready (the events it reports, 0 if none), in the order they came.
    pub fn complete_polls(&self, mm: &mut MemoryManager, ready: impl Fn(&File, u32) -> u32) {
        let done: Vec<(PendingPoll, u32)> = {
            let mut pending = self.pending();
            let mut done = Vec::new();
            let mut i = 0;
            while i < pending.len() {
                let mask = ready(&pending[i].file, pending[i].events);
                if mask != 0 {
                    done.push((pending.remove(i), mask));
                } else {
                    i += 1;
                }
            }
            done
        };
        for (p, mask) in done {
            self.finish_poll(mm, p, mask);
        }
    }

    /// io_cancel of the poll request at `obj`: it completes at once with
    /// the events its file reports now (maybe none), as Linux's
    /// aio_poll_cancel. False if no such request is in flight.
    pub fn cancel_poll(&self, mm: &mut MemoryManager, obj: u64, ready: impl Fn(&File, u32) -> u32) -> bool {
        let found = {
            let mut pending = self.pending();
            pending.iter().position(|p| p.event.obj == obj).map(|i| pending.remove(i))
        };
        let Some(p) = found else { return false };
        let mask = ready(&p.file, p.events);
        self.finish_poll(mm, p, mask);
        true
    }

    fn finish_poll(&self, mm: &mut MemoryManager, p: PendingPoll, mask: u32) {
        self.complete(mm, IoEvent { res: i64::from(mask), ..p.event });
        signal_eventfd(p.eventfd.as_deref());
    }

    /// Puts a completion in the ring, written as the kernel writes it,
    /// whatever the app's protections, and wakes io_getevents.
    pub fn complete(&self, mm: &mut MemoryManager, ev: IoEvent) {
        {
            let mut ring = self.ring();
            let at = self.id + RING_HEADER + u64::from(ring.tail) * EVENT_SIZE;
            ring.tail = (ring.tail + 1) % self.nr_events;
            // A ring the app unmapped takes no events (Linux's keeps its
            // pages): they are lost to it.
            let _ = mm.poke(at, ev.as_bytes());
            let _ = mm.poke(self.id + TAIL_AT, &ring.tail.to_ne_bytes());
        }
        self.queue.notify();
    }

    /// Takes up to `max` events off the ring into the app's array at
    /// `dst`, as Linux's aio_read_events_ring: EFAULT (the events left
    /// where they are) if the array is not writable.
    pub fn take_events(&self, mm: &mut MemoryManager, dst: u64, max: u64) -> SysResult<u64> {
        let _ring = self.ring();
        let (mut head, tail) = (self.index_at(mm, HEAD_AT), self.index_at(mm, TAIL_AT));
        let mut events = Vec::new();
        while head != tail && (events.len() as u64) < max {
            let at = self.id + RING_HEADER + u64::from(head) * EVENT_SIZE;
            events.push(mm.read_val::<IoEvent>(at).unwrap_or_default());
            head = (head + 1) % self.nr_events;
        }
        if events.is_empty() {
            return Ok(0);
        }
        mm.copy_out(dst, events.as_bytes())?;
        let _ = mm.poke(self.id + HEAD_AT, &head.to_ne_bytes());
        Ok(events.len() as u64)
    }
}

/// IOCB_FLAG_RESFD: a completion adds 1 to the eventfd (Linux's
/// eventfd_signal saturates rather than fail).
pub fn signal_eventfd(f: Option<&File>) {
    if let Some(e) = f.and_then(|f| f.ops.eventfd()) {
        let _ = e.add(1);
    }
}

/// The contexts of one address space, by slot (Linux's `ioctx_table`).
struct Space {
    mm: Weak<Mutex<MemoryManager>>,
    table: Vec<Option<Arc<AioContext>>>,
}

#[derive(Default)]
struct Contexts {
    /// By address space id.
    spaces: HashMap<u64, Space>,
    /// The events all contexts asked for (`/proc/sys/fs/aio-nr`).
    nr: u64,
}

/// Every AIO context of the sandbox.
#[derive(Default)]
pub struct AioRegistry {
    inner: Mutex<Contexts>,
}

impl AioRegistry {
    /// Whether any context exists.
    pub fn in_use(&self) -> bool {
        !self.inner.lock().unwrap_or_else(|e| e.into_inner()).spaces.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Contexts> {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Address spaces that are gone give their contexts' events back.
        let mut freed = 0;
        c.spaces.retain(|_, s| {
            let alive = s.mm.strong_count() > 0;
            if !alive {
                freed += s.table.iter().flatten().map(|ctx| ctx.max_reqs).sum::<u64>();
            }
            alive
        });
        c.nr -= freed;
        c
    }

    /// The events all contexts asked for (`/proc/sys/fs/aio-nr`).
    pub fn nr(&self) -> u64 {
        self.lock().nr
    }

    /// io_setup: a context for `nr_events` events in the address space
    /// `mm`, its ring mapped there, on a machine of `cpus` CPUs (Linux
    /// sizes the ring by them). EINVAL for a count whose ring would be too
    /// big, EAGAIN past `aio-max-nr`.
    pub fn setup(&self, mm: &Arc<Mutex<MemoryManager>>, nr_events: u32, cpus: u32) -> SysResult<Arc<AioContext>> {
        let max_reqs = u64::from(nr_events);
        // Linux doubles the count (room for its per-CPU batches).
        let nr = u64::from(nr_events).max(u64::from(cpus) * 4) * 2;
        if nr > 0x1000_0000 / EVENT_SIZE {
            return Err(Errno::EINVAL);
        }
        if nr_events == 0 || max_reqs > AIO_MAX_NR {
            return Err(Errno::EAGAIN);
        }
        let ring_len = (RING_HEADER + nr * EVENT_SIZE).div_ceil(PAGE) * PAGE;
        let nr_events = ((ring_len - RING_HEADER) / EVENT_SIZE) as u32;
        // The events are reserved first, the ring mapped, then the context
        // entered and its header written: the registry's lock is never
        // held with the memory manager's.
        {
            let mut c = self.lock();
            if c.nr + max_reqs > AIO_MAX_NR {
                return Err(Errno::EAGAIN);
            }
            c.nr += max_reqs;
        }
        let req = MmapRequest {
            addr: 0,
            len: ring_len,
            prot: PROT_READ | PROT_WRITE,
            flags: MAP_SHARED | MAP_ANONYMOUS,
            file: None,
        };
        let (mm_id, mapped) = {
            let mut m = mm.lock().unwrap_or_else(|e| e.into_inner());
            (m.id(), m.mmap(req))
        };
        let id = match mapped {
            Ok(id) => id,
            Err(e) => {
                self.lock().nr -= max_reqs;
                return Err(e);
            }
        };
        let ctx = {
            let mut c = self.lock();
            let space = c.spaces.entry(mm_id).or_insert_with(|| Space { mm: Arc::downgrade(mm), table: Vec::new() });
            let slot = space.table.iter().position(Option::is_none).unwrap_or(space.table.len());
            let ctx = Arc::new(AioContext {
                id,
                ring_len,
                slot: slot as u32,
                nr_events,
                max_reqs,
                ring: Mutex::default(),
                pending: Mutex::default(),
                queue: WaitQueue::default(),
            });
            if slot == space.table.len() {
                space.table.push(Some(ctx.clone()));
            } else {
                space.table[slot] = Some(ctx.clone());
            }
            ctx
        };
        let header = RingHeader {
            id: ctx.slot,
            nr: nr_events,
            magic: AIO_RING_MAGIC,
            compat_features: 1,
            header_length: RING_HEADER as u32,
            ..RingHeader::default()
        };
        let written = mm.lock().unwrap_or_else(|e| e.into_inner()).poke(id, header.as_bytes());
        if let Err(e) = written {
            let _ = self.destroy(mm_id, &ctx);
            let _ = mm.lock().unwrap_or_else(|e| e.into_inner()).munmap(id, ring_len);
            return Err(e);
        }
        Ok(ctx)
    }

    /// The context `id` of address space `mm_id`, whose ring says it is in
    /// `slot` (Linux's lookup_ioctx).
    pub fn lookup(&self, mm_id: u64, id: u64, slot: u32) -> Option<Arc<AioContext>> {
        let c = self.lock();
        let ctx = c.spaces.get(&mm_id)?.table.get(slot as usize)?.as_ref()?;
        (ctx.id == id).then(|| ctx.clone())
    }

    /// io_destroy: ends the context and gives its events back; its
    /// io_getevents waiters wake. The caller unmaps the ring.
    pub fn destroy(&self, mm_id: u64, ctx: &Arc<AioContext>) -> SysResult<()> {
        {
            let mut c = self.lock();
            let slot = c
                .spaces
                .get_mut(&mm_id)
                .and_then(|s| s.table.get_mut(ctx.slot as usize))
                .filter(|s| s.as_ref().is_some_and(|x| Arc::ptr_eq(x, ctx)))
                .ok_or(Errno::EINVAL)?;
            *slot = None;
            c.nr -= ctx.max_reqs;
        }
        ctx.ring().dead = true;
        ctx.pending().clear();
        ctx.queue.notify();
        Ok(())
    }
}

/// An AIO context as a checkpoint keeps it (its ring's pages are the
/// address space's, saved with it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AioSnapshot {
    /// Its address space, by index among the image's.
    pub mm: usize,
    /// Its slot in the address space's table.
    pub slot: u32,
    /// The ring's address (the context's id) and length.
    pub ring: (u64, u64),
    pub nr_events: u32,
    pub max_reqs: u64,
    /// Where the next event goes.
    pub tail: u32,
    /// Polls in flight.
    pub polls: Vec<PollSnapshot>,
}

/// A poll in flight in a checkpoint: the file (by index among the image's
/// files), the events it waits for, its event's `data` and `obj`, and its
/// eventfd.
pub type PollSnapshot = (usize, u32, (u64, u64), Option<usize>);

/// The most contexts one address space may bring back (Linux's table
/// grows to what aio-max-nr allows; one event each at least).
const MAX_SLOTS: u32 = AIO_MAX_NR as u32;

impl AioRegistry {
    /// Every file a live context's polls hold (the polled files and their
    /// eventfds), for a checkpoint to save with the other open files.
    pub fn files(&self) -> Vec<Arc<File>> {
        let c = self.lock();
        let mut out = Vec::new();
        for ctx in c.spaces.values().flat_map(|s| s.table.iter().flatten()) {
            for p in ctx.pending().iter() {
                out.push(p.file.clone());
                out.extend(p.eventfd.clone());
            }
        }
        out
    }

    /// Every live context, its address space and files named by
    /// `mm_index` and `file_index`; Err if one is not among them.
    pub fn snapshot(
        &self,
        mm_index: impl Fn(&Arc<Mutex<MemoryManager>>) -> Option<usize>,
        file_index: impl Fn(&Arc<File>) -> Option<usize>,
    ) -> Result<Vec<AioSnapshot>, &'static str> {
        let c = self.lock();
        let mut out = Vec::new();
        for space in c.spaces.values() {
            let Some(mm) = space.mm.upgrade() else { continue };
            let mm = mm_index(&mm).ok_or("an AIO context of an address space no task has")?;
            for ctx in space.table.iter().flatten() {
                let polls = ctx
                    .pending()
                    .iter()
                    .map(|p| {
                        let file = file_index(&p.file).ok_or("an AIO poll's file")?;
                        let eventfd =
                            p.eventfd.as_ref().map(|e| file_index(e).ok_or("an AIO poll's eventfd")).transpose()?;
                        Ok((file, p.events, (p.event.data, p.event.obj), eventfd))
                    })
                    .collect::<Result<Vec<_>, &'static str>>()?;
                out.push(AioSnapshot {
                    mm,
                    slot: ctx.slot,
                    ring: (ctx.id, ctx.ring_len),
                    nr_events: ctx.nr_events,
                    max_reqs: ctx.max_reqs,
                    tail: ctx.ring().tail,
                    polls,
                });
            }
        }
        Ok(out)
    }

    /// Brings context `s` back in address space `mm`, its polls on the
    /// files `file_at` gives (a restore, into a registry that does not
    /// hold its slot).
    pub fn restore(
        &self,
        mm: &Arc<Mutex<MemoryManager>>,
        s: &AioSnapshot,
        file_at: impl Fn(usize) -> Option<Arc<File>>,
    ) -> Result<(), &'static str> {
        let bad = "an AIO context";
        let (id, ring_len) = s.ring;
        let fits = ring_len.is_multiple_of(PAGE)
            && ring_len > RING_HEADER
            && ring_len <= RING_HEADER + 0x1000_0000
            && u64::from(s.nr_events) == (ring_len - RING_HEADER) / EVENT_SIZE
            && s.tail < s.nr_events
            && s.slot < MAX_SLOTS
            && (1..=AIO_MAX_NR).contains(&s.max_reqs);
        if !fits {
            return Err(bad);
        }
        let mut pending = Vec::new();
        for &(file, events, (data, obj), eventfd) in &s.polls {
            let file = file_at(file).ok_or(bad)?;
            let eventfd = eventfd.map(|e| file_at(e).ok_or(bad)).transpose()?;
            pending.push(PendingPoll { file, events, event: IoEvent { data, obj, res: 0, res2: 0 }, eventfd });
        }
        let ctx = Arc::new(AioContext {
            id,
            ring_len,
            slot: s.slot,
            nr_events: s.nr_events,
            max_reqs: s.max_reqs,
            ring: Mutex::new(RingState { tail: s.tail, dead: false }),
            pending: Mutex::new(pending),
            queue: WaitQueue::default(),
        });
        let mm_id = mm.lock().unwrap_or_else(|e| e.into_inner()).id();
        let mut c = self.lock();
        if c.nr + s.max_reqs > AIO_MAX_NR {
            return Err(bad);
        }
        let space = c.spaces.entry(mm_id).or_insert_with(|| Space { mm: Arc::downgrade(mm), table: Vec::new() });
        let slot = s.slot as usize;
        if space.table.len() <= slot {
            space.table.resize(slot + 1, None);
        }
        if space.table[slot].is_some() {
            return Err(bad);
        }
        space.table[slot] = Some(ctx);
        c.nr += s.max_reqs;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::MemoryFile;

    fn space() -> Arc<Mutex<MemoryManager>> {
        let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
        Arc::new(Mutex::new(MemoryManager::new(mf, 0x10000, 0x7fff_ffff_f000)))
    }

    #[test]
    fn rings_fill_pages_and_events_go_round() {
        let reg = AioRegistry::default();
        let mm = space();
        let ctx = reg.setup(&mm, 1, 2).unwrap();
        // max(1, 2 * 4) * 2 = 16 events fit a page: the ring takes 127.
        assert_eq!((ctx.ring_len, ctx.capacity()), (4096, 127));
        let mut m = mm.lock().unwrap();
        let header: RingHeader = m.read_val(ctx.id).unwrap();
        assert_eq!((header.magic, header.nr, header.id), (AIO_RING_MAGIC, 127, 0));
        for i in 0..126 {
            assert!(ctx.has_room(&m));
            ctx.complete(&mut m, IoEvent { data: i, ..IoEvent::default() });
        }
        // One slot stays free.
        assert!(!ctx.has_room(&m));
        let dst = m.mmap(MmapRequest { addr: 0, len: 8192, prot: 3, flags: 0x22, file: None }).unwrap();
        assert_eq!(ctx.take_events(&mut m, dst, 200), Ok(126));
        let last: IoEvent = m.read_val(dst + 125 * EVENT_SIZE).unwrap();
        assert_eq!(last.data, 125);
        assert_eq!(ctx.take_events(&mut m, dst, 200), Ok(0));
        // Round the end of the ring.
        ctx.complete(&mut m, IoEvent { data: 500, ..IoEvent::default() });
        ctx.complete(&mut m, IoEvent { data: 501, ..IoEvent::default() });
        assert_eq!(ctx.take_events(&mut m, dst, 1), Ok(1));
        assert_eq!(ctx.take_events(&mut m, dst, 5), Ok(1));
        assert_eq!(m.read_val::<IoEvent>(dst).unwrap().data, 501);
        // An array the app cannot write: EFAULT, the event left in place.
        ctx.complete(&mut m, IoEvent::default());
        assert_eq!(ctx.take_events(&mut m, 8, 1), Err(Errno::EFAULT));
        assert_eq!(ctx.take_events(&mut m, dst, 1), Ok(1));
    }

    #[test]
    fn aio_max_nr_counts_contexts_until_their_space_goes() {
        let reg = AioRegistry::default();
        let (a, b) = (space(), space());
        let ctx = reg.setup(&a, 60_000, 1).unwrap();
        assert_eq!(reg.setup(&b, 6_000, 1).err(), Some(Errno::EAGAIN));
        let mm_id = a.lock().unwrap().id();
        let slot = a.lock().unwrap().read_val::<u32>(ctx.id).unwrap();
        assert!(reg.lookup(mm_id, ctx.id, slot).is_some());
        assert!(reg.lookup(b.lock().unwrap().id(), ctx.id, slot).is_none());
        assert_eq!(reg.nr(), 60_000);
        // Its address space goes (exit, execve): so do its contexts.
        drop(a);
        assert_eq!(reg.nr(), 0);
        let other = reg.setup(&b, 6_000, 1).unwrap();
        reg.destroy(b.lock().unwrap().id(), &other).unwrap();
        assert!(other.is_dead());
        assert_eq!(reg.nr(), 0);
        assert_eq!(reg.setup(&b, u32::MAX, 1).err(), Some(Errno::EINVAL));
    }
}
