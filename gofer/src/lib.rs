//! The Husk gofer: the only Husk process that opens host paths.
//!
//! The gofer runs as a separate process and serves the sandbox's rootfs
//! and volumes (read-only, or writable where the user asked) to the Sentry over an `AF_UNIX`
//! `SOCK_SEQPACKET` socketpair created by the runtime. The Sentry does all
//! path resolution itself (mounts, `..`, symlinks, its dentry cache) and
//! calls the gofer through [`GoferClient`] to walk single components, stat,
//! read symlinks and list directories. [`GoferClient::open`] returns an open
//! read-only host fd donated with `SCM_RIGHTS`, so reads need no further
//! round trip. The runtime calls [`serve`] in the gofer process.
//!
//! Every request is treated as hostile (a compromised Sentry): the gofer
//! walks one component at a time with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)` relative to fds it holds,
//! never follows a symlink, never goes through `/proc/self/fd`, bounds every
//! size, and never panics on input; a malformed message ends the
//! connection. See [`protocol`] for the wire format.
//!
//! All `unsafe` code (thin FFI wrappers) lives in the private `sys` module.

#![deny(unsafe_code)]

mod client;
pub mod protocol;
mod server;
#[allow(unsafe_code)]
mod sys;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use client::GoferClient;

/// Messages with fds attached (`SCM_RIGHTS`) on a seqpacket socket, for
/// Husk's other fd-donating process, the network relay.
pub mod fdpass {
    pub use crate::sys::{recv, send, seqpacket_pair, Received};
}
pub use protocol::{MAX_XATTR, XATTR_NAME_MAX};
pub use server::{check_name, MAX_FIDS};

/// Names a file held open by the gofer for one connection. Never reused
/// within a session.
pub type Fid = u64;

/// Attributes of a host file, as `struct stat` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAttr {
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime_sec: i64,
    pub atime_nsec: i64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub ctime_sec: i64,
    pub ctime_nsec: i64,
    pub ino: u64,
    pub dev: u64,
    pub rdev: u64,
}

/// One directory entry. "." and ".." are never included; the Sentry
/// synthesises them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    /// A `DT_*` value (may be `DT_UNKNOWN` on some host filesystems).
    pub dtype: u8,
}

/// What [`GoferClient::mknod`] makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewNode {
    Dir,
    Fifo,
    Socket,
    Regular,
    /// A symlink with this target (at most 4095 bytes, no NUL).
    Symlink(Vec<u8>),
}

/// A time for [`SetAttr`]: seconds and nanoseconds, or "now" (the host's
/// clock, Linux's `UTIME_NOW`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Time {
    Now,
    At(i64, i64),
}

/// The attributes [`GoferClient::setattr`] changes; `None` leaves one
/// alone. Owner first, then mode, as chown clears set-id bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<Time>,
    pub mtime: Option<Time>,
}

/// A filesystem's figures, as `struct statfs` gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsStat {
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
    pub frsize: u64,
}

/// Result of a multi-component walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// One new fid and its attributes per component walked, in order.
    pub steps: Vec<(Fid, FileAttr)>,
    /// Why the walk stopped before the last name, if a component failed.
    pub error: Option<i32>,
}

/// Errors from the gofer client and server.
#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    /// The host (or the gofer's policy) answered with this Linux errno.
    #[error("errno {0}")]
    Errno(i32),
    /// The socket failed or the peer sent something malformed.
    #[error("gofer protocol: {0}")]
    Protocol(String),
    #[error("gofer I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The Gofer's seccomp filter could not be built or installed: it
    /// does not serve unconfined.
    #[error("gofer confinement: {0}")]
    Confine(#[from] seccomp::Error),
    /// A root is on a kernel pseudo-filesystem, which is never served.
    #[error(
        "{path} is on {fs}, a kernel pseudo-filesystem: Husk serves no rootfs or volume from it \
         (the sandbox has its own /proc, /sys and /dev)"
    )]
    PseudoFilesystem {
        /// The root's path.
        path: std::path::PathBuf,
        /// The filesystem, e.g. "procfs".
        fs: &'static str,
    },
    /// An extra root (a bind-mount source) could not be opened.
    #[error("mount source {path}: {source}")]
    Source {
        /// The source path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl GoferError {
    /// The errno to give the app: the errno itself, or EIO when the gofer
    /// connection failed.
    pub fn errno(&self) -> i32 {
        match self {
            GoferError::Errno(e) => *e,
            GoferError::Protocol(_)
            | GoferError::Io(_)
            | GoferError::Source { .. }
            | GoferError::PseudoFilesystem { .. }
            | GoferError::Confine(_) => libc::EIO,
        }
    }
}

/// Serve requests on `sock` for the rootfs at `rootfs` until the peer closes
/// the socket (then `Ok(())`). Opens `rootfs` itself once (`O_PATH |
/// O_DIRECTORY`); every later open is relative to a held fd. A malformed
/// request is logged and ends the connection with `Err`. At most
/// [`MAX_FIDS`] fids may be live at once (EMFILE beyond).
pub fn serve(rootfs: &Path, sock: OwnedFd) -> Result<(), GoferError> {
    serve_roots(rootfs, &[], sock)
}

