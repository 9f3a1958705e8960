#!/usr/bin/env bash
# The project's test command (README and .ci/run both call this).
#
# `cargo test` does not build the husk binary that the whole-system tests
# in tests/ run, so build every target of the workspace first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --all-targets
# The benchmark harness's own logic (parsing, statistics, tables).
python3 -m unittest benches/test_harness.py
cargo test --workspace "$@"
# The LTP subset (tests/ltp/ci.txt), when the LTP build is cached: the
# source cannot be fetched here, so without the cache it is left out.
if [ -f "${HUSK_TEST_CACHE:-/var/cache/husk-test}/ltp-${LTP_TAG:-20260529}/install/.built" ]; then
    mapfile -t ltp_tests < <(grep -vE '^\s*(#|$)' tests/ltp/ci.txt)
    if ((${#ltp_tests[@]})); then
        LTP_OUT=target/husk-test/ltp-ci bash tests/ltp/run.sh "${ltp_tests[@]}"
    fi
else
    echo "tests/run.sh: no cached LTP build, so the LTP subset is left out (tests/ltp/build.sh)"
fi
