//! Differential cases for busybox applets, run as `/bin/busybox APPLET ...`
//! from the static busybox (busybox-static), in a root with a few text
//! files and a 20 MB file of pseudo-random bytes.

use std::process::Command;

use husk_suite::rootfs::fixed_time;
use husk_suite::{differential, differential_test, husk_test, run_husk, Case, Rootfs, UTS_RELEASE};

const BIG_LEN: usize = 20 * 1024 * 1024;
const BIG_SEED: u64 = 0xb16_f11e;

const FRUITS: &str = "pear\nbanana\napple\ncherry\nbanana\nfig\ngrape\nkiwi\n";
const LOREM: &str = "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit,\n\
                     sed do eiusmod tempor incididunt\nut labore et dolore magna aliqua.\n";
const NUMBERS: &str = "10\n9\n100\n-3\n42\n7\n";

/// busybox with the applets used here, `/etc/passwd` and `/etc/group`
/// for `ls -l`'s owner names, the text files under `/data`, and `/big`.
/// Every timestamp is fixed, so `ls -l` is deterministic.
fn busybox_rootfs(big: bool) -> Rootfs {
    let rootfs = Rootfs::new();
    rootfs
        .busybox(&["cat", "echo", "grep", "head", "ls", "sha256sum", "sort", "uname", "wc"])
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        .file("/etc/group", "root:x:0:\n")
        .file("/data/fruits.txt", FRUITS)
        .file("/data/lorem.txt", LOREM)
        .file("/data/numbers.txt", NUMBERS)
        .file_mode("/data/script.sh", "#!/bin/sh\necho hi\n", 0o755)
        .file("/data/empty", "")
        .dir("/data/sub")
        .file("/data/sub/nested.txt", "nested\n")
        .symlink("/data/link", "lorem.txt");
    if big {
        rootfs.random_file("/big", BIG_LEN, BIG_SEED);
    }
    rootfs.set_times("/", fixed_time());
    rootfs
}

fn applet<const N: usize>(rootfs: &Rootfs, args: [&str; N]) -> Case {
    Case::new(rootfs, "/bin/busybox").args(args).compare_stderr()
}

differential_test! {
    fn busybox_echo(platform) {
        let rootfs = busybox_rootfs(false);
        differential(platform, &applet(&rootfs, ["echo", "hello", "world"]).expect_stdout("hello world\n"));
        differential(platform, &applet(&rootfs, ["echo", "-n", "no newline"]).expect_stdout("no newline"));
        differential(platform, &applet(&rootfs, ["echo", "-e", "a\\tb\\nc"]).expect_stdout("a\tb\nc\n"));
    }
}

differential_test! {
    fn busybox_cat(platform) {
        let rootfs = busybox_rootfs(false);
        let both = format!("{LOREM}{FRUITS}");
        differential(
            platform,
            &applet(&rootfs, ["cat", "/data/lorem.txt", "/data/fruits.txt"]).expect_stdout(both),
        );
        differential(platform, &applet(&rootfs, ["cat", "/data/link"]).expect_stdout(LOREM));
        differential(platform, &applet(&rootfs, ["cat", "/data/empty"]).expect_stdout(""));
    }
}

differential_test! {
    /// A missing file: status 1 and the error message on stderr.
    fn busybox_cat_missing(platform) {
        let rootfs = busybox_rootfs(false);
        let case = applet(&rootfs, ["cat", "/data/fruits.txt", "/data/missing"])
            .expect_status(1)
            .expect_stdout(FRUITS)
            .check(|out| assert!(out.stderr_str().contains("/data/missing"), "no error message"));
        differential(platform, &case);
    }
}

differential_test! {
    /// stdin is connected: `cat` copies it to stdout.
    fn busybox_cat_stdin(platform) {
        let rootfs = busybox_rootfs(false);
        let input: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let case = applet(&rootfs, ["cat"]).stdin(input.clone()).expect_stdout(input);
        differential(platform, &case);
    }
}

