//! End-to-end tests: `serve` runs in a thread on one end of a seqpacket
//! socketpair, `GoferClient` (or a raw hostile peer) on the other.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, MetadataExt};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::thread::{self, JoinHandle};

use gofer::protocol::{self, Request, Response, Tagged, MAX_MESSAGE};
use gofer::{FileAttr, GoferClient, GoferError};

const BIG_DIR_ENTRIES: usize = 100_000;

/// Builds the test rootfs inside `root`.
fn make_rootfs(root: &Path) {
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hello.txt"), b"hello world\n").unwrap();
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::write(root.join("dir/sub/file"), b"deep").unwrap();
    // Relative symlink escaping the rootfs.
    symlink("../../../../../../../etc/passwd", root.join("escape")).unwrap();
    // Absolute symlink to a host file.
    symlink("/etc/passwd", root.join("abs")).unwrap();
    // A chain: chain1 -> chain2 -> etc/hello.txt.
    symlink("chain2", root.join("chain1")).unwrap();
    symlink("etc/hello.txt", root.join("chain2")).unwrap();
    // A symlink to a directory inside the rootfs.
    symlink("dir", root.join("dirlink")).unwrap();
}

struct Harness {
    _dir: tempfile::TempDir,
    client: Option<GoferClient>,
    server: Option<JoinHandle<Result<(), GoferError>>>,
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(extra: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        fs::create_dir(&root).unwrap();
        make_rootfs(&root);
        extra(&root);
        let (sentry_end, gofer_end) = gofer::socketpair().unwrap();
        let server = thread::spawn(move || gofer::serve(&root, gofer_end));
        Harness { _dir: dir, client: Some(GoferClient::new(sentry_end)), server: Some(server) }
    }

    /// The host directory served as the rootfs.
    fn rootfs(&self) -> std::path::PathBuf {
        self._dir.path().join("rootfs")
    }

    fn c(&self) -> &GoferClient {
        self.client.as_ref().unwrap()
    }

    /// Closes the client and checks that `serve` returned Ok.
    fn finish(mut self) {
        drop(self.client.take());
        let result = self.server.take().unwrap().join().expect("serve panicked");
        assert!(result.is_ok(), "serve failed: {result:?}");
    }
}

fn errno_of<T: std::fmt::Debug>(r: Result<T, GoferError>) -> i32 {
    match r {
        Err(GoferError::Errno(e)) => e,
        other => panic!("expected an errno, got {other:?}"),
    }
}

fn ftype(attr: &FileAttr) -> u32 {
    attr.mode & libc::S_IFMT
}

/// `flags:` from /proc/self/fdinfo for `fd` (octal in the file).
fn fd_flags(fd: &impl AsRawFd) -> i32 {
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let line = info.lines().find(|l| l.starts_with("flags:")).unwrap();
    i32::from_str_radix(line["flags:".len()..].trim(), 8).unwrap()
}

fn o(flag: i32) -> u32 {
    u32::try_from(flag).unwrap()
}

#[test]
fn attach_walk_stat_open_and_read() {
    let h = Harness::new();
    let c = h.c();
    let (root, root_attr) = c.attach().unwrap();
    assert_eq!(ftype(&root_attr), libc::S_IFDIR);
    let host = fs::metadata(h.rootfs()).unwrap();
    assert_eq!(root_attr.ino, host.ino());
    assert_eq!(root_attr.dev, host.dev());

    let w = c.walk(root, &[b"etc", b"hello.txt"]).unwrap();
    assert_eq!(w.error, None);
    assert_eq!(w.steps.len(), 2);
    assert_eq!(ftype(&w.steps[0].1), libc::S_IFDIR);
    let (file, attr) = w.steps[1];
    assert_eq!(ftype(&attr), libc::S_IFREG);
    assert_eq!(attr.size, 12);
    let host = fs::metadata(h.rootfs().join("etc/hello.txt")).unwrap();
    assert_eq!(attr.ino, host.ino());
    assert_eq!(attr.mode, host.mode());
    assert_eq!(attr.nlink, 1);
    assert_eq!(attr.mtime_sec, host.mtime());
    assert_eq!(c.stat(file).unwrap(), attr);

    let mut f = File::from(c.open(file, o(libc::O_RDONLY)).unwrap());
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello world\n");

    // The root itself can be opened (reopened as "." of the rootfs fd).
    let d = File::from(c.open(root, o(libc::O_RDONLY | libc::O_DIRECTORY)).unwrap());
    assert!(d.metadata().unwrap().is_dir());
    assert_eq!(d.metadata().unwrap().ino(), root_attr.ino);

    // Walking with no names just checks the fid.
    assert_eq!(c.walk(root, &[]).unwrap(), gofer::Walked::default());
    h.finish();
}

