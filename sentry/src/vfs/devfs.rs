//! The device filesystem at /dev: a tmpfs holding the memory devices (null,
//! zero, full, random, urandom), `tty` (the opener's controlling terminal),
//! `ptmx` (a new pseudo-terminal) and the `pts` directory devpts is mounted on,
//! the fd and stdio symlinks into /proc, and the shm directory (over which a
//! tmpfs is mounted).
//!
//! Device nodes are served by the Sentry by device number, wherever they
//! are (a device node in the rootfs opens the Sentry's device of that
//! number, never the host's).

use std::sync::Arc;

use abi::flags::mode::{S_IFCHR, S_IFMT};
use abi::Errno;
use gofer::FileAttr;

use super::file::{FileOps, Mappable};
use super::tmpfs::{self, FsKind, MemFs, NewKind};
use super::Dentry;
use crate::kernel::process::Credentials;
use crate::mm::{Chunk, MemoryFile, SysResult};

/// Linux's device number encoding.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// The major number of a device number.
pub const fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// The minor number of a device number.
pub const fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// The devices the Sentry provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// /dev/null: reads end at once, writes vanish.
    Null,
    /// /dev/zero: reads zeros, writes vanish.
    Zero,
    /// /dev/full: reads zeros, writes fail with ENOSPC.
    Full,
    /// /dev/random: the host's CSPRNG.
    Random,
    /// /dev/urandom: the same.
    Urandom,
    /// /dev/tty: the opener's controlling terminal, which only the open
    /// call can find (see `kernel::tty::open_ctty`).
    Tty,
    /// /dev/console: the sandbox's console, the terminal the runtime gave
    /// init (a container's `terminal: true`), whoever opens it.
    Console,
    /// /dev/ptmx (and /dev/pts/ptmx): opening it makes a pseudo-terminal
    /// pair (see `kernel::pty`).
    Ptmx,
    /// /dev/pts/N: the replica of pseudo-terminal N.
    Pts(u32),
}

/// Every device, with its name and (major, minor).
pub const DEVICES: &[(Device, &str, u32, u32)] = &[
    (Device::Null, "null", 1, 3),
    (Device::Zero, "zero", 1, 5),
    (Device::Full, "full", 1, 7),
    (Device::Random, "random", 1, 8),
    (Device::Urandom, "urandom", 1, 9),
    (Device::Tty, "tty", 5, 0),
    (Device::Console, "console", 5, 1),
    (Device::Ptmx, "ptmx", 5, 2),
];

impl Device {
    /// The character device with number `rdev`, if the Sentry has it.
    pub fn from_rdev(rdev: u64) -> Option<Device> {
        let pts = crate::kernel::pty::PTS_MAJOR;
        let (ma, mi) = (major(rdev), minor(rdev));
        if (pts..pts + 8).contains(&ma) && mi < 256 {
            return Some(Device::Pts((ma - pts) * 256 + mi));
        }
        DEVICES.iter().find(|&&(_, _, ma, mi)| makedev(ma, mi) == rdev).map(|&(d, ..)| d)
    }
}

/// Builds the device filesystem; returns its root. `/dev/shm` is an empty
/// directory, mode 1777, for a tmpfs to be mounted on.
pub fn new(mf: Arc<MemoryFile>) -> SysResult<Arc<Dentry>> {
    let fs = MemFs::new(FsKind::Devfs, mf);
    let root = fs.new_root(0o755, 0, 0);
    let creds = Credentials::new(0, 0);
    for &(dev, name, ma, mi) in DEVICES {
        // The console is for its owner (and group tty) only, as runc makes it.
        let mode = if dev == Device::Console { 0o620 } else { 0o666 };
        tmpfs::create(&root, name.as_bytes(), NewKind::Device(S_IFCHR, makedev(ma, mi)), mode, &creds)?;
    }
    let links: [(&str, &str); 4] = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        tmpfs::create(&root, name.as_bytes(), NewKind::Symlink(target.as_bytes().to_vec()), 0o777, &creds)?;
    }
    tmpfs::mkdir(&root, b"shm", 0o1777, &creds)?;
    tmpfs::mkdir(&root, b"pts", 0o755, &creds)?;
    Ok(root)
}

/// Which of the Sentry's devices the node `dentry` (of any filesystem) is.
pub fn device_of(dentry: &Dentry) -> Option<Device> {
    let attr = dentry.attr();
    if attr.mode & S_IFMT != S_IFCHR {
        return None;
    }
    Device::from_rdev(attr.rdev)
}

/// Opens the device node `dentry` (of any filesystem). The terminals are
/// not opened here: what they open depends on the opener.
pub fn open(dentry: &Arc<Dentry>) -> SysResult<Box<dyn FileOps>> {
    match device_of(dentry) {
        None | Some(Device::Tty | Device::Console | Device::Ptmx | Device::Pts(_)) => Err(Errno::ENXIO),
        Some(dev) => Ok(Box::new(DevFile { dev, dentry: dentry.clone() })),
    }
}

/// An open device.
pub struct DevFile {
    dev: Device,
    dentry: Arc<Dentry>,
}

impl DevFile {
    /// Which device.
    pub fn device(&self) -> Device {
        self.dev
    }
}

fn total(chunks: &[Chunk]) -> u64 {
    chunks.iter().map(|c| c.len).sum()
}

fn fill_zero(mf: &MemoryFile, dst: &[Chunk]) -> usize {
    static ZEROS: [u8; 4096] = [0; 4096];
    for c in dst {
        let mut done = 0;
        while done < c.len {
            let n = (c.len - done).min(ZEROS.len() as u64);
            mf.write(c.off + done, &ZEROS[..n as usize]);
            done += n;
        }
    }
    total(dst) as usize
}

fn fill_random(mf: &MemoryFile, dst: &[Chunk]) -> SysResult<usize> {
    let mut buf = [0u8; 4096];
    for c in dst {
        let mut done = 0;
        while done < c.len {
            let n = (c.len - done).min(buf.len() as u64) as usize;
            crate::sys::getrandom(&mut buf[..n])?;
            mf.write(c.off + done, &buf[..n]);
            done += n as u64;
        }
    }
    Ok(total(dst) as usize)
}

impl FileOps for DevFile {
    fn seekable(&self) -> bool {
        false
    }

    fn positional(&self) -> bool {
        true
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        match self.dev {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => Ok(fill_zero(mf, dst)),
            Device::Random | Device::Urandom => fill_random(mf, dst),
            Device::Tty | Device::Console | Device::Ptmx | Device::Pts(_) => Err(Errno::ENXIO),
        }
    }

    fn write(&self, _mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        match self.dev {
            Device::Full => Err(Errno::ENOSPC),
            _ => Ok(total(src) as usize),
        }
    }

    fn write_append(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<(usize, u64)> {
        self.write(mf, src, None).map(|n| (n, 0))
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.dentry.attr())
    }

    /// lseek on these devices leaves (and reports) position 0, as Linux's do.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Ok(0)
    }

    fn mappable(&self) -> Option<Mappable> {
        match self.dev {
            Device::Zero => Some(Mappable::Anon),
            _ => None,
        }
    }
}