/// [`serve`] with extra roots besides the rootfs: bind-mount sources, each
/// a directory or a single regular file, attachable as root 1, 2, ... in
/// order ([`GoferClient::attach_root`]). Each is served exactly as the
/// rootfs is (read-only, every open beneath that root).
///
/// A root on a kernel pseudo-filesystem is refused ([`check_root`]), here
/// on the very file opened, whatever the runtime checked before.
pub fn serve_roots(rootfs: &Path, extra: &[ExtraRoot], sock: OwnedFd) -> Result<(), GoferError> {
    let mut roots = vec![ExtraRoot::from(rootfs.to_path_buf())];
    roots.extend_from_slice(extra);
    serve_with(&roots, sock, false)
}

/// Serves `roots`: the rootfs first, then the extra roots (attachable as
/// 1, 2, ...), each read-only or, if asked, writable. Clears the process's
/// umask (the modes the Sentry asks for are exact) and raises its soft
/// RLIMIT_NOFILE.
pub fn serve_all(roots: &[ExtraRoot], sock: OwnedFd) -> Result<(), GoferError> {
    serve_with(roots, sock, false)
}

/// [`serve_all`] for the Gofer process itself: confined by its seccomp
/// filter once its roots are open, before the first request. The filter
/// covers every thread of the process, so only a process that does
/// nothing else may call this (not a test harness). A Gofer with no
/// writable root gets the smaller filter, with no call that changes a
/// tree.
pub fn serve_all_confined(roots: &[ExtraRoot], sock: OwnedFd) -> Result<(), GoferError> {
    serve_with(roots, sock, true)
}

fn serve_with(roots: &[ExtraRoot], sock: OwnedFd, confine: bool) -> Result<(), GoferError> {
    let Some(rootfs) = roots.first() else {
        return Err(GoferError::Protocol("no rootfs to serve".into()));
    };
    let mut opened = Vec::with_capacity(roots.len());
    for (i, ExtraRoot { path, hide, writable }) in roots.iter().enumerate() {
        let root = if i == 0 {
            server::Root::new(
                server::open_root(path).map_err(|source| GoferError::Source { path: path.clone(), source })?,
            )
        } else {
            server::open_extra_root(path).map_err(|source| GoferError::Source { path: path.clone(), source })?
        };
        refuse_pseudo_filesystem(&root, path)?;
        if *writable && !hide.is_empty() {
            return Err(GoferError::Protocol(format!("{}: a writable root hides nothing", path.display())));
        }
        opened.push(root.hiding(server::Hidden::new(hide)).writable(*writable));
    }
    let any_writable = roots.iter().any(|r| r.writable);
    // The modes the Sentry asks for are exact.
    sys::clear_umask();
    // One fd per live fid (and a few besides).
    if let Err(e) = sys::raise_nofile(MAX_FIDS as u64 + 64) {
        log::warn!("gofer: cannot raise RLIMIT_NOFILE: {e}");
    }
    log::debug!("gofer: serving {} and {} extra roots", rootfs.path.display(), roots.len() - 1);
    let mut server = server::Server::with_roots(opened, MAX_FIDS);
    // Confined before the first request: its roots open, the Gofer keeps
    // no other way to the host's tree (an empty mount namespace, where it
    // may make one), and from here on only the syscalls its serving needs.
    if confine {
        if let Err(e) = sys::enter_empty_mount_namespace() {
            log::info!("gofer: keeps the host's mount namespace: {e}");
        }
        seccomp::install(&seccomp::gofer(any_writable)?)?;
    }
    server.run(sock.as_fd())
}

/// A tree served besides the rootfs: a bind-mount source, or one of the
/// host's system directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraRoot {
    /// The directory or file.
    pub path: std::path::PathBuf,
    /// Paths beneath it never served, as if they did not exist (secrets in
    /// the host's /etc): each relative to it, its last component perhaps
    /// ending in `*` to match a prefix.
    pub hide: Vec<String>,
    /// The app may change it (a read-write volume, `--root-writes
    /// host`): the Gofer takes the calls that change a tree, and opens
    /// its files for writing.
    pub writable: bool,
}

impl From<std::path::PathBuf> for ExtraRoot {
    fn from(path: std::path::PathBuf) -> Self {
        ExtraRoot { path, hide: Vec::new(), writable: false }
    }
}

/// The hiding rule for every path beneath a root that others may not read.
pub use server::UNREADABLE;

/// Checks that `path`, to be served as a root (the rootfs or a volume
/// source), is not on a kernel pseudo-filesystem: procfs, sysfs, devtmpfs,
/// debugfs, tracefs, securityfs, cgroupfs, bpf or configfs. Those are
/// windows onto the host kernel (and, writable, ways to change it), never
/// files to share with a sandbox. Symlinks in `path` are followed, as the
/// Gofer follows them when it opens a root.
pub fn check_root(path: &Path) -> Result<(), GoferError> {
    let root = server::open_extra_root(path).map_err(|source| GoferError::Source { path: path.to_owned(), source })?;
    refuse_pseudo_filesystem(&root, path)
}

fn refuse_pseudo_filesystem(root: &server::Root, path: &Path) -> Result<(), GoferError> {
    match root.pseudo_filesystem() {
        Ok(None) => Ok(()),
        Ok(Some(fs)) => Err(GoferError::PseudoFilesystem { path: path.to_owned(), fs }),
        Err(source) => Err(GoferError::Source { path: path.to_owned(), source }),
    }
}

/// Creates a connected, close-on-exec `AF_UNIX` `SOCK_SEQPACKET` socketpair,
/// as the runtime needs for [`serve`] and [`GoferClient::new`].
pub fn socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    sys::seqpacket_pair()
}
