#!/usr/bin/env bash
# Streaming a large scan: tandem vs PostgreSQL 15 on this machine, in the same run.
#
# Loads the same ROWS rows into t (k, v, s) on a tandem node and a throwaway PostgreSQL 15,
# then measures for each system with bench/stream/measure.py (psycopg 3): the time to the
# first row and the total time of streaming `SELECT * FROM t`, the server's peak RSS growth
# during that scan, and the times of `SELECT count(*) FROM t` and
# `SELECT * FROM t ORDER BY v LIMIT 10`. Prints the figures side by side.
# See bench/stream/README.md.
#
# Environment knobs (defaults in brackets):
#   ROWS [10000000]  rows in t          LOAD_BATCH [100000]  rows per INSERT ... SELECT on tandem
#   BENCH_TANDEM_BIN [target/release/tandem]   (not built by this script)
#   (tandem reads TANDEM_* environment variables as configuration, so the script
#   starts it with every TANDEM_* variable removed except TANDEM_READY_FILE)
#   PG_BINDIR [dir of /usr/local/bin/postgres, else /usr/lib/postgresql/15/bin]
#   PG_USER [nobody]  unprivileged user that runs PostgreSQL
set -euo pipefail

ROWS=${ROWS:-10000000}
LOAD_BATCH=${LOAD_BATCH:-100000}
PG_USER=${PG_USER:-nobody}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PSQL=${PSQL:-/usr/bin/psql}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (PostgreSQL is started via runuser -u $PG_USER)"
for t in "$PSQL" python3 runuser timeout awk; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
python3 -c 'import psycopg' 2>/dev/null || die "python3 needs psycopg 3 (pip install psycopg)"

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
TANDEM_BIN=${BENCH_TANDEM_BIN:-$REPO/target/release/tandem}
[[ -x $TANDEM_BIN ]] || die "no tandem binary at $TANDEM_BIN (set BENCH_TANDEM_BIN)"
id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER does not exist (set PG_USER)"

# ---------------------------------------------------------------- cleanup
WORK=$(mktemp -d /tmp/tandem-stream.XXXXXX)
chmod 755 "$WORK"
TANDEM_PID=
PG_STARTED=0
cleanup() {
    local rc=$?
    set +e
    if [[ -n $TANDEM_PID ]] && kill -0 "$TANDEM_PID" 2>/dev/null; then
        kill -TERM "$TANDEM_PID"
        for _ in $(seq 1 300); do kill -0 "$TANDEM_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$TANDEM_PID" 2>/dev/null && kill -KILL "$TANDEM_PID"
        wait "$TANDEM_PID" 2>/dev/null
    fi
    if [[ $PG_STARTED == 1 ]]; then
        timeout 60 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/data" \
            stop -m fast -w -t 30 >/dev/null \
            || kill -KILL "$(head -1 "$WORK/pg/data/postmaster.pid" 2>/dev/null)" 2>/dev/null
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
log "tandem ready, sql at $TANDEM_ADDR (pid $TANDEM_PID)"

# ---------------------------------------------------------------- PostgreSQL 15
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
chown "$PG_USER" "$WORK/pg"
timeout 120 runuser -u "$PG_USER" -- "$PG_BINDIR/initdb" -D "$WORK/pg/data" -U postgres -A trust \
    -E UTF8 --locale=C >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; die "initdb failed"; }
cat >>"$WORK/pg/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
shared_buffers = 128MB
CONF
timeout 90 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/pg.log" \
    -w -t 60 start >/dev/null || { tail -30 "$WORK/pg/pg.log" >&2; die "PostgreSQL did not start"; }
PG_STARTED=1
log "PostgreSQL ready on 127.0.0.1:$PG_PORT"

declare -A DSN=(
    [tandem]="host=127.0.0.1 port=$TANDEM_PORT user=root dbname=defaultdb sslmode=disable"
    [postgres]="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres sslmode=disable"
)
declare -A PID=([tandem]=$TANDEM_PID [postgres]=backend)
sql() { # system, then psql args
    local s=$1; shift
    timeout 3600 "$PSQL" -X -q -v ON_ERROR_STOP=1 "${DSN[$s]}" "$@"
}

# ---------------------------------------------------------------- data
# The same rows in both: k = 1..ROWS, v = k * 7919 mod 1000003, s = 'value-<k>'.
declare -A LOAD_S
log "tandem: loading $ROWS rows (INSERT ... SELECT generate_series, $LOAD_BATCH per statement)"
sql tandem -c "CREATE TABLE t (k INT PRIMARY KEY, v INT, s STRING)"
t0=$(date +%s.%N)
for ((a = 1; a <= ROWS; a += LOAD_BATCH)); do
    b=$((a + LOAD_BATCH - 1)); ((b > ROWS)) && b=$ROWS
    sql tandem -c "INSERT INTO t SELECT i, i * 7919 % 1000003, 'value-' || i::STRING FROM generate_series($a, $b) AS g(i)"
done
LOAD_S[tandem]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
log "postgres: loading $ROWS rows (INSERT ... SELECT generate_series)"
sql postgres -c "CREATE TABLE t (k BIGINT PRIMARY KEY, v BIGINT, s TEXT)"
t0=$(date +%s.%N)
sql postgres -c "INSERT INTO t SELECT i, i * 7919 % 1000003, 'value-' || i FROM generate_series(1::BIGINT, $ROWS) AS g(i)" \
    -c "VACUUM ANALYZE t"
LOAD_S[postgres]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')

# ---------------------------------------------------------------- measure
declare -A RESULT
for s in tandem postgres; do
    log "$s: measuring"
    RESULT[$s]=$(timeout 7200 python3 "$HERE/measure.py" "${DSN[$s]}" "${PID[$s]}") \
        || die "$s: measurement failed"
    log "$s: ${RESULT[$s]}"
done

field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
for s in tandem postgres; do
    [[ $(field "${RESULT[$s]}" rows) == "$ROWS" ]] || die "$s: scan returned $(field "${RESULT[$s]}" rows) rows"
    [[ $(field "${RESULT[$s]}" count) == "$ROWS" ]] || die "$s: count(*) returned $(field "${RESULT[$s]}" count)"
done

echo
echo "Streaming a $ROWS-row scan ($(nproc) cores; tandem $("$TANDEM_BIN" --version 2>/dev/null | head -1), $("$PG_BINDIR/postgres" --version))"
printf '%-34s %14s %14s\n' "" tandem "PostgreSQL 15"
row() { # label, field, printf format
    printf "%-34s %14s %14s\n" "$1" \
        "$(printf "$3" "$(field "${RESULT[tandem]}" "$2")")" \
        "$(printf "$3" "$(field "${RESULT[postgres]}" "$2")")"
}
printf '%-34s %14s %14s\n' "load (s)" "${LOAD_S[tandem]}" "${LOAD_S[postgres]}"
row "SELECT * FROM t: first row (ms)" first_row_ms "%.1f"
row "SELECT * FROM t: all rows (s)" scan_s "%.2f"
row "  server peak RSS growth (MB)" rss_growth_mb "%.1f"
row "  server peak RssAnon growth (MB)" anon_growth_mb "%.1f"
row "SELECT count(*) FROM t (s)" count_s "%.2f"
row "ORDER BY v LIMIT 10 (s)" top10_s "%.2f"
