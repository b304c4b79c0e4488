#!/usr/bin/env bash
# Differential test, long run: random queries on tandem and PostgreSQL 15 for SECONDS, then the
# SQLite sqllogictest corpus (tests/sqlite/, or SLT_DIR), printing the figures: statements run,
# statements per minute, matches, mismatches, type mismatches, unsupported (with the top 20
# tandem error messages), crashes, and the corpus pass rate per directory.
# See bench/difftest/README.md.
#
# Environment knobs (defaults in brackets):
#   SECONDS_RANDOM [600]  duration of the random-query part (0 skips it)
#   QUERIES []            stop the random part after this many queries instead
#   SEED [1]              seed of the random part (a finding's key rand:SEED/round/query replays
#                         with DIFFTEST_REPLAY=SEED/round/query, see the README)
#   WORKERS [2]           concurrent sessions of the random part
#   SLT [1]               0 skips the corpus
#   SLT_DIR [tests/sqlite] corpus root: every *.test below it runs (e.g. a full checkout of
#                         the sqllogictest repository's test/ directory)
#   SLT_FILTER []         only corpus files whose path contains this
#   TIMEOUT [30]          seconds before a statement counts as a timeout
#   RELEASE [0]           1 builds and runs the node and the harness with the release profile
#                         (a clean release build takes ~8 minutes; the corpus then runs ~3x faster)
#   OUT [bench/difftest/last-run]  where every finding goes, as JSON lines (random.jsonl,
#                         sqlite.jsonl), next to the printed summary (summary.txt)
# Needs PostgreSQL 15 (DIFFTEST_PG_BINDIR, default /usr/lib/postgresql/15/bin); as root it runs
# PostgreSQL as DIFFTEST_PG_USER [nobody]. Builds the test binary with cargo (debug unless RELEASE=1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$HERE/last-run}
mkdir -p "$OUT"

export DIFFTEST_SECONDS=${SECONDS_RANDOM:-600}
export DIFFTEST_SEED=${SEED:-1}
export DIFFTEST_WORKERS=${WORKERS:-2}
export DIFFTEST_SLT=${SLT:-1}
export DIFFTEST_OUT=$OUT
[[ -n ${TIMEOUT:-} ]] && export DIFFTEST_TIMEOUT=$TIMEOUT
[[ -n ${QUERIES:-} ]] && export DIFFTEST_QUERIES=$QUERIES
[[ -n ${SLT_DIR:-} ]] && export DIFFTEST_SLT_DIR=$SLT_DIR
[[ -n ${SLT_FILTER:-} ]] && export DIFFTEST_SLT_FILTER=$SLT_FILTER

cd "$REPO"
# tandem reads TANDEM_* variables as configuration: the node under test gets none of them.
for v in $(compgen -e | grep '^TANDEM_' || true); do unset "$v"; done
PROFILE_ARGS=()
[[ ${RELEASE:-0} == 1 ]] && PROFILE_ARGS=(--release)
cargo test "${PROFILE_ARGS[@]}" --test difftest long_run -- --ignored --nocapture --test-threads=1 \
    > >(tee "$OUT/summary.txt") 2> "$OUT/progress.log"
echo "findings: $OUT/*.jsonl; progress and node messages: $OUT/progress.log"
