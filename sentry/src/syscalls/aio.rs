//! Linux AIO: io_setup, io_destroy, io_submit, io_cancel, io_getevents and
//! io_pgetevents, over the contexts of [`crate::kernel::aio`].
//!
//! A read, write or fsync is done at submit time, as Linux does buffered
//! I/O (a read of an empty pipe waits in io_submit there too), and its
//! event is in the ring when io_submit returns. The checks Linux makes
//! before the I/O fail io_submit; the I/O's own errors are the event's
//! result. A poll request whose file is not ready waits in the context
//! (see [`crate::kernel::aio`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::mode::{S_IFDIR, S_IFMT, S_IFREG};
use abi::flags::open::O_PATH;
use abi::types::Timespec;
use abi::Errno;

use super::file::{check_access, import_buf, import_iovecs, transfer_rwf, Dir, RWF_KNOWN};
use super::Args;
use crate::kernel::aio::{signal_eventfd, AioContext, IoEvent, PendingPoll};
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::{File, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};

/// `iocb.aio_lio_opcode`.
const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_FSYNC: u16 = 2;
const IOCB_CMD_FDSYNC: u16 = 3;
const IOCB_CMD_POLL: u16 = 5;
const IOCB_CMD_PREADV: u16 = 7;
const IOCB_CMD_PWRITEV: u16 = 8;
/// `iocb.aio_flags`: signal the eventfd `aio_resfd` at completion; take
/// `aio_reqprio` as an I/O priority.
const IOCB_FLAG_RESFD: u32 = 1;
const IOCB_FLAG_IOPRIO: u32 = 2;
/// Where `aio_key` is in `struct iocb`.
const KEY_AT: u64 = 8;

/// `struct iocb`.
#[repr(C)]
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct Iocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: u32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}
const _: () = assert!(std::mem::size_of::<Iocb>() == 64);
const EVENT_SIZE: u64 = std::mem::size_of::<IoEvent>() as u64;

/// The caller's context `id`, as Linux's lookup_ioctx finds it: through
/// the slot its ring's header names, in the caller's address space.
fn context(t: &Task, id: u64) -> Option<Arc<AioContext>> {
    let (slot, mm_id) = {
        let mm = t.mm();
        (mm.read_val::<u32>(id).ok()?, mm.id())
    };
    t.kernel.aio.lookup(mm_id, id, slot)
}

pub fn io_setup(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (nr_events, ctxp) = (a.u32(0), a.addr(1));
    let old: u64 = t.mm().read_val(ctxp)?;
    if old != 0 || nr_events == 0 {
        return Err(Errno::EINVAL);
    }
    let cpus = u32::try_from(crate::sandbox_cpus()).unwrap_or(u32::MAX);
    let ctx = t.kernel.aio.setup(&t.mm, nr_events, cpus)?;
    let stored = t.mm().write_val(ctxp, &ctx.id);
    if let Err(e) = stored {
        destroy(t, &ctx)?;
        return Err(e);
    }
    Ok(0)
}

/// Ends `ctx` and unmaps its ring, as Linux's kill_ioctx.
fn destroy(t: &Task, ctx: &Arc<AioContext>) -> SysResult<()> {
    let mm_id = t.mm().id();
    t.kernel.aio.destroy(mm_id, ctx)?;
    t.mm().munmap(ctx.id, ctx.ring_len)
}

pub fn io_destroy(t: &mut Task, a: &Args) -> SysResult<u64> {
    let ctx = context(t, a.addr(0)).ok_or(Errno::EINVAL)?;
    destroy(t, &ctx).map(|_| 0)
}

pub fn io_submit(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (nr, iocbpp) = (a.i64(1), a.addr(2));
    if nr < 0 {
        return Err(Errno::EINVAL);
    }
    let ctx = context(t, a.addr(0)).ok_or(Errno::EINVAL)?;
    ctx.complete_polls(&mut t.mm(), woken);
    let nr = (nr as u64).min(u64::from(ctx.capacity()));
    let mut done = 0;
    while done < nr {
        let iocb = t.mm().read_val::<u64>(iocbpp + done * 8);
        if let Err(e) = iocb.and_then(|iocb| submit_one(t, &ctx, iocb)) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += 1;
    }
    Ok(done)
}

