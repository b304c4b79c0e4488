#!/usr/bin/env bash
# pgbench over pgwire: tandem vs PostgreSQL 15 on this machine, in the same run.
#
# Workloads:
#   point-select  \set k random(1, ROWS)        SELECT v FROM bench WHERE k = :k;
#   insert-1row   \set k random(1, 10^15)       INSERT INTO bench_ins VALUES (:k, 'x');
#   select-only   pgbench's builtin point select on pgbench_accounts (SCALE x 100,000 rows)
#   tpcb-like     pgbench's builtin script on tables loaded by `pgbench -i -s SCALE` (timed);
#                 --max-tries retries serialization failures (tandem is SERIALIZABLE,
#                 PostgreSQL runs its default READ COMMITTED)
#   movr          `tandem workload init movr` + `run movr --duration=DURATION` (tandem only:
#                 the workload uses CockroachDB SQL such as UPSERT)
# Each (workload, system) is run REPS times for DURATION seconds with CLIENTS
# connections; the runs of the two systems are interleaved so that machine noise
# hits both alike.  Prints the median TPS, the median average latency and the
# ratio tandem/PostgreSQL.  See bench/pgbench/README.md.
#
# Environment knobs (defaults in brackets):
#   DURATION [15]  REPS [3]  CLIENTS [8]  THREADS [2]  ROWS [10000]  BATCH [500]
#   INSERT_KEYS [10^15]  key space of insert-1row (a small one provokes 23505 errors)
#   SCALE [1]  pgbench -i scale factor   MAX_TRIES [1000]  pgbench --max-tries for tpcb-like
#   WORKLOADS ["point-select insert-1row tpcb-like"]   MOVR [1]  0 skips the movr run
#   PROTOCOLS ["simple extended"]  pgbench -M modes to run; one table each
#   BENCH_TANDEM_BIN [build target/release/tandem with cargo]   SKIP_BUILD [0]
#   (tandem reads TANDEM_* environment variables as configuration, so the script
#   starts it with every TANDEM_* variable removed except TANDEM_READY_FILE)
#   PG_BINDIR [dir of /usr/local/bin/postgres, else /usr/lib/postgresql/15/bin]
#   PG_USER [nobody]  unprivileged user that runs PostgreSQL
#   KEEP_LOGS [0]  1: copy the server and pgbench logs to bench/pgbench/last-run/
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
SCALE=${SCALE:-1}
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

# ---------------------------------------------------------------- schema + data
# The same rows in both: k = 1..ROWS, v = 'value-<k>'.
awk -v rows="$ROWS" -v batch="$BATCH" 'BEGIN {
    for (i = 1; i <= rows; i += batch) {
        line = "INSERT INTO bench VALUES ";
        for (j = i; j < i + batch && j <= rows; j++)
            line = line (j > i ? ", " : "") "(" j ", '\''value-" j "'\'')";
        print line ";";
    }
}' >"$WORK/load.sql"

declare -A DDL=(
    [tandem]="CREATE TABLE bench (k INT PRIMARY KEY, v STRING); CREATE TABLE bench_ins (k INT PRIMARY KEY, v STRING);"
    [postgres]="CREATE TABLE bench (k BIGINT PRIMARY KEY, v TEXT); CREATE TABLE bench_ins (k BIGINT PRIMARY KEY, v TEXT);"
)
for s in tandem postgres; do
    log "$s: creating tables and loading $ROWS rows in batches of $BATCH"
    while IFS= read -r stmt; do
        [[ -n $stmt ]] && sql "$s" -c "$stmt" >"$WORK/$s-ddl.out" 2>&1 \
            || { cat "$WORK/$s-ddl.out" >&2; die "$s: DDL failed: $stmt"; }
    done <<<"${DDL[$s]//; /;$'\n'}"
    t0=$(date +%s.%N)
    sql "$s" -f "$WORK/load.sql" >"$WORK/$s-load.out" 2>&1 \
        || { cat "$WORK/$s-load.out" >&2; die "$s: loading failed (statements in $WORK/load.sql, batches of $BATCH)"; }
    t1=$(date +%s.%N)
    log "$s: loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
    for k in 1 $((ROWS / 2)) "$ROWS"; do
        got=$(sql "$s" -A -t -c "SELECT v FROM bench WHERE k = $k" 2>&1) || die "$s: check select failed: $got"
        [[ $got == "value-$k" ]] || die "$s: SELECT v FROM bench WHERE k = $k returned '$got'"
    done
