//! Terminals: the replicas of the sandbox's pseudo-terminals
//! ([`super::pty`]), one of which is the console when `husk run`'s stdin is
//! a host terminal (bridged to it by [`super::console`]), host terminals
//! the app only writes to, their controlling-terminal state, and job
//! control, after Linux's `drivers/tty/tty_jobctrl.c`.
//!
//! For a host terminal used as it is (the app's stdout on a terminal, its
//! stdin not): the host keeps the line discipline (echo, canonical mode),
//! and what the host cannot know lives here: which app session the
//! terminal controls, which app process group is in its foreground, and so
//! the job-control checks on read, write and the ioctls that change the
//! terminal.
//!
//! Lock order: `Kernel::procs`, then a terminal's `ctl`. Nothing sleeps
//! with either held.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use zerocopy::{FromBytes, IntoBytes};

use abi::flags::ioctl::*;
use abi::flags::open::{O_ACCMODE, O_LARGEFILE, O_RDONLY, O_RDWR, O_WRONLY};
use abi::flags::signal::{SIGCONT, SIGHUP};
use abi::types::{Termios, Termios2, Winsize};
use abi::Errno;
use gofer::FileAttr;

use super::console::Bridge;
use super::process::{Process, ProcessTable};
use super::pty::Pty;
use super::signal::{bit, SIG_IGN};
use super::task::exit::{kernel_signal_group, kernel_signal_process};
use super::task::Task;
use super::waiter::WaitQueue;
use super::Kernel;
use crate::mm::{Chunk, MemoryFile, SysResult};
use crate::vfs::file::{File, FileOps, HostStdio, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::vfs::{Dentry, Follow};

const SIGTTIN: u32 = 21;
const SIGTTOU: u32 = 22;
const SIGWINCH: u32 = 28;
const TERMIOS_SIZE: usize = std::mem::size_of::<Termios>();
const WINSIZE_SIZE: usize = std::mem::size_of::<Winsize>();
const TERMIOS2_SIZE: usize = std::mem::size_of::<Termios2>();

/// One terminal, as the Sentry serves it to the app.
pub struct Tty {
    dev: TtyDev,
    ctl: Mutex<Ctl>,
    /// How many times vhangup hung it up: a file opened before the last
    /// one is hung up (Linux swaps its file operations for hung_up_tty_fops).
    hangups: AtomicU64,
}

/// What is behind a terminal.
enum TtyDev {
    /// A host terminal.
    Host {
        /// The host fd for reads and for the terminal's state.
        io: OwnedFd,
        /// A host fd for writes, when `io` was opened read-only.
        wr: Option<OwnedFd>,
    },
    /// The replica of one of the sandbox's pseudo-terminals.
    Pty(Box<Pty>),
}

/// Which session the terminal controls and its foreground group (0: none),
/// and the window size the app's foreground group was last told of.
struct Ctl {
    session: i32,
    pgrp: i32,
    winsize: [u8; WINSIZE_SIZE],
}

impl Tty {
    fn new(io: OwnedFd, wr: Option<OwnedFd>) -> Arc<Tty> {
        let mut winsize = [0u8; WINSIZE_SIZE];
        let _ = crate::sys::tty_ioctl(io.as_raw_fd(), TIOCGWINSZ, &mut winsize);
        let ctl = Mutex::new(Ctl { session: 0, pgrp: 0, winsize });
        Arc::new(Tty { dev: TtyDev::Host { io, wr }, ctl, hangups: AtomicU64::new(0) })
    }

    /// The replica terminal of the pseudo-terminal pair `pty`.
    pub fn new_pty(pty: Pty) -> Arc<Tty> {
        let ctl = Ctl { session: 0, pgrp: 0, winsize: [0; WINSIZE_SIZE] };
        Arc::new(Tty { dev: TtyDev::Pty(Box::new(pty)), ctl: Mutex::new(ctl), hangups: AtomicU64::new(0) })
    }

    fn ctl(&self) -> MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its pseudo-terminal pair, for a pty's replica.
    pub fn pty(&self) -> Option<&Pty> {
        match &self.dev {
            TtyDev::Pty(p) => Some(p),
            TtyDev::Host { .. } => None,
        }
    }

    /// The host terminal's fd (reads and state), for the console.
    fn host_fd(&self) -> Option<RawFd> {
        match &self.dev {
            TtyDev::Host { io, .. } => Some(io.as_raw_fd()),
            TtyDev::Pty(_) => None,
        }
    }

    /// Its foreground process group (0: none).
    pub fn foreground(&self) -> i32 {
        self.ctl().pgrp
    }

    /// Its device number, as /proc/PID/stat's `tty_nr` shows it: a pty's
    /// replica's own, /dev/console's for the console.
    pub fn device(&self) -> u64 {
        match &self.dev {
            TtyDev::Pty(p) => p.node_attr().rdev,
            TtyDev::Host { .. } => crate::vfs::devfs::makedev(5, 1),
        }
    }

    /// Its termios.
    fn termios(&self) -> SysResult<Termios> {
        match &self.dev {
            TtyDev::Host { io, .. } => {
                let mut b = [0u8; TERMIOS_SIZE];
                crate::sys::tty_ioctl(io.as_raw_fd(), TCGETS, &mut b)?;
                Termios::read_from_bytes(&b).map_err(|_| Errno::EIO)
            }
            TtyDev::Pty(p) => Ok(p.termios()),
        }
    }

    /// Makes this the controlling terminal of session `sid`, with `pgrp` in
    /// the foreground (boot does this for init's session).
    pub fn set_session(&self, sid: i32, pgrp: i32) {
        let mut c = self.ctl();
        c.session = sid;
        c.pgrp = pgrp;
    }
}

/// A terminal's own state, as a checkpoint keeps it (a pty's pair is
/// kept by [`super::pty::PtySnapshot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TtySnapshot {
    /// The session it controls (0: none).
    pub session: i32,
    /// Its foreground process group (0: none).
    pub pgrp: i32,
    /// The window size the foreground group was last told of.
    pub winsize: Vec<u8>,
    /// How many times vhangup hung it up.
    pub hangups: u64,
    /// The termios, as its bytes: the host terminal's, for the console.
    pub termios: Vec<u8>,
}

