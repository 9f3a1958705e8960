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