/// One request, as Linux's io_submit_one: done at once, its event in the
/// ring.
fn submit_one(t: &mut Task, ctx: &AioContext, uiocb: u64) -> SysResult<()> {
    let cb: Iocb = t.mm().read_val(uiocb)?;
    if cb.aio_reserved2 != 0 || cb.aio_nbytes > i64::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    if !ctx.has_room(&t.mm()) {
        return Err(Errno::EAGAIN);
    }
    let fd = cb.aio_fildes as i32;
    let f = t.fds().get(fd)?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let eventfd = if cb.aio_flags & IOCB_FLAG_RESFD != 0 {
        let e = t.fds().get(cb.aio_resfd as i32)?.clone();
        if e.ops.eventfd().is_none() {
            return Err(Errno::EINVAL);
        }
        Some(e)
    } else {
        None
    };
    t.mm().write_val(uiocb + KEY_AT, &0u32)?;
    let event = IoEvent { data: cb.aio_data, obj: uiocb, res: 0, res2: 0 };
    let res = match cb.aio_lio_opcode {
        IOCB_CMD_PREAD => read_write(t, &f, &cb, Dir::Read, false)?,
        IOCB_CMD_PWRITE => read_write(t, &f, &cb, Dir::Write, false)?,
        IOCB_CMD_PREADV => read_write(t, &f, &cb, Dir::Read, true)?,
        IOCB_CMD_PWRITEV => read_write(t, &f, &cb, Dir::Write, true)?,
        IOCB_CMD_FSYNC => fsync(&f, &cb, false)?,
        IOCB_CMD_FDSYNC => fsync(&f, &cb, true)?,
        IOCB_CMD_POLL => {
            // Linux's aio_poll: the events fit 16 bits; nothing else is set.
            if cb.aio_buf > u64::from(u16::MAX) || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
                return Err(Errno::EINVAL);
            }
            let events = cb.aio_buf as u32 | POLLERR | POLLHUP;
            match ready(&f, events) {
                0 => {
                    ctx.add_poll(PendingPoll { file: f, events, event, eventfd });
                    return Ok(());
                }
                mask => i64::from(mask),
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    ctx.complete(&mut t.mm(), IoEvent { res, ..event });
    signal_eventfd(eventfd.as_deref());
    Ok(())
}

/// The events of `events` the file reports now (0: not ready), as a poll
/// request's result at submit.
fn ready(f: &File, events: u32) -> u32 {
    super::poll::revents(f, events)
}

/// A poll request's result when it completes later: Linux gives the events
/// the file's wake-up named, which carry the POLLRDNORM and POLLWRNORM
/// twins of POLLIN and POLLOUT (a pipe's writer wakes its readers with
/// POLLIN | POLLRDNORM).
fn woken(f: &File, events: u32) -> u32 {
    if ready(f, events) == 0 {
        return 0;
    }
    let mut twins = events;
    if events & POLLIN != 0 {
        twins |= POLLRDNORM;
    }
    if events & POLLOUT != 0 {
        twins |= POLLWRNORM;
    }
    ready(f, twins)
}

/// An I/O's outcome as an event's result: the bytes moved, or -errno (an
/// interrupted one EINTR: it cannot be restarted).
fn result(r: SysResult<u64>) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(Errno::ERESTARTSYS | Errno::ERESTARTNOINTR | Errno::ERESTARTNOHAND | Errno::ERESTART_RESTARTBLOCK) => {
            -i64::from(Errno::EINTR.0)
        }
        Err(e) => -i64::from(e.0),
    }
}

/// IOCB_CMD_PREAD(V) and PWRITE(V): Linux's aio_prep_rw, the file's mode,
/// the buffers and the position are checked (failing io_submit), then the
/// I/O is done at `aio_offset` (streams have no position).
fn read_write(t: &mut Task, f: &Arc<File>, cb: &Iocb, dir: Dir, vectored: bool) -> SysResult<i64> {
    if cb.aio_flags & IOCB_FLAG_IOPRIO != 0 {
        check_ioprio(t, cb.aio_reqprio)?;
    }
    if cb.aio_rw_flags & !RWF_KNOWN != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    check_access(f, dir)?;
    // A directory has no read_iter or write_iter.
    if f.ops.stat()?.mode & S_IFMT == S_IFDIR {
        return Err(Errno::EINVAL);
    }
    let bufs = if vectored {
        import_iovecs(t, cb.aio_buf, cb.aio_nbytes)?
    } else {
        vec![import_buf(cb.aio_buf, cb.aio_nbytes)?]
    };
    // Linux's rw_verify_area.
    let count: u64 = bufs.iter().map(|&(_, len)| len).sum();
    if cb.aio_offset < 0 || cb.aio_offset.checked_add(count as i64).is_none() {
        return Err(Errno::EINVAL);
    }
    let pos = f.ops.positional().then_some(cb.aio_offset as u64);
    Ok(result(transfer_rwf(t, cb.aio_fildes as i32, &bufs, pos, dir, cb.aio_rw_flags)))
}

