//! The gofer side: a single-threaded loop that answers [`Request`]s for one
//! connection, holding an `O_PATH` fd for every live fid.
//!
//! Every host path operation is relative to a held fd and names a single
//! component, validated by [`check_name`] before it reaches the host, and is
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)` plus `O_NOFOLLOW`. Nothing goes
//! through `/proc/self/fd`, no symlink is ever followed on the host, and no
//! mount point beneath a root is ever crossed: a root is one filesystem.
//!
//! A name that is a mount point (a host procfs in a chroot's `/proc`, a
//! bind mount, a tmpfs) is served as the mount point looks from below, an
//! empty directory (or an empty file, where a file is mounted over a file),
//! whatever is mounted there. The only thing read across the mount is its
//! file type, which a mount must share with what it covers. A user who
//! wants a host mount served names it as a root of its own (a volume).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use log::{debug, warn};

use crate::protocol::{
    self, Request, Response, Tagged, DIRENTS_PAGE_BUDGET, MAX_MESSAGE, MAX_SYMLINK_TARGET, MAX_WALK_NAMES, NAME_MAX,
};
use crate::{sys, DirEntry, Fid, FileAttr, GoferError};

mod write;

/// Most live fids per connection; attaching or walking beyond gives EMFILE.
pub const MAX_FIDS: usize = 65536;

/// `resolve` flags for every `openat2` of a name beneath a root: stay
/// beneath the anchor fd, follow no symlinks (magic or not), cross no mount
/// point.
const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV;

/// The same for a root that is a single file, opened and reopened by its
/// name in its directory: the root is what the runtime named, and may well
/// be a mount point itself (a bind-mounted `/etc/hosts`, say).
const RESOLVE_ROOT_FILE: u64 = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_SYMLINKS;

/// Kernel pseudo-filesystems never served as a root, by `statfs`'s
/// `f_type`: they are windows onto the host kernel, not files.
const PSEUDO_FS_MAGICS: &[(i64, &str)] = &[
    (0x9fa0, "procfs"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x0027_e0eb, "cgroupfs"),
    (0x6367_7270, "cgroup2fs"),
    (0xcafe_4a11, "bpf"),
    (0x6265_6570, "configfs"),
];

/// The pseudo-filesystem whose `f_type` is an ordinary one's (devtmpfs is
/// a tmpfs, or a ramfs), known by its type name in the mount table.
const DEVTMPFS: &str = "devtmpfs";

/// Size of the buffer handed to `getdents64`.
const GETDENTS_BUF: usize = 32 * 1024;

/// Checks that `name` is one ordinary path component, without touching the
/// host. The Sentry resolves `.`, `..` and multi-component paths itself, so
/// these only come from a buggy or hostile Sentry:
///
/// * `""` → ENOENT (what Linux says for an empty path);
/// * longer than [`NAME_MAX`] (255) bytes → ENAMETOOLONG;
/// * `"."` or `".."` → EINVAL;
/// * containing `/` or NUL → EINVAL.
pub fn check_name(name: &[u8]) -> Result<CString, i32> {
    if name.is_empty() {
        return Err(libc::ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    if name == b"." || name == b".." || name.contains(&b'/') {
        return Err(libc::EINVAL);
    }
    CString::new(name).map_err(|_| libc::EINVAL)
}

/// File type bits of a mode.
fn file_type(mode: u32) -> u32 {
    mode & libc::S_IFMT
}

/// Turns an `io::Error` from the host into the errno to report.
fn errno_of(err: &io::Error) -> i32 {
    match err.raw_os_error() {
        Some(e) if e > 0 && e < 4096 => e,
        _ => libc::EIO,
    }
}

impl FileAttr {
    /// Converts a host `struct stat`.
    pub(crate) fn from_stat(st: &libc::stat) -> Self {
        // Field types differ between architectures (e.g. `st_nlink` and
        // `st_blksize` are narrower on arm64), hence the conversions.
        #[allow(clippy::useless_conversion)]
        FileAttr {
            mode: st.st_mode,
            nlink: u64::from(st.st_nlink),
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            blksize: u64::try_from(i64::from(st.st_blksize)).unwrap_or(0),
            blocks: u64::try_from(i64::from(st.st_blocks)).unwrap_or(0),
            atime_sec: i64::from(st.st_atime),
            atime_nsec: i64::from(st.st_atime_nsec),
            mtime_sec: i64::from(st.st_mtime),
            mtime_nsec: i64::from(st.st_mtime_nsec),
            ctime_sec: i64::from(st.st_ctime),
            ctime_nsec: i64::from(st.st_ctime_nsec),
            ino: u64::from(st.st_ino),
            dev: u64::from(st.st_dev),
            rdev: u64::from(st.st_rdev),
        }
    }
}

/// What the gofer holds for one fid.
enum Node {
    /// A file of a root's filesystem.
    Host(HostNode),
    /// A mount point beneath a root, as it looks from below: an empty
    /// directory or file with these attributes. It has no fd: nothing
    /// beyond the mount is ever opened.
    Covered(FileAttr),
}

/// A file of a root's filesystem, held open.
struct HostNode {
    /// `O_PATH | O_NOFOLLOW` fd for the file itself (for the root: the
    /// rootfs fd).
    fd: Arc<OwnedFd>,
    /// The parent's fd and this file's name in it, used to reopen the file
    /// for reading. `None` for the root, which is reopened as "." of `fd`.
    parent: Option<(Arc<OwnedFd>, CString)>,
    /// The parent's device and inode number (a rename moves the names
    /// in a directory, whichever fid the directory was walked as).
    parent_id: (u64, u64),
    /// The `resolve` flags to reopen it with: [`RESOLVE_ROOT_FILE`] for a
    /// single-file root, else [`RESOLVE`].
    resolve: u64,
    /// Identity and type when the fid was made; a reopen must find the same
    /// file, or it fails with ESTALE.
    mode: u32,
    dev: u64,
    ino: u64,
    /// In a root with hidden paths: those, and this file's path relative
    /// to the root.
    place: Option<(Arc<Hidden>, Vec<u8>)>,
    /// Which root the file is beneath, and whether that root is writable.
    root: u32,
    writable: bool,
}

/// One tree the gofer serves: the rootfs, or an extra root (a bind-mount
/// source, a directory or a single file).
pub(crate) struct Root {
    /// `O_PATH` fd of the root itself.
    fd: Arc<OwnedFd>,
    /// For a single-file root: its directory and name, to reopen it by (a
    /// directory root is reopened as "." of `fd`).
    parent: Option<(Arc<OwnedFd>, CString)>,
    /// Paths beneath the root that are never served.
    hide: Option<Arc<Hidden>>,
    /// The root takes calls that change it.
    writable: bool,
}

/// Paths beneath a root the Gofer never serves, as if they did not exist:
/// each a path relative to the root (`shadow`, `ssh/ssh_host_ed25519_key`),
/// whose last component may end in `*` to match every name with that
/// prefix (`ssh/ssh_host_*`).
///
/// The rule [`UNREADABLE`] hides, besides, every file and directory that
/// others may not read (no `o+r` bit): on the host's /etc, that is where
/// secrets are, whatever their names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hidden {
    rules: Vec<Vec<u8>>,
    unreadable: bool,
}

/// The hiding rule for every path others may not read.
pub const UNREADABLE: &str = "!unreadable";

impl Hidden {
    /// Rules from their text; `None` when there are none.
    pub(crate) fn new(rules: &[String]) -> Option<Arc<Hidden>> {
        let unreadable = rules.iter().any(|r| r == UNREADABLE);
        let rules: Vec<Vec<u8>> = rules
            .iter()
            .filter(|r| *r != UNREADABLE)
            .map(|r| r.trim_matches('/').as_bytes().to_vec())
            .filter(|r| !r.is_empty())
            .collect();
        (!rules.is_empty() || unreadable).then(|| Arc::new(Hidden { rules, unreadable }))
    }

    /// Whether a file of mode `mode` is hidden for its mode alone.
    pub(crate) fn hides_mode(&self, mode: u32) -> bool {
        self.unreadable && file_type(mode) != libc::S_IFLNK && mode & 0o004 == 0
    }

    /// Whether the path `rel` (relative to the root) is hidden.
    pub(crate) fn hides(&self, rel: &[u8]) -> bool {
        self.rules.iter().any(|r| match r.strip_suffix(b"*") {
            Some(prefix) => rel.starts_with(prefix) && !rel[prefix.len()..].contains(&b'/'),
            None => r == rel,
        })
    }
}

/// `name` beneath the root-relative directory `dir`.
fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

impl Root {
    /// A directory root from its `O_PATH` fd.
    pub(crate) fn new(fd: OwnedFd) -> Root {
        Root { fd: Arc::new(fd), parent: None, hide: None, writable: false }
    }

    /// The same root, writable or not.
    pub(crate) fn writable(mut self, writable: bool) -> Root {
        self.writable = writable;
        self
    }

    /// The same root, never serving the paths `hide` names.
    pub(crate) fn hiding(mut self, hide: Option<Arc<Hidden>>) -> Root {
        self.hide = hide;
        self
    }

    /// The kernel pseudo-filesystem the root is on, if it is on one.
    pub(crate) fn pseudo_filesystem(&self) -> io::Result<Option<&'static str>> {
        pseudo_filesystem(self.fd.as_fd())
    }
}

/// State for one connection.
pub(crate) struct Server {
    roots: Vec<Root>,
    fids: HashMap<Fid, Node>,
    next_fid: Fid,
    max_fids: usize,
}

impl Server {
    #[cfg(test)]
    pub(crate) fn new(root: OwnedFd, max_fids: usize) -> Self {
        Server::with_roots(vec![Root::new(root)], max_fids)
    }

    /// A server for `roots` (the rootfs first).
    pub(crate) fn with_roots(roots: Vec<Root>, max_fids: usize) -> Self {
        Server { roots, fids: HashMap::new(), next_fid: 1, max_fids }
    }

    /// Answers requests on `sock` until the peer closes it (`Ok`) or sends a
    /// malformed message (`Err`, after logging it).
    pub(crate) fn run(&mut self, sock: BorrowedFd<'_>) -> Result<(), GoferError> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let got = sys::recv(sock, &mut buf, false)?;
            if got.len == 0 && !got.truncated {
                debug!("gofer: peer closed the connection");
                return Ok(());
            }
            if got.truncated {
                warn!("gofer: request larger than {MAX_MESSAGE} bytes; closing");
                return Err(GoferError::Protocol("request too large".into()));
            }
            if got.control_truncated {
                warn!("gofer: request carried ancillary data; closing");
                return Err(GoferError::Protocol("unexpected ancillary data".into()));
            }
            let req: Tagged<Request> = match protocol::decode(&buf[..got.len]) {
                Ok(r) => r,
                Err(e) => {
                    warn!("gofer: malformed request ({} bytes): {e}; closing", got.len);
                    return Err(GoferError::Protocol(format!("malformed request: {e}")));
                }
            };
            debug!("gofer: request {:?}", req);
            let (resp, fd) = self.handle(req.msg);
            let bytes = protocol::encode(&Tagged { tag: req.tag, msg: resp })
                .map_err(|e| GoferError::Protocol(format!("cannot encode response: {e}")))?;
            match sys::send(sock, &bytes, fd.as_ref().map(|f| f.as_fd())) {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                    debug!("gofer: peer went away while we answered");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Executes one request. Never fails as a whole: host and policy errors
    /// become [`Response::Error`].
    pub(crate) fn handle(&mut self, req: Request) -> (Response, Option<OwnedFd>) {
        let result = match req {
            Request::Attach { root } => self.attach(root).map(|(fid, attr)| Response::Attach { fid, attr }),
            Request::Walk { dir, names } => self.walk(dir, &names),
            Request::Stat { fid } => self.stat(fid).map(Response::Stat),
            Request::Open { fid, flags } => {
                return match self.open(fid, flags) {
                    Ok(fd) => (Response::Open, Some(fd)),
                    Err(e) => (Response::Error(e), None),
                }
            }
            Request::Readlink { fid } => self.readlink(fid).map(Response::Readlink),
            Request::Getdents { fid, offset } => self.getdents(fid, offset),
            Request::Clunk { fid } => self.clunk(fid).map(|()| Response::Clunk),
            Request::Create { dir, name, flags, mode, uid, gid } => {
                return match self.create(dir, &name, flags, mode, (uid, gid)) {
                    Ok((fid, attr, fd)) => (Response::Created { fid, attr }, Some(fd)),
                    Err(e) => (Response::Error(e), None),
                }
            }
            Request::Mknod { dir, name, node, mode, uid, gid } => {
                self.mknod(dir, &name, &node, mode, (uid, gid)).map(|(fid, attr)| Response::Made { fid, attr })
            }
            Request::Link { file, dir, name } => {
                self.link(file, dir, &name).map(|(fid, attr)| Response::Made { fid, attr })
            }
            Request::Unlink { dir, name, dir_flag } => self.unlink(dir, &name, dir_flag).map(|()| Response::Done),
            Request::Rename { odir, oname, ndir, nname, flags } => {
                self.rename(odir, &oname, ndir, &nname, flags).map(|()| Response::Done)
            }
            Request::Setattr { fid, set } => self.setattr(fid, &set).map(Response::Stat),
            Request::Statfs { fid } => self.statfs(fid).map(Response::Statfs),
            Request::Getxattr { fid, name } => self.getxattr(fid, &name).map(Response::Xattr),
            Request::Listxattr { fid } => self.listxattr(fid).map(Response::Xattr),
            Request::Setxattr { fid, name, value, flags } => {
                self.setxattr(fid, &name, &value, flags).map(|()| Response::Done)
            }
            Request::Removexattr { fid, name } => self.removexattr(fid, &name).map(|()| Response::Done),
        };
        (result.unwrap_or_else(Response::Error), None)
    }

    fn node(&self, fid: Fid) -> Result<&Node, i32> {
        self.fids.get(&fid).ok_or(libc::EBADF)
    }

    /// Registers a node under a fresh fid (never reused), or EMFILE.
    fn insert(&mut self, node: Node) -> Result<Fid, i32> {
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let fid = self.next_fid;
        self.next_fid = fid.checked_add(1).ok_or(libc::EMFILE)?;
        self.fids.insert(fid, node);
        Ok(fid)
    }

    fn attach(&mut self, index: u32) -> Result<(Fid, FileAttr), i32> {
        let root = usize::try_from(index).ok().and_then(|i| self.roots.get(i)).ok_or(libc::ENOENT)?;
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let st = sys::fstat(root.fd.as_fd()).map_err(|e| errno_of(&e))?;
        let resolve = if root.parent.is_some() { RESOLVE_ROOT_FILE } else { RESOLVE };
        let node = Node::Host(HostNode {
            fd: Arc::clone(&root.fd),
            parent: root.parent.clone(),
            parent_id: (0, 0),
            resolve,
            mode: st.st_mode,
            dev: st.st_dev,
            ino: st.st_ino,
            place: root.hide.clone().map(|h| (h, Vec::new())),
            root: index,
            writable: root.writable,
        });
        let fid = self.insert(node)?;
        Ok((fid, FileAttr::from_stat(&st)))
    }

    fn walk(&mut self, dir: Fid, names: &[Vec<u8>]) -> Result<Response, i32> {
        // The directory walked from: `None` for a mount point seen from
        // below, which is empty.
        let (mut parent, mut place, within, mut parent_id) = match self.node(dir)? {
            Node::Host(h) => (Some(Arc::clone(&h.fd)), h.place.clone(), (h.root, h.writable), (h.dev, h.ino)),
            Node::Covered(_) => (None, None, (0, false), (0, 0)),
        };
        if names.len() > MAX_WALK_NAMES {
            return Err(libc::EINVAL);
        }
        let mut steps = Vec::with_capacity(names.len());
        let mut error = None;
        for name in names {
            let here = place.as_ref().map(|(h, rel)| (Arc::clone(h), child_path(rel, name)));
            let step = match (&parent, &here) {
                // A hidden path is not there, whatever the host holds.
                (Some(_), Some((h, rel))) if h.hides(rel) => check_name(name).and(Err(libc::ENOENT)),
                (Some(dir), _) => self.walk_one(dir, parent_id, name, here.clone(), within),
                (None, _) => check_name(name).and(Err(libc::ENOENT)),
            };
            match step {
                Ok((fid, attr, fd)) => {
                    steps.push((fid, attr));
                    if file_type(attr.mode) == libc::S_IFLNK {
                        break;
                    }
                    parent = fd;
                    place = here;
                    parent_id = (attr.dev, attr.ino);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        Ok(Response::Walk { steps, error })
    }

    /// Walks one name in `parent`: its new fid, its attributes, and its fd
    /// (`None` for a mount point, which is served as seen from below).
    fn walk_one(
        &mut self,
        parent: &Arc<OwnedFd>,
        parent_id: (u64, u64),
        name: &[u8],
        place: Option<(Arc<Hidden>, Vec<u8>)>,
        (root, writable): (u32, bool),
    ) -> Result<(Fid, FileAttr, Option<Arc<OwnedFd>>), i32> {
        let cname = check_name(name)?;
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let fd = match sys::openat2(parent.as_fd(), &cname, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, RESOLVE)
        {
            Ok(fd) => fd,
            // One checked component, no symlinks: only a mount point gives
            // EXDEV.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let attr = covered_attr(parent.as_fd(), &cname)?;
                let fid = self.insert(Node::Covered(attr))?;
                debug!("gofer: {} is a mount point; served as seen from below", cname.to_string_lossy());
                return Ok((fid, attr, None));
            }
            Err(e) => return Err(errno_of(&e)),
        };
        let st = sys::fstat(fd.as_fd()).map_err(|e| errno_of(&e))?;
        if place.as_ref().is_some_and(|(h, _)| h.hides_mode(st.st_mode)) {
            return Err(libc::ENOENT);
        }
        let fd = Arc::new(fd);
        let node = Node::Host(HostNode {
            fd: Arc::clone(&fd),
            parent: Some((Arc::clone(parent), cname)),
            parent_id,
            resolve: RESOLVE,
            mode: st.st_mode,
            dev: st.st_dev,
            ino: st.st_ino,
            place,
            root,
            writable,
        });
        let fid = self.insert(node)?;
        Ok((fid, FileAttr::from_stat(&st), Some(fd)))
    }

    fn stat(&self, fid: Fid) -> Result<FileAttr, i32> {
        match self.node(fid)? {
            Node::Host(node) => {
                let st = sys::fstat(node.fd.as_fd()).map_err(|e| errno_of(&e))?;
                Ok(FileAttr::from_stat(&st))
            }
            Node::Covered(attr) => Ok(*attr),
        }
    }

    /// Opens `fid` read-only for donation. See [`crate::GoferClient::open`].
    fn open(&self, fid: Fid, flags: u32) -> Result<OwnedFd, i32> {
        let node = self.node(fid)?;
        // Reinterpret the app's flag bits as the host's `int` flags.
        let flags = i32::from_ne_bytes(flags.to_ne_bytes());
        let tmpfile_bit = libc::O_TMPFILE & !libc::O_DIRECTORY;
        let access = flags & libc::O_ACCMODE;
        let writes = access != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        let writable = matches!(node, Node::Host(h) if h.writable);
        if (writes && !writable) || flags & (libc::O_CREAT | tmpfile_bit) != 0 {
            return Err(libc::EROFS);
        }
        if access == libc::O_ACCMODE {
            return Err(libc::EINVAL);
        }
        let mode = match node {
            Node::Host(h) => h.mode,
            Node::Covered(attr) => attr.mode,
        };
        let ftype = file_type(mode);
        if flags & libc::O_DIRECTORY != 0 && ftype != libc::S_IFDIR {
            return Err(if ftype == libc::S_IFLNK { libc::ELOOP } else { libc::ENOTDIR });
        }
        if writes && ftype == libc::S_IFDIR {
            return Err(libc::EISDIR);
        }
        match node {
            // O_TRUNC is the Sentry's to carry out, on the fd: truncating
            // here, before the identity check, could cut another file.
            Node::Host(h) => self.reopen_as(h, access),
            // An empty file's contents; a directory is read with getdents.
            Node::Covered(_) if ftype == libc::S_IFREG => sys::empty_sealed_memfd().map_err(|e| errno_of(&e)),
            Node::Covered(_) => Err(libc::EPERM),
        }
    }

    /// Reopens `node` as `O_RDONLY | O_CLOEXEC` (no `O_NONBLOCK`), by name
    /// from its parent's fd, and checks it is still the same file.
    ///
    /// Only regular files and directories are opened: a symlink gives ELOOP,
    /// a socket ENXIO (as Linux), and FIFOs and device nodes EPERM, since
    /// opening them on the host could block the gofer or reach host devices.
    fn reopen(&self, node: &HostNode) -> Result<OwnedFd, i32> {
        self.reopen_as(node, libc::O_RDONLY)
    }

    /// [`Server::reopen`] with the access mode `access`.
    fn reopen_as(&self, node: &HostNode, access: libc::c_int) -> Result<OwnedFd, i32> {
        let ftype = file_type(node.mode);
        let mut flags = access | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY;
        match ftype {
            libc::S_IFREG => {}
            libc::S_IFDIR => flags |= libc::O_DIRECTORY,
            libc::S_IFLNK => return Err(libc::ELOOP),
            libc::S_IFSOCK => return Err(libc::ENXIO),
            _ => return Err(libc::EPERM),
        }
        // The name must still be the file walked before anything opens it:
        // an open has effects of its own (a device's, a FIFO's), and a
        // writable root's names may have been renamed over since. (This
        // process is single-threaded: only the host could change the name
        // between here and the open, which the check after it catches.)
        if let Some((parent, name)) = &node.parent {
            let st = sys::stat_at(parent.as_fd(), name).map_err(|e| errno_of(&e))?;
            if st.st_dev != node.dev || st.st_ino != node.ino || file_type(st.st_mode) != ftype {
                return Err(libc::ESTALE);
            }
        }
        // O_NONBLOCK so that, should the name now be a FIFO, the open cannot
        // block; it is cleared again below once the type is checked.
        let fd = match &node.parent {
            Some((parent, name)) => sys::openat2(parent.as_fd(), name, flags | libc::O_NONBLOCK, node.resolve),
            None => sys::openat2(node.fd.as_fd(), c".", flags | libc::O_NONBLOCK, node.resolve),
        }
        .map_err(|e| errno_of(&e))?;
        let st = sys::fstat(fd.as_fd()).map_err(|e| errno_of(&e))?;
        if st.st_dev != node.dev || st.st_ino != node.ino || file_type(st.st_mode) != ftype {
            warn!("gofer: file changed identity between walk and open");
            return Err(libc::ESTALE);
        }
        sys::clear_nonblock(fd.as_fd()).map_err(|e| errno_of(&e))?;
        Ok(fd)
    }

    fn readlink(&self, fid: Fid) -> Result<Vec<u8>, i32> {
        let Node::Host(node) = self.node(fid)? else {
            return Err(libc::EINVAL);
        };
        if file_type(node.mode) != libc::S_IFLNK {
            return Err(libc::EINVAL);
        }
        let mut buf = vec![0u8; MAX_SYMLINK_TARGET + 1];
        let n = sys::readlink(node.fd.as_fd(), &mut buf).map_err(|e| errno_of(&e))?;
        if n > MAX_SYMLINK_TARGET {
            return Err(libc::ENAMETOOLONG);
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// One page of entries of directory `fid`, starting at the `d_off`
    /// cookie `offset`. Stateless: each page reopens the directory and
    /// seeks, so a hostile Sentry cannot pile up open directory streams.
    fn getdents(&self, fid: Fid, offset: i64) -> Result<Response, i32> {
        let node = match self.node(fid)? {
            Node::Host(node) => node,
            Node::Covered(attr) if file_type(attr.mode) == libc::S_IFDIR => {
                return Ok(Response::Dirents { entries: Vec::new(), next: 0, eof: true });
            }
            Node::Covered(_) => return Err(libc::ENOTDIR),
        };
        if file_type(node.mode) != libc::S_IFDIR {
            return Err(libc::ENOTDIR);
        }
        let dir = self.reopen(node)?;
        if offset != 0 {
            sys::seek_set(dir.as_fd(), offset).map_err(|e| errno_of(&e))?;
        }
        let mut buf = vec![0u8; GETDENTS_BUF];
        let mut entries = Vec::new();
        let mut used = 0usize;
        let mut next = offset;
        loop {
            let n = sys::getdents64(dir.as_fd(), &mut buf).map_err(|e| errno_of(&e))?;
            if n == 0 {
                return Ok(Response::Dirents { entries, next, eof: true });
            }
            for raw in parse_dirents(&buf[..n]) {
                let raw = raw?;
                let hidden = node.place.as_ref().is_some_and(|(h, rel)| {
                    h.hides(&child_path(rel, raw.name))
                        || (h.unreadable
                            && CString::new(raw.name)
                                .ok()
                                .and_then(|n| sys::stat_at(dir.as_fd(), &n).ok())
                                .is_some_and(|st| h.hides_mode(st.st_mode)))
                });
                if raw.name != b"." && raw.name != b".." && !hidden {
                    let cost = protocol::dirent_encoded_len(raw.name.len());
                    if used + cost > DIRENTS_PAGE_BUDGET {
                        return Ok(Response::Dirents { entries, next, eof: false });
                    }
                    used += cost;
                    entries.push(DirEntry { name: raw.name.to_vec(), ino: raw.ino, dtype: raw.dtype });
                }
                next = raw.off;
            }
        }
    }

    fn clunk(&mut self, fid: Fid) -> Result<(), i32> {
        self.fids.remove(&fid).map(|_| ()).ok_or(libc::EBADF)
    }
}

/// The attributes of the mount point `name` in `dir` as seen from below:
/// an empty directory (0755, two links) or, where a file is mounted over a
/// file, an empty file (0644), owned by root, on the parent's device and
/// with its times, and an inode number of its own, stable for the name,
/// with the top bit set (no real filesystem hands those out). Only the
/// mount's file type is looked at, as it must be the covered one's.
fn covered_attr(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<FileAttr, i32> {
    let parent = sys::fstat(dir).map_err(|e| errno_of(&e))?;
    let is_dir = sys::stat_at(dir, name).map_or(true, |st| file_type(st.st_mode) == libc::S_IFDIR);
    // FNV-1a over the parent's identity and the name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parent.st_dev.to_ne_bytes().iter().chain(&parent.st_ino.to_ne_bytes()).chain(name.to_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let base = FileAttr::from_stat(&parent);
    Ok(FileAttr {
        mode: if is_dir { libc::S_IFDIR | 0o755 } else { libc::S_IFREG | 0o644 },
        nlink: if is_dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        size: 0,
        blocks: 0,
        ino: h | 1 << 63,
        rdev: 0,
        ..base
    })
}

/// The kernel pseudo-filesystem (procfs, sysfs, devtmpfs, debugfs,
/// tracefs, securityfs, cgroupfs, bpf, configfs) `fd` is on, if any. Known
/// by `statfs`'s `f_type`, and, for those that share an ordinary one's
/// (devtmpfs is a tmpfs), by the type the host's mount table gives the
/// filesystem of `fd`'s device.
fn pseudo_filesystem(fd: BorrowedFd<'_>) -> io::Result<Option<&'static str>> {
    let fs = sys::fstatfs(fd)?;
    #[allow(clippy::useless_conversion)] // f_type's width differs by architecture
    let magic = i64::from(fs.f_type);
    if let Some((_, name)) = PSEUDO_FS_MAGICS.iter().find(|(m, _)| *m == magic) {
        return Ok(Some(name));
    }
    // Only devtmpfs hides behind another's magic (tmpfs's, or ramfs's
    // without CONFIG_TMPFS): the mount table is read for those alone.
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC {
        return Ok(None);
    }
    let dev = sys::fstat(fd)?.st_dev;
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok((mountinfo_fstype(&table, major, minor) == Some(DEVTMPFS)).then_some(DEVTMPFS))
}

/// The filesystem type of the device `major:minor` in a `mountinfo` table
/// (`ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - FSTYPE SOURCE ...`).
fn mountinfo_fstype(table: &str, major: u32, minor: u32) -> Option<&str> {
    let want = format!("{major}:{minor}");
    table.lines().find_map(|line| {
        let mut fields = line.split(' ');
        if fields.nth(2) != Some(want.as_str()) {
            return None;
        }
        let mut after = line.split(" - ").nth(1)?.split(' ');
        after.next()
    })
}

/// One `linux_dirent64` record, borrowed from the getdents buffer.
struct RawDirent<'a> {
    ino: u64,
    off: i64,
    dtype: u8,
    name: &'a [u8],
}

/// Fixed part of `linux_dirent64`: ino (8), off (8), reclen (2), type (1).
const DIRENT64_HEADER: usize = 19;

/// Parses `linux_dirent64` records with bounds checks; a malformed record
/// yields EIO.
fn parse_dirents(buf: &[u8]) -> impl Iterator<Item = Result<RawDirent<'_>, i32>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let rest = &buf[pos..];
        let parsed = (|| {
            let header = rest.get(..DIRENT64_HEADER)?;
            let ino = u64::from_ne_bytes(header[0..8].try_into().ok()?);
            let off = i64::from_ne_bytes(header[8..16].try_into().ok()?);
            let reclen = usize::from(u16::from_ne_bytes(header[16..18].try_into().ok()?));
            let dtype = header[18];
            if reclen <= DIRENT64_HEADER {
                return None;
            }
            let name_area = rest.get(DIRENT64_HEADER..reclen)?;
            let len = name_area.iter().position(|&b| b == 0)?;
            Some((RawDirent { ino, off, dtype, name: &name_area[..len] }, reclen))
        })();
        match parsed {
            Some((d, reclen)) => {
                pos += reclen;
                Some(Ok(d))
            }
            None => {
                pos = buf.len();
                warn!("gofer: malformed linux_dirent64 from the host");
                Some(Err(libc::EIO))
            }
        }
    })
}

/// Opens the rootfs (a trusted path from the runtime) as `O_PATH |
/// O_DIRECTORY`, the one fd every later open is relative to.
pub(crate) fn open_root(rootfs: &Path) -> io::Result<OwnedFd> {
    let file =
        OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).open(rootfs)?;
    Ok(OwnedFd::from(file))
}

