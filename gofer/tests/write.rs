//! The calls that change a tree, end to end: a writable root takes them
//! (and they change the host directory exactly as asked), a read-only one
//! refuses them, and none reaches outside its root.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use gofer::{ExtraRoot, FileAttr, GoferClient, GoferError, NewNode, SetAttr, Time};

struct Served {
    dir: tempfile::TempDir,
    client: Option<GoferClient>,
    server: Option<JoinHandle<Result<(), GoferError>>>,
}

impl Served {
    /// Serves `root/` (writable or not) and `other/` (writable) beneath a
    /// fresh directory, which also holds `outside/`, never served.
    fn new(writable: bool) -> Served {
        let dir = tempfile::tempdir().unwrap();
        for d in ["root/sub", "other", "outside"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("root/sub/file"), b"data").unwrap();
        fs::write(dir.path().join("outside/secret"), b"secret").unwrap();
        symlink(dir.path().join("outside"), dir.path().join("root/escape")).unwrap();
        symlink(dir.path().join("outside/secret"), dir.path().join("root/secret_link")).unwrap();
        let roots = vec![
            ExtraRoot { path: dir.path().join("root"), hide: Vec::new(), writable },
            ExtraRoot { path: dir.path().join("other"), hide: Vec::new(), writable: true },
        ];
        let (sentry_end, gofer_end) = gofer::socketpair().unwrap();
        let server = thread::spawn(move || gofer::serve_all(&roots, gofer_end));
        Served { dir, client: Some(GoferClient::new(sentry_end)), server: Some(server) }
    }