#[test]
fn walk_errors_stop_at_the_failing_component() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let w = c.walk(root, &[b"dir", b"nope", b"file"]).unwrap();
    assert_eq!(w.steps.len(), 1);
    assert_eq!(w.error, Some(libc::ENOENT));
    let w = c.walk(root, &[b"etc", b"hello.txt", b"x"]).unwrap();
    assert_eq!(w.steps.len(), 2);
    assert_eq!(w.error, Some(libc::ENOTDIR));
    // Walking from a file fid.
    let file = w.steps[1].0;
    let w = c.walk(file, &[b"x"]).unwrap();
    assert_eq!((w.steps.len(), w.error), (0, Some(libc::ENOTDIR)));
    h.finish();
}

#[test]
fn walk_does_not_follow_symlinks() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    for (link, target, rest) in [
        (&b"escape"[..], &b"../../../../../../../etc/passwd"[..], &b"x"[..]),
        (b"abs", b"/etc/passwd", b"passwd"),
        (b"chain1", b"chain2", b"x"),
        (b"chain2", b"etc/hello.txt", b"x"),
        (b"dirlink", b"dir", b"sub"),
    ] {
        let w = c.walk(root, &[link, rest]).unwrap();
        assert_eq!(w.error, None, "{link:?}");
        assert_eq!(w.steps.len(), 1, "walk must stop after the link {link:?}");
        let (fid, attr) = w.steps[0];
        assert_eq!(ftype(&attr), libc::S_IFLNK);
        let host = fs::symlink_metadata(h.rootfs().join(std::str::from_utf8(link).unwrap())).unwrap();
        assert_eq!(attr.ino, host.ino());
        assert_eq!(attr.size, u64::try_from(target.len()).unwrap());
        assert_eq!(c.stat(fid).unwrap().mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(c.readlink(fid).unwrap(), target);
        // A symlink fid cannot be opened, whatever the flags.
        assert_eq!(errno_of(c.open(fid, o(libc::O_RDONLY))), libc::ELOOP);
        assert_eq!(errno_of(c.open(fid, o(libc::O_RDONLY | libc::O_DIRECTORY))), libc::ELOOP);
        // Nor walked through, nor listed.
        let w = c.walk(fid, &[rest]).unwrap();
        assert_eq!((w.steps.len(), w.error), (0, Some(libc::ENOTDIR)));
        assert_eq!(errno_of(c.getdents(fid)), libc::ENOTDIR);
    }
    h.finish();
}

#[test]
fn bad_names_are_refused() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let long256 = vec![b'a'; 256];
    let huge = vec![b'b'; 100_000];
    let cases: [(&[u8], i32); 9] = [
        (b"..", libc::EINVAL),
        (b".", libc::EINVAL),
        (b"a/b", libc::EINVAL),
        (b"etc/hello.txt", libc::EINVAL),
        (b"/", libc::EINVAL),
        (b"a\0b", libc::EINVAL),
        (b"", libc::ENOENT),
        (&long256, libc::ENAMETOOLONG),
        (&huge, libc::ENAMETOOLONG),
    ];
    for (name, errno) in cases {
        let w = c.walk(root, &[name]).unwrap();
        assert_eq!((w.steps.len(), w.error), (0, Some(errno)), "name {:?}", &name[..name.len().min(16)]);
        // Also after a good step.
        let w = c.walk(root, &[b"dir", name]).unwrap();
        assert_eq!((w.steps.len(), w.error), (1, Some(errno)));
    }
    // 255 bytes is a legal name (just absent here).
    let w = c.walk(root, &[&[b'a'; 255]]).unwrap();
    assert_eq!(w.error, Some(libc::ENOENT));
    // Unusual but legal names work.
    fs::write(h.rootfs().join("..."), b"dots").unwrap();
    let w = c.walk(root, &[b"..."]).unwrap();
    assert_eq!((w.steps.len(), w.error), (1, None));
    h.finish();
}