impl Tty {
    /// Its state, for a checkpoint.
    pub fn snapshot(&self) -> SysResult<TtySnapshot> {
        let termios = self.termios()?.as_bytes().to_vec();
        let c = self.ctl();
        Ok(TtySnapshot {
            session: c.session,
            pgrp: c.pgrp,
            winsize: c.winsize.to_vec(),
            hangups: self.hangups.load(Ordering::Acquire),
            termios,
        })
    }

    /// Takes back the state of `s` (the terminal's own): its session,
    /// group, last window size and hangups, and, for the console, the
    /// host terminal's termios (raw mode, echo...), which a restore's new
    /// terminal does not have yet.
    pub fn restore(&self, s: &TtySnapshot) -> SysResult<()> {
        {
            let mut c = self.ctl();
            c.session = s.session;
            c.pgrp = s.pgrp;
            if let Ok(w) = <[u8; WINSIZE_SIZE]>::try_from(s.winsize.as_slice()) {
                c.winsize = w;
            }
        }
        self.hangups.store(s.hangups, Ordering::Release);
        if let (Some(fd), Ok(mut t)) = (self.host_fd(), <[u8; TERMIOS_SIZE]>::try_from(s.termios.as_slice())) {
            crate::sys::tty_ioctl(fd, TCSETS, &mut t)?;
        }
        Ok(())
    }

    /// Whether this is the console (a host terminal), not a pty's replica.
    pub fn is_console(&self) -> bool {
        matches!(self.dev, TtyDev::Host { .. })
    }
}

impl TtyFile {
    /// Its terminal, its dentry and the hangup count at its open, for a
    /// checkpoint.
    pub fn parts(&self) -> (&Arc<Tty>, Option<&Arc<Dentry>>, u64) {
        (&self.tty, self.dentry.as_ref(), self.hangups)
    }

    /// A restored file of `tty` (one that was open at the checkpoint), by
    /// `dentry`, opened when the hangup count was `hangups`.
    pub fn restored(tty: Arc<Tty>, dentry: Option<Arc<Dentry>>, hangups: u64) -> TtyFile {
        if let Some(p) = tty.pty() {
            p.reopen_replica();
        }
        TtyFile { tty, dentry, hangups }
    }
}

fn host_io(r: std::io::Result<usize>) -> SysResult<usize> {
    r.map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// An open terminal: one of the stdio fds, `/dev/tty` (whose dentry then
/// gives its attributes, as Linux's `/dev/tty` inode does), or a pty's
/// replica.
pub struct TtyFile {
    tty: Arc<Tty>,
    dentry: Option<Arc<Dentry>>,
    /// The terminal's hangup count at the open.
    hangups: u64,
}

impl TtyFile {
    /// Opens `tty` again (through `dentry`, if by a path): for a pty's
    /// replica, EIO while it is locked or hung up.
    pub fn open(tty: Arc<Tty>, dentry: Option<Arc<Dentry>>) -> SysResult<TtyFile> {
        if let Some(p) = tty.pty() {
            p.open_replica()?;
        }
        Ok(TtyFile::of(tty, dentry))
    }

    fn of(tty: Arc<Tty>, dentry: Option<Arc<Dentry>>) -> TtyFile {
        let hangups = tty.hangups.load(Ordering::Acquire);
        TtyFile { tty, dentry, hangups }
    }

    /// Whether vhangup hung the terminal up since this file was opened:
    /// then reads give 0, and writes and ioctls EIO, for good.
    fn hung(&self) -> bool {
        self.tty.hangups.load(Ordering::Acquire) != self.hangups
    }
}

impl Drop for TtyFile {
    fn drop(&mut self) {
        if let Some(p) = self.tty.pty() {
            p.close_replica();
        }
    }
}

impl FileOps for TtyFile {
    fn seekable(&self) -> bool {
        false
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if self.hung() {
            return Ok(0);
        }
        let (io, _) = match &self.tty.dev {
            TtyDev::Pty(p) => return p.replica_read(&self.tty, mf, dst),
            TtyDev::Host { io, wr } => (io.as_raw_fd(), wr),
        };
        // Never sleep in the host: the caller waits (interruptibly) instead.
        if crate::sys::poll_one(io, POLLIN, 0) == 0 {
            return Err(Errno::EAGAIN);
        }
        loop {
            match mf.read_from_fd(io, dst, None) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                r => return host_io(r),
            }
        }
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if self.hung() {
            return Err(Errno::EIO);
        }
        let fd = match &self.tty.dev {
            TtyDev::Pty(p) => return p.replica_write(mf, src),
            TtyDev::Host { io, wr } => wr.as_ref().unwrap_or(io).as_raw_fd(),
        };
        if crate::sys::poll_one(fd, POLLOUT, 0) == 0 {
            return Err(Errno::EAGAIN);
        }
        loop {
            match mf.write_to_fd(fd, src, None) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                r => return host_io(r),
            }
        }
    }

    fn readiness(&self) -> u32 {
        if self.hung() {
            return POLLIN | POLLOUT | POLLERR | POLLHUP;
        }
        match &self.tty.dev {
            TtyDev::Pty(p) => p.replica_readiness(),
            TtyDev::Host { io, .. } => crate::sys::poll_one(io.as_raw_fd(), POLLIN | POLLOUT, 0),
        }
    }

    fn host_fd(&self) -> Option<RawFd> {
        self.tty.host_fd()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.tty.pty().map(Pty::queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn read_timeout(&self) -> Option<std::time::Duration> {
        self.tty.pty().and_then(Pty::read_timeout)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        match (&self.dentry, &self.tty.dev) {
            (Some(d), _) => Ok(d.attr()),
            (None, TtyDev::Pty(p)) => Ok(p.node_attr()),
            (None, TtyDev::Host { io, .. }) => crate::sys::fstat(io.as_raw_fd()),
        }
    }

    fn fd_link(&self) -> Option<Vec<u8>> {
        self.tty.pty().map(|p| format!("/dev/pts/{}", p.index()).into_bytes())
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::ESPIPE)
    }

    fn tty(&self) -> Option<&Arc<Tty>> {
        // A hung-up file is no terminal any more: no job control, and its
        // ioctls fail (see `hung_up`).
        (!self.hung()).then_some(&self.tty)
    }

    fn tty_file(&self) -> Option<&TtyFile> {
        Some(self)
    }

    fn hung_up(&self) -> bool {
        self.hung()
    }
}

