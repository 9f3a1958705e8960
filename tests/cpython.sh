#!/usr/bin/env bash
# CPython's regression-suite modules, natively and under Husk on each
# platform, in the cached Debian test root: the heavy conformance run that
# CI does not make (it runs a representative subset from tests/debian.rs).
#
#   bash tests/cpython.sh                 # the modules of issue 10's list
#   bash tests/cpython.sh test_os test_io # any modules
#   PLATFORMS=systrap bash tests/cpython.sh
#   HUSK_BIN=target/release/husk bash tests/cpython.sh
#
# Prints one line per module and contender (the verdict and the counts of
# failures and errors), and exits non-zero if a module that passes natively
# does not pass under Husk. Natively each module runs in a throwaway chroot
# of the root (tests/support/native_root.sh: an overlay, tmpfs /tmp,
# procfs, sysfs, a /dev of the usual nodes, new namespaces with the
# loopback up), as the differential tests run programs. Must run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=("$@")
if ((${#modules[@]} == 0)); then
    modules=(
        test_epoll test_selectors test_socket
        test_asyncio.test_events test_asyncio.test_base_events test_asyncio.test_unix_events
        test_asyncio.test_subprocess test_asyncio.test_streams test_asyncio.test_sock_lowlevel
        test_signal test_threading test_concurrent_futures
        test_multiprocessing_forkserver test_multiprocessing_spawn test_os test_subprocess
        test_pty test_shutil test_tempfile test_glob test_fileio test_stat test_pathlib
        test_tarfile test_zipfile test_mmap test_fcntl test_posix test_io
    )
fi
read -r -a platforms <<<"${PLATFORMS:-systrap ptrace}"

cargo build --workspace --quiet
# HUSK_BIN runs another husk (a release build, say) than target/debug/husk.
husk=${HUSK_BIN:-$PWD/target/debug/husk}
# The Debian root is built (once, cached) by the first Debian test.
cargo test --quiet --test debian -- debian_cpython_epoll_native >/dev/null
# The newest root that has CPython's test suite (not the LTP's build
# root, debian-build-*, which has none).
root=
for r in $(ls -dt /var/cache/husk-test/debian-*/); do
    if [[ -f ${r}usr/lib/python3.11/test/__main__.py ]]; then
        root=${r%/}
        break
    fi
done
[[ -n $root ]] || {
    echo "cpython: no Debian test root with libpython3.11-testsuite under /var/cache/husk-test" >&2
    exit 2
}
env=(PATH=/usr/bin:/bin HOME=/root LC_ALL=C)

# `python3 -m test MODULE` in /tmp, its summary lines only.
suite() {
    echo "cd /tmp && python3 -m test -v $1 2>&1 | grep -E '^(Ran |OK|FAILED|== Tests result)'"
}

native() {
    # A bound: natively, test_socket's AF_VSOCK test waits forever on a VM
    # host whose vsock nobody connects to.
    timeout 1800 bash tests/support/native_root.sh "$root" "$(suite "$1")" -- "${env[@]}" || true
}

under_husk() {
    local args=()
    for e in "${env[@]}"; do args+=(--env "$e"); done
    # The native side's network namespace has only its loopback: so does
    # the sandbox (NETWORK=nat to run with Husk's default network).
    timeout 1800 "$husk" run --platform "$2" --network "${NETWORK:-none}" --rootfs "$root" "${args[@]}" \
        -- /bin/bash -c "$(suite "$1")" || true
}

verdict() {
    local out=$1 ran failed
    ran=$(grep -m1 -oE '^Ran [0-9]+' <<<"$out" || echo "Ran ?")
    failed=$(grep -m1 -E '^(OK|FAILED)' <<<"$out" || echo "no result")
    if grep -q '== Tests result: SUCCESS' <<<"$out"; then
        echo "pass ($ran, $failed)"
    else
        echo "FAIL ($ran, $failed)"
    fi
}

status=0
for m in "${modules[@]}"; do
    n=$(verdict "$(native "$m")")
    printf '%-40s %-8s %s\n' "$m" native "$n"
    for p in "${platforms[@]}"; do
        h=$(verdict "$(under_husk "$m" "$p")")
        printf '%-40s %-8s %s\n' "$m" "$p" "$h"
        if [[ $n == pass* && $h != pass* ]]; then
            status=1
        fi
    done
done
exit $status
