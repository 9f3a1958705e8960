//! The bridge between a host terminal and one of the sandbox's
//! pseudo-terminals, as runc gives a container with `terminal: true` a pty
//! of its own: the app's terminal is /dev/pts/N of the sandbox's devpts,
//! with the Sentry's line discipline (echo, lines, ^C), and the host
//! terminal (the console socket's pty, or the user's terminal under
//! `husk run`) is put in raw mode and only carries bytes. So `tty` says
//! `/dev/pts/0`, `ps` shows `pts/0`, and the terminal's whole state is the
//! Sentry's, which a checkpoint keeps.
//!
//! Input: a thread (`husk-console`) reads the host terminal and writes what
//! it reads into the pair, as the master's writes do. Output: whoever makes
//! output (a replica write, echo of input, restarted output) drains it to
//! the host at once ([`Bridge::drain`]), in order under one lock; nothing
//! waits in between, so nothing is left to flush when the sandbox ends.
//!
//! The host closing its side (the shim closed the console's master, the
//! user's terminal went away) hangs the pair up, as Linux's pty_close does
//! when the master closes. A process's terminal from `husk exec` also ends
//! when its last replica file closes: the bridge then lets go of the host
//! terminal, whose other side (the shim) is waiting for that to see the
//! process's output end. The input thread notices within
//! [`TRANSIENT_CHECK_MS`]: it cannot be woken sooner, since the Sentry's
//! seccomp filter lets it make no pipe or eventfd once it runs, and a poll
//! in progress holds the host terminal open (Linux's poll takes a
//! reference to every file it waits on) whatever else closes it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use zerocopy::{FromBytes, IntoBytes};

use abi::flags::ioctl::{TCGETS, TCSETS, TIOCGWINSZ};
use abi::flags::termios::*;
use abi::types::Termios;
use abi::Errno;

use super::tty::Tty;
use super::waiter::Waker;
use super::Kernel;
use crate::mm::SysResult;
use crate::vfs::file::{POLLIN, POLLOUT};

/// Bytes read from the host per call.
const READ_CHUNK: usize = 4096;
/// How often the input thread of a `husk exec` process's terminal looks
/// whether the terminal is still in use.
pub const TRANSIENT_CHECK_MS: i32 = 50;
// c_iflag and c_cflag bits cfmakeraw(3) clears that the line discipline
// does not name.
const PARMRK: u32 = 0o10;
const CSIZE: u32 = 0o60;
const PARENB: u32 = 0o400;

/// One host terminal joined to one pair.
pub struct Bridge {
    /// The host terminal's fds; `None` once the bridge has ended.
    host: Mutex<Option<HostEnds>>,
    /// Serialises output, so that it reaches the host in the order the
    /// line discipline made it.
    out: Mutex<()>,
    /// Ends when the replica's last file closes (a `husk exec` process's).
    transient: bool,
    ended: AtomicBool,
}

struct HostEnds {
    /// Reads, and the terminal's state.
    io: OwnedFd,
    /// Writes, when `io` is read-only.
    wr: Option<OwnedFd>,
    /// The host terminal's settings before it was made raw, put back when
    /// the bridge ends.
    saved: Option<Termios>,
}

impl HostEnds {
    fn write_fd(&self) -> RawFd {
        self.wr.as_ref().unwrap_or(&self.io).as_raw_fd()
    }
}

/// The host terminal `fd`'s settings and window size.
pub fn host_settings(fd: RawFd) -> (Option<Termios>, [u8; 8]) {
    let mut t = [0u8; std::mem::size_of::<Termios>()];
    let termios = crate::sys::tty_ioctl(fd, TCGETS, &mut t).ok().and_then(|_| Termios::read_from_bytes(&t).ok());
    let mut ws = [0u8; 8];
    let _ = crate::sys::tty_ioctl(fd, TIOCGWINSZ, &mut ws);
    (termios, ws)
}