/// The app's stdio: (fd number, open file) pairs and the console.
pub type Stdio = (Vec<(i32, Arc<File>)>, Option<Arc<Tty>>);

/// A host fd of a terminal: its stdio number, the fd, its access mode.
type TerminalFd = (i32, OwnedFd, u32);

/// A host terminal among the stdio fds: the fd numbers that refer to it,
/// the fd to read it (and keep its state) by, one to write it by if that
/// one is read-only, and the access mode the two give.
pub struct HostTerminal {
    numbers: Vec<i32>,
    io: OwnedFd,
    wr: Option<OwnedFd>,
    mode: u32,
}

/// Splits stdio fds into files for those that are no terminal (each a
/// [`HostStdio`]) and the host terminals, by identity (device and inode):
/// one for all the fds that refer to the same one, as a shell's dup'ed
/// stdio do, in the order of their lowest fd.
fn split_stdio(stdio: Vec<OwnedFd>) -> (Vec<(i32, Arc<File>)>, Vec<HostTerminal>) {
    let mut out = Vec::new();
    let mut terminals: Vec<((u64, u64), Vec<TerminalFd>)> = Vec::new();
    for (i, fd) in stdio.into_iter().enumerate() {
        let n = i as i32;
        let raw = fd.as_raw_fd();
        let ident = crate::sys::isatty(raw).then(|| crate::sys::fstat(raw).ok()).flatten().map(|a| (a.dev, a.ino));
        let Some(ident) = ident else {
            let flags = if n == 0 { O_RDONLY } else { O_WRONLY } | O_LARGEFILE;
            out.push((n, File::new(Box::new(HostStdio::new(fd, i as u8)), flags, None)));
            continue;
        };
        let mode = crate::sys::getfl(raw).map_or(O_RDWR, |f| f & O_ACCMODE);
        match terminals.iter_mut().find(|(id, _)| *id == ident) {
            Some((_, fds)) => fds.push((n, fd, mode)),
            None => terminals.push((ident, vec![(n, fd, mode)])),
        }
    }
    let terminals = terminals
        .into_iter()
        .map(|(_, mut fds)| {
            let numbers: Vec<i32> = fds.iter().map(|f| f.0).collect();
            let readable = |m: u32| m == O_RDONLY || m == O_RDWR;
            let writable = |m: u32| m == O_WRONLY || m == O_RDWR;
            // Prefer one fd that does both; else a readable one plus a writable one.
            let io_at =
                fds.iter().position(|f| f.2 == O_RDWR).or_else(|| fds.iter().position(|f| readable(f.2))).unwrap_or(0);
            let (_, io, io_mode) = fds.swap_remove(io_at);
            let wr = if writable(io_mode) { None } else { fds.into_iter().find(|f| writable(f.2)).map(|f| f.1) };
            let mode = match (readable(io_mode), writable(io_mode) || wr.is_some()) {
                (true, true) => O_RDWR,
                (false, _) => O_WRONLY,
                (true, false) => O_RDONLY,
            };
            HostTerminal { numbers, io, wr, mode }
        })
        .collect();
    (out, terminals)
}

impl HostTerminal {
    /// Whether the app reads it as its stdin, so that it can be the host
    /// side of a [`Bridge`] (a terminal the app only writes to stays the
    /// host's, line discipline and all: making it raw would take ^C from
    /// whoever does read it).
    fn is_input(&self) -> bool {
        self.numbers.contains(&0) && self.mode != O_WRONLY
    }

    /// Joins it to `tty`, a pty made for it, by a [`Bridge`].
    fn bridge_to(self, kernel: &Arc<Kernel>, tty: &Arc<Tty>, transient: bool) -> SysResult<()> {
        Bridge::attach(kernel, tty, self.io, self.wr, transient)
    }
}

