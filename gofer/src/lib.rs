//! The Husk gofer: the only Husk process that opens host paths.
//!
//! The gofer runs as a separate process and serves the sandbox's rootfs
//! (read-only in this version) to the Sentry over an `AF_UNIX`
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
    serve_with(rootfs, extra, sock, false)
}

/// [`serve_roots`] for the Gofer process itself: confined by its seccomp
/// filter once its roots are open, before the first request. The filter
/// covers every thread of the process, so only a process that does
/// nothing else may call this (not a test harness).
pub fn serve_roots_confined(rootfs: &Path, extra: &[ExtraRoot], sock: OwnedFd) -> Result<(), GoferError> {
    serve_with(rootfs, extra, sock, true)
}

fn serve_with(rootfs: &Path, extra: &[ExtraRoot], sock: OwnedFd, confine: bool) -> Result<(), GoferError> {
    let rootfs_root = server::Root::new(server::open_root(rootfs)?);
    refuse_pseudo_filesystem(&rootfs_root, rootfs)?;
    let mut roots = vec![rootfs_root];
    for ExtraRoot { path, hide } in extra {
        let root = server::open_extra_root(path).map_err(|source| GoferError::Source { path: path.clone(), source })?;
        refuse_pseudo_filesystem(&root, path)?;
        roots.push(root.hiding(server::Hidden::new(hide)));
    }
    log::debug!("gofer: serving {} and {} extra roots", rootfs.display(), extra.len());
    let mut server = server::Server::with_roots(roots, MAX_FIDS);
    // Confined before the first request: from here on the Gofer has only
    // the syscalls its serving needs. (The filter cannot look at paths: a
    // compromised Gofer could still open any path openat2 reaches, which
    // an empty mount namespace or Landlock is to take away.)
    if confine {
        seccomp::install(&seccomp::gofer()?)?;
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
}

impl From<std::path::PathBuf> for ExtraRoot {
    fn from(path: std::path::PathBuf) -> Self {
        ExtraRoot { path, hide: Vec::new() }
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
