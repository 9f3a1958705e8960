//! Pseudo-terminals (Unix 98), after Linux's `drivers/tty/pty.c`: opening
//! /dev/ptmx makes a pair, a master file and a replica terminal that
//! appears as /dev/pts/N, joined by a [`LineDiscipline`]. The replica is a
//! [`Tty`] like the console, so sessions, job control and the terminal
//! ioctls are the same code (`kernel::tty`); only its data path is here.
//!
//! The pair lives while either side is open. Closing the master hangs the
//! replica up: /dev/pts/N goes, its reads find end of file, its writes
//! EIO, and the session it controls gets SIGHUP. Closing the last replica
//! file makes the master's reads fail with EIO once its output is read.
//!
//! Lock order: a terminal's `ctl` is never held while a pair's `state` is
//! taken, nor the reverse; signals for the foreground group are sent after
//! `state` is let go.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use abi::flags::ioctl::*;
use abi::flags::open::{O_ACCMODE, O_CLOEXEC, O_LARGEFILE, O_NOCTTY, O_NONBLOCK};
use abi::flags::termios::TCIFLUSH;
use abi::types::Termios;
use abi::Errno;
use gofer::FileAttr;

use super::console::Bridge;
use super::ldisc::{LineDiscipline, ReplicaRead};
use super::task::exit::kernel_signal_group;
use super::task::Task;
use super::tty::{Tty, TtyFile};
use super::waiter::WaitQueue;
use super::Kernel;
use crate::mm::{Chunk, MemoryFile, SysResult};
use crate::vfs::file::{get_bytes, put_bytes, File, FileOps};
use crate::vfs::file::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::vfs::synth::SynthFs;
use crate::vfs::Dentry;

/// How many pseudo-terminals a sandbox may have at once (Linux's default
/// `kernel.pty.max`).
pub const MAX_PTYS: usize = 4096;
/// The first major number of the replicas (UNIX98_PTY_SLAVE_MAJOR); pty N
/// is (136 + N / 256, N % 256).
pub const PTS_MAJOR: u32 = 136;
/// devpts's `f_type`.
pub const DEVPTS_MAGIC: i64 = 0x1cd1;
/// The group a replica belongs to (`tty`, as Docker and runc mount devpts
/// with `gid=5`).
const TTY_GID: u32 = 5;
/// A replica's permission bits (devpts's `mode=620`).
const PTS_MODE: u32 = 0o620;
/// /dev/pts/ptmx's permission bits (`ptmxmode=666`).
pub const PTMX_MODE: u32 = 0o666;
/// The inode number of /dev/pts/ptmx; pty N's is N + 3, as in devpts.
pub const PTMX_INO: u64 = 2;
/// Bytes moved at most per read or write call (more is another call).
const IO_CHUNK: usize = 65536;

/// The sandbox's pseudo-terminals, by index: one devpts instance, which
/// every devpts mount shows.
pub struct PtyRegistry {
    slots: Mutex<Vec<Option<Weak<Tty>>>>,
    /// The devpts filesystem (its device number).
    pub fs: Arc<SynthFs>,
}

impl PtyRegistry {
    /// An empty registry.
    pub fn new() -> Arc<PtyRegistry> {
        Arc::new(PtyRegistry { slots: Mutex::new(Vec::new()), fs: SynthFs::new(DEVPTS_MAGIC) })
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Option<Weak<Tty>>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new pair with the lowest free index, its replica owned by
    /// `uid`; ENOSPC when [`MAX_PTYS`] are in use.
    fn create(self: &Arc<Self>, kernel: Weak<Kernel>, uid: u32) -> SysResult<Arc<Tty>> {
        let mut slots = self.slots();
        let index = match slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if slots.len() < MAX_PTYS => {
                slots.push(None);
                slots.len() - 1
            }
            None => return Err(Errno::ENOSPC),
        };
        let pty = Pty {
            index: index as u32,
            state: Mutex::new(PtyState {
                ld: LineDiscipline::default(),
                locked: true,
                master_open: true,
                replicas: 0,
                replica_opened: false,
                speeds: (38400, 38400),
            }),
            queue: WaitQueue::default(),
            registry: self.clone(),
            kernel,
            uid,
            created: crate::vfs::tmpfs::now(),
            bridge: OnceLock::new(),
        };
        let tty = Tty::new_pty(pty);
        slots[index] = Some(Arc::downgrade(&tty));
        Ok(tty)
    }