#[test]
fn open_for_write_is_erofs() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let file = c.walk(root, &[b"etc", b"hello.txt"]).unwrap().steps[1].0;
    for fid in [file, root] {
        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_ACCMODE,
            libc::O_RDONLY | libc::O_CREAT,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            libc::O_TMPFILE | libc::O_RDWR,
        ] {
            assert_eq!(errno_of(c.open(fid, o(flags))), libc::EROFS, "flags {flags:#o}");
        }
    }
    assert_eq!(fs::read(h.rootfs().join("etc/hello.txt")).unwrap(), b"hello world\n");
    h.finish();
}

#[test]
fn donated_fd_is_read_only_cloexec_and_blocking() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let file = c.walk(root, &[b"etc", b"hello.txt"]).unwrap().steps[1].0;
    let app_flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_APPEND | libc::O_NOATIME;
    let fd: OwnedFd = c.open(file, o(app_flags)).unwrap();
    let flags = fd_flags(&fd);
    assert_eq!(flags & libc::O_ACCMODE, libc::O_RDONLY);
    assert_eq!(flags & libc::O_NONBLOCK, 0);
    assert_eq!(flags & libc::O_APPEND, 0);
    assert_ne!(flags & libc::O_CLOEXEC, 0);
    let mut f = File::from(fd);
    let err = f.write_all(b"pwned").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    assert_eq!(fs::read(h.rootfs().join("etc/hello.txt")).unwrap(), b"hello world\n");
    h.finish();
}

#[test]
fn opening_by_type() {
    let h = Harness::with(|root| {
        let status = std::process::Command::new("mkfifo").arg(root.join("fifo")).status().unwrap();
        assert!(status.success());
        let listener = UnixListener::bind(root.join("sock")).unwrap();
        drop(listener);
    });
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let fifo = c.walk(root, &[b"fifo"]).unwrap().steps[0];
    assert_eq!(ftype(&fifo.1), libc::S_IFIFO);
    assert_eq!(errno_of(c.open(fifo.0, o(libc::O_RDONLY))), libc::EPERM);
    let sock = c.walk(root, &[b"sock"]).unwrap().steps[0];
    assert_eq!(ftype(&sock.1), libc::S_IFSOCK);
    assert_eq!(errno_of(c.open(sock.0, o(libc::O_RDONLY))), libc::ENXIO);
    // O_DIRECTORY on a regular file.
    let file = c.walk(root, &[b"etc", b"hello.txt"]).unwrap().steps[1].0;
    assert_eq!(errno_of(c.open(file, o(libc::O_RDONLY | libc::O_DIRECTORY))), libc::ENOTDIR);
    // Directories open fine without O_DIRECTORY too.
    let dir = c.walk(root, &[b"dir"]).unwrap().steps[0].0;
    assert!(File::from(c.open(dir, o(libc::O_RDONLY)).unwrap()).metadata().unwrap().is_dir());
    h.finish();
}

#[test]
fn open_refuses_a_file_replaced_after_the_walk() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let file = c.walk(root, &[b"etc", b"hello.txt"]).unwrap().steps[1].0;
    let etc = h.rootfs().join("etc");
    fs::write(etc.join("other"), b"other").unwrap();
    fs::rename(etc.join("other"), etc.join("hello.txt")).unwrap();
    assert_eq!(errno_of(c.open(file, o(libc::O_RDONLY))), libc::ESTALE);
    // Replaced by a symlink: found out before any open, never followed.
    let file = c.walk(root, &[b"etc", b"hello.txt"]).unwrap().steps[1].0;
    fs::remove_file(etc.join("hello.txt")).unwrap();
    symlink("/etc/passwd", etc.join("hello.txt")).unwrap();
    assert_eq!(errno_of(c.open(file, o(libc::O_RDONLY))), libc::ESTALE);
    h.finish();
}