/// Who the stdio's terminal is for.
pub struct StdioOwner {
    /// The process's uid: its pty's replica is its own.
    pub uid: u32,
    /// The sandbox's init (the terminal is the console, and lasts as long
    /// as the sandbox), or a process `husk exec` started (its terminal ends
    /// with its last file).
    pub init: bool,
    /// /dev/console, for init: the node of its terminal when that is the
    /// host's own (fstat on it then matches a stat of the node, as
    /// ttyname(3) checks).
    pub console_node: Option<Arc<Dentry>>,
}

/// The files for `husk run`'s (or `husk exec`'s) stdio fds, by fd number.
/// A host terminal the app reads becomes a pty of the sandbox's own,
/// /dev/pts/N, bridged to it, as runc gives a container a pty of its own;
/// a host terminal it only writes to is used as it is. Anything else is a
/// [`HostStdio`]. Also returns the process's terminal: the one of its
/// lowest fd.
pub fn stdio_files(kernel: &Arc<Kernel>, stdio: Vec<OwnedFd>, owner: &StdioOwner) -> Stdio {
    let (mut out, terminals) = split_stdio(stdio);
    let mut console = None;
    for host in terminals {
        let (numbers, mode) = (host.numbers.clone(), host.mode);
        let node = console.is_none().then(|| owner.console_node.clone()).flatten();
        let (tty, file) = match console.is_none() && host.is_input() {
            true => match bridged_pty(kernel, host, owner) {
                Ok(pair) => pair,
                Err((e, host)) => {
                    log::warn!("cannot give the app a pty for its terminal ({e}); it gets the host's own");
                    host_tty(host, node)
                }
            },
            false => host_tty(host, node),
        };
        let file = File::new(Box::new(file), mode | O_LARGEFILE, None);
        for n in numbers {
            out.push((n, file.clone()));
        }
        if console.is_none() {
            console = Some(tty);
        }
    }
    out.sort_by_key(|(n, _)| *n);
    (out, console)
}

/// A host terminal used as it is.
fn host_tty(host: HostTerminal, node: Option<Arc<Dentry>>) -> (Arc<Tty>, TtyFile) {
    let tty = Tty::new(host.io, host.wr);
    (tty.clone(), TtyFile::of(tty, node))
}

/// A new pty of the sandbox's for the host terminal `host`, with its
/// settings and size, bridged to it, and a file of its replica by its
/// /dev/pts node.
fn bridged_pty(
    kernel: &Arc<Kernel>,
    host: HostTerminal,
    owner: &StdioOwner,
) -> Result<(Arc<Tty>, TtyFile), (Errno, HostTerminal)> {
    let (termios, winsize) = super::console::host_settings(host.io.as_raw_fd());
    let tty = match kernel.ptys.create_bridged(Arc::downgrade(kernel), owner.uid, termios) {
        Ok(tty) => tty,
        Err(e) => return Err((e, host)),
    };
    tty.ctl().winsize = winsize;
    let index = tty.pty().map_or(0, |p| p.index());
    let vfs = &kernel.vfs;
    let node = vfs.resolve(vfs.root(), vfs.root(), format!("/dev/pts/{index}").as_bytes(), Follow::Yes).ok();
    let file = match TtyFile::open(tty.clone(), node) {
        Ok(f) => f,
        Err(e) => return Err((e, host)),
    };
    // The bridge starts last: nothing can fail after the host terminal is
    // made raw.
    if let Err(e) = host.bridge_to(kernel, &tty, !owner.init) {
        log::warn!("cannot bridge the app's terminal ({e})");
    }
    Ok((tty, file))
}

/// The host terminal of a restore's stdio, for the restored console.
pub fn stdio_terminal(stdio: Vec<OwnedFd>) -> Option<HostTerminal> {
    split_stdio(stdio).1.into_iter().next()
}

/// `host` as the console as it is (a restored console that was the
/// host's own terminal).
pub fn host_console(host: HostTerminal) -> Arc<Tty> {
    Tty::new(host.io, host.wr)
}

/// Joins `host` to the restored console `tty`, a pty, by a new bridge.
pub fn rebridge(kernel: &Arc<Kernel>, tty: &Arc<Tty>, host: HostTerminal) -> SysResult<()> {
    host.bridge_to(kernel, tty, false)
}

/// The controlling terminal of the caller's process.
pub fn ctty_of(t: &Task) -> Option<Arc<Tty>> {
    t.kernel.procs().procs.get(&t.pid).and_then(|p| p.ctty.clone())
}

/// Opens `/dev/tty`: the caller's controlling terminal, ENXIO without one.
pub fn open_ctty(t: &Task, dentry: &Arc<Dentry>) -> SysResult<Box<dyn FileOps>> {
    let tty = ctty_of(t).ok_or(Errno::ENXIO)?;
    Ok(Box::new(TtyFile::open(tty, Some(dentry.clone()))?))
}

/// Opens `/dev/console` (the node `dentry`): the sandbox's console, ENXIO
/// without one.
pub fn open_console(t: &Task, dentry: &Arc<Dentry>) -> SysResult<Box<dyn FileOps>> {
    let tty = t.kernel.console.get().cloned().ok_or(Errno::ENXIO)?;
    Ok(Box::new(TtyFile::open(tty, Some(dentry.clone()))?))
}

fn is_ctty(p: &Process, tty: &Arc<Tty>) -> bool {
    p.ctty.as_ref().is_some_and(|c| Arc::ptr_eq(c, tty))
}