    /// The replica of pty `index`, while its master is open.
    pub fn get(&self, index: u32) -> Option<Arc<Tty>> {
        let tty = self.slots().get(index as usize).and_then(|s| s.as_ref()?.upgrade());
        tty.filter(|t| t.pty().is_some_and(|p| p.state().master_open))
    }

    /// A new pair for a host terminal's [`Bridge`]: unlocked, its replica
    /// owned by `uid`, with the host terminal's `termios` if known.
    pub fn create_bridged(
        self: &Arc<Self>,
        kernel: Weak<Kernel>,
        uid: u32,
        termios: Option<Termios>,
    ) -> SysResult<Arc<Tty>> {
        let tty = self.create(kernel, uid)?;
        if let Some(p) = tty.pty() {
            let mut st = p.state();
            st.locked = false;
            if let Some(t) = termios {
                let _ = st.ld.set_termios(t);
            }
        }
        Ok(tty)
    }

    /// Every pty whose master is open, by index.
    pub fn list(&self) -> Vec<Arc<Tty>> {
        let all: Vec<Arc<Tty>> = self.slots().iter().filter_map(|s| s.as_ref()?.upgrade()).collect();
        all.into_iter().filter(|t| t.pty().is_some_and(|p| p.state().master_open)).collect()
    }
}

struct PtyState {
    ld: LineDiscipline,
    /// Opening the replica fails (EIO) until unlockpt.
    locked: bool,
    master_open: bool,
    /// Replica files open.
    replicas: usize,
    /// A replica was opened once: with none open now, the master's reads
    /// fail (Linux's TTY_OTHER_CLOSED).
    replica_opened: bool,
    /// The input and output speeds termios2 reports.
    speeds: (u32, u32),
}

impl PtyState {
    fn replica_gone(&self) -> bool {
        self.replica_opened && self.replicas == 0
    }
}

/// The shared part of a pseudo-terminal pair.
pub struct Pty {
    index: u32,
    state: Mutex<PtyState>,
    /// Tasks and epoll sets waiting on either side.
    queue: WaitQueue,
    registry: Arc<PtyRegistry>,
    kernel: Weak<Kernel>,
    /// The replica's owner.
    uid: u32,
    created: (i64, i64),
    /// The host terminal that is this pair's master side, if one is.
    bridge: OnceLock<Arc<Bridge>>,
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(slot) = self.registry.slots().get_mut(self.index as usize) {
            *slot = None;
        }
    }
}

fn total(chunks: &[Chunk]) -> usize {
    chunks.iter().map(|c| c.len as usize).sum()
}

impl Pty {
    fn state(&self) -> MutexGuard<'_, PtyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its index: the N of /dev/pts/N.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The queue both sides' waiters sleep on.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// The replica's device node's attributes, as /dev/pts/N shows them.
    pub fn node_attr(&self) -> FileAttr {
        let (sec, nsec) = self.created;
        let (major, minor) = (PTS_MAJOR + self.index / 256, self.index % 256);
        FileAttr {
            mode: abi::flags::mode::S_IFCHR | PTS_MODE,
            nlink: 1,
            uid: self.uid,
            gid: TTY_GID,
            blksize: 1024,
            atime_sec: sec,
            atime_nsec: nsec,
            mtime_sec: sec,
            mtime_nsec: nsec,
            ctime_sec: sec,
            ctime_nsec: nsec,
            ino: u64::from(self.index) + 3,
            dev: self.registry.fs.dev(),
            rdev: crate::vfs::devfs::makedev(major, minor),
            ..FileAttr::default()
        }
    }

