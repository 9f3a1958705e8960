#!/usr/bin/env bash
# The LTP syscall tests (issue 14), natively and under Husk on each
# platform, in the cached Debian test root with the LTP build mounted at
# /opt/ltp: one verdict per test and contender, and a summary.
#
#   bash tests/ltp/run.sh                  # every test of runtest/syscalls
#   bash tests/ltp/run.sh open01 'read*'   # tests by name (shell patterns)
#   PLATFORMS=systrap bash tests/ltp/run.sh
#
# Needs the build of tests/ltp/build.sh (LTP_TAG picks the release) and
# the Debian test root (built once by the Debian tests). Must run as root.
# HUSK_BIN runs another husk than target/debug/husk (CARGO_TARGET_DIR/debug/husk
# when CARGO_TARGET_DIR is set).
#
# A verdict is LTP's exit status: pass (0), conf (32: the test does not
# apply, TCONF), fail (any other status: TFAIL, TBROK, TWARN), or timeout;
# under Husk, nodev for a test that could not get a block device (the
# sandbox has none; natively it gets a loop device).
# Results go to target/husk-test/ltp/results.tsv (LTP_OUT: another
# directory): name, native, then each platform. Each platform's summary
# line says "N passed, M failed": passed counts the tests that pass
# natively and under Husk, failed those that pass natively only. It exits
# non-zero if a test that passes natively does not pass under Husk.
#
# Tests listed in tests/ltp/skip.txt (their subject is the host: its clock,
# modules, swap, ...) are not run at all.
#
# Natively each test runs as root in a throwaway chroot of the root
# (tests/support/native_root.sh: an overlay, so nothing is written into the
# cache; new mount, pid, network, IPC and UTS namespaces; /proc/sys and
# /sys read-only; a /dev of the usual nodes, though LTP makes loop devices
# for the tests that need a block device).
# Under Husk the app has every capability (--cap-add ALL), as natively.
set -euo pipefail
cd "$(dirname "$0")/../.."

tag=${LTP_TAG:-20260529}
cache=${HUSK_TEST_CACHE:-/var/cache/husk-test}
ltp=$cache/ltp-$tag/install
[ -f "$ltp/.built" ] || {
    echo "ltp: no build at $ltp; run tests/ltp/build.sh first" >&2
    exit 2
}
read -r -a platforms <<<"${PLATFORMS:-systrap ptrace}"
per_test=${LTP_TEST_TIMEOUT:-120}

# Tests that cannot pass in any sandbox (their subject is the host): never
# run, natively or under Husk (tests/ltp/skip.txt).
mapfile -t skip_patterns < <(grep -vE '^\s*(#|$)' tests/ltp/skip.txt | awk '{print $1}')
skipped() {
    local p
    for p in "${skip_patterns[@]}"; do
        # shellcheck disable=SC2053
        [[ $1 == $p ]] && return 0
    done
    return 1
}

flock /tmp/husk-build.lock cargo build --workspace --quiet
husk=${HUSK_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/husk}
root=$(ls -dt "$cache"/debian-*/ 2>/dev/null | head -1)
root=${root%/}
[ -n "$root" ] || {
    echo "ltp: no Debian test root in $cache (run cargo test --test debian once)" >&2
    exit 2
}
out=${LTP_OUT:-target/husk-test/ltp}
mkdir -p "$out"
results=$out/results.tsv

# The tests: "name command..." lines of runtest/syscalls, filtered by the
# patterns given.
mapfile -t lines < <(grep -vE '^\s*(#|$)' "$ltp/runtest/syscalls")
wanted() {
    local name=$1 p
    (($# == 1)) && return 0
    shift
    for p in "$@"; do
        # shellcheck disable=SC2053
        [[ $name == $p ]] && return 0
    done
    return 1
}

env=(PATH=/opt/ltp/testcases/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C LTPROOT=/opt/ltp
    TMPDIR=/tmp LTP_TIMEOUT_MUL=2)

verdict() {
    case $1 in
    0) echo pass ;;
    32) echo conf ;;
    nodev) echo nodev ;;
    124 | 137) echo timeout ;;
    *) echo "fail($1)" ;;
    esac
}

native() {
    local cmd=$1 status=0
    timeout -k 5 "$per_test" bash tests/support/native_root.sh "$root" "cd /tmp && $cmd" "$ltp:/opt/ltp" -- \
        "${env[@]}" >"$out/native.log" 2>&1 || status=$?
    echo "$status"
}

under_husk() {
    local cmd=$1 platform=$2 status=0 args=()
    # The sandbox's kernel has no .config to check requirements against:
    # tests that ask for one run as if it had what they need.
    for e in "${env[@]}" KCONFIG_SKIP_CHECK=1; do args+=(--env "$e"); done
    timeout -k 5 "$per_test" "$husk" run --platform "$platform" --cap-add ALL --rootfs "$root" --volume "$ltp:/opt/ltp:ro" \
        --tmpfs /tmp "${args[@]}" -- /bin/sh -c "cd /tmp && $cmd" >"$out/$platform.log" 2>&1 || status=$?
    # The sandbox has no block devices: a test that needs one is not for it.
    if ((status != 0)) && grep -q "Failed to acquire device" "$out/$platform.log"; then
        status=nodev
    fi
    echo "$status"
}

printf 'test\tnative' >"$results"
printf '\t%s' "${platforms[@]}" >>"$results"
printf '\n' >>"$results"
declare -A native_pass=() husk_pass=() husk_any=() husk_conf_only=() husk_nodev=()
total=0 status=0
for line in "${lines[@]}"; do
    read -r name cmd <<<"$line"
    wanted "$name" "$@" || continue
    total=$((total + 1))
    if skipped "$name"; then
        row="$name	skip"
        for p in "${platforms[@]}"; do row+="	skip"; done
        echo "$row" >>"$results"
        printf '%-28s %s\n' "$name" "${row#*	}" | tr '\t' ' '
        continue
    fi
    n=$(verdict "$(native "$cmd")")
    row="$name	$n"
    for p in "${platforms[@]}"; do
        h=$(verdict "$(under_husk "$cmd" "$p")")
        row+="	$h"
        if [[ $n == pass ]]; then
            native_pass[$p]=$((${native_pass[$p]:-0} + 1))
            if [[ $h == pass ]]; then
                husk_pass[$p]=$((${husk_pass[$p]:-0} + 1))
            else
                status=1
                [[ $h == conf ]] && husk_conf_only[$p]=$((${husk_conf_only[$p]:-0} + 1))
                [[ $h == nodev ]] && husk_nodev[$p]=$((${husk_nodev[$p]:-0} + 1))
            fi
        fi
        [[ $h == pass ]] && husk_any[$p]=$((${husk_any[$p]:-0} + 1))
    done
    echo "$row" >>"$results"
    printf '%-28s %s\n' "$name" "${row#*	}" | tr '\t' ' '
done
echo "ltp $tag: $total tests (${#skip_patterns[@]} patterns of tests/ltp/skip.txt left out)"
for p in "${platforms[@]}"; do
    passed=${husk_pass[$p]:-0} native_passed=${native_pass[$p]:-0}
    failed=$((native_passed - passed))
    pct=$(awk -v a="$passed" -v b="$native_passed" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
    echo "  $p: $passed passed, $failed failed ($pct% of the $native_passed that pass natively;" \
        "of the failed, ${husk_conf_only[$p]:-0} say TCONF and ${husk_nodev[$p]:-0} need a block device);" \
        "${husk_any[$p]:-0} pass under Husk in all"
done
echo "  results: $results"
exit $status
