#!/usr/bin/env bash
# Runs, on a real arm64 Linux kernel, the unit and platform tests that
# qemu-user cannot run (tests/arm64/cross.sh names them): the ptrace
# and systrap platforms' stub tests, seccomp's filters installed in the kernel, and the
# Gofer's tests that need openat2. The kernel is Debian's arm64 cloud
# kernel, booted under qemu-system-aarch64 (-M virt -cpu max) with an
# initramfs holding the cross-built test binaries, the cross toolchain's
# libc and a small init (tests/arm64/init.c). About 40 seconds once the
# kernel is cached (/var/cache/husk-test/arm64, with the last console log)
# and the tests are built; run it after cross.sh. Not part of .ci/run,
# to keep CI's arm64 share small; it skips, with a message, when offline.
#
# CARGO overrides the cargo command (e.g. CARGO="flock -o LOCK cargo").
set -euo pipefail
cd "$(dirname "$0")/../.."

who=kernel
. tests/arm64/common.sh

need_tools
image=$(fetch_kernel)
say "kernel $(basename "$image")"

# The test binaries, as cargo names them.
build_log=$(mktemp)
printf '+ %s\n' "${cargo[*]} test --target $target -p platform -p seccomp -p gofer --no-run"
if ! "${cargo[@]}" test --target "$target" -p platform -p seccomp -p gofer --no-run >"$build_log" 2>&1; then
    cat "$build_log"
    exit 1
fi
lib_exe() { sed -n "s|.*Executable unittests src/lib.rs (\(.*/$1-[0-9a-f]*\))\$|\1|p" "$build_log"; }
test_exe() { sed -n "s|.*Executable tests/$1.rs (\(.*\))\$|\1|p" "$build_log"; }
declare -A bins=(
    [platform_lib]=$(lib_exe platform)
    [ptrace_stub]=$(test_exe ptrace_stub)
    [systrap_stub]=$(test_exe systrap_stub_arm64)
    [seccomp_lib]=$(lib_exe seccomp)
    [gofer_lib]=$(lib_exe gofer)
    [gofer_it]=$(test_exe gofer)
    [gofer_write]=$(test_exe write)
)
rm -f "$build_log"

root=$(mktemp -d)
trap 'rm -rf "$root" "$root.initrd.gz"' EXIT
mkdir -p "$root/lib" "$root/t"
run aarch64-linux-gnu-gcc -static -O2 -o "$root/init" tests/arm64/init.c
sysroot=/usr/aarch64-linux-gnu/lib
cp -L "$sysroot"/{ld-linux-aarch64.so.1,libc.so.6,libgcc_s.so.1,libm.so.6} "$root/lib/"
for name in "${!bins[@]}"; do
    [ -n "${bins[$name]}" ] || { say "no test binary for $name"; exit 1; }
    cp "${bins[$name]}" "$root/t/$name"
done
# gofer's opening_by_type runs mkfifo, which this machine has not, and
# getdents_pages_through_100k_entries takes minutes under emulation.
cat >"$root/cmds" <<CMDS
/t/platform_lib
/t/ptrace_stub
/t/systrap_stub
/t/seccomp_lib
/t/gofer_lib
/t/gofer_it --skip opening_by_type --skip getdents_pages_through_100k_entries
/t/gofer_write
CMDS
initrd "$root"

log=${HUSK_ARM64_LOG:-$cache/console.log}
say "booting under qemu-system-aarch64"
start=$SECONDS
boot "$image" "$root.initrd.gz" 1024 600 "$log"
grep -E '^(test |test result|=== )' "$log" || true
passed=$(grep -c '^=== exit .* status 0' "$log" || true)
total=$(grep -c '^=== exit ' "$log" || true)
say "$passed of ${#bins[@]} test binaries passed ($total ran) in $((SECONDS - start))s"
if [ "$passed" -ne "${#bins[@]}" ]; then
    say "FAILED; the console:"
    tail -n 80 "$log"
    exit 1
fi
