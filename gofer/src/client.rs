//! The Sentry side: [`GoferClient`], one blocking request/response exchange
//! per call over the seqpacket socket, serialised by a mutex.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, PoisonError};

use log::warn;

use crate::protocol::{
    self, Request, Response, Tagged, MAX_MESSAGE, MAX_SYMLINK_TARGET, MAX_WALK_NAMES, MAX_XATTR, NAME_MAX,
    XATTR_NAME_MAX,
};
use crate::{sys, DirEntry, Fid, FileAttr, FsStat, GoferError, NewNode, SetAttr, Walked};

/// The connection state behind the client's mutex.
struct Conn {
    sock: OwnedFd,
    next_tag: u64,
    /// Set after any socket or protocol failure: the exchange may be out of
    /// step, so every later call fails rather than read a stale answer.
    broken: bool,
    buf: Vec<u8>,
}

impl Conn {
    fn exchange(&mut self, req: Request) -> Result<(Response, Option<OwnedFd>), GoferError> {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        let bytes = protocol::encode(&Tagged { tag, msg: req })
            .map_err(|e| GoferError::Protocol(format!("cannot encode request: {e}")))?;
        sys::send(self.sock.as_fd(), &bytes, None)?;
        let got = sys::recv(self.sock.as_fd(), &mut self.buf, true)?;
        let mut fds = got.fds;
        if got.len == 0 && !got.truncated {
            return Err(GoferError::Protocol("gofer closed the connection".into()));
        }
        if got.truncated {
            return Err(GoferError::Protocol("response larger than MAX_MESSAGE".into()));
        }
        if got.control_truncated || fds.len() > 1 {
            return Err(GoferError::Protocol("unexpected ancillary data in response".into()));
        }
        let resp: Tagged<Response> = protocol::decode(&self.buf[..got.len])
            .map_err(|e| GoferError::Protocol(format!("malformed response: {e}")))?;
        if resp.tag != tag {
            return Err(GoferError::Protocol(format!("response tag {} does not match request tag {tag}", resp.tag)));
        }
        let fd = fds.pop();
        let carries_fd = matches!(resp.msg, Response::Open | Response::Created { .. });
        match (&resp.msg, &fd) {
            (_, None) if carries_fd => Err(GoferError::Protocol("open response without an fd".into())),
            (_, Some(_)) if carries_fd => Ok((resp.msg, fd)),
            (_, None) => Ok((resp.msg, fd)),
            (_, Some(_)) => Err(GoferError::Protocol("fd attached to a non-open response".into())),
        }
    }
}

/// Client for the gofer, used by the Sentry. `Send + Sync`: calls from
/// several threads are serialised on an internal mutex.
pub struct GoferClient {
    conn: Mutex<Conn>,
}

impl fmt::Debug for GoferClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoferClient").finish_non_exhaustive()
    }
}

/// Checks an errno that came over the wire.
fn errno(e: i32) -> Result<i32, GoferError> {
    if (1..4096).contains(&e) {
        Ok(e)
    } else {
        Err(GoferError::Protocol(format!("invalid errno {e}")))
    }
}

fn unexpected(resp: &Response) -> GoferError {
    GoferError::Protocol(format!("unexpected response {resp:?}"))
}

/// A name as sent: cut to [`NAME_MAX`] + 1 bytes, still refused with
/// ENAMETOOLONG by the gofer, but the request stays bounded.
fn wire_name(name: &[u8]) -> Vec<u8> {
    name[..name.len().min(NAME_MAX + 1)].to_vec()
}

fn is_symlink(attr: &FileAttr) -> bool {
    attr.mode & libc::S_IFMT == libc::S_IFLNK
}

impl GoferClient {
    /// Wraps the Sentry's end of the seqpacket socketpair.
    pub fn new(sock: OwnedFd) -> Self {
        GoferClient { conn: Mutex::new(Conn { sock, next_tag: 1, broken: false, buf: vec![0u8; MAX_MESSAGE] }) }
    }

