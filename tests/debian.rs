//! A Debian userland: bash, coreutils and friends, dpkg and python3 from
//! a debootstrapped bookworm root (see `husk_suite::debian`), run the
//! same under Husk as natively under `chroot`.
//!
//! The root is cached and shared. Under Husk it is the sandbox's overlay
//! root, whose changes stay in the sandbox; the native side runs on a
//! throwaway overlayfs of it with a tmpfs /tmp and the sandbox's /dev
//! ([`Case::scratch_mounts`]), so nothing a case does reaches the cache.
//!
//! Under Husk the program started is the sandbox's pid 1, which (as the
//! init of a Linux pid namespace) ignores signals it has no handler for
//! unless they are forced by a fault; cases that die by a signal do so in
//! a child.
//!
//! Outputs are made deterministic: no pids, times or addresses are
//! printed, directory listings are sorted (`ls`, `| sort`, `tar
//! --sort=name`), background jobs are waited for one by one, and the
//! test tree under `/husk-test` has fixed contents, owners and times.

use std::time::Duration;

use husk_suite::debian::{debian_rootfs, NUMBERS};
use husk_suite::{differential, differential_test, husk_test, run_husk, Case};

/// Python and process-heavy scripts are slow under ptrace.
const TIMEOUT: Duration = Duration::from_secs(300);

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `/bin/bash -c SCRIPT` in the Debian root.
fn bash(script: &str) -> Case {
    Case::in_root(debian_rootfs(), "/bin/bash")
        .args(["-c", script])
        .env("PATH", PATH)
        .env("HOME", "/root")
        .scratch_mounts()
        .timeout(TIMEOUT)
}

/// `/usr/bin/python3 -c PROGRAM` in the Debian root.
fn python(program: &str) -> Case {
    Case::in_root(debian_rootfs(), "/usr/bin/python3")
        .args(["-c", program])
        .env("PATH", PATH)
        .env("HOME", "/root")
        .scratch_mounts()
        .timeout(TIMEOUT)
}

// ---------------------------------------------------------------- bash

differential_test! {
    /// The issue's "done when" command.
    fn debian_bash_seq_sort_tail(platform) {
        let case = bash("for i in $(seq 100); do echo $i; done | sort -n | tail -1").expect_stdout("100\n");
        differential(platform, &case);
    }
}