done
[[ $(sql postgres -A -t -c "SELECT count(*) FROM bench") == "$ROWS" ]] || die "postgres: row count mismatch"

# pgbench's own initialization (COPY load, VACUUM, primary keys), timed.
declare -A INIT_S
if [[ " ${WORKLOADS[*]} " == *" tpcb-like "* || " ${WORKLOADS[*]} " == *" select-only "* ]]; then
    for s in tandem postgres; do
        log "$s: pgbench -i -s $SCALE"
        t0=$(date +%s.%N)
        timeout 1800 "$PGBENCH" -i -s "$SCALE" -h 127.0.0.1 -p "${HOSTPORT[$s]}" -U "${DBUSER[$s]}" \
            "${DBNAME[$s]}" >"$WORK/$s-init.out" 2>&1 \
            || { cat "$WORK/$s-init.out" >&2; die "$s: pgbench -i failed"; }
        t1=$(date +%s.%N)
        INIT_S[$s]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
        log "$s: pgbench -i done in ${INIT_S[$s]} s"
    done
fi

# ---------------------------------------------------------------- pgbench scripts
cat >"$WORK/point-select.sql" <<EOF
\set k random(1, $ROWS)
SELECT v FROM bench WHERE k = :k;
EOF
# 10^15 keys: with n inserts over the whole run a duplicate key (23505) has probability
# about n^2 / 2e15, i.e. < 1e-3 for n up to 10^6.
cat >"$WORK/insert-1row.sql" <<EOF
\set k random(1, $INSERT_KEYS)
INSERT INTO bench_ins VALUES (:k, 'x');
EOF

# results[proto,workload,system] = "tps lat ..." (one pair per rep)
declare -A TPS LAT NOTES INSERTED
run_one() { # proto workload system rep
    local p=$1 w=$2 s=$3 r=$4 out="$WORK/pgbench-$1-$2-$3-$4.out" rc=0 script
    if [[ $w == tpcb-like ]]; then
        script=(-b tpcb-like "--max-tries=$MAX_TRIES")
    elif [[ $w == select-only ]]; then
        script=(-b select-only)
    else
        script=(-f "$WORK/$w.sql")
    fi
    timeout $((DURATION + 120)) "$PGBENCH" -n -M "$p" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
        "${script[@]}" -h 127.0.0.1 -p "${HOSTPORT[$s]}" -U "${DBUSER[$s]}" "${DBNAME[$s]}" \
        >"$out" 2>&1 || rc=$?
    local tps lat failed errs n
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out" | head -1)
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out" | head -1)
    [[ $w == insert-1row ]] && INSERTED[$s]=$(( ${INSERTED[$s]:-0} + ${n:-0} ))
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out" | head -1)
    errs=$(grep -E 'ERROR|FATAL|error|aborted|could not' "$out" \
        | sed -E 's/client [0-9]+/client N/g; s/=\([^)]*\) already/=(...) already/' \
        | sort | uniq -c | sort -rn | head -5 | sed -E 's/^ *([0-9]+) /\1x /; s/^/    /' || true)
    if [[ $rc != 0 || -z $tps || -n $errs || ${failed:-0} != 0 ]]; then
        NOTES[$p,$w,$s]+="rep $r: pgbench exit $rc, failed transactions ${failed:-?}"$'\n'"${errs:+$errs$'\n'}"
        log "$s $w ($p) rep $r: problem (exit $rc); output:"; sed 's/^/    /' "$out" | tail -15 >&2
    fi
    # A run in which clients aborted does not count as a result.
    if [[ $rc == 0 && -n $tps ]]; then
        TPS[$p,$w,$s]+="$tps "; LAT[$p,$w,$s]+="$lat "
    fi
    log "$s $w ($p) rep $r: tps=${tps:-n/a} lat_ms=${lat:-n/a} exit=$rc"
}