/// Whether process group `pgid` is orphaned: no member has a parent in
/// another group of the same session (Linux's will_become_orphaned_pgrp;
/// the sandbox's init is a pid namespace's, not the host's, so it counts).
fn is_orphaned(procs: &ProcessTable, pgid: i32) -> bool {
    !procs.procs.values().any(|p| {
        p.pgid == pgid
            && !matches!(p.state, super::process::ProcState::Zombie(_))
            && procs.procs.get(&p.parent).is_some_and(|pp| pp.pgid != pgid && pp.sid == p.sid)
    })
}

/// Linux's `__tty_check_change`: a process in a background group of the
/// terminal it controls may not use it. It gets `sig` (SIGTTIN or SIGTTOU)
/// sent to its group and the call restarts after it; unless the signal is
/// ignored or blocked (then SIGTTOU lets the call through and SIGTTIN
/// fails it with EIO) or the group is orphaned (EIO: nobody would continue
/// it).
fn check_change(t: &Task, tty: &Arc<Tty>, sig: u32) -> SysResult<()> {
    let kernel = t.kernel.clone();
    let mut procs = kernel.procs();
    let Some(me) = procs.procs.get(&t.pid) else { return Ok(()) };
    if !is_ctty(me, tty) {
        return Ok(());
    }
    let pgid = me.pgid;
    let fg = tty.ctl().pgrp;
    if fg == 0 || fg == pgid {
        return Ok(());
    }
    let ignored = t.sigmask & bit(sig) != 0
        || me.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(sig).handler == SIG_IGN;
    if ignored {
        return if sig == SIGTTIN { Err(Errno::EIO) } else { Ok(()) };
    }
    if is_orphaned(&procs, pgid) {
        return Err(Errno::EIO);
    }
    kernel_signal_group(&kernel, &mut procs, pgid, sig);
    Err(Errno::ERESTARTSYS)
}

/// The job-control check before a read from `tty` (SIGTTIN from the
/// background).
pub fn check_read(t: &Task, tty: &Arc<Tty>) -> SysResult<()> {
    if tty.ctl().session == 0 {
        return Ok(());
    }
    check_change(t, tty, SIGTTIN)
}

/// The job-control check before a write to `tty`: SIGTTOU from the
/// background, only when the terminal has TOSTOP set.
pub fn check_write(t: &Task, tty: &Arc<Tty>) -> SysResult<()> {
    if tty.ctl().session == 0 {
        return Ok(());
    }
    if tty.termios().map_or(true, |tio| tio.c_lflag & TOSTOP == 0) {
        return Ok(());
    }
    check_change(t, tty, SIGTTOU)
}