    /// One exchange. `Response::Error` becomes `GoferError::Errno`.
    fn call(&self, req: Request) -> Result<(Response, Option<OwnedFd>), GoferError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if conn.broken {
            return Err(GoferError::Protocol("connection broken by an earlier failure".into()));
        }
        match conn.exchange(req) {
            Ok((Response::Error(e), _)) => Err(GoferError::Errno(errno(e)?)),
            Ok(ok) => Ok(ok),
            Err(e) => {
                warn!("gofer client: {e}; marking the connection broken");
                conn.broken = true;
                Err(e)
            }
        }
    }

    /// Root of the rootfs: a fid for it and its attributes.
    pub fn attach(&self) -> Result<(Fid, FileAttr), GoferError> {
        self.attach_root(0)
    }

    /// Root of served tree `root` (0: the rootfs; 1..: the extra roots, a
    /// directory or a single file each): a fid for it and its attributes.
    /// An index the gofer does not serve is `Err(Errno(ENOENT))`.
    pub fn attach_root(&self, root: u32) -> Result<(Fid, FileAttr), GoferError> {
        match self.call(Request::Attach { root })? {
            (Response::Attach { fid, attr }, _) => Ok((fid, attr)),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Walk names (each one path component) starting at `dir`. Returns one
    /// step per component walked, each with a new fid. Stops early: after a
    /// component that is a symlink (included as the last step, not
    /// followed), or at the first component that fails (`error` =
    /// `Some(errno)`). Bad names are refused by the gofer: `""` → ENOENT,
    /// `"."`, `".."`, or containing `/` or NUL → EINVAL, over 255 bytes →
    /// ENAMETOOLONG. An unknown `dir` is `Err(Errno(EBADF))`.
    ///
    /// Long walks are split into several requests of at most
    /// [`MAX_WALK_NAMES`] names.
    pub fn walk(&self, dir: Fid, names: &[&[u8]]) -> Result<Walked, GoferError> {
        let mut walked = Walked::default();
        let mut from = dir;
        let mut chunks = names.chunks(MAX_WALK_NAMES);
        // An empty walk still checks `dir` with the gofer.
        let first: &[&[u8]] = &[];
        let mut chunk = chunks.next().unwrap_or(first);
        loop {
            // Overlong names are cut to NAME_MAX + 1 bytes: still refused
            // with ENAMETOOLONG by the gofer, but the request stays bounded.
            let wire: Vec<Vec<u8>> = chunk.iter().map(|n| n[..n.len().min(NAME_MAX + 1)].to_vec()).collect();
            let (steps, error) = match self.call(Request::Walk { dir: from, names: wire })? {
                (Response::Walk { steps, error }, _) => (steps, error),
                (other, _) => return Err(unexpected(&other)),
            };
            if steps.len() > chunk.len() {
                return Err(GoferError::Protocol("walk returned more steps than names".into()));
            }
            let complete = steps.len() == chunk.len() && error.is_none();
            let stopped_at_link = steps.last().is_some_and(|(_, a)| is_symlink(a));
            if let Some(&(fid, _)) = steps.last() {
                from = fid;
            }
            walked.steps.extend(steps);
            if let Some(e) = error {
                walked.error = Some(errno(e)?);
                return Ok(walked);
            }
            if !complete || stopped_at_link {
                return Ok(walked);
            }
            match chunks.next() {
                Some(next) => chunk = next,
                None => return Ok(walked),
            }
        }
    }

    /// Current attributes of `fid` (not following symlinks).
    pub fn stat(&self, fid: Fid) -> Result<FileAttr, GoferError> {
        match self.call(Request::Stat { fid })? {
            (Response::Stat(attr), _) => Ok(attr),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Open the file for reading and donate the host fd. `flags` are Linux
    /// open flags from the app; any write access, `O_CREAT`, `O_TRUNC` or
    /// `O_TMPFILE` → `Errno(EROFS)` (the rootfs is read-only in this
    /// version). Directories may be opened (`O_RDONLY | O_DIRECTORY`);
    /// `O_DIRECTORY` on a non-directory → ENOTDIR. A symlink fid → ELOOP; a
    /// socket → ENXIO; a FIFO or device node → EPERM. If the name now refers
    /// to a different file than when it was walked → ESTALE. Other flags
    /// (`O_NONBLOCK`, `O_APPEND`, `O_NOATIME`, ...) are for the Sentry to
    /// honour: the donated fd is always exactly `O_RDONLY | O_CLOEXEC`.
    pub fn open(&self, fid: Fid, flags: u32) -> Result<OwnedFd, GoferError> {
        match self.call(Request::Open { fid, flags })? {
            (Response::Open, Some(fd)) => Ok(fd),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Target of the symlink `fid`; EINVAL if it is not a symlink.
    pub fn readlink(&self, fid: Fid) -> Result<Vec<u8>, GoferError> {
        match self.call(Request::Readlink { fid })? {
            (Response::Readlink(target), _) => Ok(target),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// All entries of a directory fid except "." and "..", in the host's
    /// order. ENOTDIR for a non-directory. Large directories are fetched in
    /// pages of at most [`MAX_MESSAGE`] bytes.
    pub fn getdents(&self, fid: Fid) -> Result<Vec<DirEntry>, GoferError> {
        let mut all = Vec::new();
        let mut offset = 0i64;
        loop {
            let (entries, next, eof) = match self.call(Request::Getdents { fid, offset })? {
                (Response::Dirents { entries, next, eof }, _) => (entries, next, eof),
                (other, _) => return Err(unexpected(&other)),
            };
            let progressed = !entries.is_empty() || next != offset;
            all.extend(entries);
            if eof {
                return Ok(all);
            }
            if !progressed {
                return Err(GoferError::Protocol("getdents made no progress".into()));
            }
            offset = next;
        }
    }

    /// Creates the regular file `name` in `dir` (it must not exist:
    /// EEXIST) with permission bits `mode` exactly, owned by `owner`, and
    /// opens it with the access mode of `flags`: a fid for it, its
    /// attributes, and the donated fd. EROFS unless the root is writable.
    pub fn create(
        &self,
        dir: Fid,
        name: &[u8],
        flags: u32,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<(Fid, FileAttr, OwnedFd), GoferError> {
        let (uid, gid) = owner;
        let req = Request::Create { dir, name: wire_name(name), flags, mode, uid, gid };
        match self.call(req)? {
            (Response::Created { fid, attr }, Some(fd)) => Ok((fid, attr, fd)),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Makes `name` in `dir` (a directory, FIFO, socket, empty file or
    /// symlink) with permission bits `mode` exactly, owned by `owner`: a
    /// fid for it and its attributes.
    pub fn mknod(
        &self,
        dir: Fid,
        name: &[u8],
        node: NewNode,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<(Fid, FileAttr), GoferError> {
        if matches!(&node, NewNode::Symlink(t) if t.len() > MAX_SYMLINK_TARGET) {
            return Err(GoferError::Errno(libc::ENAMETOOLONG));
        }
        let (uid, gid) = owner;
        match self.call(Request::Mknod { dir, name: wire_name(name), node, mode, uid, gid })? {
            (Response::Made { fid, attr }, _) => Ok((fid, attr)),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Gives `file` the further name `name` in `dir`: a fid for it and the
    /// file's attributes.
    pub fn link(&self, file: Fid, dir: Fid, name: &[u8]) -> Result<(Fid, FileAttr), GoferError> {
        match self.call(Request::Link { file, dir, name: wire_name(name) })? {
            (Response::Made { fid, attr }, _) => Ok((fid, attr)),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Removes `name` from `dir`: a directory (rmdir) if `dir_flag`.
    pub fn unlink(&self, dir: Fid, name: &[u8], dir_flag: bool) -> Result<(), GoferError> {
        self.done(Request::Unlink { dir, name: wire_name(name), dir_flag })
    }

    /// renameat2 within one root (`flags`: RENAME_NOREPLACE or
    /// RENAME_EXCHANGE).
    pub fn rename(&self, odir: Fid, oname: &[u8], ndir: Fid, nname: &[u8], flags: u32) -> Result<(), GoferError> {
        self.done(Request::Rename { odir, oname: wire_name(oname), ndir, nname: wire_name(nname), flags })
    }

    /// Changes the owner, mode or times of `fid`; the attributes after.
    pub fn setattr(&self, fid: Fid, set: SetAttr) -> Result<FileAttr, GoferError> {
        match self.call(Request::Setattr { fid, set })? {
            (Response::Stat(attr), _) => Ok(attr),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// The figures of the filesystem `fid` is on.
    pub fn statfs(&self, fid: Fid) -> Result<FsStat, GoferError> {
        match self.call(Request::Statfs { fid })? {
            (Response::Statfs(st), _) => Ok(st),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// The value of `fid`'s extended attribute `name` (`user.` only).
    pub fn getxattr(&self, fid: Fid, name: &[u8]) -> Result<Vec<u8>, GoferError> {
        self.xattr(Request::Getxattr { fid, name: name[..name.len().min(XATTR_NAME_MAX + 1)].to_vec() })
    }

    /// The names of `fid`'s `user.` extended attributes, each ending in NUL.
    pub fn listxattr(&self, fid: Fid) -> Result<Vec<u8>, GoferError> {
        self.xattr(Request::Listxattr { fid })
    }

    /// Sets a `user.` extended attribute; a value over [`MAX_XATTR`] bytes
    /// is E2BIG.
    pub fn setxattr(&self, fid: Fid, name: &[u8], value: &[u8], flags: u32) -> Result<(), GoferError> {
        if value.len() > MAX_XATTR {
            return Err(GoferError::Errno(libc::E2BIG));
        }
        let name = name[..name.len().min(XATTR_NAME_MAX + 1)].to_vec();
        self.done(Request::Setxattr { fid, name, value: value.to_vec(), flags })
    }

    /// Removes a `user.` extended attribute.
    pub fn removexattr(&self, fid: Fid, name: &[u8]) -> Result<(), GoferError> {
        self.done(Request::Removexattr { fid, name: name[..name.len().min(XATTR_NAME_MAX + 1)].to_vec() })
    }

    fn done(&self, req: Request) -> Result<(), GoferError> {
        match self.call(req)? {
            (Response::Done, _) => Ok(()),
            (other, _) => Err(unexpected(&other)),
        }
    }

    fn xattr(&self, req: Request) -> Result<Vec<u8>, GoferError> {
        match self.call(req)? {
            (Response::Xattr(v), _) => Ok(v),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Release a fid. Fids are never reused within a session.
    pub fn clunk(&self, fid: Fid) -> Result<(), GoferError> {
        match self.call(Request::Clunk { fid })? {
            (Response::Clunk, _) => Ok(()),
            (other, _) => Err(unexpected(&other)),
        }
    }
}
