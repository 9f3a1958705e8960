#!/usr/bin/env bash
# Whole-process syscall cost: a static C program makes N getpid syscalls (and
# another does N fork+exit+wait rounds) natively, under `husk run` with each
# platform, and under gVisor's `runsc --platform=ptrace do` when runsc is
# installed. Each configuration runs RUNS times; the table shows the median
# run, in ns per getpid and µs per fork+exit.
#
#   bash benches/getpid.sh            # N=200000 getpids, 200 forks, 7 runs
#   N=1000000 FORKS=500 RUNS=11 bash benches/getpid.sh
#
# Uses target/release/husk (built here unless HUSK=path is given). The
# numbers for this repository's machine are in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
FORKS=${FORKS:-200}
RUNS=${RUNS:-7}
if [[ -z "${HUSK:-}" ]]; then
    cargo build --release -p runtime >&2
    HUSK=target/release/husk
fi

work=$(mktemp -d /tmp/husk-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin"
cc -O2 -static benches/progs/getpid.c -o "$work/rootfs/bin/getpid"
cc -O2 -static benches/progs/forkexit.c -o "$work/rootfs/bin/forkexit"

# median VALUES...
median() {
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

# measure CONFIG PROG ARG: runs PROG RUNS times under CONFIG, prints the median.
measure() {
    local config=$1 prog=$2 arg=$3 out=() i
    for ((i = 0; i < RUNS; i++)); do
        case $config in
        native) out+=("$("$work/rootfs/bin/$prog" "$arg")") ;;
        husk-*) out+=("$("$HUSK" run --platform "${config#husk-}" --rootfs "$work/rootfs" -- "/bin/$prog" "$arg")") ;;
        runsc-*)
            # runsc do loses the app's output on a pipe; a file keeps it.
            runsc --platform="${config#runsc-}" --network=none do "$work/rootfs/bin/$prog" "$arg" >"$work/out" 2>"$work/err"
            out+=("$(cat "$work/out")")
            ;;
        esac
    done
    median "${out[@]}"
}

configs=(native husk-ptrace husk-systrap)
if command -v runsc >/dev/null; then
    configs+=(runsc-ptrace)
else
    echo "runsc not installed: skipping gVisor (apt-get install runsc)" >&2
fi

echo "| configuration | getpid (ns) | fork+exit+wait (µs) |"
echo "|---|---:|---:|"
for c in "${configs[@]}"; do
    g=$(measure "$c" getpid "$N")
    f=$(measure "$c" forkexit "$FORKS")
    echo "| $c | $g | $((f / 1000)) |"
done