/// Waits (interruptibly) until the terminal's output queue is empty, as
/// tcdrain and TCSETSW do; the host is asked every few milliseconds, so
/// the task never sleeps in the host.
/// A pty's replica has nothing to drain: its output is in the master's
/// queue once written, as in Linux.
fn drain(t: &mut Task, tty: &Tty) -> SysResult<()> {
    let Some(fd) = tty.host_fd() else { return Ok(()) };
    loop {
        let mut q = [0u8; 4];
        crate::sys::tty_ioctl(fd, TIOCOUTQ, &mut q)?;
        if i32::from_le_bytes(q) <= 0 {
            return Ok(());
        }
        let until = std::time::Instant::now() + std::time::Duration::from_millis(10);
        match t.block(&[], Some(until), |_| Ok(None::<()>)) {
            Err(Errno::ETIMEDOUT) => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
}

/// Records a new window size and tells the foreground group with SIGWINCH
/// if it changed, as Linux's tty_do_resize. `set` also applies it to the
/// host terminal (the app's TIOCSWINSZ); without it, `ws` is what the host
/// now reports (the host told the Sentry of a resize).
fn resize(kernel: &Kernel, tty: &Tty, ws: &mut [u8; WINSIZE_SIZE], set: bool) -> SysResult<()> {
    let pgrp = {
        let mut c = tty.ctl();
        if c.winsize == *ws {
            return Ok(());
        }
        if let Some(fd) = tty.host_fd().filter(|_| set) {
            crate::sys::tty_ioctl(fd, TIOCSWINSZ, ws)?;
        }
        if let Some(b) = tty.pty().and_then(Pty::bridge).filter(|_| set) {
            b.set_host_winsize(ws);
        }
        c.winsize = *ws;
        c.pgrp
    };
    if pgrp != 0 {
        kernel_signal_group(kernel, &mut kernel.procs(), pgrp, SIGWINCH);
    }
    Ok(())
}

/// A signal from the host's line discipline (or a host resize, for
/// SIGWINCH), for the app's foreground process group on `tty`.
pub fn signal_foreground(kernel: &Kernel, tty: &Tty, sig: u32) {
    if sig == SIGWINCH {
        // The host signals every resize, the app's own TIOCSWINSZ included,
        // which already told the app: pass on only news.
        let mut ws = [0u8; WINSIZE_SIZE];
        let known = match tty.pty().and_then(Pty::bridge) {
            Some(b) => b.host_winsize().map(|w| ws = w).is_some(),
            None => tty.host_fd().is_some_and(|fd| crate::sys::tty_ioctl(fd, TIOCGWINSZ, &mut ws).is_ok()),
        };
        if known {
            let _ = resize(kernel, tty, &mut ws, false);
        }
        return;
    }
    let pgrp = tty.ctl().pgrp;
    if pgrp != 0 {
        kernel_signal_group(kernel, &mut kernel.procs(), pgrp, sig);
    }
}

/// The session leader `leader` gives up its controlling terminal (it
/// exits, or TIOCNOTTY): the foreground group gets SIGHUP (and SIGCONT,
/// unless the leader is exiting), the terminal belongs to no session any
/// more, and no process of the session keeps it, as Linux's
/// disassociate_ctty.
pub fn disassociate(kernel: &Kernel, procs: &mut ProcessTable, leader: i32, on_exit: bool) {
    let Some(p) = procs.procs.get(&leader) else { return };
    if p.sid != leader {
        return;
    }
    let Some(tty) = p.ctty.clone() else { return };
    let pgrp = tty.ctl().pgrp;
    if pgrp != 0 {
        kernel_signal_group(kernel, procs, pgrp, SIGHUP);
        if !on_exit {
            kernel_signal_group(kernel, procs, pgrp, SIGCONT);
        }
    }
    tty.set_session(0, 0);
    clear_session(procs, leader);
}

/// No process of session `sid` has a controlling terminal any more.
fn clear_session(procs: &mut ProcessTable, sid: i32) {
    for p in procs.procs.values_mut().filter(|p| p.sid == sid) {
        p.ctty = None;
    }
}

/// Unknown terminal ioctls are logged once each (a few distinct numbers).
fn log_unknown(cmd: u32) {
    static SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.contains(&cmd) && seen.len() < 64 {
        seen.push(cmd);
        log::warn!("unsupported terminal ioctl {cmd:#x}: returning ENOTTY");
    }
}

/// `struct termio`'s size (its 17 bytes, as Linux copies them).
const TERMIO_SIZE: usize = 17;

/// The old `struct termio` of `tio`: the low 16 bits of each flag word,
/// the line discipline and the first 8 control characters.
fn termio_of(tio: &Termios) -> [u8; TERMIO_SIZE] {
    let mut b = [0u8; TERMIO_SIZE];
    for (i, flag) in [tio.c_iflag, tio.c_oflag, tio.c_cflag, tio.c_lflag].into_iter().enumerate() {
        b[2 * i..2 * i + 2].copy_from_slice(&(flag as u16).to_ne_bytes());
    }
    b[8] = tio.c_line;
    b[9..17].copy_from_slice(&tio.c_cc[..8]);
    b
}

/// TCSETS, TCSETSW, TCSETSF and their termios2 forms, with `b` the
/// structure they give.
fn set_termios(t: &mut Task, tty: &Arc<Tty>, cmd: u32, mut b: Vec<u8>) -> SysResult<u64> {
    let two = matches!(cmd, TCSETS2 | TCSETSW2 | TCSETSF2);
    if !matches!(cmd, TCSETS | TCSETS2) {
        // The host would wait for the output to drain, uninterruptibly:
        // wait here first, so the host finds nothing to wait for.
        drain(t, tty)?;
    }
    match &tty.dev {
        TtyDev::Pty(p) => {
            let tio = Termios::read_from_prefix(&b).map_err(|_| Errno::EFAULT)?.0;
            let speeds = two.then(|| Termios2::read_from_bytes(&b).ok().map(|t2| (t2.c_ispeed, t2.c_ospeed))).flatten();
            p.set_termios(tty, tio, speeds, matches!(cmd, TCSETSF | TCSETSF2));
            Ok(0)
        }
        TtyDev::Host { io, .. } => crate::sys::tty_ioctl(io.as_raw_fd(), cmd, &mut b),
    }
}

/// An ioctl on the terminal `tty`, opened as `file`; `arg` is the raw
/// argument (a pointer for most requests). `via_master` when it came
/// through a pty's master, which may ask for the foreground group and
/// session of a terminal that is not its caller's.
pub fn ioctl(t: &mut Task, file: &File, tty: &Arc<Tty>, cmd: u32, arg: u64, via_master: bool) -> SysResult<u64> {
    // A hung-up replica answers nothing, as Linux's hung_up_tty_ioctl.
    if !via_master && tty.pty().is_some_and(Pty::hung_up) {
        return Err(if cmd == TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO });
    }
    match cmd {
        TCGETS => {
            let tio = tty.termios()?;
            t.mm().write_val(arg, &tio)?;
            Ok(0)
        }
        TCGETS2 => {
            let mut b = [0u8; TERMIOS2_SIZE];
            match (&tty.dev, tty.host_fd()) {
                (TtyDev::Pty(p), _) => {
                    let tio = p.termios();
                    let (ispeed, ospeed) = p.speeds();
                    b.copy_from_slice(termios2(tio, ispeed, ospeed).as_bytes());
                }
                (_, Some(fd)) => {
                    crate::sys::tty_ioctl(fd, TCGETS2, &mut b)?;
                }
                (_, None) => return Err(Errno::ENOTTY),
            }
            t.mm().copy_out(arg, &b)?;
            Ok(0)
        }
        TCGETA => {
            let tio = tty.termios()?;
            t.mm().copy_out(arg, &termio_of(&tio))?;
            Ok(0)
        }
        // The old `struct termio`: its 16-bit flags replace the low half of
        // each of termios' flags, and its 8 control characters the first 8,
        // as Linux's user_termio_to_kernel_termios; then as TCSETS*.
        TCSETA | TCSETAW | TCSETAF => {
            check_change(t, tty, SIGTTOU)?;
            let mut b = [0u8; TERMIO_SIZE];
            t.mm().copy_in(arg, &mut b)?;
            let mut tio = tty.termios()?;
            let half = |i: usize| u32::from(u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]));
            for (i, flag) in
                [&mut tio.c_iflag, &mut tio.c_oflag, &mut tio.c_cflag, &mut tio.c_lflag].into_iter().enumerate()
            {
                *flag = (*flag & 0xffff_0000) | half(i);
            }
            tio.c_line = b[8];
            tio.c_cc[..8].copy_from_slice(&b[9..17]);
            let cmd = match cmd {
                TCSETA => TCSETS,
                TCSETAW => TCSETSW,
                _ => TCSETSF,
            };
            set_termios(t, tty, cmd, tio.as_bytes().to_vec())
        }
        TCSETS | TCSETSW | TCSETSF | TCSETS2 | TCSETSW2 | TCSETSF2 => {
            check_change(t, tty, SIGTTOU)?;
            let two = matches!(cmd, TCSETS2 | TCSETSW2 | TCSETSF2);
            let mut b = vec![0u8; if two { TERMIOS2_SIZE } else { TERMIOS_SIZE }];
            t.mm().copy_in(arg, &mut b)?;
            set_termios(t, tty, cmd, b)
        }
        TCSBRK => {
            check_change(t, tty, SIGTTOU)?;
            // tcdrain; a break (arg 0) is a no-op on a pty, as on Linux.
            drain(t, tty).map_err(|e| if e == Errno::ERESTARTSYS { Errno::EINTR } else { e })?;
            Ok(0)
        }
        TCFLSH | TCXONC => {
            check_change(t, tty, SIGTTOU)?;
            match &tty.dev {
                TtyDev::Pty(p) if cmd == TCFLSH => p.flush(arg, false).map(|_| 0),
                TtyDev::Pty(p) => p.flow(arg).map(|_| 0),
                TtyDev::Host { io, .. } => crate::sys::tty_ioctl_int(io.as_raw_fd(), cmd, arg),
            }
        }
        TIOCGWINSZ => {
            let mut b = [0u8; WINSIZE_SIZE];
            match tty.host_fd() {
                Some(fd) => {
                    crate::sys::tty_ioctl(fd, TIOCGWINSZ, &mut b)?;
                }
                None => b = tty.ctl().winsize,
            }
            t.mm().copy_out(arg, &b)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            let mut b = [0u8; WINSIZE_SIZE];
            t.mm().copy_in(arg, &mut b)?;
            resize(&t.kernel, tty, &mut b, true)?;
            Ok(0)
        }
        FIONREAD | TIOCOUTQ => {
            let mut b = [0u8; 4];
            match (&tty.dev, tty.host_fd()) {
                (TtyDev::Pty(p), _) => {
                    let n = if cmd == FIONREAD { p.input_len() as i32 } else { 0 };
                    b = n.to_le_bytes();
                }
                (_, Some(fd)) => {
                    crate::sys::tty_ioctl(fd, cmd, &mut b)?;
                }
                (_, None) => return Err(Errno::ENOTTY),
            }
            t.mm().copy_out(arg, &b)?;
            Ok(0)
        }
        TIOCGPGRP | TIOCGSID => {
            let v = {
                let procs = t.kernel.procs();
                if !via_master && !procs.procs.get(&t.pid).is_some_and(|p| is_ctty(p, tty)) {
                    return Err(Errno::ENOTTY);
                }
                let c = tty.ctl();
                if cmd == TIOCGSID && c.session == 0 {
                    return Err(Errno::ENOTTY);
                }
                if cmd == TIOCGSID {
                    c.session
                } else {
                    c.pgrp
                }
            };
            t.mm().write_val(arg, &v)?;
            Ok(0)
        }
        TIOCSPGRP => set_pgrp(t, tty, arg),
        TIOCSCTTY => set_ctty(t, file, tty, arg),
        TIOCNOTTY => {
            let kernel = t.kernel.clone();
            let mut procs = kernel.procs();
            let me = procs.procs.get_mut(&t.pid).ok_or(Errno::ESRCH)?;
            if !is_ctty(me, tty) {
                return Err(Errno::ENOTTY);
            }
            if me.sid == t.pid {
                disassociate(&kernel, &mut procs, t.pid, false);
            } else {
                me.ctty = None;
            }
            Ok(0)
        }
        // Only a pty's master has a number (and a lock).
        TIOCGPTN | TIOCSPTLCK | TIOCGPTLCK | TIOCGPTPEER => Err(Errno::ENOTTY),
        _ => {
            log_unknown(cmd);
            Err(Errno::ENOTTY)
        }
    }
}

