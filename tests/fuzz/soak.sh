#!/usr/bin/env bash
# Soak test of the syscall fuzzer (tests/fuzz.rs, tests/fuzz/sysfuzz.c):
# runs it with fresh seeds, on systrap and ptrace in turn, for DURATION
# (e.g. 2h, 30m, 90s), each run a new sandbox fuzzed for SOAK_RUN_SECONDS
# (default 60) and checked as `cargo test --test fuzz` checks it: no Sentry
# panic or error line, husk's exit status the fuzzer's, no host fd, thread
# or process left behind. It stops at the first failure, printing its seed
# and the log of that run, and always ends with one summary line:
#
#   soak: 2.00 h, 240 runs (120 systrap, 120 ptrace), 8123456 calls; 0 panics, 0 fd leaks, 0 process leaks, 0 other failures; 1 hangs
#
# (a hang: a batch that stopped making calls for seconds and was killed;
# counted, not a failure). The summary also goes to
# target/husk-test/fuzz-soak/summary.txt, beside the logs of failed runs
# and of runs with hangs.
#
# Environment: SOAK_RUN_SECONDS; HUSK_FUZZ_KNOWN_BUGS=1 to fuzz into the
# known bugs too (see KNOWN_BUG in sysfuzz.c); SOAK_TEST_BIN, the test
# executable (else it is built with `cargo test --test fuzz --no-run`,
# under `flock $HUSK_BUILD_LOCK` if that is set); HUSK_BIN as for the tests.
set -euo pipefail

usage() {
    echo "usage: $0 DURATION   (e.g. 2h, 30m, 90s)" >&2
    exit 2
}

[ $# -eq 1 ] || usage
case $1 in
*h) total=$((${1%h} * 3600)) ;;
*m) total=$((${1%m} * 60)) ;;
*s) total=${1%s} ;;
*[!0-9]* | '') usage ;;
*) total=$1 ;;
esac
run_seconds=${SOAK_RUN_SECONDS:-60}

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/target/husk-test/fuzz-soak
mkdir -p "$out"

bin=${SOAK_TEST_BIN:-}
if [ -z "$bin" ]; then
    build=(cargo test --manifest-path "$root/Cargo.toml" --test fuzz --no-run --message-format=json)
    if [ -n "${HUSK_BUILD_LOCK:-}" ]; then
        build=(flock "$HUSK_BUILD_LOCK" "${build[@]}")
    fi
    bin=$("${build[@]}" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi
[ -x "$bin" ] || {
    echo "soak: no test executable (${bin:-none})" >&2
    exit 2
}

start=$(date +%s)
runs=0 systrap=0 ptrace=0 calls=0 hangs=0
panics=0 fd_leaks=0 process_leaks=0 other=0

summary() {
    local now hours line
    now=$(date +%s)
    hours=$(awk -v s=$((now - start)) 'BEGIN { printf "%.2f", s / 3600 }')
    line="soak: $hours h, $runs runs ($systrap systrap, $ptrace ptrace), $calls calls;"
    line+=" $panics panics, $fd_leaks fd leaks, $process_leaks process leaks, $other other failures; $hangs hangs"
    echo "$line"
    echo "$line" >"$out/summary.txt"
}
trap 'summary; exit 130' INT TERM

while [ $(($(date +%s) - start)) -lt "$total" ]; do
    for platform in systrap ptrace; do
        seed=$(($(od -An -N4 -tu4 /dev/urandom) % 1000000000))
        log=$out/run-$platform-$seed.log
        status=0
        HUSK_FUZZ_SEED=$seed HUSK_FUZZ_SECONDS=$run_seconds \
            "$bin" --exact "fuzz_syscalls_time_seed_$platform" --nocapture --test-threads 1 >"$log" 2>&1 || status=$?
        runs=$((runs + 1))
        if [ "$platform" = systrap ]; then systrap=$((systrap + 1)); else ptrace=$((ptrace + 1)); fi
        result=$(grep -a '^fuzz result: ok' "$log" || true)
        if [ "$status" -eq 0 ] && [ -n "$result" ]; then
            n=$(echo "$result" | sed -n 's/.*, \([0-9]*\) calls in .*/\1/p')
            h=$(echo "$result" | sed -n 's/.*hangs \([0-9]*\);.*/\1/p')
            calls=$((calls + ${n:-0}))
            hangs=$((hangs + ${h:-0}))
            if [ "${h:-0}" -gt 0 ]; then
                mv "$log" "$out/hang-$platform-$seed.log"
            else
                rm -f "$log"
            fi
            continue
        fi
        kind=$(grep -a -o 'fuzz failure \[[a-z-]*\]' "$log" | head -1 | sed 's/.*\[\(.*\)\]/\1/' || true)
        case $kind in
        panic) panics=$((panics + 1)) ;;
        fd-leak) fd_leaks=$((fd_leaks + 1)) ;;
        process-leak) process_leaks=$((process_leaks + 1)) ;;
        *) other=$((other + 1)) ;;
        esac
        echo "soak: run $runs failed (${kind:-test exit status $status}) on $platform with seed $seed; its log: $log" >&2
        grep -a -A12 'fuzz failure' "$log" >&2 || tail -40 "$log" >&2
        echo "soak: replay: HUSK_FUZZ_SEED=$seed HUSK_FUZZ_SECONDS=$run_seconds $bin --exact fuzz_syscalls_time_seed_$platform --nocapture" >&2
        summary
        exit 1
    done
done
summary