    /// Sends `signals`, raised by input, to `tty`'s foreground group.
    fn deliver(&self, tty: &Tty, signals: Vec<u32>) {
        if signals.is_empty() {
            return;
        }
        let (Some(kernel), pgrp) = (self.kernel.upgrade(), tty.foreground()) else { return };
        if pgrp == 0 {
            return;
        }
        let mut procs = kernel.procs();
        for sig in signals {
            kernel_signal_group(&kernel, &mut procs, pgrp, sig);
        }
    }

    /// A replica file opens: EIO while locked or hung up.
    pub fn open_replica(&self) -> SysResult<()> {
        let mut st = self.state();
        if st.locked || !st.master_open {
            return Err(Errno::EIO);
        }
        st.replicas += 1;
        st.replica_opened = true;
        Ok(())
    }

    /// A replica file closes.
    pub fn close_replica(&self) {
        let mut st = self.state();
        st.replicas = st.replicas.saturating_sub(1);
        drop(st);
        self.queue.notify();
    }

    /// Whether a replica file was open once and none is now.
    pub fn replica_gone(&self) -> bool {
        self.state().replica_gone()
    }

    /// The master side closes (its file, or the host terminal of its
    /// bridge): the replica hangs up, as Linux's pty_close.
    pub fn close_master(&self, tty: &Arc<Tty>) {
        self.state().master_open = false;
        self.queue.notify();
        if let Some(kernel) = self.kernel.upgrade() {
            super::tty::hangup(&kernel, tty);
        }
    }

    /// Makes `bridge` this pair's master side; fails if one already is.
    pub fn set_bridge(&self, bridge: Arc<Bridge>) -> Result<(), Arc<Bridge>> {
        self.bridge.set(bridge)
    }

    /// The host terminal bridged to this pair, if one is.
    pub fn bridge(&self) -> Option<&Arc<Bridge>> {
        self.bridge.get()
    }

    /// With a bridge, moves the replica's output to the host terminal now.
    pub fn drain_output(&self) {
        let Some(b) = self.bridge.get() else { return };
        let mut moved = false;
        b.drain(|| {
            let d = self.state().ld.master_read(IO_CHUNK);
            moved |= !d.is_empty();
            d
        });
        if moved {
            self.queue.notify_events(POLLOUT | POLLWRNORM);
        }
    }

    /// Input typed on the bridge's host terminal, as a master write:
    /// returns how much the line discipline took (0: no room yet).
    pub fn type_in(&self, tty: &Tty, data: &[u8]) -> usize {
        let (n, signals) = self.state().ld.master_write(data);
        if n > 0 {
            self.queue.notify();
        }
        self.deliver(tty, signals);
        self.drain_output();
        n
    }

    /// Whether the replica is hung up (its master closed).
    pub fn hung_up(&self) -> bool {
        !self.state().master_open
    }

    /// The replica's termios.
    pub fn termios(&self) -> Termios {
        self.state().ld.termios()
    }

    /// termios2's speeds.
    pub fn speeds(&self) -> (u32, u32) {
        self.state().speeds
    }

    /// Sets the replica's termios (and speeds, for termios2), first
    /// dropping unread input for TCSETSF.
    pub fn set_termios(&self, tty: &Tty, t: Termios, speeds: Option<(u32, u32)>, flush_input: bool) {
        let signals = {
            let mut st = self.state();
            if flush_input {
                st.ld.flush(true, false);
            }
            if let Some(s) = speeds {
                st.speeds = s;
            }
            st.ld.set_termios(t)
        };
        self.queue.notify();
        self.deliver(tty, signals);
        self.drain_output();
    }

    /// tcflush (`queue`) on the replica, or on the master (`master`). A
    /// side's TCIFLUSH drops its unread input; TCOFLUSH drops what the
    /// other side has not taken in yet, which here is nothing, as it takes
    /// it at once.
    pub fn flush(&self, queue: u64, master: bool) -> SysResult<()> {
        use abi::flags::termios::{TCIOFLUSH, TCOFLUSH};
        let input = match queue {
            TCIFLUSH | TCIOFLUSH => true,
            TCOFLUSH => false,
            _ => return Err(Errno::EINVAL),
        };
        if input {
            self.state().ld.flush(!master, master);
            self.queue.notify();
        }
        Ok(())
    }