/// IOCB_FLAG_IOPRIO's priority, as Linux's ioprio_check_cap: the
/// real-time class needs CAP_SYS_ADMIN or CAP_SYS_NICE; classes past idle
/// are EINVAL. (The priority changes nothing here.)
fn check_ioprio(t: &Task, prio: i16) -> SysResult<()> {
    use abi::flags::capability::{CAP_SYS_ADMIN, CAP_SYS_NICE};
    match (i32::from(prio) >> 13) & 7 {
        1 if !t.creds().has_cap(CAP_SYS_ADMIN) && !t.creds().has_cap(CAP_SYS_NICE) => Err(Errno::EPERM),
        0..=3 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

/// IOCB_CMD_FSYNC and FDSYNC: no buffer, offset, length or flags; files
/// that have no fsync (anything but regular files and directories) are
/// EINVAL.
fn fsync(f: &File, cb: &Iocb, data_only: bool) -> SysResult<i64> {
    if cb.aio_buf != 0 || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
        return Err(Errno::EINVAL);
    }
    match f.ops.stat()?.mode & S_IFMT {
        S_IFREG | S_IFDIR => Ok(result(f.ops.sync(data_only).map(|()| 0))),
        _ => Err(Errno::EINVAL),
    }
}

/// io_cancel: only poll requests in flight can be cancelled: the request
/// completes with the events its file reports now, and the call says
/// EINPROGRESS (the event is in the ring, not in `result`); any other is
/// EINVAL, as Linux's for a request that completed. EFAULT if the iocb is
/// not readable, EINVAL if its key is not the kernel's.
pub fn io_cancel(t: &mut Task, a: &Args) -> SysResult<u64> {
    let iocb = a.addr(1);
    let key: u32 = t.mm().read_val(iocb.checked_add(KEY_AT).ok_or(Errno::EFAULT)?)?;
    if key != 0 {
        return Err(Errno::EINVAL);
    }
    let ctx = context(t, a.addr(0)).ok_or(Errno::EINVAL)?;
    // One whose file is ready has completed already.
    ctx.complete_polls(&mut t.mm(), woken);
    if ctx.cancel_poll(&mut t.mm(), iocb, ready) {
        return Err(Errno::EINPROGRESS);
    }
    Err(Errno::EINVAL)
}

/// io_getevents's timeout (relative; none if `addr` is 0) as a deadline.
/// Linux takes any value: a negative one is now, a huge one never.
fn read_deadline(t: &Task, addr: u64) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm().read_val(addr)?;
    let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    let wait = Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(u64::MAX));
    Ok(Some(crate::kernel::timer::deadline_in(wait)))
}

/// Linux's aio_read_events: takes what events there are into the array,
/// after the `got` already taken; the result once there are `min_nr`, or
/// on an error (the count, if some were taken), or the context ended.
fn take(t: &mut Task, ctx: &AioContext, min_nr: u64, nr: u64, events: u64, got: &mut u64) -> Option<SysResult<u64>> {
    ctx.complete_polls(&mut t.mm(), woken);
    // (A wild array address wraps, and its writes fail: EFAULT.)
    let at = events.wrapping_add(got.wrapping_mul(EVENT_SIZE));
    let taken = ctx.take_events(&mut t.mm(), at, nr.saturating_sub(*got));
    if let Ok(n) = taken {
        *got += n;
    }
    let r = if ctx.is_dead() { Err(Errno::EINVAL) } else { taken };
    match r {
        Err(e) => Some(if *got > 0 { Ok(*got) } else { Err(e) }),
        Ok(_) if *got >= min_nr => Some(Ok(*got)),
        Ok(_) => None,
    }
}

/// io_getevents and io_pgetevents: waits until `min_nr` events are in the
/// ring, the timeout passes or a signal comes, and takes up to `nr` (what
/// it took, maybe none, when the wait ends early).
fn getevents(t: &mut Task, a: &Args, deadline: Option<Instant>) -> SysResult<u64> {
    let (min_nr, nr, events) = (a.i64(1), a.i64(2), a.addr(3));
    let ctx = context(t, a.addr(0)).ok_or(Errno::EINVAL)?;
    if min_nr < 0 || min_nr > nr {
        return Err(Errno::EINVAL);
    }
    let (min_nr, nr) = (min_nr as u64, nr as u64);
    let mut got = 0;
    if let Some(r) = take(t, &ctx, min_nr, nr, events, &mut got) {
        return r;
    }
    // The wait is on the context and on the files of its poll requests;
    // those without a queue (host streams) are looked at every few ms.
    loop {
        let files = ctx.polled_files();
        let mut queues = vec![&ctx.queue];
        queues.extend(files.iter().filter_map(|f| f.ops.wait_queue()));
        let sliced = files.iter().any(|f| f.ops.wait_queue().is_none());
        let until = if sliced { Some(Instant::now() + super::poll::HOST_POLL_SLICE) } else { deadline };
        let until = match (until, deadline) {
            (Some(u), Some(d)) => Some(u.min(d)),
            (u, _) => u,
        };
        match t.block(&queues, until, |t| Ok(take(t, &ctx, min_nr, nr, events, &mut got))) {
            Ok(r) => return r,
            Err(Errno::ETIMEDOUT) if deadline.is_none_or(|d| Instant::now() < d) => continue,
            Err(Errno::ETIMEDOUT | Errno::ERESTARTSYS) => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

pub fn io_getevents(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = read_deadline(t, a.addr(4))?;
    match getevents(t, a, deadline)? {
        0 if t.interrupted() => Err(Errno::EINTR),
        n => Ok(n),
    }
}

pub fn io_pgetevents(t: &mut Task, a: &Args) -> SysResult<u64> {
    let deadline = read_deadline(t, a.addr(4))?;
    let mask = super::poll::read_sigset_arg(t, a.addr(5))?;
    super::poll::with_mask(t, mask, |t| match getevents(t, a, deadline)? {
        // Restarted if no handler runs, as Linux's io_pgetevents.
        0 if t.interrupted() => Err(Errno::ERESTARTNOHAND),
        n => Ok(n),
    })
}