/// `t` as cfmakeraw(3) leaves it: no input or output processing, no echo,
/// no signals, reads of one byte.
fn raw(mut t: Termios) -> Termios {
    t.c_iflag &= !(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= !OPOST;
    t.c_lflag &= !(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= !(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    t
}

fn set_termios(fd: RawFd, t: &Termios) -> SysResult<()> {
    let mut b = [0u8; std::mem::size_of::<Termios>()];
    b.copy_from_slice(t.as_bytes());
    crate::sys::tty_ioctl(fd, TCSETS, &mut b).map(|_| ())
}

impl Bridge {
    /// Joins the host terminal `io` (with `wr` for writes if `io` is
    /// read-only) to the pair whose replica is `tty`, from now on: makes the
    /// host terminal raw and starts reading it. `transient`: the bridge ends
    /// when the replica's last file closes.
    pub fn attach(
        kernel: &Arc<Kernel>,
        tty: &Arc<Tty>,
        io: OwnedFd,
        wr: Option<OwnedFd>,
        transient: bool,
    ) -> SysResult<()> {
        let pty = tty.pty().ok_or(Errno::ENOTTY)?;
        let (saved, _) = host_settings(io.as_raw_fd());
        if let Some(t) = &saved {
            set_termios(io.as_raw_fd(), &raw(*t))?;
        }
        let bridge = Arc::new(Bridge {
            host: Mutex::new(Some(HostEnds { io, wr, saved })),
            out: Mutex::new(()),
            transient,
            ended: AtomicBool::new(false),
        });
        if pty.set_bridge(bridge.clone()).is_err() {
            bridge.end(false);
            return Err(Errno::EBUSY);
        }
        let (kernel, tty) = (Arc::downgrade(kernel), tty.clone());
        let spawned = std::thread::Builder::new().name("husk-console".into()).spawn(move || {
            crate::sys::block_all_signals_in_this_thread();
            bridge.pump_input(&kernel, &tty);
        });
        spawned.map(|_| ()).map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EAGAIN)))
    }

    fn host(&self) -> MutexGuard<'_, Option<HostEnds>> {
        self.host.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host terminal's window size, for a resize the host signalled.
    pub fn host_winsize(&self) -> Option<[u8; 8]> {
        let host = self.host();
        let mut ws = [0u8; 8];
        crate::sys::tty_ioctl(host.as_ref()?.io.as_raw_fd(), TIOCGWINSZ, &mut ws).ok()?;
        Some(ws)
    }

    /// Sets the host terminal's window size too (the app's TIOCSWINSZ), so
    /// that the host's SIGWINCH for it brings no news.
    pub fn set_host_winsize(&self, ws: &mut [u8; 8]) {
        if let Some(h) = self.host().as_ref() {
            let _ = crate::sys::tty_ioctl(h.io.as_raw_fd(), abi::flags::ioctl::TIOCSWINSZ, ws);
        }
    }

    /// Moves the output `take` gives (the line discipline's, a chunk at a
    /// time, empty when there is no more) to the host terminal. Output
    /// the host cannot take any more (it went away) is dropped, as a hung
    /// up terminal's is.
    pub fn drain(&self, mut take: impl FnMut() -> Vec<u8>) {
        let _order = self.out.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let data = take();
            if data.is_empty() {
                return;
            }
            let host = self.host();
            let Some(h) = host.as_ref() else { continue };
            write_all(h.write_fd(), &data);
        }
    }

    /// Ends the bridge: the host terminal gets its settings back (if
    /// `restore`) and is let go of. Called once the sandbox has ended for
    /// the console, and by the bridge itself when its pair is done.
    pub fn end(&self, restore: bool) {
        self.ended.store(true, Ordering::Release);
        let _order = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = self.host().take() {
            if let (true, Some(t)) = (restore, &h.saved) {
                let _ = set_termios(h.io.as_raw_fd(), t);
            }
        }
    }

    /// The input thread: what the host terminal gives goes into the pair
    /// until the host closes its side (the pair hangs up) or the bridge ends.
    fn pump_input(&self, kernel: &std::sync::Weak<Kernel>, tty: &Arc<Tty>) {
        let Some(pty) = tty.pty() else { return };
        let mut buf = [0u8; READ_CHUNK];
        while !self.ended.load(Ordering::Acquire) {
            if self.transient && pty.replica_gone() {
                pty.drain_output();
                self.end(false);
                pty.close_master(tty);
                return;
            }
            let Some(io) = self.host().as_ref().map(|h| h.io.as_raw_fd()) else { return };
            let timeout = if self.transient { TRANSIENT_CHECK_MS } else { -1 };
            if crate::sys::poll_one(io, POLLIN, timeout) == 0 || self.ended.load(Ordering::Acquire) {
                continue;
            }
            let n = match crate::sys::read_bytes(io, &mut buf) {
                Ok(n) if n > 0 => n,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                // End of file, or EIO: the host's side closed. The pair
                // hangs up, as when a pty's master closes.
                _ => {
                    self.end(false);
                    pty.close_master(tty);
                    return;
                }
            };
            self.feed(kernel, tty, &buf[..n]);
        }
    }

    /// Types `data` into the pair, waiting for room in its input as long as
    /// the bridge lasts.
    fn feed(&self, kernel: &std::sync::Weak<Kernel>, tty: &Arc<Tty>, mut data: &[u8]) {
        let Some(pty) = tty.pty() else { return };
        let waker = Arc::new(Waker::default());
        while !data.is_empty() && !self.ended.load(Ordering::Acquire) {
            waker.reset();
            pty.queue().add(&waker);
            let n = pty.type_in(tty, data);
            if n == 0 {
                if kernel.strong_count() == 0 || pty.hung_up() {
                    pty.queue().remove(&waker);
                    return;
                }
                waker.sleep(Some(std::time::Instant::now() + std::time::Duration::from_millis(100)));
            }
            pty.queue().remove(&waker);
            data = &data[n..];
        }
    }
}

/// Writes all of `data` to the host terminal `fd`, waiting while it is
/// full (its file may be non-blocking: it is shared with whoever gave it);
/// gives up on any other error.
fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        match crate::sys::write_bytes(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                crate::sys::poll_one(fd, POLLOUT, 1000);
            }
            Err(_) => return,
        }
    }
}