median() { # decimals, then numbers -> median (mean of the middle two if even); "n/a" if none
    local d=$1; shift
    [[ $# -eq 0 ]] && { echo n/a; return; }
    printf '%s\n' "$@" | sort -g | awk -v d="$d" '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.*f", d, m }'
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in $PROTOCOLS; do
    for r in $(seq 1 "$REPS"); do
        for w in "${WORKLOADS[@]}"; do
            for s in tandem postgres; do
                run_one "$p" "$w" "$s" "$r"
            done
        done
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# movr (tandem only): the workload speaks CockroachDB SQL.
MOVR_RESULT=
if [[ $MOVR == 1 ]]; then
    murl="postgresql://root@127.0.0.1:$TANDEM_PORT?sslmode=disable"
    log "tandem: workload init movr"
    "$TANDEM_BIN" workload init movr "$murl" >"$WORK/movr-init.out" 2>&1 \
        || { tail -20 "$WORK/movr-init.out" >&2; die "movr init failed"; }
    log "tandem: workload run movr --duration=${DURATION}s --concurrency=$CLIENTS"
    "$TANDEM_BIN" workload run movr --duration="${DURATION}s" --concurrency="$CLIENTS" "$murl" \
        >"$WORK/movr-run.out" 2>&1 || log "movr run exited with an error (see below)"
    MOVR_RESULT=$(grep -A1 '__result$' "$WORK/movr-run.out" || tail -5 "$WORK/movr-run.out")
fi

# Every insert pgbench counted must be in the table (no key collisions, nothing lost).
ROWCHECK=
for s in tandem postgres; do
    c=$(sql "$s" -A -t -c "SELECT count(*) FROM bench_ins" 2>&1) || c="error: $c"
    ROWCHECK+="$s: bench_ins has $c rows, pgbench reported ${INSERTED[$s]:-0} inserts"
    [[ $c == "${INSERTED[$s]:-0}" ]] && ROWCHECK+=" (match)"$'\n' || ROWCHECK+=" (MISMATCH)"$'\n'
done

# ---------------------------------------------------------------- report
echo
echo "$TANDEM_DESC vs $("$PG_BINDIR/postgres" --version)"
echo "pgbench -n -c $CLIENTS -j $THREADS -T $DURATION, $REPS reps, medians; $ROWS rows; $(nproc) cores; fsync on in both"
for p in $PROTOCOLS; do
    echo
    echo "protocol: -M $p"
    printf '%-15s %-8s %-11s %-13s %-6s %-14s %s\n' workload clients tandem_tps postgres_tps ratio tandem_lat_ms postgres_lat_ms
    for w in "${WORKLOADS[@]}"; do
        # shellcheck disable=SC2086
        tt=$(median 1 ${TPS[$p,$w,tandem]:-}); pt=$(median 1 ${TPS[$p,$w,postgres]:-})
        # shellcheck disable=SC2086
        tl=$(median 3 ${LAT[$p,$w,tandem]:-}); pl=$(median 3 ${LAT[$p,$w,postgres]:-})
        ratio=$(awk -v a="$tt" -v b="$pt" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.3f", a/b; else print "n/a" }')
        printf '%-15s %-8s %-11s %-13s %-6s %-14s %s\n' "$w" "$CLIENTS" "$tt" "$pt" "$ratio" "$tl" "$pl"
    done
done
if [[ -n ${INIT_S[tandem]:-} ]]; then
    echo
    echo "pgbench -i -s $SCALE (COPY load + vacuum + primary keys): tandem ${INIT_S[tandem]} s, postgres ${INIT_S[postgres]} s"
fi
if [[ -n $MOVR_RESULT ]]; then
    echo
    echo "movr on tandem (workload run movr --concurrency=$CLIENTS --duration=${DURATION}s):"
    printf '%s\n' "$MOVR_RESULT"
fi
echo
printf '%s' "$ROWCHECK"
problems=0
for key in "${!NOTES[@]}"; do
    if [[ $problems == 0 ]]; then echo; echo "problems:"; fi
    problems=1
    IFS=, read -r p w s <<<"$key"
    printf '%s' "${NOTES[$key]}" | sed "s/^/  $s $w (-M $p): /"
done