differential_test! {
    /// `ls -la` stats every entry and reads /etc/passwd and /etc/group.
    fn busybox_ls_la(platform) {
        let rootfs = busybox_rootfs(false);
        let case = applet(&rootfs, ["ls", "-la", "/data"]).check(|out| {
            let text = out.stdout_str();
            for name in ["fruits.txt", "link -> lorem.txt", "sub", "script.sh"] {
                assert!(text.contains(name), "no {name}");
            }
            assert!(text.contains("-rwxr-xr-x"), "script.sh's mode");
            assert!(text.contains(" root "), "owner names from /etc/passwd");
            assert!(text.contains("Jan  2  2020"), "the fixed mtime");
        });
        differential(platform, &case);
        differential(platform, &applet(&rootfs, ["ls", "-1", "/data/sub"]).expect_stdout("nested.txt\n"));
    }
}

differential_test! {
    fn busybox_wc(platform) {
        let rootfs = busybox_rootfs(false);
        let case = applet(&rootfs, ["wc", "/data/lorem.txt"])
            .check(|out| assert!(out.stdout_str().split_whitespace().eq(["4", "19", "124", "/data/lorem.txt"])));
        differential(platform, &case);
        differential(platform, &applet(&rootfs, ["wc", "-l", "/data/fruits.txt"]).expect_stdout("8 /data/fruits.txt\n"));
        differential(platform, &applet(&rootfs, ["wc", "-c"]).stdin("12345").expect_stdout("5\n"));
    }
}

differential_test! {
    fn busybox_sort(platform) {
        let rootfs = busybox_rootfs(false);
        let sorted = "apple\nbanana\nbanana\ncherry\nfig\ngrape\nkiwi\npear\n";
        differential(platform, &applet(&rootfs, ["sort", "/data/fruits.txt"]).expect_stdout(sorted));
        differential(
            platform,
            &applet(&rootfs, ["sort", "-u", "-r", "/data/fruits.txt"])
                .expect_stdout("pear\nkiwi\ngrape\nfig\ncherry\nbanana\napple\n"),
        );
        differential(
            platform,
            &applet(&rootfs, ["sort", "-n", "/data/numbers.txt"]).expect_stdout("-3\n7\n9\n10\n42\n100\n"),
        );
    }
}

differential_test! {
    fn busybox_head(platform) {
        let rootfs = busybox_rootfs(false);
        differential(
            platform,
            &applet(&rootfs, ["head", "-n", "3", "/data/fruits.txt"]).expect_stdout("pear\nbanana\napple\n"),
        );
        differential(platform, &applet(&rootfs, ["head", "-c", "5", "/data/lorem.txt"]).expect_stdout("Lorem"));
    }
}

differential_test! {
    fn busybox_grep(platform) {
        let rootfs = busybox_rootfs(false);
        differential(
            platform,
            &applet(&rootfs, ["grep", "-n", "an", "/data/fruits.txt"]).expect_stdout("2:banana\n5:banana\n"),
        );
        differential(platform, &applet(&rootfs, ["grep", "-c", "e", "/data/fruits.txt"]).expect_stdout("4\n"));
        differential(
            platform,
            &applet(&rootfs, ["grep", "-i", "LOREM", "/data/lorem.txt", "/data/fruits.txt"])
                .expect_stdout("/data/lorem.txt:Lorem ipsum dolor sit amet,\n"),
        );
        // No match: status 1, nothing printed.
        differential(
            platform,
            &applet(&rootfs, ["grep", "durian", "/data/fruits.txt"]).expect_status(1).expect_stdout(""),
        );
    }
}

differential_test! {
    /// sha256sum of the 20 MB file, checked against the host's sha256sum.
    fn busybox_sha256sum_big(platform) {
        let rootfs = busybox_rootfs(true);
        let host = Command::new("sha256sum").arg(rootfs.host_path("/big")).output().expect("host sha256sum");
        assert!(host.status.success());
        let digest = String::from_utf8(host.stdout).unwrap()[..64].to_owned();
        let case = applet(&rootfs, ["sha256sum", "/big"]).expect_stdout(format!("{digest}  /big\n"));
        differential(platform, &case);
    }
}

husk_test! {
    /// `uname -r` prints Husk's own release, not the host's.
    fn busybox_uname_r(platform) {
        let rootfs = busybox_rootfs(false);
        let case = applet(&rootfs, ["uname", "-r"]).expect_stdout(format!("{UTS_RELEASE}\n"));
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}