/// `tio` with line speeds, as TCGETS2 gives it.
fn termios2(tio: Termios, c_ispeed: u32, c_ospeed: u32) -> Termios2 {
    Termios2 {
        c_iflag: tio.c_iflag,
        c_oflag: tio.c_oflag,
        c_cflag: tio.c_cflag,
        c_lflag: tio.c_lflag,
        c_line: tio.c_line,
        c_cc: tio.c_cc,
        c_ispeed,
        c_ospeed,
    }
}

/// A pty's master closed: its replica `tty` hangs up, as Linux's
/// tty_signal_session_leader: no process keeps it as its controlling
/// terminal, and the session's leader gets SIGHUP and SIGCONT. The caller
/// may hold nothing, or anything but the process tree, whose lock is
/// taken here (or, when another thread has it, on a thread of its own,
/// since a file may be closed with it held).
pub fn hangup(kernel: &Arc<Kernel>, tty: &Arc<Tty>) {
    let sid = {
        let mut c = tty.ctl();
        let sid = c.session;
        c.session = 0;
        c.pgrp = 0;
        sid
    };
    if sid == 0 {
        return;
    }
    let work = move |kernel: &Kernel, procs: &mut ProcessTable, tty: &Arc<Tty>| {
        let mut leaders = Vec::new();
        for (pid, p) in procs.procs.iter_mut().filter(|(_, p)| p.sid == sid) {
            if is_ctty(p, tty) {
                p.ctty = None;
            }
            if *pid == sid {
                leaders.push(*pid);
            }
        }
        for pid in leaders {
            kernel_signal_process(kernel, procs, pid, SIGHUP);
            kernel_signal_process(kernel, procs, pid, SIGCONT);
        }
    };
    match kernel.procs.try_lock() {
        Ok(mut procs) => work(kernel, &mut procs, tty),
        Err(std::sync::TryLockError::Poisoned(e)) => work(kernel, &mut e.into_inner(), tty),
        Err(std::sync::TryLockError::WouldBlock) => {
            let (kernel, tty) = (kernel.clone(), tty.clone());
            std::thread::spawn(move || work(&kernel, &mut kernel.procs(), &tty));
        }
    }
}

