//! The Sentry's virtual filesystem: dentries, path resolution and open files.
//!
//! Path resolution happens here, not in the Gofer: the Sentry walks one
//! component at a time, handles `.` and `..` itself (`..` at the sandbox root
//! stays at the root, as in a chroot), and reads symlinks and resolves their
//! targets against the sandbox's root. The Gofer only ever sees single names
//! relative to a directory it already opened, and refuses anything else.
//!
//! Dentries are cached with their attributes, negative lookups included: the
//! rootfs is read-only, so a cached answer stays true, and repeated path walks
//! cost no Gofer round trip.

pub mod file;
pub mod pipe;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use abi::flags::mode::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use abi::Errno;
use gofer::{Fid, FileAttr, GoferClient, GoferError};

use crate::mm::SysResult;

/// Linux's limit on symlinks followed in one resolution.
const MAX_SYMLINKS: u32 = 40;
/// Longest name of one path component.
pub const NAME_MAX: usize = 255;
/// Longest path, including its NUL.
pub const PATH_MAX: usize = 4096;

/// Maps a Gofer failure to the errno the app sees.
pub fn gofer_errno(e: GoferError) -> Errno {
    match e {
        GoferError::Errno(n) => Errno(n),
        other => {
            log::error!("gofer: {other}");
            Errno::EIO
        }
    }
}

/// A cached name in the file tree.
pub struct Dentry {
    name: Vec<u8>,
    parent: Weak<Dentry>,
    fid: Fid,
    attr: FileAttr,
    children: Mutex<HashMap<Vec<u8>, Option<Arc<Dentry>>>>,
    link_target: OnceLock<Vec<u8>>,
}

impl Dentry {
    /// The file's attributes.
    pub fn attr(&self) -> &FileAttr {
        &self.attr
    }

    /// The Gofer fid behind this dentry.
    pub fn fid(&self) -> Fid {
        self.fid
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.attr.mode & S_IFMT == S_IFDIR
    }

    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.attr.mode & S_IFMT == S_IFLNK
    }

    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.attr.mode & S_IFMT == S_IFREG
    }

    /// The parent, or `None` at the root.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.parent.upgrade()
    }
}

/// The filesystem tree of one sandbox.
pub struct Vfs {
    gofer: Arc<GoferClient>,
    root: Arc<Dentry>,
}

/// How to treat a symlink in the last component.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Resolve it (stat, open).
    Yes,
    /// Return the link itself (lstat, readlink, O_NOFOLLOW).
    No,
}

impl Vfs {
    /// Attaches to the Gofer's rootfs.
    pub fn new(gofer: Arc<GoferClient>) -> SysResult<Vfs> {
        let (fid, attr) = gofer.attach().map_err(gofer_errno)?;
        let root = Arc::new(Dentry {
            name: Vec::new(),
            parent: Weak::new(),
            fid,
            attr,
            children: Mutex::new(HashMap::new()),
            link_target: OnceLock::new(),
        });
        Ok(Vfs { gofer, root })
    }

    /// The sandbox's root directory.
    pub fn root(&self) -> &Arc<Dentry> {
        &self.root
    }

    /// The Gofer connection.
    pub fn gofer(&self) -> &Arc<GoferClient> {
        &self.gofer
    }

    /// Looks `name` up in `dir`, from the cache or through the Gofer.
    fn lookup(&self, dir: &Arc<Dentry>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut children = dir.children.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = children.get(name) {
            return cached.clone().ok_or(Errno::ENOENT);
        }
        let walked = self.gofer.walk(dir.fid, &[name]).map_err(gofer_errno)?;
        match (walked.steps.first(), walked.error) {
            (Some(&(fid, attr)), _) => {
                let d = Arc::new(Dentry {
                    name: name.to_vec(),
                    parent: Arc::downgrade(dir),
                    fid,
                    attr,
                    children: Mutex::new(HashMap::new()),
                    link_target: OnceLock::new(),
                });
                children.insert(name.to_vec(), Some(d.clone()));
                Ok(d)
            }
            (None, Some(libc::ENOENT)) => {
                children.insert(name.to_vec(), None);
                Err(Errno::ENOENT)
            }
            (None, Some(e)) => Err(Errno(e)),
            (None, None) => Err(Errno::EIO),
        }
    }

    /// The target of a symlink (cached).
    pub fn readlink(&self, d: &Dentry) -> SysResult<Vec<u8>> {
        if !d.is_symlink() {
            return Err(Errno::EINVAL);
        }
        if let Some(t) = d.link_target.get() {
            return Ok(t.clone());
        }
        let t = self.gofer.readlink(d.fid).map_err(gofer_errno)?;
        Ok(d.link_target.get_or_init(|| t).clone())
    }

    /// Resolves `path` from `start` (for relative paths) or `root` (for
    /// absolute ones), following symlinks as Linux does.
    pub fn resolve(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
    ) -> SysResult<Arc<Dentry>> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut cur = if path[0] == b'/' { root.clone() } else { start.clone() };
        // Components still to walk, and whether the path demanded a directory
        // at the end (a trailing slash).
        let mut rest: VecDeque<Vec<u8>> = split(path);
        let mut must_be_dir = path.ends_with(b"/");
        let mut links = 0;
        while let Some(name) = rest.pop_front() {
            let last = rest.is_empty();
            if name == b"." {
                if !cur.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                continue;
            }
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if name == b".." {
                if !Arc::ptr_eq(&cur, root) {
                    if let Some(p) = cur.parent() {
                        cur = p;
                    }
                }
                continue;
            }
            let next = self.lookup(&cur, &name)?;
            if next.is_symlink() && (!last || follow == Follow::Yes || must_be_dir) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = self.readlink(&next)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target[0] == b'/' {
                    cur = root.clone();
                }
                if last && target.ends_with(b"/") {
                    must_be_dir = true;
                }
                for (i, c) in split(&target).into_iter().enumerate() {
                    rest.insert(i, c);
                }
                continue;
            }
            cur = next;
        }
        if must_be_dir && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// The absolute path of `d` within the sandbox.
    pub fn path_of(&self, d: &Arc<Dentry>) -> Vec<u8> {
        let mut parts = Vec::new();
        let mut cur = d.clone();
        while let Some(p) = cur.parent() {
            parts.push(cur.name.clone());
            cur = p;
        }
        if parts.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        out
    }
}

fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(|c| c.to_vec()).collect()
}