    /// tcflow: TCOOFF and TCOON stop and restart output; TCIOFF and TCION
    /// (sending STOP and START to the other end) have nothing to do.
    pub fn flow(&self, action: u64) -> SysResult<()> {
        use abi::flags::termios::{TCIOFF, TCION, TCOOFF, TCOON};
        match action {
            TCOOFF => self.state().ld.set_stopped(true),
            TCOON => self.state().ld.set_stopped(false),
            TCIOFF | TCION => {}
            _ => return Err(Errno::EINVAL),
        }
        self.queue.notify();
        self.drain_output();
        Ok(())
    }

    /// Bytes the replica may read (its FIONREAD).
    pub fn input_len(&self) -> usize {
        self.state().ld.input_len()
    }

    /// In non-canonical mode with VMIN 0 and VTIME set, how long a read
    /// of the replica waits.
    pub fn read_timeout(&self) -> Option<std::time::Duration> {
        self.state().ld.read_timeout().map(|tenths| std::time::Duration::from_millis(u64::from(tenths) * 100))
    }

    /// A read of the replica `tty`: end of file once hung up.
    pub fn replica_read(&self, tty: &Tty, mf: &MemoryFile, dst: &[Chunk]) -> SysResult<usize> {
        let (r, signals) = {
            let mut st = self.state();
            if !st.master_open {
                return Ok(0);
            }
            st.ld.replica_read(total(dst).min(IO_CHUNK))
        };
        self.queue.notify();
        self.deliver(tty, signals);
        self.drain_output();
        match r {
            ReplicaRead::Data(d) => Ok(put_bytes(mf, dst, &d)),
            ReplicaRead::Eof => Ok(0),
            ReplicaRead::Empty => Err(Errno::EAGAIN),
        }
    }

    /// A write to the replica: EIO once hung up.
    pub fn replica_write(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<usize> {
        let mut buf = vec![0u8; total(src).min(IO_CHUNK)];
        let len = get_bytes(mf, src, &mut buf);
        let n = {
            let mut st = self.state();
            if !st.master_open {
                return Err(Errno::EIO);
            }
            st.ld.replica_write(&buf[..len])
        };
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        self.queue.notify_events(POLLIN | POLLRDNORM);
        self.drain_output();
        Ok(n)
    }

    /// The replica's poll events.
    pub fn replica_readiness(&self) -> u32 {
        let st = self.state();
        if !st.master_open {
            return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP;
        }
        let mut r = 0;
        if st.ld.replica_readable() {
            r |= POLLIN | POLLRDNORM;
        }
        if st.ld.replica_writable() {
            r |= POLLOUT | POLLWRNORM;
        }
        r
    }
}

/// Opens /dev/ptmx (the node `dentry`): a new pair's master, its replica
/// owned by the caller and locked until unlockpt.
pub fn open_master(t: &Task, dentry: &Arc<Dentry>) -> SysResult<Box<dyn FileOps>> {
    let kernel = t.kernel.clone();
    let tty = kernel.ptys.create(Arc::downgrade(&kernel), t.creds().fsuid)?;
    Ok(Box::new(PtyMaster { tty, dentry: dentry.clone() }))
}

/// Opens /dev/pts/`index`: EIO while it is locked, ENOENT (as if the node
/// were gone) once its master closed.
pub fn open_replica(t: &Task, index: u32, dentry: &Arc<Dentry>) -> SysResult<(Box<dyn FileOps>, Arc<Tty>)> {
    let tty = t.kernel.ptys.get(index).ok_or(Errno::ENOENT)?;
    let file = TtyFile::open(tty.clone(), Some(dentry.clone()))?;
    Ok((Box::new(file), tty))
}

/// A pair's master side.
pub struct PtyMaster {
    /// The replica terminal (whose pair this is).
    tty: Arc<Tty>,
    /// The ptmx node it was opened by.
    dentry: Arc<Dentry>,
}

impl PtyMaster {
    /// Its pair (`open_master` gives it a pty's replica only).
    fn pty(&self) -> SysResult<&Pty> {
        self.tty.pty().ok_or(Errno::EIO)
    }
}

impl Drop for PtyMaster {
    /// The master closes: the replica hangs up, as Linux's pty_close.
    fn drop(&mut self) {
        if let Ok(pty) = self.pty() {
            pty.close_master(&self.tty);
        }
    }
}

impl FileOps for PtyMaster {
    fn seekable(&self) -> bool {
        false
    }

