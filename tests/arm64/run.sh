#!/usr/bin/env bash
# The emulated arm64 machine (issue 17): Husk cross-built for aarch64 runs
# programs on a real arm64 kernel (Debian's cloud kernel, booted under
# qemu-system-aarch64 -M virt -cpu max), each compared with the same
# program run natively on that kernel:
#   - the C differential programs of tests/progs/ that build for arm64,
#     and arm64's own in tests/arm64/progs/ (its signal frame and
#     ptrace's regsets), compiled
#     static, in a root that also holds the /data tree;
#   - busybox (Debian's busybox-static:arm64) shell cases;
#   - the Debian userland: an arm64 Debian root (debootstrap, cached) with
#     bash, coreutils and python3.
# A case passes when the program exits 0 natively (chrooted into the same
# root, as root with every capability, with an empty environment) and Husk
# (`--cap-add ALL`, as root's) gives the same exit status and stdout. Each
# case runs natively once and under Husk on each platform of
# HUSK_ARM64_PLATFORM (a list; `ptrace systrap` by default), its verdict
# named `case@platform`. Prints each verdict
# and `N passed, M failed`; exits 1 if any failed. The kernel and busybox
# are cached under /var/cache/husk-test/arm64.
#
#   bash tests/arm64/run.sh                # every case, on both platforms
#   bash tests/arm64/run.sh hello pipes    # chosen programs
#   HUSK_ARM64_PLATFORM=systrap bash tests/arm64/run.sh   # on systrap only
#
# Not part of .ci/run (emulation is slow: about 15 minutes for the whole
# set on one platform); CI cross-builds and lints instead (tests/arm64/cross.sh).
# CARGO overrides the cargo command (e.g. CARGO="flock -o LOCK cargo");
# HUSK_ARM64_PROFILE=release uses a release build (faster under emulation).
set -euo pipefail
cd "$(dirname "$0")/../.."
who=machine
. tests/arm64/common.sh

need_tools
image=$(fetch_kernel)
say "kernel $(basename "$image")"
busybox=$cache/busybox
if [ ! -x "$busybox" ]; then
    tmp=$(unpack_arm64_deb busybox-static)
    cp "$tmp/x/bin/busybox" "$busybox"
    rm -rf "$tmp"
fi

debian=$(debian_root)
say "Debian root $debian"

profile=${HUSK_ARM64_PROFILE:-debug}
platforms=${HUSK_ARM64_PLATFORM:-ptrace systrap}
for p in $platforms; do
    case $p in ptrace | systrap) ;; *) say "unknown platform $p (HUSK_ARM64_PLATFORM)"; exit 2 ;; esac
done
say "platforms: $platforms"
flags=()
[ "$profile" = release ] && flags=(--release)
run "${cargo[@]}" build "${flags[@]}" --target "$target" -p runtime --bin husk
husk=${CARGO_TARGET_DIR:-target}/$target/$profile/husk

root=$(mktemp -d)
trap 'rm -rf "$root" "$root.initrd.gz"' EXIT
mkdir -p "$root/deb"
cp -a "$debian"/. "$root/deb/"
mkdir -p "$root/lib" "$root/bin" "$root/r/bin" "$root/r/progs" "$root/r/proc" "$root/r/dev" "$root/r/tmp"
run aarch64-linux-gnu-gcc -static -O2 -o "$root/init" tests/arm64/init.c
cp -L /usr/aarch64-linux-gnu/lib/{ld-linux-aarch64.so.1,libc.so.6,libgcc_s.so.1,libm.so.6} "$root/lib/"
cp "$husk" "$root/bin/husk"
cp "$busybox" "$root/bin/busybox"
cp "$busybox" "$root/r/bin/busybox"
for applet in sh echo cat ls wc sort head tr true false sleep kill env mkdir rm seq grep; do
    ln -s busybox "$root/r/bin/$applet"
done
ln -s busybox "$root/bin/sh"
# The /data tree the programs read (tests/progs_diff.rs's data_tree).
mkdir -p "$root/r/data/dir/sub"
printf 'Hello, Husk!\nSecond line.\n' >"$root/r/data/hello.txt"
head -c 100000 /dev/urandom >"$root/r/data/medium.bin"
printf a >"$root/r/data/dir/a"
printf bb >"$root/r/data/dir/bb"
printf ccc >"$root/r/data/dir/ccc"
ln -s hello.txt "$root/r/data/link"
ln -s dir "$root/r/data/dirlink"
ln -s nowhere "$root/r/data/dangling"
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) & 0xff for i in range(3 * 4096 + 100)))' \
    >"$root/r/data/map.bin"