#[test]
fn readlink_of_a_non_symlink_is_einval() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let w = c.walk(root, &[b"etc", b"hello.txt"]).unwrap();
    assert_eq!(errno_of(c.readlink(root)), libc::EINVAL);
    assert_eq!(errno_of(c.readlink(w.steps[0].0)), libc::EINVAL);
    assert_eq!(errno_of(c.readlink(w.steps[1].0)), libc::EINVAL);
    h.finish();
}

#[test]
fn getdents_lists_entries_without_dot_and_dotdot() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let entries = c.getdents(root).unwrap();
    let host: Vec<_> = fs::read_dir(h.rootfs()).unwrap().map(|e| e.unwrap()).collect();
    let names: Vec<_> = entries.iter().map(|e| e.name.clone()).collect();
    let host_names: Vec<_> = host.iter().map(|e| e.file_name().into_encoded_bytes()).collect();
    assert_eq!(names, host_names, "same entries in the host's order");
    assert!(!names.iter().any(|n| n == b"." || n == b".."));
    for e in &entries {
        let expected = match e.name.as_slice() {
            b"etc" | b"dir" => libc::DT_DIR,
            _ => libc::DT_LNK,
        };
        assert_eq!(e.dtype, expected, "{:?}", e.name);
        let meta = fs::symlink_metadata(h.rootfs().join(std::str::from_utf8(&e.name).unwrap())).unwrap();
        assert_eq!(e.ino, meta.ino());
    }
    let etc = c.walk(root, &[b"etc"]).unwrap().steps[0].0;
    let e = c.getdents(etc).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].name.as_slice(), e[0].dtype), (&b"hello.txt"[..], libc::DT_REG));
    // An empty directory.
    fs::create_dir(h.rootfs().join("empty")).unwrap();
    let empty = c.walk(root, &[b"empty"]).unwrap().steps[0].0;
    assert!(c.getdents(empty).unwrap().is_empty());
    // Not a directory.
    let file = c.walk(etc, &[b"hello.txt"]).unwrap().steps[0].0;
    assert_eq!(errno_of(c.getdents(file)), libc::ENOTDIR);
    h.finish();
}

#[test]
fn getdents_pages_through_100k_entries() {
    let h = Harness::with(|root| {
        let big = root.join("big");
        fs::create_dir(&big).unwrap();
        for i in 0..BIG_DIR_ENTRIES {
            // Symlinks: one cheap syscall each.
            symlink("t", big.join(format!("entry-with-a-longish-name-{i:06}"))).unwrap();
        }
    });
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let big = c.walk(root, &[b"big"]).unwrap().steps[0].0;
    let entries = c.getdents(big).unwrap();
    assert_eq!(entries.len(), BIG_DIR_ENTRIES);
    let unique: HashSet<_> = entries.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(unique.len(), BIG_DIR_ENTRIES);
    for i in [0, 1, 4242, BIG_DIR_ENTRIES - 1] {
        assert!(unique.contains(format!("entry-with-a-longish-name-{i:06}").as_bytes()));
    }
    assert!(entries.iter().all(|e| e.dtype == libc::DT_LNK));
    let host: Vec<_> =
        fs::read_dir(h.rootfs().join("big")).unwrap().map(|e| e.unwrap().file_name().into_encoded_bytes()).collect();
    let names: Vec<_> = entries.into_iter().map(|e| e.name).collect();
    assert_eq!(names, host, "host order preserved across pages");
    h.finish();
}