    /// The replica's output; EIO once no replica is open and it is read.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        let pty = self.pty()?;
        let data = {
            let mut st = pty.state();
            if st.ld.output_len() == 0 {
                return Err(if st.replica_gone() { Errno::EIO } else { Errno::EAGAIN });
            }
            st.ld.master_read(total(dst).min(IO_CHUNK))
        };
        pty.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(put_bytes(mf, dst, &data))
    }

    /// Input for the replica, as typed.
    fn write(&self, mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        let pty = self.pty()?;
        let mut buf = vec![0u8; total(src).min(IO_CHUNK)];
        let len = get_bytes(mf, src, &mut buf);
        let (n, signals) = pty.state().ld.master_write(&buf[..len]);
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        pty.queue.notify();
        pty.deliver(&self.tty, signals);
        Ok(n)
    }

    fn readiness(&self) -> u32 {
        let Ok(pty) = self.pty() else { return POLLERR };
        let st = pty.state();
        let mut r = 0;
        if st.ld.output_len() > 0 {
            r |= POLLIN | POLLRDNORM;
        }
        if st.ld.input_room() > 0 {
            r |= POLLOUT | POLLWRNORM;
        }
        if st.replica_gone() {
            r |= POLLHUP;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.pty().ok().map(Pty::queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.dentry.attr())
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::ESPIPE)
    }

    fn pty_master(&self) -> Option<&Arc<Tty>> {
        Some(&self.tty)
    }

    fn pty_master_file(&self) -> Option<&PtyMaster> {
        Some(self)
    }
}

/// A pseudo-terminal pair as a checkpoint keeps it (its files and the
/// replica's session are kept with the files and the processes).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PtySnapshot {
    /// Its index (/dev/pts/N).
    pub index: u32,
    /// The line discipline and its queues.
    pub ld: super::ldisc::LdSnapshot,
    /// Opening the replica fails until unlockpt.
    pub locked: bool,
    /// The master is open.
    pub master_open: bool,
    /// A replica was opened once.
    pub replica_opened: bool,
    /// termios2's speeds.
    pub speeds: (u32, u32),
    /// The replica's owner.
    pub uid: u32,
    /// When the pair was made (the node's times).
    pub created: (i64, i64),
}

impl Pty {
    /// Its state, for a checkpoint.
    pub fn snapshot(&self) -> PtySnapshot {
        let st = self.state();
        PtySnapshot {
            index: self.index,
            ld: st.ld.snapshot(),
            locked: st.locked,
            master_open: st.master_open,
            replica_opened: st.replica_opened,
            speeds: st.speeds,
            uid: self.uid,
            created: self.created,
        }
    }
}

impl PtyRegistry {
    /// Makes the pair `s` again at its index, with no file open on either
    /// side yet ([`PtyMaster::restored`] and [`TtyFile::open_restored`] open
    /// them). `None` for a state no pair can be in, or an index in use.
    pub fn restore(self: &Arc<Self>, kernel: Weak<Kernel>, s: &PtySnapshot) -> Option<Arc<Tty>> {
        let ld = LineDiscipline::from_snapshot(&s.ld)?;
        let index = s.index as usize;
        let mut slots = self.slots();
        if index >= MAX_PTYS {
            return None;
        }
        if slots.len() <= index {
            slots.resize(index + 1, None);
        }
        if slots[index].as_ref().is_some_and(|w| w.strong_count() > 0) {
            return None;
        }
        let pty = Pty {
            index: s.index,
            state: Mutex::new(PtyState {
                ld,
                locked: s.locked,
                master_open: s.master_open,
                replicas: 0,
                replica_opened: s.replica_opened,
                speeds: s.speeds,
            }),
            queue: WaitQueue::default(),
            registry: self.clone(),
            kernel,
            uid: s.uid,
            created: s.created,
            bridge: OnceLock::new(),
        };
        let tty = Tty::new_pty(pty);
        slots[index] = Some(Arc::downgrade(&tty));
        Some(tty)
    }
}

