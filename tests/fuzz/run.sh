#!/usr/bin/env bash
# The long run of the wire fuzz targets (tests/wire_fuzz.rs): the pgwire server and the node
# port, in parallel, each for FUZZ_SECONDS (default 600: ten minutes), from FUZZ_SEED (default: a
# fresh random seed, printed, so a failure can be replayed; a failure also prints the iteration).
#
#   tests/fuzz/run.sh                      # ten minutes, new seed
#   FUZZ_SECONDS=3600 tests/fuzz/run.sh    # an hour
#   FUZZ_SEED=0x1234 FUZZ_START=4711 FUZZ_ITERATIONS=1 tests/fuzz/run.sh   # replay one input
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${FUZZ_ITERATIONS:-}" ]; then
    export FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
fi
export FUZZ_SEED="${FUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}"
echo "wire fuzz: FUZZ_SEED=${FUZZ_SEED} FUZZ_SECONDS=${FUZZ_SECONDS:-} FUZZ_ITERATIONS=${FUZZ_ITERATIONS:-}"
exec cargo test --test wire_fuzz -- --nocapture --test-threads=2