/// Opens an extra root (a trusted path from the runtime): a directory as
/// [`open_root`] does, or a single regular file, held as its directory and
/// name so that it can be reopened like any walked file. Symlinks in the
/// path are the runtime's own and are resolved first.
pub(crate) fn open_extra_root(path: &Path) -> io::Result<Root> {
    let path = std::fs::canonicalize(path)?;
    if std::fs::metadata(&path)?.is_dir() {
        return Ok(Root::new(open_root(&path)?));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let dir = Arc::new(open_root(dir)?);
    let name = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = sys::openat2(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, RESOLVE_ROOT_FILE)?;
    let st = sys::fstat(fd.as_fd())?;
    if file_type(st.st_mode) != libc::S_IFREG {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(Root { fd: Arc::new(fd), parent: Some((dir, name)), hide: None, writable: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::symlink;

    fn server(max_fids: usize) -> (tempfile::TempDir, Server) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/f"), b"x").unwrap();
        symlink("d", dir.path().join("l")).unwrap();
        let root = open_root(dir.path()).unwrap();
        (dir, Server::new(root, max_fids))
    }

    fn names(list: &[&[u8]]) -> Vec<Vec<u8>> {
        list.iter().map(|n| n.to_vec()).collect()
    }

    #[test]
    fn check_name_policy() {
        assert_eq!(check_name(b""), Err(libc::ENOENT));
        assert_eq!(check_name(b"."), Err(libc::EINVAL));
        assert_eq!(check_name(b".."), Err(libc::EINVAL));
        assert_eq!(check_name(b"a/b"), Err(libc::EINVAL));
        assert_eq!(check_name(b"/"), Err(libc::EINVAL));
        assert_eq!(check_name(b"a\0b"), Err(libc::EINVAL));
        assert_eq!(check_name(&[b'a'; 256]), Err(libc::ENAMETOOLONG));
        assert_eq!(check_name(&[b'/'; 300]), Err(libc::ENAMETOOLONG));
        assert!(check_name(&[b'a'; 255]).is_ok());
        assert!(check_name(b"...").is_ok());
        assert!(check_name(b".hidden").is_ok());
    }

    #[test]
    fn fid_limit_gives_emfile_and_clunk_frees_a_slot() {
        let (_dir, mut s) = server(3);
        let (root, _) = s.attach(0).unwrap();
        let Ok(Response::Walk { steps, error }) = s.walk(root, &names(&[b"d", b"f"])) else {
            panic!("walk failed");
        };
        assert_eq!((steps.len(), error), (2, None));
        assert_eq!(s.attach(0).unwrap_err(), libc::EMFILE);
        let Ok(Response::Walk { steps: more, error }) = s.walk(root, &names(&[b"d"])) else {
            panic!("walk failed");
        };
        assert_eq!((more.len(), error), (0, Some(libc::EMFILE)));
        s.clunk(steps[1].0).unwrap();
        let Ok(Response::Walk { steps: again, error }) = s.walk(root, &names(&[b"d"])) else {
            panic!("walk failed");
        };
        assert_eq!((again.len(), error), (1, None));
        // Fids are never reused.
        assert!(steps.iter().all(|&(f, _)| f != again[0].0));
        assert_ne!(again[0].0, root);
    }

    #[test]
    fn hidden_paths_are_neither_walked_nor_listed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("ssh")).unwrap();
        for f in ["shadow", "passwd", "ssh/ssh_host_rsa_key", "ssh/ssh_config", "ssh_host_x"] {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        fs::write(dir.path().join("private.cnf"), b"x").unwrap();
        fs::set_permissions(dir.path().join("private.cnf"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let hide = Hidden::new(&["shadow".into(), "/ssh/ssh_host_*".into(), UNREADABLE.into()]);
        let root = Root::new(open_root(dir.path()).unwrap()).hiding(hide);
        let mut s = Server::with_roots(vec![root], 32);
        let (r, _) = s.attach(0).unwrap();
        let walked = |s: &mut Server, path: &[&[u8]]| match s.walk(r, &names(path)) {
            Ok(Response::Walk { steps, error }) => (steps.len(), error),
            other => panic!("{other:?}"),
        };
        assert_eq!(walked(&mut s, &[b"shadow"]), (0, Some(libc::ENOENT)));
        assert_eq!(walked(&mut s, &[b"passwd"]), (1, None));
        assert_eq!(walked(&mut s, &[b"private.cnf"]), (0, Some(libc::ENOENT)));
        assert_eq!(walked(&mut s, &[b"ssh", b"ssh_host_rsa_key"]), (1, Some(libc::ENOENT)));
        assert_eq!(walked(&mut s, &[b"ssh", b"ssh_config"]), (2, None));
        // The pattern is for ssh/, not the root.
        assert_eq!(walked(&mut s, &[b"ssh_host_x"]), (1, None));
        let listed = |s: &mut Server, fid: Fid| match s.getdents(fid, 0) {
            Ok(Response::Dirents { entries, .. }) => {
                let mut n: Vec<_> = entries.into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect();
                n.sort();
                n
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(listed(&mut s, r), ["passwd", "ssh", "ssh_host_x"]);
        let Ok(Response::Walk { steps, .. }) = s.walk(r, &names(&[b"ssh"])) else { panic!() };
        assert_eq!(listed(&mut s, steps[0].0), ["ssh_config"]);
    }

    #[test]
    fn extra_roots_attach_by_index_and_stay_beneath_themselves() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("root")).unwrap();
        fs::create_dir_all(dir.path().join("vol/sub")).unwrap();
        fs::write(dir.path().join("vol/sub/f"), b"in volume").unwrap();
        fs::write(dir.path().join("hosts"), b"127.0.0.1 x\n").unwrap();
        symlink("hosts", dir.path().join("hosts-link")).unwrap();
        let roots = vec![
            Root::new(open_root(&dir.path().join("root")).unwrap()),
            open_extra_root(&dir.path().join("vol")).unwrap(),
            // A symlink given by the runtime is resolved to its file.
            open_extra_root(&dir.path().join("hosts-link")).unwrap(),
        ];
        let mut s = Server::with_roots(roots, 16);
        let (vol, attr) = s.attach(1).unwrap();
        assert_eq!(file_type(attr.mode), libc::S_IFDIR);
        let Ok(Response::Walk { steps, error: None }) = s.walk(vol, &names(&[b"sub", b"f"])) else {
            panic!("walk in the extra root failed");
        };
        let fd = s.open(steps[1].0, libc::O_RDONLY as u32).unwrap();
        assert_eq!(std::fs::read_to_string(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap(), "in volume");
        let (file, attr) = s.attach(2).unwrap();
        assert_eq!(file_type(attr.mode), libc::S_IFREG);
        let fd = s.open(file, libc::O_RDONLY as u32).unwrap();
        assert_eq!(std::fs::read_to_string(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap(), "127.0.0.1 x\n");
        assert_eq!(s.open(file, libc::O_WRONLY as u32).unwrap_err(), libc::EROFS);
        assert_eq!(s.attach(3).unwrap_err(), libc::ENOENT);
        assert!(open_extra_root(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn too_many_names_in_one_walk_is_einval() {
        let (_dir, mut s) = server(MAX_FIDS);
        let (root, _) = s.attach(0).unwrap();
        let many = vec![b"d".to_vec(); MAX_WALK_NAMES + 1];
        assert_eq!(s.walk(root, &many).unwrap_err(), libc::EINVAL);
        assert_eq!(s.fids.len(), 1);
    }

    #[test]
    fn bad_names_do_not_reach_the_host_or_make_fids() {
        let (_dir, mut s) = server(MAX_FIDS);
        let (root, _) = s.attach(0).unwrap();
        for (name, errno) in [
            (&b".."[..], libc::EINVAL),
            (b".", libc::EINVAL),
            (b"d/f", libc::EINVAL),
            (b"", libc::ENOENT),
            (&[b'a'; 256], libc::ENAMETOOLONG),
        ] {
            let Ok(Response::Walk { steps, error }) = s.walk(root, &[b"d".to_vec(), name.to_vec()]) else {
                panic!("walk failed");
            };
            assert_eq!(steps.len(), 1);
            assert_eq!(error, Some(errno));
        }
    }

    #[test]
    fn walk_stops_after_a_symlink() {
        let (_dir, mut s) = server(MAX_FIDS);
        let (root, _) = s.attach(0).unwrap();
        let Ok(Response::Walk { steps, error }) = s.walk(root, &names(&[b"l", b"f"])) else {
            panic!("walk failed");
        };
        assert_eq!(steps.len(), 1);
        assert_eq!(error, None);
        assert_eq!(file_type(steps[0].1.mode), libc::S_IFLNK);
    }

    /// Even if a bad name slipped past `check_name`, openat2's resolve flags
    /// keep the lookup beneath the anchor and off symlinks.
    #[test]
    fn openat2_resolve_flags_are_a_second_line_of_defence() {
        let (dir, s) = server(MAX_FIDS);
        symlink("/etc", dir.path().join("abs")).unwrap();
        let root = s.roots[0].fd.as_fd();
        let opath = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let err = |name: &std::ffi::CStr, flags| sys::openat2(root, name, flags, RESOLVE).unwrap_err().raw_os_error();
        assert_eq!(err(c"..", opath), Some(libc::EXDEV));
        assert_eq!(err(c"d/../..", opath), Some(libc::EXDEV));
        assert_eq!(err(c"/etc", opath), Some(libc::EXDEV));
        // Intermediate symlinks are refused; a trailing one is only
        // returned as itself with O_PATH | O_NOFOLLOW, and refused otherwise.
        assert_eq!(err(c"l/f", opath), Some(libc::ELOOP));
        assert_eq!(err(c"abs/passwd", opath), Some(libc::ELOOP));
        assert_eq!(err(c"abs", libc::O_RDONLY | libc::O_NOFOLLOW), Some(libc::ELOOP));
        let link = sys::openat2(root, c"abs", opath, RESOLVE).unwrap();
        assert_eq!(file_type(sys::fstat(link.as_fd()).unwrap().st_mode), libc::S_IFLNK);
        // "." of the rootfs itself is allowed (used to reopen the root).
        assert!(sys::openat2(root, c".", libc::O_RDONLY | libc::O_DIRECTORY, RESOLVE).is_ok());
    }

    /// `/proc` and `/dev` are mount points beneath `/`: served as seen
    /// from below, empty, never the host's procfs or devices.
    #[test]
    fn a_mount_point_beneath_a_root_is_an_empty_directory() {
        let mut s = Server::new(open_root(Path::new("/")).unwrap(), MAX_FIDS);
        let (root, root_attr) = s.attach(0).unwrap();
        let Ok(Response::Walk { steps, error: None }) = s.walk(root, &names(&[b"proc"])) else {
            panic!("walking /proc failed");
        };
        let (fid, attr) = steps[0];
        assert_eq!(attr.mode, libc::S_IFDIR | 0o755);
        assert_eq!((attr.nlink, attr.uid, attr.gid, attr.size), (2, 0, 0, 0));
        assert_eq!(attr.dev, root_attr.dev, "on the root's device, not procfs's");
        assert_ne!(attr.ino & 1 << 63, 0);
        assert_eq!(s.stat(fid).unwrap(), attr);
        let Ok(Response::Dirents { entries, eof: true, .. }) = s.getdents(fid, 0) else {
            panic!("getdents failed");
        };
        assert!(entries.is_empty());
        // Nothing beneath it: a name, even one the host's procfs has, is
        // ENOENT, and bad names are still refused first.
        let Ok(Response::Walk { steps, error }) = s.walk(root, &names(&[b"proc", b"1", b"cmdline"])) else {
            panic!("walk failed");
        };
        assert_eq!((steps.len(), error), (1, Some(libc::ENOENT)));
        let Ok(Response::Walk { steps, error }) = s.walk(fid, &names(&[b"self"])) else { panic!("walk failed") };
        assert_eq!((steps.len(), error), (0, Some(libc::ENOENT)));
        let Ok(Response::Walk { error, .. }) = s.walk(fid, &names(&[b".."])) else { panic!("walk failed") };
        assert_eq!(error, Some(libc::EINVAL));
        assert_eq!(s.readlink(fid).unwrap_err(), libc::EINVAL);
        assert_eq!(s.open(fid, (libc::O_RDONLY | libc::O_DIRECTORY) as u32).unwrap_err(), libc::EPERM);
        // The same name gives the same identity; another gives another.
        let Ok(Response::Walk { steps: again, .. }) = s.walk(root, &names(&[b"proc"])) else { panic!("walk failed") };
        assert_eq!(again[0].1.ino, attr.ino);
        let Ok(Response::Walk { steps: dev, error: None }) = s.walk(root, &names(&[b"dev"])) else {
            panic!("walking /dev failed");
        };
        assert_ne!(dev[0].1.ino, attr.ino);
        // An ordinary directory is walked as before.
        let Ok(Response::Walk { steps: etc, error: None }) = s.walk(root, &names(&[b"etc"])) else {
            panic!("walking /etc failed");
        };
        assert_eq!(etc[0].1.ino & 1 << 63, 0);
    }

    #[test]
    fn a_covered_file_reads_as_empty() {
        let mut s = Server::new(open_root(Path::new("/")).unwrap(), MAX_FIDS);
        let attr = FileAttr { mode: libc::S_IFREG | 0o644, nlink: 1, ..FileAttr::default() };
        let fid = s.insert(Node::Covered(attr)).unwrap();
        let fd = s.open(fid, libc::O_RDONLY as u32).unwrap();
        let mut file = std::fs::File::from(fd);
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut buf).unwrap();
        assert!(buf.is_empty());
        assert!(std::io::Write::write_all(&mut file, b"x").is_err(), "sealed");
        assert_eq!(s.getdents(fid, 0).unwrap_err(), libc::ENOTDIR);
        assert_eq!(s.open(fid, (libc::O_RDONLY | libc::O_DIRECTORY) as u32).unwrap_err(), libc::ENOTDIR);
    }

    #[test]
    fn pseudo_filesystems_are_known_by_magic_and_by_the_mount_table() {
        let fs = |p: &str| pseudo_filesystem(open_root(Path::new(p)).unwrap().as_fd()).unwrap();
        assert_eq!(fs("/proc"), Some("procfs"));
        assert_eq!(fs("/proc/self"), Some("procfs"));
        assert_eq!(fs("/sys"), Some("sysfs"));
        assert_eq!(fs("/"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(fs(dir.path().to_str().unwrap()), None);
        let table = "22 1 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=1k\n\
                     23 22 0:20 / /dev/shm rw,nosuid shared:3 - tmpfs tmpfs rw\n\
                     24 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n";
        assert_eq!(mountinfo_fstype(table, 0, 5), Some("devtmpfs"));
        assert_eq!(mountinfo_fstype(table, 0, 20), Some("tmpfs"));
        assert_eq!(mountinfo_fstype(table, 8, 1), Some("ext4"));
        assert_eq!(mountinfo_fstype(table, 9, 9), None);
    }

    #[test]
    fn parse_dirents_rejects_malformed_records() {
        // reclen shorter than the header.
        let mut rec = vec![0u8; 24];
        rec[16..18].copy_from_slice(&10u16.to_ne_bytes());
        assert!(matches!(parse_dirents(&rec).next(), Some(Err(libc::EIO))));
        // reclen past the end of the buffer.
        rec[16..18].copy_from_slice(&64u16.to_ne_bytes());
        assert!(matches!(parse_dirents(&rec).next(), Some(Err(libc::EIO))));
        // Name without a NUL terminator.
        rec[16..18].copy_from_slice(&24u16.to_ne_bytes());
        rec[19..24].copy_from_slice(b"abcde");
        assert!(matches!(parse_dirents(&rec).next(), Some(Err(libc::EIO))));
        // A good one.
        rec[19..24].copy_from_slice(b"abc\0\0");
        let d = parse_dirents(&rec).next().unwrap().unwrap();
        assert_eq!(d.name, b"abc");
        assert_eq!(parse_dirents(&rec).count(), 1);
    }
}
