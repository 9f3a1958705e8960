//! The root as an overlay (issue 9): `husk run` lets the app change
//! anything in the rootfs, as Docker does, and keeps the changes in the
//! sandbox. Natively the same program runs on a real overlayfs over the
//! same root ([`Case::scratch_mounts`]), so the two must agree on every
//! rule overlayfs has: copy-up, whiteouts, opaque directories, EXDEV for
//! renaming a lower directory. Afterwards the rootfs directory must be as
//! it was.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use husk_suite::{differential, differential_test, husk_test, run_husk, self_checking_case, Link, Rootfs};

/// Every file of the tree under `root`, with its contents (or link
/// target) and mode, to compare before and after.
fn snapshot(root: &Path) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read the fixture") {
            let p = e.expect("a directory entry").path();
            let meta = fs::symlink_metadata(&p).expect("stat a fixture file");
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).expect("readlink").display())
            } else if meta.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else {
                String::from_utf8_lossy(&fs::read(&p).expect("read a fixture file")).into_owned()
            };
            out.push((p.display().to_string(), what, meta.permissions().mode()));
        }
    }
    out.sort();
    out
}

/// The root `tests/progs/overlay.c` expects under /data.
fn overlay_rootfs(link: Link) -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    let prog = rootfs.prog("overlay", link);
    rootfs
        .dir_mode("/tmp", 0o1777)
        .dir("/dev")
        .dir("/proc")
        .dir("/sys")
        .file_mode("/data/file", "lower\n", 0o640)
        .file("/data/other", "other\n")
        .file("/data/big", vec![b'b'; 65536])
        .file("/data/dir/a", "a\n")
        .file("/data/dir/b", "b\n")
        .file("/data/sub/deep/x", "x\n")
        .dir("/data/empty")
        .file("/data/full/a", "a\n")
        .symlink("/data/link", "file");
    chown(rootfs.host_path("/data/file"), Some(1000), Some(1000)).expect("chown the fixture (tests run as root)");
    fs::set_permissions(rootfs.host_path("/data/sub"), fs::Permissions::from_mode(0o750)).expect("chmod");
    for f in ["/data/file", "/data/other"] {
        rustix::fs::setxattr(rootfs.host_path(f), "user.origin", b"lower", rustix::fs::XattrFlags::empty())
            .expect("set a user xattr on the fixture (the test directory's filesystem must have them)");
    }
    (rootfs, prog)
}

differential_test! {
    /// `tests/progs/overlay.c` on both sides; then the rootfs directory
    /// is unchanged.
    fn overlay_root(platform, link) {
        let (rootfs, prog) = overlay_rootfs(link);
        let before = snapshot(rootfs.path());
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60)).scratch_mounts().expect_lines(&[
            "after an append: lower|more|",
            "an fd opened before the copy-up reads: lower|more| (size 11)",
            "its mode 640, owner 1000:1000",
            "its user.origin, copied up: lower",
            "its user attributes: user.origin,user.added",
            "a lower file's user.origin, not copied up: lower",
            "its grandparent, copied up, mode 750",
            "mode now 600, contents other|",
            "mtime now 1234567890.500",
            "now: bbb",
            "stat it: ENOENT",
            "made again: reborn|",
            "O_EXCL over a lower file: EEXIST",
            "rmdir a lower directory with entries: ENOTEMPTY",
            "the new one is empty (opaque):",
            "rename a lower directory: EXDEV",
            "rename a new directory: ok",
            "rmdir a directory of whiteouts only: ok",
            "rename a new directory over a full lower one: ENOTEMPTY",
            "through the other name: shared|",
            "1 MiB written: size 1048576, block 100 is 'w'",
            "statvfs /: read-only 0",
            "/ is overlay",
            "done",
        ]);
        differential(platform, &case);
        assert_eq!(before, snapshot(rootfs.path()), "the rootfs directory changed");
    }
}

differential_test! {
    /// `overlay.c` again, with the upper layer's file data on disk
    /// (`--overlay disk:DIR`): the same answers, the rootfs unchanged, and
    /// nothing left in DIR afterwards.
    fn overlay_root_on_disk(platform, link) {
        let (rootfs, prog) = overlay_rootfs(link);
        let store = rootfs.outside().join("overlay-store");
        fs::create_dir_all(&store).expect("the store's parent");
        let before = snapshot(rootfs.path());
        let case = self_checking_case(&rootfs, &prog, Duration::from_secs(60))
            .scratch_mounts()
            .husk_flags(["--overlay".to_string(), format!("disk:{}", store.display())])
            .expect_lines(&[
                "after an append: lower|more|",
                "its user.origin, copied up: lower",
                "1 MiB written: size 1048576, block 100 is 'w'",
                "done",
            ]);
        differential(platform, &case);
        assert_eq!(before, snapshot(rootfs.path()), "the rootfs directory changed");
        assert_eq!(fs::read_dir(&store).expect("the store's parent").count(), 0, "the disk store was left behind");
    }
}

husk_test! {
    /// With `--overlay disk:DIR`, a big file written to the root is a file
    /// under DIR while the sandbox runs (held by the Sentry, unlinked),
    /// not memory; the app reads back what it wrote.
    fn overlay_disk_holds_the_data(platform) {
        use std::io::{BufRead, Write};
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "dd", "md5sum", "cut"]).dir("/data");
        let store = rootfs.outside().join("overlay-store");
        fs::create_dir_all(&store).expect("the store's parent");
        let script = "dd if=/dev/zero of=/data/big bs=1M count=32 2>/dev/null; md5sum /data/big | cut -c1-8; \
                      echo written; read x";
        let case = husk_suite::Case::new(&rootfs, "/bin/sh")
            .args(["-c", script])
            .husk_flags(["--overlay".to_string(), format!("disk:{}", store.display())]);
        let mut child = husk_suite::run::husk_command(platform, &case)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start husk");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let sum = lines.next().expect("a line").expect("read");
        assert_eq!(sum, "58f06dd5", "32 MiB of zeros read back");
        assert_eq!(lines.next().expect("a line").expect("read"), "written");
        // Some process holds an unlinked file of 32 MiB under the store.
        let prefix = store.to_string_lossy().into_owned();
        let mut found = false;
        for p in fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(fds) = fs::read_dir(p.path().join("fd")) else { continue };
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else { continue };
                let t = target.to_string_lossy();
                if t.starts_with(&prefix) && fs::metadata(fd.path()).is_ok_and(|m| m.len() == 32 << 20) {
                    found = true;
                }
            }
        }
        child.stdin.take().expect("stdin").write_all(b"\n").expect("finish");
        let status = child.wait().expect("wait");
        assert!(status.success(), "{status:?}");
        assert!(found, "no 32 MiB file under {prefix} while the sandbox ran");
        assert_eq!(fs::read_dir(&store).expect("store").count(), 0, "the disk store was left behind");
    }
}

husk_test! {
    /// `--read-only`: the root refuses writes with EROFS, and /proc/mounts
    /// says `ro`.
    fn overlay_read_only(platform) {
        let rootfs = Rootfs::new();
        rootfs.busybox(&["sh", "touch", "grep"]).dir("/data");
        let case = husk_suite::Case::new(&rootfs, "/bin/sh")
            .args(["-c", "touch /data/x; echo \"touch: $?\"; grep ' / ' /proc/mounts"])
            .husk_flags(["--read-only"])
            .expect_stdout("touch: 1\nnone / 9p ro,relatime 0 0\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        assert!(out.stderr_str().contains("Read-only file system"), "{}", out.describe());
    }
}