# The programs: those named, or every one that builds for arm64 (some are
# x86_64 by nature: inline assembly, the XSAVE area, legacy syscalls), less
# those that need a harness of their own: the checkpoint programs (which
# wait to be checkpointed), the fork bomb (which needs a pids limit), the
# network clients (which need a test namespace) and vdso (x86_64's vDSO
# names, and 400,000 coarse-clock syscalls, minutes under emulation).
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/progs/*.c; do
        case $(basename "$f" .c) in
        ckpt* | forkbomb | nat_client | ping_outside | vdso) ;;
        *) names+=("$(basename "$f" .c)") ;;
        esac
    done
fi
# With them, arm64's own (tests/arm64/progs/: its signal frame).
for f in tests/arm64/progs/*.c; do
    [ $# -eq 0 ] && names+=("arm64/$(basename "$f" .c)")
done
built=0
for n in "${names[@]}"; do
    src=tests/progs/$n.c
    case $n in arm64/*) n=${n#arm64/} src=tests/arm64/progs/${n#arm64/}.c ;; esac
    if aarch64-linux-gnu-gcc -O1 -w -static -o "$root/r/progs/$n" "$src" 2>/dev/null; then
        built=$((built + 1))
    else
        say "not for arm64: $n"
    fi
done
say "$built programs built"

# Run inside the machine by busybox sh: each case natively (chroot), then
# under Husk; the verdicts on the console.
printf 'platforms="%s"\n' "$platforms" >"$root/diff.sh"
cat >>"$root/diff.sh" <<'SH'
/bin/busybox --install -s /bin
export PATH=/bin
for r in /r /deb; do
    mount -t proc proc $r/proc
    mount -t devtmpfs dev $r/dev
    mount -t tmpfs tmp $r/tmp
done
mkdir -p /sys/fs/cgroup /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tmpfs run /run
# check NAME [ROOT] PROG ARGS...: ROOT is /r unless a second argument
# starting with /deb names the Debian root.
check() {
    name=$1
    shift
    root=/r
    if [ "$1" = /deb ]; then
        root=/deb
        shift
    fi
    timeout -k 10 120 env -i chroot $root "$@" >/tmp/native.out 2>/tmp/native.err </dev/null
    ns=$?
    if [ $ns -ne 0 ]; then
        echo "=== skip $name (native exit $ns)"
        head -n 5 /tmp/native.err
        return
    fi
    for platform in $platforms; do
        timeout -k 10 300 /bin/husk run --platform $platform --cap-add ALL --rootfs $root -- "$@" \
            >/tmp/husk.out 2>/tmp/husk.err </dev/null
        hs=$?
        if [ $hs -eq $ns ] && cmp -s /tmp/native.out /tmp/husk.out; then
            echo "=== pass $name@$platform"
        else
            echo "=== fail $name@$platform (exit $hs, native $ns)"
            diff /tmp/native.out /tmp/husk.out | head -n 15
            head -n 15 /tmp/husk.err
        fi
    done
}
for p in /r/progs/*; do
    check "${p##*/}" "/progs/${p##*/}"
done
check busybox-echo /bin/echo hello arm64
check busybox-pipeline /bin/sh -c 'seq 1 200 | grep 7 | sort -r | head -n 5 | wc -l'
check busybox-loop /bin/sh -c 'i=0; while [ $i -lt 20 ]; do i=$((i+1)); done; echo $i'
check busybox-files /bin/sh -c 'mkdir -p /tmp/d && echo x >/tmp/d/f && cat /tmp/d/f /data/hello.txt && ls /data/dir && rm -r /tmp/d'
check busybox-signal /bin/sh -c 'sleep 5 & kill -TERM $!; wait $!; echo status $?'
check busybox-env /bin/env -i A=1 B='two words' /bin/env
run=/usr/bin/env
path=PATH=/usr/bin:/bin
check debian-bash /deb $run $path bash -c 'a=(3 1 2); echo ${#a[@]}; for i in "${a[@]}"; do echo $((i * i)); done | sort -n; f() { local x=$1; echo "f:$x"; }; f arm; echo "$(echo nested $(echo twice))"; trap "echo trapped" USR1; kill -USR1 $$; (exit 7); echo status $?'
check debian-coreutils /deb $run $path sh -c 'seq 1000 | sort -n -r | head -n 3; echo hi | tr a-z A-Z; stat -c "%s %F" /etc/debian_version; date -u -d @86400 +%F; printf "%s\n" b a c | sort | uniq -c | tr -s " "; mkdir -p /tmp/t/u && touch /tmp/t/u/f && find /tmp/t | sort; du -s /tmp/t | cut -f1 >/dev/null; id -u; basename /a/b/c; wc -c </etc/debian_version'
check debian-python3 /deb $run $path python3 -c 'import json, os, subprocess, threading, hashlib, tempfile, signal
print(json.dumps({"a": [1, 2], "arch": os.uname().machine}))
print(subprocess.run(["echo", "from a child"], capture_output=True, text=True).stdout.strip())
out = []
ts = [threading.Thread(target=lambda i=i: out.append(sum(range(i * 10000)))) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(out))
print(hashlib.sha256(b"husk").hexdigest()[:16])
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "f"), "w").write("x" * 100)
    print(os.listdir(d), os.path.getsize(os.path.join(d, "f")))
signal.signal(signal.SIGUSR1, lambda *a: print("handled"))
os.kill(os.getpid(), signal.SIGUSR1)
r, w = os.pipe()
if os.fork() == 0:
    os.write(w, b"forked"); os._exit(3)
print(os.read(r, 6).decode(), os.waitstatus_to_exitcode(os.wait()[1]))'
SH
echo "/bin/sh /diff.sh" >"$root/cmds"
initrd "$root"

log=${HUSK_ARM64_LOG:-$cache/machine.log}
say "booting under qemu-system-aarch64 (console: $log)"
start=$SECONDS
boot "$image" "$root.initrd.gz" 3072 "${HUSK_ARM64_TIMEOUT:-3600}" "$log"
grep -E '^=== (pass|fail|skip)' "$log" || true
passed=$(grep -c '^=== pass' "$log" || true)
failed=$(grep -c '^=== fail' "$log" || true)
skipped=$(grep -c '^=== skip' "$log" || true)
grep -q '^=== exit /bin/sh' "$log" || {
    say "the machine did not finish; the console's end:"
    tail -n 40 "$log"
    failed=$((failed + 1))
}
say "$passed passed, $failed failed ($skipped fail natively) in $((SECONDS - start))s"
[ "$failed" -eq 0 ]