#[test]
fn clunk_then_use_is_ebadf_and_fids_are_not_reused() {
    let h = Harness::new();
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let w = c.walk(root, &[b"dir", b"sub"]).unwrap();
    let (dir, sub) = (w.steps[0].0, w.steps[1].0);
    c.clunk(dir).unwrap();
    assert_eq!(errno_of(c.stat(dir)), libc::EBADF);
    assert_eq!(errno_of(c.open(dir, o(libc::O_RDONLY))), libc::EBADF);
    assert_eq!(errno_of(c.walk(dir, &[b"sub"])), libc::EBADF);
    assert_eq!(errno_of(c.readlink(dir)), libc::EBADF);
    assert_eq!(errno_of(c.getdents(dir)), libc::EBADF);
    assert_eq!(errno_of(c.clunk(dir)), libc::EBADF);
    // The child still works after its parent was clunked, including reopen.
    let file = c.walk(sub, &[b"file"]).unwrap().steps[0].0;
    let mut text = String::new();
    File::from(c.open(file, 0).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text, "deep");
    assert_eq!(c.getdents(sub).unwrap().len(), 1);
    // Fids never seen are EBADF too.
    assert_eq!(errno_of(c.stat(u64::MAX)), libc::EBADF);
    assert_eq!(errno_of(c.stat(0)), libc::EBADF);
    // New fids are fresh.
    let again = c.walk(root, &[b"dir"]).unwrap().steps[0].0;
    assert!(![root, dir, sub, file].contains(&again));
    let (root2, _) = c.attach().unwrap();
    assert_ne!(root2, root);
    c.clunk(root).unwrap();
    assert!(c.stat(root2).is_ok());
    h.finish();
}

#[test]
fn long_walks_are_split_transparently() {
    const DEPTH: usize = 300;
    let h = Harness::with(|root| {
        let mut p = root.join("deep");
        for _ in 0..DEPTH {
            p.push("d");
        }
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("leaf"), b"leaf").unwrap();
        // A symlink in the middle of a second tree, past the first chunk.
        let mut q = root.join("linked");
        for _ in 0..150 {
            q.push("d");
        }
        fs::create_dir_all(&q).unwrap();
        symlink("/", q.join("l")).unwrap();
    });
    let c = h.c();
    let (root, _) = c.attach().unwrap();
    let mut names: Vec<&[u8]> = vec![b"deep"];
    names.extend(std::iter::repeat_n(&b"d"[..], DEPTH));
    names.push(b"leaf");
    let w = c.walk(root, &names).unwrap();
    assert_eq!(w.error, None);
    assert_eq!(w.steps.len(), DEPTH + 2);
    let mut text = String::new();
    File::from(c.open(w.steps.last().unwrap().0, 0).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text, "leaf");

    let mut names: Vec<&[u8]> = vec![b"linked"];
    names.extend(std::iter::repeat_n(&b"d"[..], 150));
    names.extend([&b"l"[..], b"etc", b"passwd"]);
    let w = c.walk(root, &names).unwrap();
    assert_eq!(w.error, None);
    assert_eq!(w.steps.len(), 152, "stops at the symlink in the second chunk");
    assert_eq!(ftype(&w.steps.last().unwrap().1), libc::S_IFLNK);
    h.finish();
}

#[test]
fn client_is_shared_between_threads() {
    let h = Harness::new();
    let client = h.c();
    let (root, _) = client.attach().unwrap();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    let w = client.walk(root, &[b"etc", b"hello.txt"]).unwrap();
                    assert_eq!(w.steps.len(), 2);
                    assert_eq!(client.stat(w.steps[1].0).unwrap().size, 12);
                    for (fid, _) in w.steps {
                        client.clunk(fid).unwrap();
                    }
                }
            });
        }
    });
    h.finish();
}

/// A raw peer that speaks (or abuses) the protocol directly.
fn raw_server() -> (tempfile::TempDir, UnixDatagram, JoinHandle<Result<(), GoferError>>) {
    let dir = tempfile::tempdir().unwrap();
    make_rootfs(dir.path());
    let (raw, gofer_end) = gofer::socketpair().unwrap();
    let root = dir.path().to_path_buf();
    let server = thread::spawn(move || gofer::serve(&root, gofer_end));
    (dir, UnixDatagram::from(raw), server)
}

fn roundtrip(raw: &UnixDatagram, tag: u64, req: Request) -> Tagged<Response> {
    raw.send(&protocol::encode(&Tagged { tag, msg: req }).unwrap()).unwrap();
    let mut buf = vec![0u8; MAX_MESSAGE];
    let n = raw.recv(&mut buf).unwrap();
    protocol::decode(&buf[..n]).unwrap()
}