impl PtyMaster {
    /// The master of the restored pair `tty`, opened by `dentry` (a ptmx
    /// node).
    pub fn restored(tty: Arc<Tty>, dentry: Arc<Dentry>) -> Option<PtyMaster> {
        tty.pty().is_some().then_some(PtyMaster { tty, dentry })
    }

    /// The ptmx node it was opened by.
    pub fn dentry(&self) -> &Arc<Dentry> {
        &self.dentry
    }
}

impl Pty {
    /// A replica file of a restored pair opens (whatever the lock: it was
    /// open when the checkpoint was taken).
    pub fn reopen_replica(&self) {
        self.state().replicas += 1;
    }
}

/// An ioctl on a master: the pty's own requests; the rest act on the
/// replica's terminal, as Linux's do through `tty->link`.
pub fn master_ioctl(t: &mut Task, file: &File, tty: &Arc<Tty>, cmd: u32, arg: u64) -> SysResult<u64> {
    let pty = tty.pty().ok_or(Errno::ENOTTY)?;
    match cmd {
        TIOCGPTN => {
            t.mm().write_val(arg, &pty.index)?;
            Ok(0)
        }
        TIOCSPTLCK => {
            let lock: i32 = t.mm().read_val(arg)?;
            pty.state().locked = lock != 0;
            Ok(0)
        }
        TIOCGPTLCK => {
            let locked = i32::from(pty.state().locked);
            t.mm().write_val(arg, &locked)?;
            Ok(0)
        }
        TIOCGPTPEER => open_peer(t, tty, arg as u32),
        FIONREAD => {
            let n = pty.state().ld.output_len() as i32;
            t.mm().write_val(arg, &n)?;
            Ok(0)
        }
        TIOCOUTQ => {
            t.mm().write_val(arg, &0i32)?;
            Ok(0)
        }
        TCFLSH => pty.flush(arg, true).map(|_| 0),
        // As the keyboard would: only the line discipline's signals (Linux's
        // pty_signal), never one a user could not send otherwise.
        TIOCSIG => {
            use abi::flags::signal::{SIGINT, SIGQUIT};
            const SIGTSTP: u32 = 20;
            let sig = arg as u32;
            if sig != SIGINT && sig != SIGQUIT && sig != SIGTSTP {
                return Err(Errno::EINVAL);
            }
            pty.deliver(tty, vec![sig]);
            Ok(0)
        }
        // The master is never a controlling terminal here.
        TIOCSCTTY | TIOCNOTTY => Err(Errno::ENOTTY),
        _ => super::tty::ioctl(t, file, tty, cmd, arg, true),
    }
}

/// TIOCGPTPEER: a new file of the replica, with `flags` (access mode,
/// O_NONBLOCK, O_NOCTTY, O_CLOEXEC), without a path lookup.
fn open_peer(t: &mut Task, tty: &Arc<Tty>, flags: u32) -> SysResult<u64> {
    let file = TtyFile::open(tty.clone(), None)?;
    let status = (flags & (O_ACCMODE | O_NONBLOCK)) | O_LARGEFILE;
    let file = File::new(Box::new(file), status, None);
    super::tty::open_may_take_ctty(t, tty, flags & O_NOCTTY != 0);
    let limit = t.nofile_limit();
    t.fds().insert(file, flags & O_CLOEXEC != 0, 0, limit).map(|fd| fd as u64)
}