    fn c(&self) -> &GoferClient {
        self.client.as_ref().unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn walk(&self, from: u64, names: &[&[u8]]) -> (u64, FileAttr) {
        let w = self.c().walk(from, names).unwrap();
        assert_eq!(w.error, None, "walk {names:?}");
        *w.steps.last().unwrap()
    }

    fn finish(mut self) {
        drop(self.client.take());
        let r = self.server.take().unwrap().join().expect("serve panicked");
        assert!(r.is_ok(), "{r:?}");
    }
}

fn errno<T: std::fmt::Debug>(r: Result<T, GoferError>) -> i32 {
    match r {
        Err(GoferError::Errno(e)) => e,
        other => panic!("expected an errno, got {other:?}"),
    }
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_writable_root_makes_changes_on_the_host() {
    let s = Served::new(true);
    let c = s.c();
    let (root, _) = c.attach().unwrap();
    // create: exact mode (no umask), an open fd to write through.
    let (f, attr, fd) = c.create(root, b"new", libc::O_RDWR as u32, 0o640, (0, 0)).unwrap();
    assert_eq!(attr.mode, libc::S_IFREG | 0o640);
    File::from(fd).write_all(b"hello").unwrap();
    assert_eq!(fs::read(s.path("root/new")).unwrap(), b"hello");
    assert_eq!(mode_of(&s.path("root/new")), 0o640);
    assert_eq!(errno(c.create(root, b"new", 0, 0o600, (0, 0))), libc::EEXIST);
    // Opening for writing is allowed here; O_TRUNC is the caller's to do.
    let mut w = File::from(c.open(f, libc::O_WRONLY as u32).unwrap());
    w.write_all(b"J").unwrap();
    assert_eq!(fs::read(s.path("root/new")).unwrap(), b"Jello");
    // mkdir (with the mode asked: the Gofer's umask is 0; a set-group-id
    // bit only as mkdir(2) gives it, from a set-group-id parent), FIFO,
    // socket node, symlink.
    let (d, dattr) = c.mknod(root, b"dir", NewNode::Dir, 0o777, (0, 0)).unwrap();
    assert_eq!(dattr.mode, libc::S_IFDIR | 0o777);
    assert_eq!(mode_of(&s.path("root/dir")), 0o777);
    let (_, fifo) = c.mknod(d, b"fifo", NewNode::Fifo, 0o600, (0, 0)).unwrap();
    assert_eq!(fifo.mode & libc::S_IFMT, libc::S_IFIFO);
    assert!(fs::symlink_metadata(s.path("root/dir/fifo")).unwrap().file_type().is_fifo());
    let (_, sock) = c.mknod(d, b"sock", NewNode::Socket, 0o600, (0, 0)).unwrap();
    assert_eq!(sock.mode & libc::S_IFMT, libc::S_IFSOCK);
    let (_, link) = c.mknod(root, b"link", NewNode::Symlink(b"new".to_vec()), 0o777, (0, 0)).unwrap();
    assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(fs::read_link(s.path("root/link")).unwrap(), Path::new("new"));
    // Owners, when the Gofer is root (as it runs).
    if is_root() {
        let (_, a) = c.mknod(root, b"owned", NewNode::Regular, 0o644, (1234, 5678)).unwrap();
        assert_eq!((a.uid, a.gid), (1234, 5678));
        let m = fs::metadata(s.path("root/owned")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    }
    // link: one more name for the very file walked.
    let (_, la) = c.link(f, d, b"hard").unwrap();
    assert_eq!(la.nlink, 2);
    assert_eq!(fs::read(s.path("root/dir/hard")).unwrap(), b"Jello");
    // setattr: mode, times; the attributes after come back.
    let a =
        c.setattr(f, SetAttr { mode: Some(0o600), mtime: Some(Time::At(1_000_000, 5)), ..SetAttr::default() }).unwrap();
    assert_eq!(a.mode & 0o7777, 0o600);
    assert_eq!((a.mtime_sec, a.mtime_nsec), (1_000_000, 5));
    assert_eq!(fs::metadata(s.path("root/new")).unwrap().mtime(), 1_000_000);
    // rename, and a fid walked before still reopens the file it named.
    c.rename(root, b"new", d, b"moved", 0).unwrap();
    assert!(!s.path("root/new").exists());
    let mut back = String::new();
    File::from(c.open(f, 0).unwrap()).read_to_string(&mut back).unwrap();
    assert_eq!(back, "Jello");
    assert_eq!(errno(c.rename(d, b"moved", d, b"hard", libc::RENAME_NOREPLACE)), libc::EEXIST);
    fs::write(s.path("root/other_file"), b"other").unwrap();
    c.rename(d, b"moved", root, b"other_file", libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(fs::read(s.path("root/dir/moved")).unwrap(), b"other");
    assert_eq!(fs::read(s.path("root/other_file")).unwrap(), b"Jello");
    // unlink and rmdir, with the host's errors.
    assert_eq!(errno(c.unlink(root, b"dir", true)), libc::ENOTEMPTY);
    assert_eq!(errno(c.unlink(root, b"dir", false)), libc::EISDIR);
    for n in [&b"moved"[..], b"hard", b"fifo", b"sock"] {
        c.unlink(d, n, false).unwrap();
    }
    c.unlink(root, b"dir", true).unwrap();
    assert!(!s.path("root/dir").exists());
    // statfs: the host's figures.
    let fs_stat = c.statfs(root).unwrap();
    assert!(fs_stat.bsize > 0 && fs_stat.namelen > 0);
    s.finish();
}

/// Whether this test runs as root (the Gofer does, in Husk).
fn is_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[test]
fn user_xattrs_only() {
    let s = Served::new(true);
    let c = s.c();
    let (root, _) = c.attach().unwrap();
    let (f, _) = s.walk(root, &[b"sub", b"file"]);
    match c.setxattr(f, b"user.k", b"v1", 0) {
        // A host filesystem without user xattrs (old tmpfs): nothing more
        // to see here.
        Err(GoferError::Errno(libc::EOPNOTSUPP)) => return s.finish(),
        r => r.unwrap(),
    }
    assert_eq!(c.getxattr(f, b"user.k").unwrap(), b"v1");
    assert_eq!(errno(c.setxattr(f, b"user.k", b"v2", libc::XATTR_CREATE as u32)), libc::EEXIST);
    assert_eq!(c.listxattr(f).unwrap(), b"user.k\0");
    // Other namespaces are never served, whoever asks.
    assert_eq!(errno(c.setxattr(f, b"user.", b"x", 0)), libc::EINVAL);
    for name in [&b"trusted.k"[..], b"security.k", b"system.posix_acl_access"] {
        assert_eq!(errno(c.setxattr(f, name, b"x", 0)), libc::EOPNOTSUPP, "{name:?}");
        assert_eq!(errno(c.getxattr(f, name)), libc::EOPNOTSUPP, "{name:?}");
    }
    assert_eq!(errno(c.setxattr(f, b"user.big", &vec![0u8; gofer::MAX_XATTR + 1], 0)), libc::E2BIG);
    c.removexattr(f, b"user.k").unwrap();
    assert_eq!(errno(c.getxattr(f, b"user.k")), libc::ENODATA);
    s.finish();
}

#[test]
fn a_read_only_root_refuses_every_change() {
    let s = Served::new(false);
    let c = s.c();
    let (root, _) = c.attach().unwrap();
    let (f, _) = s.walk(root, &[b"sub", b"file"]);
    assert_eq!(errno(c.open(f, libc::O_WRONLY as u32)), libc::EROFS);
    assert_eq!(errno(c.open(f, libc::O_TRUNC as u32)), libc::EROFS);
    assert_eq!(errno(c.create(root, b"x", 0, 0o644, (0, 0))), libc::EROFS);
    assert_eq!(errno(c.mknod(root, b"x", NewNode::Dir, 0o755, (0, 0))), libc::EROFS);
    assert_eq!(errno(c.link(f, root, b"x")), libc::EROFS);
    assert_eq!(errno(c.unlink(root, b"sub", true)), libc::EROFS);
    assert_eq!(errno(c.rename(root, b"sub", root, b"x", 0)), libc::EROFS);
    assert_eq!(errno(c.setattr(f, SetAttr { mode: Some(0o777), ..SetAttr::default() })), libc::EROFS);
    assert_eq!(errno(c.setxattr(f, b"user.k", b"v", 0)), libc::EROFS);
    assert_eq!(errno(c.removexattr(f, b"user.k")), libc::EROFS);
    // Reading attributes and figures is fine.
    assert!(c.statfs(root).is_ok());
    assert!(c.listxattr(f).is_ok());
    assert_eq!(fs::read(s.path("root/sub/file")).unwrap(), b"data");
    s.finish();
}

#[test]
fn changes_stay_beneath_their_root() {
    let s = Served::new(true);
    let c = s.c();
    let (root, _) = c.attach().unwrap();
    let (other, _) = c.attach_root(1).unwrap();
    // Names are single components.
    for bad in [&b"../outside/x"[..], b"a/b", b".", b"..", b""] {
        let e = errno(c.create(root, bad, 0, 0o644, (0, 0)));
        assert!(e == libc::EINVAL || e == libc::ENOENT, "{bad:?}: {e}");
        let e = errno(c.mknod(root, bad, NewNode::Dir, 0o755, (0, 0)));
        assert!(e == libc::EINVAL || e == libc::ENOENT, "{bad:?}: {e}");
    }
    // A symlink to a directory outside is not a directory to make names in.
    let (esc, _) = s.walk(root, &[b"escape"]);
    assert_eq!(errno(c.create(esc, b"planted", 0, 0o644, (0, 0))), libc::ENOTDIR);
    assert_eq!(errno(c.mknod(esc, b"planted", NewNode::Dir, 0o755, (0, 0))), libc::ENOTDIR);
    assert_eq!(errno(c.unlink(esc, b"secret", false)), libc::ENOTDIR);
    // A symlink's attributes are the link's: the file it points to keeps
    // its own mode and times.
    let (sl, _) = s.walk(root, &[b"secret_link"]);
    let before = fs::metadata(s.path("outside/secret")).unwrap();
    let _ = c.setattr(sl, SetAttr { mode: Some(0o777), ..SetAttr::default() });
    let _ = c.setattr(sl, SetAttr { mtime: Some(Time::At(1, 0)), ..SetAttr::default() });
    let after = fs::metadata(s.path("outside/secret")).unwrap();
    assert_eq!((after.mode(), after.mtime()), (before.mode(), before.mtime()));
    // Opening a symlink for writing is ELOOP: its target is never reached.
    assert_eq!(errno(c.open(sl, libc::O_WRONLY as u32)), libc::ELOOP);
    // Creating over an existing symlink fails: never through it.
    assert_eq!(errno(c.create(root, b"secret_link", libc::O_WRONLY as u32, 0o644, (0, 0))), libc::EEXIST);
    assert_eq!(fs::read(s.path("outside/secret")).unwrap(), b"secret");
    // Two roots are never joined.
    let (f, _) = s.walk(root, &[b"sub", b"file"]);
    assert_eq!(errno(c.rename(root, b"sub", other, b"sub", 0)), libc::EXDEV);
    assert_eq!(errno(c.link(f, other, b"f")), libc::EXDEV);
    assert!(s.path("root/sub/file").exists());
    assert!(fs::read_dir(s.path("other")).unwrap().next().is_none());
    // Unknown rename flags (RENAME_WHITEOUT) and both at once are refused.
    assert_eq!(errno(c.rename(root, b"sub", root, b"x", 4)), libc::EINVAL);
    assert_eq!(errno(c.rename(root, b"sub", root, b"x", 3)), libc::EINVAL);
    assert!(fs::read_dir(s.path("outside")).unwrap().count() == 1);
    s.finish();
}