husk_test! {
    /// The same command line as the issue states it, run by hand as
    /// `husk run --rootfs DEBIAN -- /bin/bash -c '...'`, with no
    /// environment at all.
    fn debian_done_when_bare(platform) {
        let case = Case::in_root(debian_rootfs(), "/bin/bash")
            .args(["-c", "for i in $(seq 100); do echo $i; done | sort -n | tail -1"])
            .timeout(TIMEOUT)
            .expect_stdout("100\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// Pipelines: exit statuses, pipefail, PIPESTATUS, long pipelines.
    fn debian_bash_pipelines(platform) {
        let script = r#"
printf 'b\na\nc\n' | sort | tr a-z A-Z | head -2
echo abc | cat | cat | cat | wc -c
false | true; echo "status $?"
true | false; echo "status $?"
set -o pipefail; false | true; echo "pipefail $?"; set +o pipefail
(exit 3) | (exit 4) | true; echo "PIPESTATUS ${PIPESTATUS[*]}"
seq 1 100000 | grep -c 7
yes line | head -5 | uniq -c
"#;
        let case = bash(script).expect_stdout(
            "A\nB\n4\nstatus 0\nstatus 1\npipefail 1\nPIPESTATUS 3 4 0\n40951\n      5 line\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// Command substitution and subshells.
    fn debian_bash_subshells(platform) {
        let script = r#"
x=$(echo hi; echo there); echo "$x"
echo "nested: $(echo $(echo $(echo deep)))"
y=`echo backticks`; echo $y
(cd /usr/share; pwd); pwd
(exit 3); echo "subshell status $?"
z=$(exit 4); echo "substitution status $?"
a=1; (a=2; echo "inside a=$a"); echo "outside a=$a"
echo "$(seq 3 | tac | tr '\n' ' ')"
{ echo grouped; echo lines; } | wc -l
echo "lines read: $(seq 5 | while read -r l; do echo $l; done | wc -l)"
arr=(c a b); echo "${#arr[@]} ${arr[1]} ${arr[*]}"
declare -A m=([k]=v); echo "${m[k]}"
echo $(( (7 * 6) % 5 )) $((2**10))
"#;
        let case = bash(script).expect_lines(&[
            "hi",
            "there",
            "nested: deep",
            "backticks",
            "/usr/share",
            "/",
            "subshell status 3",
            "substitution status 4",
            "inside a=2",
            "outside a=1",
            "3 2 1 ",
            "2",
            "lines read: 5",
            "3 a c a b",
            "v",
            "2 1024",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// `trap ... EXIT`, in the shell and in a subshell; the exit status
    /// survives the trap.
    fn debian_bash_trap_exit(platform) {
        let script = r#"
trap 'echo "exit trap, status $?"' EXIT
(trap 'echo subshell exit trap' EXIT; echo in subshell)
echo main
exit 3
"#;
        let case = bash(script)
            .expect_status(3)
            .expect_stdout("in subshell\nsubshell exit trap\nmain\nexit trap, status 3\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// `trap ... USR1` with `kill -USR1 $$`, from the shell and from a
    /// child; a trapped TERM; a killed background job's status.
    fn debian_bash_trap_signals(platform) {
        let script = r#"
trap 'echo got USR1' USR1
kill -USR1 $$
echo after kill
(kill -USR1 $$)
echo after the child sent it
sh -c 'kill -USR1 $PPID'
echo after sh sent it
trap 'echo got TERM' TERM
kill -TERM $$
trap - USR1
trap 'echo ignored' USR2; trap '' USR2; kill -USR2 $$; echo USR2 ignored
sleep 30 & pid=$!
kill $pid; wait $pid; echo "killed job status $?"
sleep 30 & pid=$!
kill -KILL $pid; wait $pid; echo "SIGKILLed job status $?"
"#;
        let case = bash(script).expect_stdout(
            "got USR1\nafter kill\ngot USR1\nafter the child sent it\ngot USR1\nafter sh sent it\n\
             got TERM\nUSR2 ignored\nkilled job status 143\nSIGKILLed job status 137\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// Background jobs and `wait`: statuses in order, `wait -n`, output
    /// through files in /tmp.
    fn debian_bash_background_wait(platform) {
        let script = r#"
pids=()
for i in 1 2 3 4; do (sleep 0.$((5 - i)); exit $i) & pids+=($!); done
for p in "${pids[@]}"; do wait $p; echo "job status $?"; done
for i in 1 2 3; do (echo "job $i output" > /tmp/job$i.txt) & done
wait
cat /tmp/job1.txt /tmp/job2.txt /tmp/job3.txt
sleep 0.2 & sleep 0.1 & wait -n; echo "wait -n status $?"
wait; echo "all done $?"
(sleep 0.1; exit 9) & wait $!; echo "wait \$! status $?"
wait 99999; echo "wait on a non-child: $?"
"#;
        let case = bash(script).expect_stdout(
            "job status 1\njob status 2\njob status 3\njob status 4\n\
             job 1 output\njob 2 output\njob 3 output\n\
             wait -n status 0\nall done 0\nwait $! status 9\nwait on a non-child: 127\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// 500 fork-exec-wait of dynamically linked /bin/true from bash,
    /// each status checked.
    fn debian_bash_fork_exec_loop(platform) {
        let script = r#"
ok=0
for i in $(seq 500); do /bin/true && ok=$((ok + 1)); done
/bin/false || echo "false: $?"
echo "ok=$ok"
"#;
        let case = bash(script).expect_stdout("false: 1\nok=500\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// A `#!/bin/bash` script with arguments, run directly and by bash.
    fn debian_bash_script(platform) {
        let case = Case::in_root(debian_rootfs(), "/husk-test/hello.sh")
            .args(["one", "two words"])
            .env("PATH", PATH)
            .scratch_mounts()
            .timeout(TIMEOUT)
            .expect_status(7)
            .expect_stdout("hello from /husk-test/hello.sh with 2 args: one two words\n");
        differential(platform, &case);
        let case = bash("/husk-test/hello.sh a; echo \"status $?\"; bash /husk-test/hello.sh b c")
            .expect_status(7)
            .expect_stdout(
                "hello from /husk-test/hello.sh with 1 args: a\nstatus 7\n\
                 hello from /husk-test/hello.sh with 2 args: b c\n",
            );
        differential(platform, &case);
    }
}

differential_test! {
    /// A dynamically linked program that segfaults: status 139, for the
    /// program itself and as bash reports it for a child.
    fn debian_segv_status(platform) {
        let case = python("import ctypes; print('about to fault', flush=True); ctypes.string_at(0)")
            .expect_status(139)
            .expect_stdout("about to fault\n");
        differential(platform, &case);
        // `kill -SEGV $$` in a child bash: the top process is the
        // sandbox's pid 1, which ignores signals it has no handler for
        // unless they are forced (as a fault's are), as on Linux.
        let script = r#"
python3 -c 'import ctypes; ctypes.string_at(0)'; echo "python status $?"
bash -c 'kill -SEGV $$'; s=$?; echo "bash status $s"; exit $s
"#;
        let case = bash(script).expect_status(139).expect_stdout("python status 139\nbash status 139\n");
        differential(platform, &case);
    }
}

// ----------------------------------------------------------- coreutils

differential_test! {
    /// `ls -la` of the fixed test tree: modes, link counts, owners (uid
    /// 1000 has no name), sizes, times, symlinks.
    fn debian_ls_la(platform) {
        let case = bash("ls -la /husk-test/tree; ls -la /husk-test/tree/sub/deeper; ls -ld /husk-test")
            .check(|out| {
                let text = out.stdout_str();
                for needle in [
                    "-rw-r--r-- 1 root root    6 Jan  2  2020 a.txt",
                    "-rw-r----- 1 1000 1000   11 Jan  2  2020 owned-by-1000",
                    "lrwxrwxrwx 1 root root    5 Jan  2  2020 link -> a.txt",
                    "-rwxr-xr-x 1 root root   20 Jan  2  2020 exec.sh",
                    "-r--r--r-- 1 root root    6 Jan  2  2020 d.txt",
                ] {
                    assert!(text.contains(needle), "no line with {needle:?}");
                }
            });
        differential(platform, &case);
    }
}

differential_test! {
    /// sort: numeric, reverse, unique, by field, stable.
    fn debian_sort(platform) {
        let script = r#"
sort -n /husk-test/numbers.txt | tr '\n' ' '; echo
sort -rn /husk-test/numbers.txt | head -3 | tr '\n' ' '; echo
sort -u /husk-test/words.txt | tr '\n' ' '; echo
sort /husk-test/words.txt | uniq -c | sort -k1,1nr -k2 | head -3
sort -t: -k3,3n /etc/passwd | cut -d: -f1,3 | head -4
seq 1000 | sort -R | sort -n | md5sum
"#;
        let mut sorted: Vec<i64> = NUMBERS.lines().map(|l| l.parse().unwrap()).collect();
        sorted.sort_unstable();
        let first: String = sorted.iter().map(|n| format!("{n} ")).collect();
        let case = bash(script).expect_lines(&[
            first.as_str(),
            "1000 100 42 ",
            "apple banana cherry date fig grape kiwi pear ",
            "      2 apple",
            "      2 banana",
            "root:0",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// find: the issue's `find /usr/share/doc -maxdepth 1 | sort | head`,
    /// and tests on types, names and sizes.
    fn debian_find(platform) {
        let script = r#"
find /usr/share/doc -maxdepth 1 | sort | head
echo ---
find /husk-test/tree | sort
echo ---
find /husk-test/tree -type f -name '*.txt' | sort
find /husk-test/tree -type l -printf '%p -> %l\n' | sort
find /husk-test/tree -type f -size +1k
find /husk-test -maxdepth 1 -type f -perm -u+x
find -L /husk-test/tree -name d.txt | sort
"#;
        let case = bash(script).expect_lines(&[
            "/usr/share/doc",
            "/husk-test/tree/sub/deeper/d.txt",
            "/husk-test/tree/link -> a.txt",
            "/husk-test/tree/b.txt",
            "/husk-test/hello.sh",
            "/husk-test/tree/dirlink/deeper/d.txt",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// xargs: batching, -I, exit statuses, and parallel runs (sorted).
    fn debian_xargs(platform) {
        let script = r#"
printf '%s\n' a b c d e | xargs -n 2 echo
find /husk-test/tree -type f | sort | xargs cat | wc -c
seq 10 | xargs -I{} echo item-{} | tail -2
seq 20 | xargs -P 4 -n 1 sh -c 'echo $(($0 * $0))' | sort -n | tail -3
echo x | xargs false; echo "xargs status $?"
seq 3 | xargs -n1 sh -c 'exit 255'; echo "xargs status $?"
"#;
        let case = bash(script).expect_stdout(
            "a b\nc d\ne\n3351\nitem-9\nitem-10\n324\n361\n400\nxargs status 123\nxargs status 124\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// `tar c` of a directory to stdout, piped to `tar t` (verbose: modes,
    /// owners, sizes, times).
    fn debian_tar_pipe(platform) {
        let script = "tar -C /husk-test --sort=name -cf - tree | tar -tvf -";
        let case = bash(script).expect_lines(&[
            "drwxr-xr-x root/root         0 2020-01-02 03:04 tree/",
            "-rw-r--r-- root/root         6 2020-01-02 03:04 tree/a.txt",
            "-rw-r----- 1000/1000        11 2020-01-02 03:04 tree/owned-by-1000",
            "lrwxrwxrwx root/root         0 2020-01-02 03:04 tree/link -> a.txt",
            "-r--r--r-- root/root         6 2020-01-02 03:04 tree/sub/deeper/d.txt",
        ]);
        differential(platform, &case.env("TZ", "UTC"));
    }
}

differential_test! {
    /// `tar cf /tmp/x.tar` then `tar xf` into /tmp: the extracted tree has
    /// the same contents, modes, owners and times.
    fn debian_tar_tmp(platform) {
        let script = r#"
set -e
cd /tmp
tar -C /husk-test -cf /tmp/x.tar tree
mkdir out
tar -C out -xf x.tar
find out/tree ! -type d -printf '%p %M %u:%g %s %TY-%Tm-%Td %TH:%TM\n' | sort
find out/tree -type d -printf '%p %M %u:%g %TY-%Tm-%Td\n' | sort
diff -r --no-dereference /husk-test/tree out/tree && echo identical
(cd out && find tree -type f | sort | xargs sha256sum) | sha256sum
(cd /husk-test && find tree -type f | sort | xargs sha256sum) | sha256sum
"#;
        let case = bash(script).env("TZ", "UTC").check(|out| {
            let text = out.stdout_str();
            assert!(text.contains("out/tree/owned-by-1000 -rw-r----- 1000:1000 11 2020-01-02 03:04"));
            assert!(text.lines().any(|l| l == "identical"));
            let sums: Vec<_> = text.lines().filter(|l| l.ends_with("  -")).collect();
            assert!(sums.len() == 2 && sums[0] == sums[1], "checksums differ: {sums:?}");
        });
        differential(platform, &case);
    }
}

differential_test! {
    /// gzip -c | gunzip -c round trips; -n makes the compressed bytes
    /// fixed.
    fn debian_gzip(platform) {
        let script = r#"
f=/usr/share/common-licenses/GPL-3
gzip -c $f | gunzip -c | cmp - $f && echo round trip ok
gzip -9 -n -c $f | sha256sum
gzip -1 -n -c $f | wc -c
echo hello | gzip | gzip -d
cd /tmp && cp $f gpl && gzip gpl && ls gpl* && gunzip gpl.gz && cmp gpl $f && echo file round trip ok
printf 'not gzip' | gunzip -c >/dev/null 2>&1; echo "bad input status $?"
"#;
        let case = bash(script).expect_lines(&[
            "round trip ok",
            "hello",
            "gpl.gz",
            "file round trip ok",
            "bad input status 1",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// `dpkg -l` reads the package database.
    fn debian_dpkg_l(platform) {
        let script = r#"
dpkg -l | head -20
dpkg -l bash python3-minimal | tail -2 | awk '{print $1, $2}'
dpkg-query -W -f='${Package} ${Status}\n' coreutils
dpkg -l no-such-package >/dev/null 2>&1; echo "missing package status $?"
"#;
        let case = bash(script).expect_lines(&[
            "Desired=Unknown/Install/Remove/Purge/Hold",
            "ii bash",
            "ii python3-minimal",
            "coreutils install ok installed",
            "missing package status 1",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// Dynamic binaries with no shell in between: argv and environment.
    fn debian_env(platform) {
        let case = Case::in_root(debian_rootfs(), "/usr/bin/env")
            .env("PATH", PATH)
            .env("A", "1")
            .env("B", "two words")
            .scratch_mounts()
            .timeout(TIMEOUT)
            .expect_stdout(format!("A=1\nB=two words\nPATH={PATH}\n"));
        differential(platform, &case);
        let case = Case::in_root(debian_rootfs(), "/bin/false")
            .scratch_mounts()
            .timeout(TIMEOUT)
            .expect_status(1)
            .expect_stdout("");
        differential(platform, &case);
    }
}

// -------------------------------------------------------------- python

differential_test! {
    /// 8 threads add to a total under a lock; a barrier and a queue.
    fn debian_python_threading(platform) {
        let program = r#"
import threading, queue
total = 0
lock = threading.Lock()
barrier = threading.Barrier(8)
results = queue.Queue()
def work(n):
    global total
    for _ in range(10000):
        with lock:
            total += n
    barrier.wait()
    results.put((n, n * n))
threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 9)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("total", total)
print("results", sorted(results.get() for _ in range(8)))
print("threads left", threading.active_count())
ev = threading.Event()
t = threading.Timer(0.05, ev.set)
t.start()
print("event set by a timer thread:", ev.wait(30))
t.join()
cond = threading.Condition()
items = []
def producer():
    for i in range(5):
        with cond:
            items.append(i)
            cond.notify()
p = threading.Thread(target=producer)
p.start()
got = []
with cond:
    while len(got) < 5:
        cond.wait_for(lambda: items)
        got.extend(items)
        items.clear()
p.join()
print("consumed", got)
"#;
        let case = python(program).expect_stdout(
            "total 360000\nresults [(1, 1), (2, 4), (3, 9), (4, 16), (5, 25), (6, 36), (7, 49), (8, 64)]\n\
             threads left 1\nevent set by a timer thread: True\nconsumed [0, 1, 2, 3, 4]\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// subprocess: run and capture `echo`, stderr and exit codes, a shell
    /// pipeline, a large communicate() through cat, a missing program, a
    /// timeout, a child killed by a signal.
    fn debian_python_subprocess(platform) {
        let program = r#"
import subprocess, signal
r = subprocess.run(["echo", "hello from echo"], capture_output=True, text=True)
print(repr(r.stdout), r.returncode)
r = subprocess.run(["/bin/sh", "-c", "echo err >&2; exit 3"], capture_output=True, text=True)
print(repr(r.stdout), repr(r.stderr), r.returncode)
print(subprocess.check_output("seq 3 | tac", shell=True, text=True).split())
p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
out, _ = p.communicate(b"through cat\n" * 20000)
print(len(out), p.returncode)
try:
    subprocess.run(["/nonexistent/program"])
except FileNotFoundError as e:
    print("FileNotFoundError", e.errno)
try:
    subprocess.run(["sleep", "30"], timeout=0.3)
except subprocess.TimeoutExpired:
    print("TimeoutExpired")
p = subprocess.Popen(["sleep", "30"])
p.send_signal(signal.SIGTERM)
print("killed child returncode", p.wait())
r = subprocess.run(["python3", "-c", "import sys; print(sys.argv[1:]); sys.exit(5)", "a", "b c"],
                   stdout=subprocess.PIPE, text=True)
print(r.stdout.strip(), r.returncode)
print(subprocess.run("exit 7", shell=True).returncode)
"#;
        let case = python(program).expect_stdout(
            "'hello from echo\\n' 0\n'' 'err\\n' 3\n['3', '2', '1']\n240000 0\nFileNotFoundError 2\n\
             TimeoutExpired\nkilled child returncode -15\n['a', 'b c'] 5\n7\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// multiprocessing with fork: a Pool of 4 squaring numbers, a Queue,
    /// a shared Value under a Lock, exit codes.
    fn debian_python_multiprocessing(platform) {
        let program = r#"
import multiprocessing as mp
def square(x):
    return x * x
def put(q, i):
    q.put((i, i * 10))
def add(v, lock, n):
    for _ in range(n):
        with lock:
            v.value += 1
def fail(code):
    raise SystemExit(code)
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        print(pool.map(square, range(12)))
        print(sum(pool.imap_unordered(square, range(100))))
        print(pool.apply_async(square, (11,)).get(timeout=60))
    q = ctx.Queue()
    ps = [ctx.Process(target=put, args=(q, i)) for i in range(4)]
    for p in ps:
        p.start()
    got = sorted(q.get(timeout=60) for _ in ps)
    for p in ps:
        p.join()
    print(got, [p.exitcode for p in ps])
    v = ctx.Value("i", 0)
    lock = ctx.Lock()
    ps = [ctx.Process(target=add, args=(v, lock, 500)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("shared value", v.value)
    p = ctx.Process(target=fail, args=(3,))
    p.start()
    p.join()
    print("exit code", p.exitcode)
"#;
        let case = python(program).expect_stdout(
            "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121]\n328350\n121\n\
             [(0, 0), (1, 10), (2, 20), (3, 30)] [0, 0, 0, 0]\nshared value 2000\nexit code 3\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// json dumps and loads round trips.
    fn debian_python_json(platform) {
        let program = r#"
import json
doc = {"name": "husk", "n": [1, 2.5, -3e10, None, True], "nested": {"z": "é✓", "a": []}}
s = json.dumps(doc, sort_keys=True)
print(s)
print(json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False))
assert json.loads(s) == doc
print(json.loads('{"b": [1, {"c": null}], "a": "\\u00e9"}'))
try:
    json.loads("{bad json}")
except json.JSONDecodeError as e:
    print("JSONDecodeError at", e.pos)
print(len(json.dumps(list(range(10000)))))
"#;
        let case = python(program).expect_lines(&[
            r#"{"n": [1, 2.5, -30000000000.0, null, true], "name": "husk", "nested": {"a": [], "z": "\u00e9\u2713"}}"#,
            "    \"z\": \"é✓\"",
            "{'b': [1, {'c': None}], 'a': 'é'}",
            "JSONDecodeError at 1",
            "58890",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// hashlib: sha256 (OpenSSL), md5, sha3, blake2, incremental updates
    /// and a file digest.
    fn debian_python_hashlib(platform) {
        let program = r#"
import hashlib
print(hashlib.sha256(b"husk").hexdigest())
print(hashlib.sha256(b"").hexdigest())
h = hashlib.sha256()
for i in range(1000):
    h.update(str(i).encode())
print(h.hexdigest())
print(hashlib.md5(b"husk").hexdigest())
print(hashlib.sha3_256(b"husk").hexdigest())
print(hashlib.blake2b(b"husk", digest_size=16).hexdigest())
with open("/usr/share/common-licenses/GPL-3", "rb") as f:
    print(hashlib.sha256(f.read()).hexdigest())
print(hashlib.sha256(b"x" * 50_000_000).hexdigest())
"#;
        let case = python(program).expect_lines(&[
            "c8b1f4b76229cb72d6bc950f3d2e2b5891e14a35743e3b6f21bf0cd87511a1ba",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "4efb179217fefa4ddc6cb53bef3343aa",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// The issue's "done when": 8 threads and 4 subprocesses (started
    /// while the threads run), printing the same as natively.
    fn debian_python_threads_and_subprocesses(platform) {
        let program = r#"
import subprocess, threading
results = {}
def work(i):
    results[i] = sum(j * j for j in range(i * 20000))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
procs = [subprocess.Popen(["python3", "-c", f"print({i} ** 3)"], stdout=subprocess.PIPE, text=True)
         for i in range(4)]
outs = [p.communicate()[0].strip() for p in procs]
for t in threads:
    t.join()
for i in range(8):
    print("thread", i, results[i])
for i, p in enumerate(procs):
    print("subprocess", i, outs[i], p.returncode)
"#;
        let case = python(program).check(|out| {
            let text = out.stdout_str();
            assert_eq!(text.lines().count(), 12, "8 thread lines and 4 subprocess lines");
            assert!(text.contains("thread 7 "));
            assert!(text.contains("subprocess 3 27 0"));
        });
        differential(platform, &case);
    }
}

differential_test! {
    /// signal module: handlers, sigtimedwait, pthread_sigmask, os.kill.
    fn debian_python_signals(platform) {
        let program = r#"
import os, signal
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print("handler got", got)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
os.kill(os.getpid(), signal.SIGUSR2)
print("pending", signal.SIGUSR2 in signal.sigpending())
info = signal.sigtimedwait({signal.SIGUSR2}, 5)
print("sigtimedwait", info.si_signo == signal.SIGUSR2, info.si_pid == os.getpid())
print("timeout", signal.sigtimedwait({signal.SIGUSR2}, 0.05))
pid = os.fork()
if pid == 0:
    os.kill(os.getppid(), signal.SIGUSR1)
    os._exit(4)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), "handler got", got)
"#;
        let case = python(program).expect_stdout(
            "handler got [10]\npending True\nsigtimedwait True True\ntimeout None\nchild 4 handler got [10, 10]\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// util-linux's setpriv as root: to uid 1000 without groups or
    /// inheritable capabilities (PR_SET_KEEPCAPS, capset, setresuid), an
    /// empty or a one-capability bounding set (PR_CAPBSET_DROP), ambient
    /// capabilities kept across execve by a non-root user, securebits, and
    /// `setpriv -d`'s report of it all (capget, PR_CAPBSET_READ,
    /// PR_CAP_AMBIENT, PR_GET_SECUREBITS).
    fn debian_setpriv(platform) {
        let script = "\
            setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all id; echo status $?
            setpriv --bounding-set=-all grep Cap /proc/self/status; echo status $?
            setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all grep Cap /proc/self/status
            setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=+net_bind_service \
                --ambient-caps=+net_bind_service grep Cap /proc/self/status
            setpriv -d
            setpriv --bounding-set=-all,+kill --inh-caps=-all setpriv -d
            setpriv --securebits=+noroot,+keep_caps_locked setpriv -d
            setpriv --no-new-privs --reuid=1000 --regid=1000 --clear-groups setpriv -d; echo status $?
            setpriv --reuid=1000 --regid=1000 --clear-groups cat /etc/shadow; echo status $?";
        let case = bash(script).compare_stderr().expect_lines(&[
            "uid=1000 gid=1000 groups=1000",
            "status 0",
            "CapBnd:\t0000000000000000",
            "CapAmb:\t0000000000000400",
            "Capability bounding set: kill",
            "Securebits: noroot,keep_caps_locked",
            "no_new_privs: 1",
            "status 1",
        ]);
        differential(platform, &case);
    }
}

// ------------------------------------------------------------ Husk-only

husk_test! {
    /// `husk run --user 1000:1000` in the Debian root: `id` reports it,
    /// and root-only files stay closed.
    fn debian_user_flag(platform) {
        let case = Case::in_root(debian_rootfs(), "/bin/bash")
            .args(["-c", "id -u; id -g; cat /etc/shadow >/dev/null 2>&1; echo \"shadow status $?\""])
            .env("PATH", PATH)
            .husk_flags(["--user", "1000:1000"])
            .timeout(TIMEOUT)
            .expect_stdout("1000\n1000\nshadow status 1\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// Python's select.epoll and os.eventfd: level and edge triggers, a
    /// timeout, a thread's wake-up, and selectors' default choice.
    fn debian_python_epoll_eventfd(platform) {
        let program = r#"
import os, select, selectors, threading
ep = select.epoll()
r, w = os.pipe()
ep.register(r, select.EPOLLIN)
print("empty:", ep.poll(0))
os.write(w, b"x")
print("level:", [(fd == r, ev) for fd, ev in ep.poll(1)], [(fd == r, ev) for fd, ev in ep.poll(1)])
os.read(r, 1)
efd = os.eventfd(0, os.EFD_NONBLOCK)
ep.register(efd, select.EPOLLIN | select.EPOLLET)
threading.Timer(0.05, lambda: os.eventfd_write(efd, 3)).start()
print("woken:", [(fd == efd, ev) for fd, ev in ep.poll(5)])
print("edge, again:", ep.poll(0))
print("eventfd:", os.eventfd_read(efd))
print("timeout:", ep.poll(0.02))
ep.unregister(efd)
ep.close()
print("selector:", type(selectors.DefaultSelector()).__name__)
"#;
        let case = python(program).expect_stdout(
            "empty: []\nlevel: [(True, 1)] [(True, 1)]\nwoken: [(True, 1)]\nedge, again: []\n\
             eventfd: 3\ntimeout: []\nselector: EpollSelector\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// asyncio over socket pairs: streams both ways, a subprocess, a
    /// signal handler (through the loop's wake-up socket), and gather.
    fn debian_python_asyncio(platform) {
        let program = r#"
import asyncio, socket, os, signal
async def main():
    a, b = socket.socketpair()
    r1, w1 = await asyncio.open_connection(sock=a)
    r2, w2 = await asyncio.open_connection(sock=b)
    w1.write(b"ping\n"); await w1.drain()
    print("got", (await r2.readline()).decode().strip())
    w2.write(b"pong\n"); await w2.drain()
    print("got", (await r1.readline()).decode().strip())
    proc = await asyncio.create_subprocess_exec("/bin/echo", "from a subprocess", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    print(out.decode().strip(), "status", proc.returncode)
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, lambda: fired.set_result("SIGUSR1 handled"))
    os.kill(os.getpid(), signal.SIGUSR1)
    print(await asyncio.wait_for(fired, 5))
    print("gathered", await asyncio.gather(*(asyncio.sleep(0.01 * i, result=i) for i in range(5))))
    w1.close(); w2.close()
    await w1.wait_closed(); await w2.wait_closed()
asyncio.run(main())
"#;
        let case = python(program).expect_stdout(
            "got ping\ngot pong\nfrom a subprocess status 0\nSIGUSR1 handled\ngathered [0, 1, 2, 3, 4]\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// multiprocessing over named Unix sockets: a Listener and Client on a
    /// path in /tmp (with SO_REUSEADDR and authentication), a Manager
    /// serving a dict and a list to three processes, and an abstract name.
    fn debian_python_multiprocessing_unix_sockets(platform) {
        let program = r#"
import multiprocessing as mp
from multiprocessing.connection import Listener, Client
import socket

def client(addr):
    with Client(addr, family="AF_UNIX", authkey=b"k") as c:
        c.send({"hello": True})
        print("client got", c.recv(), flush=True)

def work(d, lst, i):
    d[i] = i * i
    lst.append(i)

if __name__ == "__main__":
    addr = "/tmp/husk-mp.sock"
    with Listener(addr, family="AF_UNIX", authkey=b"k") as l:
        p = mp.Process(target=client, args=(addr,))
        p.start()
        with l.accept() as conn:
            print("server got", conn.recv(), flush=True)
            conn.send("welcome")
        p.join()
    print("client exit", p.exitcode, flush=True)
    with mp.Manager() as m:
        d, lst = m.dict(), m.list()
        ps = [mp.Process(target=work, args=(d, lst, i)) for i in range(3)]
        for p in ps: p.start()
        for p in ps: p.join()
        print("manager", sorted(d.items()), sorted(lst), flush=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0husk-abstract")
    s.listen()
    c = socket.socket(socket.AF_UNIX)
    c.connect("\0husk-abstract")
    a, _ = s.accept()
    c.sendall(b"abc")
    print("abstract", a.recv(3), s.getsockname())
"#;
        let case = python(program).expect_stdout(
            "server got {'hello': True}\nclient got welcome\nclient exit 0\n\
             manager [(0, 0), (1, 1), (2, 4)] [0, 1, 2]\nabstract b'abc' b'\\x00husk-abstract'\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// Python's signal.setitimer and signal.alarm (ITIMER_REAL).
    fn debian_python_itimer(platform) {
        let program = r#"
import signal, time
hits = []
signal.signal(signal.SIGALRM, lambda s, f: hits.append(s))
signal.setitimer(signal.ITIMER_REAL, 0.05)
left, interval = signal.getitimer(signal.ITIMER_REAL)
print("armed:", 0 < left <= 0.05, interval)
while not hits:
    signal.pause()
print("fired:", hits)
print("alarm:", signal.alarm(3), signal.alarm(0))
"#;
        let case = python(program).expect_stdout("armed: True 0.0\nfired: [14]\nalarm: 0 3\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// Python's os.pidfd_open and signal.pidfd_send_signal, with select
    /// waiting for the process to end.
    fn debian_python_pidfd(platform) {
        let program = r#"
import os, select, signal, subprocess
p = subprocess.Popen(["/bin/sleep", "5"])
fd = os.pidfd_open(p.pid)
print("running:", select.select([fd], [], [], 0)[0])
signal.pidfd_send_signal(fd, signal.SIGTERM)
print("ended:", select.select([fd], [], [], 5)[0] == [fd])
print("status:", p.wait())
"#;
        let case = python(program).expect_stdout("running: []\nended: True\nstatus: -15\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// coreutils' timeout (a POSIX timer with SIGEV_SIGNAL): a command that
    /// overruns is stopped with 124, or 137 with -s KILL, and one that ends
    /// in time keeps its status.
    fn debian_coreutils_timeout(platform) {
        let case = bash(
            "timeout 0.2 sleep 5; echo \"overran: $?\"; timeout -s KILL 0.1 sleep 5; echo \"killed: $?\"; \
             timeout 5 sh -c 'exit 3'; echo \"in time: $?\"",
        )
        .expect_stdout("overran: 124\nkilled: 137\nin time: 3\n");
        differential(platform, &case);
    }
}

// ------------------------------------------------- CPython's own tests

/// `python3 -m test ARGS` (CPython's regression suite) in `/tmp`, with
/// only its verdict lines and exit status printed: the rest of its output
/// has times and load averages in it.
fn cpython_tests(args: &str) -> Case {
    bash(&format!(
        "cd /tmp && python3 -m test {args} > /tmp/regrtest.log 2>&1; s=$?; \
         grep -E '^(== Tests result|[0-9]+ tests? (OK|failed)|All [0-9]+ tests OK)' /tmp/regrtest.log; \
         [ $s = 0 ] || tail -30 /tmp/regrtest.log; echo \"status $s\""
    ))
}

differential_test! {
    /// Issue 20: a thread that is not the main one forks, and the main
    /// thread, waiting in os.read(), must get the child's b"OK" (it got
    /// zeros: the read's buffer moved to a new page while it waited).
    fn debian_cpython_forkinthread(platform) {
        let case = cpython_tests("-m test_forkinthread test_thread")
            .expect_stdout("== Tests result: SUCCESS ==\n1 test OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// CPython's test_thread and test_fork1 modules whole: forks from
    /// threads, locks across fork, and fork with threads running.
    fn debian_cpython_thread_fork(platform) {
        let case = cpython_tests("test_thread test_fork1")
            .expect_stdout("== Tests result: SUCCESS ==\nAll 2 tests OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// CPython's socket-pair tests (test_socket's *SocketPair* classes);
    /// the rest of test_socket needs named and network sockets.
    fn debian_cpython_socketpair(platform) {
        let case = cpython_tests("test_socket -m '*SocketPair*'")
            .expect_stdout("== Tests result: SUCCESS ==\n1 test OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// CPython's test_epoll whole: its sockets are TCP on the loopback,
    /// with non-blocking connects that must say EINPROGRESS.
    fn debian_cpython_epoll(platform) {
        let case = cpython_tests("test_epoll")
            .expect_stdout("== Tests result: SUCCESS ==\n1 test OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// asyncio over TCP on the loopback: a server on an ephemeral port of
    /// 127.0.0.1 and of ::1, clients that stream lines to it and read the
    /// echo, and a UDP endpoint, all on one event loop.
    fn debian_python_asyncio_tcp(platform) {
        let case = python(
            r#"
import asyncio, socket
async def echo(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
async def client(host, port, n):
    reader, writer = await asyncio.open_connection(host, port)
    got = []
    for i in range(n):
        writer.write(b"line %d\n" % i)
        await writer.drain()
        got.append(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return got
class Udp(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, data, addr): self.t.sendto(data[::-1], addr)
async def main():
    for host in ("127.0.0.1", "::1"):
        server = await asyncio.start_server(echo, host, 0)
        port = server.sockets[0].getsockname()[1]
        results = await asyncio.gather(*(client(host, port, 50) for _ in range(4)))
        print(host, "clients:", len(results), "lines:", sum(map(len, results)), results[0][-1])
        server.close()
        await server.wait_closed()
    loop = asyncio.get_running_loop()
    t, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
    addr = t.get_extra_info("sockname")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(b"olleh", addr)
    await asyncio.sleep(0.1)
    print("udp:", c.recv(100))
    t.close()
asyncio.run(main())
"#,
        )
        .expect_stdout(
            "127.0.0.1 clients: 4 lines: 200 b'LINE 49\\n'\n::1 clients: 4 lines: 200 b'LINE 49\\n'\nudp: b'hello'\n",
        );
        differential(platform, &case);
    }
}

// ---------------------------------------------------------------- Node.js

/// `/usr/bin/node -e SCRIPT` in the Debian root.
fn node(script: &str) -> Case {
    Case::in_root(debian_rootfs(), "/usr/bin/node")
        .args(["-e", script])
        .env("PATH", PATH)
        .env("HOME", "/root")
        .scratch_mounts()
        .timeout(TIMEOUT)
}

differential_test! {
    /// Debian's Node.js (libuv's epoll loop, its thread pool, signalfd-free
    /// child handling): timers in their phases, child_process exec and
    /// spawn through pipes, a `net` server and client on a Unix socket and
    /// on TCP over the loopback, and fs.watch (inotify) seeing a file made
    /// in a watched directory. Results print in a fixed order at the end.
    fn debian_node_event_loop(platform) {
        let case = node(
            r#"
const net = require('net'), cp = require('child_process'), fs = require('fs');
const got = {};
const order = [];
const done = (k, v) => { got[k] = v; order.push(k); if (Object.keys(got).length === 9) finish(); };
function finish() {
  for (const k of Object.keys(got).sort()) console.log(k + ':', got[k]);
  console.log('nextTick first:', order[0] === 'nextTick', 'immediate before timeout:', order.indexOf('immediate') < order.indexOf('timeout'));
}
setTimeout(() => done('timeout', '500 ms'), 500);
setImmediate(() => done('immediate', 'ran'));
process.nextTick(() => done('nextTick', 'ran'));
let n = 0;
const iv = setInterval(() => { if (++n === 3) { clearInterval(iv); done('interval', 'x3'); } }, 10);
const sock = '/tmp/node-test.sock';
const server = net.createServer(c => { c.on('data', d => c.write(d.toString().toUpperCase())); c.on('end', () => c.end()); });
server.listen(sock, () => {
  const c = net.connect(sock, () => c.write('hello over a unix socket'));
  c.on('data', d => { c.end(); server.close(() => done('unix', d.toString())); });
});
const tcp = net.createServer(c => c.pipe(c)).listen(0, '127.0.0.1', () => {
  const c = net.connect(tcp.address().port, '127.0.0.1', () => c.end('tcp loopback'));
  let s = '';
  c.on('data', d => s += d);
  c.on('close', () => { tcp.close(); done('tcp', s); });
});
cp.exec('echo from a shell; exit 3', (err, stdout) => done('exec', stdout.trim() + ', code ' + err.code));
const child = cp.spawn('/bin/cat', []);
let out = '';
child.stdout.on('data', d => out += d);
child.on('close', code => done('spawn', out + ', exit ' + code));
child.stdin.end('piped through cat');
const dir = fs.mkdtempSync('/tmp/w-');
const w = fs.watch(dir, (ev, name) => { w.close(); done('fs.watch', ev + ' ' + name); });
setTimeout(() => fs.writeFileSync(dir + '/f', 'x'), 20);
"#,
        )
        .expect_stdout(
            "exec: from a shell, code 3\nfs.watch: rename f\nimmediate: ran\ninterval: x3\nnextTick: ran\n\
             spawn: piped through cat, exit 0\ntcp: tcp loopback\ntimeout: 500 ms\n\
             unix: HELLO OVER A UNIX SOCKET\nnextTick first: true immediate before timeout: true\n",
        );
        differential(platform, &case);
    }
}

differential_test! {
    /// coreutils' `tail -f` sees the lines another process appends: by
    /// inotify, since polling (every 10 s, `-s 10`) would see none in time.
    /// (A file of its own: other cases share the native run's /tmp.)
    fn debian_tail_follow(platform) {
        let case = bash(
            "log=$(mktemp); (for i in 1 2 3; do sleep 0.2; echo line $i >> $log; done) & \
             timeout 1.5 tail -s 10 -f $log; echo \"tail: $?\"",
        )
        .expect_stdout("line 1\nline 2\nline 3\ntail: 124\n");
        differential(platform, &case);
    }
}

husk_test! {
    /// sethostname and setdomainname change the sandbox's own names (its
    /// UTS namespace), which uname and /proc/sys/kernel show; not the
    /// host's, which is why this runs under Husk only. They need
    /// CAP_SYS_ADMIN, which Docker's default set (husk run's) lacks.
    fn debian_sethostname(platform) {
        let denied = python("import socket\ntry: socket.sethostname('renamed')\nexcept OSError as e: print(e.errno)\n")
            .expect_stdout("1\n");
        let out = run_husk(platform, &denied);
        denied.verify(&format!("husk --platform {platform}"), &out);
        let case = python(
            "import socket, os\n\
             socket.sethostname('renamed')\n\
             print(socket.gethostname(), os.uname().nodename, open('/proc/sys/kernel/hostname').read().strip())\n\
             import ctypes\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             print(libc.setdomainname(b'example', 7), open('/proc/sys/kernel/domainname').read().strip())\n\
             try: socket.sethostname('x' * 65)\n\
             except OSError as e: print('65 bytes:', e.errno)\n",
        )
        .husk_flags(["--cap-add", "SYS_ADMIN"])
        .expect_stdout("renamed renamed renamed\n0 example\n65 bytes: 22\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// CPython's test_asyncio modules that need sockets of every kind, Unix
    /// and TCP on the loopback: streams, low-level socket calls on the
    /// event loop, and the Unix event loop (signals, pipes, child
    /// watchers). The rest of issue 10's list runs in tests/cpython.sh.
    fn debian_cpython_asyncio_sockets(platform) {
        let case = cpython_tests("test_asyncio.test_streams test_asyncio.test_sock_lowlevel test_asyncio.test_unix_events")
            .expect_stdout("== Tests result: SUCCESS ==\nAll 3 tests OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// CPython's test_subprocess whole: processes, pipes, pipe sizes,
    /// /dev/stdin, timeouts and signals. (test_threading, whose timing
    /// checks fail natively too when the machine is loaded by the other
    /// tests, runs in tests/cpython.sh.)
    fn debian_cpython_subprocess(platform) {
        let case = cpython_tests("test_subprocess")
            .expect_stdout("== Tests result: SUCCESS ==\n1 test OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// util-linux's script(1) runs a shell on a new pseudo-terminal and
    /// copies what it shows: the command sees a terminal named
    /// /dev/pts/0 with Linux's defaults (size 0 0, 38400 baud), its output
    /// comes back with ONLCR's \r\n, and script exits with its status.
    fn debian_script_pty(platform) {
        let case = bash(
            "script -qec 'tty; stty size; stty -a | head -1; echo done; exit 3' /dev/null </dev/null | od -c; \
             echo \"status ${PIPESTATUS[0]}\"",
        )
        .expect_lines(&["status 3"]);
        differential(platform, &case);
    }
}

differential_test! {
    /// CPython's pseudo-terminal tests: test_pty whole (pty.fork, openpty,
    /// spawn), test_os (openpty among the rest) and test_asyncio's
    /// test_events, whose pty cases read and write a master on the event
    /// loop and see EOF when the replica closes.
    fn debian_cpython_pty(platform) {
        let case = cpython_tests("test_pty test_os test_asyncio.test_events")
            .expect_stdout("== Tests result: SUCCESS ==\nAll 3 tests OK.\nstatus 0\n");
        differential(platform, &case);
    }
}

// ------------------------------------------- the overlay root and real tools

differential_test! {
    /// `dpkg -i` of a .deb built on the spot, into the overlay root: dpkg
    /// takes its fcntl locks, writes its database and unpacks, and the
    /// program it installed runs, then goes with `dpkg -r`.
    fn debian_dpkg_install(platform) {
        let case = bash(
            "set -e; cd /tmp; mkdir -p pkg/DEBIAN pkg/usr/local/bin; \
             printf 'Package: hello-husk\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@t>\\nDescription: t\\n' \
               > pkg/DEBIAN/control; \
             printf '#!/bin/sh\\necho hello from the deb\\n' > pkg/usr/local/bin/hello-husk; \
             chmod 755 pkg/usr/local/bin/hello-husk; dpkg-deb --build pkg /tmp/h.deb >/dev/null; \
             dpkg -i /tmp/h.deb >/dev/null; dpkg -s hello-husk | grep Status; hello-husk; \
             dpkg -r hello-husk >/dev/null 2>&1; test -e /usr/local/bin/hello-husk || echo removed",
        )
        .expect_stdout("Status: install ok installed\nhello from the deb\nremoved\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// git in the root: init, add, commit, log and status in /root.
    fn debian_git_commit(platform) {
        let case = bash(
            "set -e; cd /root; git init -q repo; cd repo; git config user.email t@t; git config user.name t; \
             echo hi > f; mkdir d; echo there > d/g; git add .; git commit -qm first; \
             echo more >> f; git commit -qam second; git log --format=%s; git status --short | wc -l; \
             git ls-files; git show HEAD:f",
        )
        .expect_stdout("second\nfirst\n0\nd/g\nf\nhi\nmore\n");
        differential(platform, &case);
    }
}

husk_test! {
    /// git in a read-write volume: init, add, commit and log; the
    /// repository is on the host afterwards, and a second sandbox with the
    /// same volume finds the commits there.
    fn debian_git_in_a_volume(platform) {
        let parent = husk_suite::paths::work_dir().join("tmp");
        std::fs::create_dir_all(&parent).expect("create target/husk-test/tmp");
        let host = tempfile::Builder::new().prefix("git-volume-").tempdir_in(&parent).expect("the volume");
        let volume = format!("{}:/repo", host.path().display());
        let case = bash(
            "set -e; cd /repo; git init -q .; git config user.email t@t; git config user.name t; \
             echo hi > f; mkdir d; echo there > d/g; git add .; git commit -qm first; \
             echo more >> f; git commit -qam second; git log --format=%s; git status --short | wc -l",
        )
        .husk_flags(["--volume", &volume])
        .expect_stdout("second\nfirst\n0\n");
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
        let head = std::fs::read_to_string(host.path().join(".git/HEAD")).expect("the repository is on the host");
        let branch = head.trim().strip_prefix("ref: ").expect("HEAD names a branch");
        assert!(host.path().join(".git").join(branch).is_file(), "no {branch} on the host");
        assert_eq!(std::fs::read_to_string(host.path().join("f")).expect("f"), "hi\nmore\n");
        let again = bash("cd /repo && git log --format=%s && git show HEAD:d/g")
            .husk_flags(["--volume", &volume])
            .expect_stdout("second\nfirst\nthere\n");
        let out = run_husk(platform, &again);
        again.verify(&format!("husk --platform {platform}"), &out);
    }
}

husk_test! {
    /// htop, on a terminal, draws the sandbox's processes, CPUs, memory and
    /// load (all from its /proc and /sys), and quits on `q`.
    fn debian_htop(platform) {
        let steps = [
            husk_suite::pty::Step::Expect("Load average"),
            husk_suite::pty::Step::Expect("htop"),
            husk_suite::pty::Step::Send("q"),
        ];
        let out = husk_suite::pty::husk_on_pty(
            platform,
            &debian_rootfs(),
            "/usr/bin/env",
            &["TERM=xterm", "HOME=/root", "PATH=/usr/bin:/bin", "htop", "-d", "5"],
            &steps,
        );
        assert_eq!((out.status, out.failed.as_deref()), (0, None), "{}", out.describe());
        let text = out.text();
        for want in ["Tasks:", "Mem", "Swp", "Load average:", "Uptime:", "htop -d 5"] {
            assert!(text.contains(want), "htop drew no {want:?}:\n{}", out.describe());
        }
    }
}

/// Makes /tmp/huskdemo-1.0-py3-none-any.whl, a wheel of one module.
const MAKE_WHEEL: &str = "import zipfile
with zipfile.ZipFile('/tmp/huskdemo-1.0-py3-none-any.whl', 'w') as z:
    z.writestr('huskdemo.py', 'ANSWER = 42\\n')
    z.writestr('huskdemo-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: huskdemo\\nVersion: 1.0\\n')
    z.writestr('huskdemo-1.0.dist-info/WHEEL',
               'Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
    z.writestr('huskdemo-1.0.dist-info/RECORD', '')
";

differential_test! {
    /// pip installs a wheel built on the spot (no index) into the root,
    /// and python imports it.
    fn debian_pip_install_wheel(platform) {
        let case = bash(&format!(
            "set -e; python3 -c \"{MAKE_WHEEL}\"; cd /tmp; \
             pip3 install -q --no-index --no-cache-dir --root-user-action=ignore --break-system-packages \
               ./huskdemo-1.0-py3-none-any.whl 2>/dev/null; \
             cd / && python3 -c 'import huskdemo; print(huskdemo.ANSWER)'; pip3 list 2>/dev/null | grep -c huskdemo"
        ))
        .expect_stdout("42\n1\n");
        differential(platform, &case);
    }
}

differential_test! {
    /// flock(1) serialises two shells: each holds the lock across a
    /// sleep, so their lines never interleave; `tail -f` sees a line
    /// appended by another process.
    fn debian_flock_and_tail_f(platform) {
        let case = bash(
            "for i in 1 2; do flock /tmp/l -c 'echo start; sleep 0.3; echo end' & done; wait; \
             echo a > /tmp/f; (sleep 0.5; echo b >> /tmp/f) & timeout 2 tail -f /tmp/f; echo \"tail: $?\"",
        )
        .expect_stdout("start\nend\nstart\nend\na\nb\ntail: 124\n");
        differential(platform, &case);
    }
}

husk_test! {
    /// procps, util-linux and lsof see the sandbox: `ps` its processes
    /// (and their memory), `pgrep` and `top` too, `free` its memory, `df`
    /// and `mount` its overlay root, `lsof` a shell's open files.
    fn debian_procps_df_mount(platform) {
        let case = bash(
            "ps -eo pid,comm | head -2 | tr -s ' '; free | grep -c '^Mem:'; df -h / | tail -1 | cut -d' ' -f1; \
             mount | head -1; ps -o rss= -p 1 | grep -cv '^ *0$'; pgrep -x bash; top -bn1 | grep -c '^Tasks:'; \
             exec 7</etc/hostname; lsof -p $$ -a -d 7 -Fn | grep '^n'",
        )
        .expect_stdout(
            " PID COMMAND\n 1 bash\n1\noverlay\noverlay on / type overlay (rw,relatime)\n1\n1\n1\nn/etc/hostname\n",
        );
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// CPython's file-system modules that run in seconds (the rest of
    /// issue 9's list, test_io, test_zipfile and test_mmap among them, runs
    /// in tests/cpython.sh): files, paths, directories, modes, locks and
    /// vectored I/O on the overlay root and tmpfs. (test_shutil's
    /// disk_usage and two of test_fileio's cases fail natively on the
    /// native side's tmpfs-backed overlayfs, so they run in cpython.sh.)
    fn debian_cpython_files(platform) {
        let case = cpython_tests("test_posix test_stat test_glob test_tempfile test_pathlib")
            .expect_stdout("== Tests result: SUCCESS ==\nAll 5 tests OK.\nstatus 0\n");
        differential(platform, &case);
    }
}