/// vhangup(2) of the controlling terminal `tty`: the files open on it hang
/// up, a pty replica's unread input goes, and its session loses it (see
/// [`hangup`]), as Linux's tty_vhangup. New opens work as before.
pub fn vhangup(kernel: &Arc<Kernel>, tty: &Arc<Tty>) {
    tty.hangups.fetch_add(1, Ordering::AcqRel);
    if let Some(p) = tty.pty() {
        let _ = p.flush(abi::flags::termios::TCIFLUSH, false);
    }
    hangup(kernel, tty);
}

/// An open of the terminal `tty` without O_NOCTTY (`noctty` false) makes
/// it the caller's controlling terminal if the caller leads a session that
/// has none and no session has it, as Linux's tty_open_proc_set_tty.
pub fn open_may_take_ctty(t: &Task, tty: &Arc<Tty>, noctty: bool) {
    if noctty {
        return;
    }
    let mut procs = t.kernel.procs();
    let Some(me) = procs.procs.get_mut(&t.pid) else { return };
    if me.sid != t.pid || me.ctty.is_some() {
        return;
    }
    let mut c = tty.ctl();
    if c.session != 0 {
        return;
    }
    c.session = me.sid;
    c.pgrp = me.pgid;
    me.ctty = Some(tty.clone());
}

/// TIOCSPGRP, as Linux's tiocspgrp: the group must exist (ESRCH) and be
/// in the caller's session (EPERM), whose controlling terminal this must
/// be (ENOTTY); a caller in the background gets SIGTTOU first.
fn set_pgrp(t: &mut Task, tty: &Arc<Tty>, arg: u64) -> SysResult<u64> {
    match check_change(t, tty, SIGTTOU) {
        Err(Errno::EIO) => return Err(Errno::ENOTTY),
        r => r?,
    }
    let pgrp: i32 = t.mm().read_val(arg)?;
    if pgrp < 0 {
        return Err(Errno::EINVAL);
    }
    let procs = t.kernel.procs();
    let me = procs.procs.get(&t.pid).ok_or(Errno::ESRCH)?;
    let mut c = tty.ctl();
    if !is_ctty(me, tty) || c.session != me.sid {
        return Err(Errno::ENOTTY);
    }
    // Linux takes any pid: a group's session, else that process's (or
    // thread's) own.
    let sid = procs
        .procs
        .values()
        .find(|p| p.pgid == pgrp)
        .or_else(|| procs.threads.get(&pgrp).and_then(|h| procs.procs.get(&h.tg.tgid)))
        .map(|p| p.sid)
        .ok_or(Errno::ESRCH)?;
    if sid != me.sid {
        return Err(Errno::EPERM);
    }
    c.pgrp = pgrp;
    Ok(0)
}

/// TIOCSCTTY, as Linux's tiocsctty: a session leader without a terminal
/// takes this one, unless it controls another session, which only
/// CAP_SYS_ADMIN asking with `arg` 1 may steal it from.
fn set_ctty(t: &mut Task, file: &File, tty: &Arc<Tty>, arg: u64) -> SysResult<u64> {
    let admin = t.creds().has_cap(abi::flags::capability::CAP_SYS_ADMIN);
    let mut procs = t.kernel.procs();
    let me = procs.procs.get(&t.pid).ok_or(Errno::ESRCH)?;
    let (sid, pgid, leader) = (me.sid, me.pgid, me.sid == t.pid);
    let owner = tty.ctl().session;
    if leader && owner == sid {
        return Ok(0);
    }
    if !leader || me.ctty.is_some() {
        return Err(Errno::EPERM);
    }
    if owner != 0 {
        if arg as i32 != 1 || !admin {
            return Err(Errno::EPERM);
        }
        clear_session(&mut procs, owner);
    }
    let acc = file.flags() & O_ACCMODE;
    if acc != O_RDONLY && acc != O_RDWR && !admin {
        return Err(Errno::EPERM);
    }
    tty.set_session(sid, pgid);
    if let Some(me) = procs.procs.get_mut(&t.pid) {
        me.ctty = Some(tty.clone());
    }
    Ok(0)
}