fn assert_hostile_message_ends_serve(msg: &[u8]) {
    let (_dir, raw, server) = raw_server();
    // A valid exchange first, then the hostile message.
    let resp = roundtrip(&raw, 77, Request::Attach { root: 0 });
    assert_eq!(resp.tag, 77);
    assert!(matches!(resp.msg, Response::Attach { .. }));
    raw.send(msg).unwrap();
    let result = server.join().expect("serve must not panic");
    assert!(matches!(result, Err(GoferError::Protocol(_))), "got {result:?}");
    // The gofer closed its end: we read EOF.
    let mut buf = [0u8; 16];
    assert_eq!(raw.recv(&mut buf).unwrap(), 0);
}

#[test]
fn hostile_garbage_ends_serve_with_err() {
    assert_hostile_message_ends_serve(b"\xde\xad\xbe\xef garbage garbage garbage");
}

#[test]
fn hostile_unknown_variant_ends_serve_with_err() {
    let mut msg = 1u64.to_le_bytes().to_vec();
    msg.extend_from_slice(&999u32.to_le_bytes());
    assert_hostile_message_ends_serve(&msg);
}

#[test]
fn hostile_huge_length_prefix_ends_serve_with_err() {
    let mut msg = 1u64.to_le_bytes().to_vec();
    msg.extend_from_slice(&1u32.to_le_bytes()); // Walk
    msg.extend_from_slice(&1u64.to_le_bytes()); // dir
    msg.extend_from_slice(&u64::MAX.to_le_bytes()); // names.len()
    msg.extend_from_slice(&[0xff; 32]);
    assert_hostile_message_ends_serve(&msg);
}

#[test]
fn hostile_trailing_bytes_end_serve_with_err() {
    let mut msg = protocol::encode(&Tagged { tag: 1, msg: Request::Stat { fid: 1 } }).unwrap();
    msg.extend_from_slice(b"extra");
    assert_hostile_message_ends_serve(&msg);
}

#[test]
fn hostile_oversized_message_ends_serve_with_err() {
    assert_hostile_message_ends_serve(&vec![0u8; MAX_MESSAGE + 4096]);
}

#[test]
fn hostile_but_well_formed_requests_get_errnos() {
    let (_dir, raw, server) = raw_server();
    let resp = roundtrip(&raw, 1, Request::Attach { root: 0 });
    let Response::Attach { fid: root, .. } = resp.msg else {
        panic!("attach failed: {resp:?}");
    };
    let resp = roundtrip(&raw, 2, Request::Stat { fid: 12345 });
    assert_eq!(resp, Tagged { tag: 2, msg: Response::Error(libc::EBADF) });
    // Names longer than NAME_MAX sent straight to the gofer.
    let resp = roundtrip(&raw, 3, Request::Walk { dir: root, names: vec![vec![b'x'; 20_000]] });
    assert_eq!(resp.msg, Response::Walk { steps: vec![], error: Some(libc::ENAMETOOLONG) });
    let resp = roundtrip(&raw, 4, Request::Walk { dir: root, names: vec![b"..".to_vec(), b"etc".to_vec()] });
    assert_eq!(resp.msg, Response::Walk { steps: vec![], error: Some(libc::EINVAL) });
    let resp = roundtrip(&raw, 5, Request::Walk { dir: root, names: vec![b"e".to_vec(); 1000] });
    assert_eq!(resp.msg, Response::Error(libc::EINVAL));
    // A bogus directory cookie is an errno from the host or an empty page,
    // never a crash.
    let resp = roundtrip(&raw, 6, Request::Getdents { fid: root, offset: -5 });
    assert_eq!(resp.tag, 6);
    assert!(matches!(resp.msg, Response::Error(_) | Response::Dirents { .. }));
    let resp = roundtrip(&raw, 7, Request::Open { fid: root, flags: u32::MAX });
    assert_eq!(resp.msg, Response::Error(libc::EROFS));
    drop(raw);
    assert!(server.join().unwrap().is_ok());
}
