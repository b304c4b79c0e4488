#!/usr/bin/env bash
# `pgbench -i -s SCALE` (initialisation: drop, create, client-side COPY of SCALE*100000
# accounts in one transaction, vacuum, ADD PRIMARY KEY on the three tables) timed on tandem and
# on PostgreSQL 15 in the same run, with pgbench's own per-step times.
#
# Environment knobs (defaults in brackets): SCALE [10]  INIT_TIMEOUT [3600] seconds per run
#   RUNS [1]: runs per system on the same database; from the second on, pgbench first drops the
#     tables the previous run filled (on tandem: GC jobs running during the next COPY)
#   BENCH_TANDEM_BIN [build target/release/tandem with cargo]  SKIP_BUILD [0]
#   PG_BINDIR, PG_USER [nobody], KEEP_LOGS [0]: as in run.sh
# The other knobs of run.sh are accepted and ignored.
set -euo pipefail

DURATION=${DURATION:-15}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
ROWS=${ROWS:-10000}
BATCH=${BATCH:-500}
INSERT_KEYS=${INSERT_KEYS:-1000000000000000}
PROTOCOLS=${PROTOCOLS:-simple extended}
PG_USER=${PG_USER:-nobody}
SKIP_BUILD=${SKIP_BUILD:-0}
SCALE=${SCALE:-10}
RUNS=${RUNS:-1}
INIT_TIMEOUT=${INIT_TIMEOUT:-3600}
MAX_TRIES=${MAX_TRIES:-1000}
MOVR=${MOVR:-1}
read -r -a WORKLOADS <<<"${WORKLOADS:-point-select insert-1row tpcb-like}"
KEEP_LOGS=${KEEP_LOGS:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

PGBENCH=${PGBENCH:-/usr/bin/pgbench}
PSQL=${PSQL:-/usr/bin/psql}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (PostgreSQL is started via runuser -u $PG_USER)"
for t in "$PGBENCH" "$PSQL" python3 runuser timeout awk; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done

# ---------------------------------------------------------------- binaries
if [[ -z ${PG_BINDIR:-} ]]; then
    if [[ -x /usr/local/bin/postgres ]] && /usr/local/bin/postgres --version | grep -q ' 15\.'; then
        PG_BINDIR=/usr/local/bin
    else
        PG_BINDIR=/usr/lib/postgresql/15/bin
    fi
fi
for b in initdb pg_ctl postgres; do
    [[ -x $PG_BINDIR/$b ]] || die "missing $PG_BINDIR/$b"
done
"$PG_BINDIR/postgres" --version | grep -q ' 15\.' || die "$PG_BINDIR/postgres is not PostgreSQL 15"

TANDEM_BIN=${BENCH_TANDEM_BIN:-}
if [[ -z $TANDEM_BIN ]]; then
    TANDEM_BIN=$REPO/target/release/tandem
    if [[ $SKIP_BUILD != 1 ]]; then
        log "building tandem (cargo build --release --bin tandem)"
        (cd "$REPO" && timeout 3600 cargo build --release --bin tandem) >&2 \
            || die "cargo build failed"
    fi
fi
[[ -x $TANDEM_BIN ]] || die "no tandem binary at $TANDEM_BIN"
if [[ -n ${BENCH_TANDEM_BIN:-} ]]; then
    TANDEM_DESC="$("$TANDEM_BIN" --version 2>/dev/null | head -1) (binary $TANDEM_BIN, built $(date -r "$TANDEM_BIN" '+%F %T'))"
else
    TANDEM_DESC="$("$TANDEM_BIN" --version 2>/dev/null | head -1) (built from $REPO at $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && [[ -n $(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && echo ' + uncommitted changes' || true))"
fi
id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER does not exist (set PG_USER)"

# ---------------------------------------------------------------- cleanup
WORK=$(mktemp -d /tmp/tandem-pgbench.XXXXXX)
chmod 755 "$WORK"
TANDEM_PID=
PG_STARTED=0

cleanup() {
    local rc=$?
    set +e
    if [[ -n $TANDEM_PID ]] && kill -0 "$TANDEM_PID" 2>/dev/null; then
        log "stopping tandem (SIGTERM, pid $TANDEM_PID)"
        kill -TERM "$TANDEM_PID"
        for _ in $(seq 1 300); do kill -0 "$TANDEM_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$TANDEM_PID" 2>/dev/null; then
            log "tandem did not exit within 30s of SIGTERM; sending SIGKILL"
            kill -KILL "$TANDEM_PID"
        fi
        wait "$TANDEM_PID" 2>/dev/null
        log "tandem exited with status $?"
    fi
    if [[ $PG_STARTED == 1 ]]; then
        log "stopping PostgreSQL (pg_ctl stop -m fast)"
        timeout 60 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/data" \
            stop -m fast -w -t 30 >/dev/null \
            || { log "pg_ctl stop failed; killing postmaster";
                 kill -KILL "$(head -1 "$WORK/pg/data/postmaster.pid" 2>/dev/null)" 2>/dev/null; }
    fi
    if [[ $KEEP_LOGS == 1 ]]; then
        rm -rf "$HERE/last-run"; mkdir -p "$HERE/last-run"
        cp "$WORK"/*.log "$WORK"/*.out "$WORK/pg/pg.log" "$HERE/last-run/" 2>/dev/null
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- tandem
log "starting tandem: $TANDEM_BIN"
mkdir -p "$WORK/tandem"
TANDEM_READY=$WORK/tandem.ready
unset_tandem=()
for v in $(compgen -e | grep '^TANDEM_' || true); do unset_tandem+=(-u "$v"); done
env "${unset_tandem[@]}" TANDEM_READY_FILE="$TANDEM_READY" RUST_LOG="${RUST_LOG:-warn}" \
    "$TANDEM_BIN" start-single-node --insecure \
    --store="$WORK/tandem/store" --listen-addr=127.0.0.1:0 --http-addr=127.0.0.1:0 \
    >"$WORK/tandem.log" 2>&1 &
TANDEM_PID=$!
for _ in $(seq 1 600); do
    [[ -f $TANDEM_READY ]] && grep -qx ready "$TANDEM_READY" && break
    kill -0 "$TANDEM_PID" 2>/dev/null || { tail -30 "$WORK/tandem.log" >&2; die "tandem exited during startup"; }
    sleep 0.1
done
grep -qx ready "$TANDEM_READY" 2>/dev/null || { tail -30 "$WORK/tandem.log" >&2; die "tandem not ready within 60s"; }
TANDEM_ADDR=$(sed -n 's/^sql_addr:[[:space:]]*//p' "$TANDEM_READY" | head -1)
TANDEM_PORT=${TANDEM_ADDR##*:}
log "tandem ready, sql at $TANDEM_ADDR"

# ---------------------------------------------------------------- PostgreSQL 15
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
chown "$PG_USER" "$WORK/pg"
log "initdb PostgreSQL ($("$PG_BINDIR/postgres" --version)) as $PG_USER"
timeout 120 runuser -u "$PG_USER" -- "$PG_BINDIR/initdb" -D "$WORK/pg/data" -U postgres -A trust \
    -E UTF8 --locale=C >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; die "initdb failed"; }
cat >>"$WORK/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 50
shared_buffers = 128MB
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
timeout 90 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/pg.log" \
    -w -t 60 start >/dev/null || { tail -30 "$WORK/pg/pg.log" >&2; die "PostgreSQL did not start"; }
PG_STARTED=1
log "PostgreSQL ready on 127.0.0.1:$PG_PORT"

# Connection settings per system: host port user db
declare -A HOSTPORT=([tandem]=$TANDEM_PORT [postgres]=$PG_PORT)
declare -A DBUSER=([tandem]=root [postgres]=postgres)
declare -A DBNAME=([tandem]=defaultdb [postgres]=postgres)
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10

sql() { # system, then psql args; stops at the first error
    local s=$1; shift
    timeout 300 "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${HOSTPORT[$s]}" \
        -U "${DBUSER[$s]}" -d "${DBNAME[$s]}" "$@"
}

# ---------------------------------------------------------------- pgbench -i
declare -A SECS
declare -A STEPS
for s in tandem postgres; do
    for run in $(seq 1 "$RUNS"); do
        log "pgbench -i -s $SCALE on $s (run $run of $RUNS)"
        t0=$(date +%s.%N)
        timeout "$INIT_TIMEOUT" "$PGBENCH" -i -s "$SCALE" -h 127.0.0.1 -p "${HOSTPORT[$s]}" \
            -U "${DBUSER[$s]}" "${DBNAME[$s]}" >"$WORK/init-$s-$run.out" 2>&1 \
            || { tail -20 "$WORK/init-$s-$run.out" >&2; die "pgbench -i failed on $s (run $run)"; }
        t1=$(date +%s.%N)
        SECS[$s,$run]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        STEPS[$s,$run]=$(grep -o 'done in .*' "$WORK/init-$s-$run.out" | tail -1)
        log "$s run $run: ${SECS[$s,$run]} s (${STEPS[$s,$run]})"
    done
done
echo
echo "pgbench -i -s $SCALE ($((SCALE * 100000)) accounts), $RUNS run(s) each on the same database, same machine"
echo "tandem:     $TANDEM_DESC"
echo "postgres:   $("$PG_BINDIR/postgres" --version)"
printf '%-10s %4s %10s  %s\n' system run seconds "pgbench's steps"
for s in tandem postgres; do
    for run in $(seq 1 "$RUNS"); do
        printf '%-10s %4s %10s  %s\n' "$s" "$run" "${SECS[$s,$run]}" "${STEPS[$s,$run]}"
    done
done
awk -v a="${SECS[tandem,1]}" -v b="${SECS[postgres,1]}" \
    'BEGIN { printf "ratio tandem/postgres (run 1): %.1fx\n", a / b }'
