#!/usr/bin/env bash
# pgbench over pgwire on loopback, in one run, side by side:
#   tandem-3   a 3-node tandem cluster (tandem start --join + tandem init), every range
#              replicated 3 ways by raft; pgbench connects to node 1
#   tandem-1   a single tandem node (tandem start-single-node)
#   pg-sync    PostgreSQL 15 primary + one synchronous streaming standby made by
#              pg_basebackup (synchronous_commit = on, synchronous_standby_names = the
#              standby's application_name): a commit returns once the standby has flushed
#              its WAL, the same durability class as a raft commit on 2 of 3 nodes
#
# Workloads:
#   tpcb-like     pgbench's builtin script on tables loaded by `pgbench -i -s SCALE`;
#                 --max-tries retries serialization failures (tandem is SERIALIZABLE and
#                 aborts with 40001; PostgreSQL runs its default READ COMMITTED)
#   point-select  \set k random(1, ROWS)        SELECT v FROM bench WHERE k = :k;
# Each (workload, system) is run REPS times for DURATION seconds with CLIENTS connections;
# the systems are interleaved within each rep (order rotated every rep) so that machine
# noise hits all alike.  Prints the median TPS, the median average latency and the ratios
# tandem-3/pg-sync and tandem-3/tandem-1.  Then the PCR phase: `tandem demo --nodes 3` (movr
# on a 3-node primary replicated to a 3-node standby) and its lag median / p99 / max.  See
# bench/multinode/README.md.
#
# Environment knobs (defaults in brackets):
#   DURATION [15]  REPS [3]  CLIENTS [8]  THREADS [2]  ROWS [10000]  BATCH [500]
#   SCALE [1]  pgbench -i scale factor   MAX_TRIES [1000]  pgbench --max-tries for tpcb-like
#   WORKLOADS ["tpcb-like point-select"]   PROTOCOLS ["simple"]  pgbench -M modes, one table each
#   SYSTEMS ["tandem-3 tandem-1 pg-sync"]
#   BENCH_TANDEM_BIN [build target/release/tandem with cargo]   SKIP_BUILD [0]
#   (tandem reads TANDEM_* environment variables as configuration, so the script
#   starts it with every TANDEM_* variable removed except TANDEM_READY_FILE)
#   PG_BINDIR [the directory /usr/local/bin/postgres links to, else /usr/local/bin, else
#              /usr/lib/postgresql/15/bin: the first with initdb, pg_ctl, pg_basebackup, postgres 15]
#   PG_USER [nobody]  unprivileged user that runs PostgreSQL
#   KEEP_LOGS [0]  1: copy the server and pgbench logs to bench/multinode/last-run/
#   PCR_DURATION [60]  seconds of movr in the PCR phase (tandem demo --nodes 3); 0 skips it
set -euo pipefail

DURATION=${DURATION:-15}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
ROWS=${ROWS:-10000}
BATCH=${BATCH:-500}
PROTOCOLS=${PROTOCOLS:-simple}
PG_USER=${PG_USER:-nobody}
SKIP_BUILD=${SKIP_BUILD:-0}
SCALE=${SCALE:-1}
MAX_TRIES=${MAX_TRIES:-1000}
read -r -a WORKLOADS <<<"${WORKLOADS:-tpcb-like point-select}"
read -r -a SYSTEMS <<<"${SYSTEMS:-tandem-3 tandem-1 pg-sync}"
KEEP_LOGS=${KEEP_LOGS:-0}
PCR_DURATION=${PCR_DURATION:-60}

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
for s in "${SYSTEMS[@]}"; do
    [[ $s == tandem-3 || $s == tandem-1 || $s == pg-sync ]] || die "unknown system $s in SYSTEMS"
done
has_system() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- binaries
if [[ -z ${PG_BINDIR:-} ]]; then
    # The first directory holding all four programs of a PostgreSQL 15 (/usr/local/bin may
    # hold only symlinks to some of them).
    PG_BINDIR=/usr/lib/postgresql/15/bin
    for d in "$(dirname "$(readlink -f /usr/local/bin/postgres 2>/dev/null || echo /nonexistent/x)")" \
             /usr/local/bin /usr/lib/postgresql/15/bin; do
        if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/pg_basebackup && -x $d/postgres ]] \
            && "$d/postgres" --version | grep -q ' 15\.'; then
            PG_BINDIR=$d; break
        fi
    done
fi
for b in initdb pg_ctl postgres pg_basebackup; do
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
WORK=$(mktemp -d /tmp/tandem-multinode.XXXXXX)
chmod 755 "$WORK"
TANDEM_PIDS=()    # every tandem process started (name:pid)
PG_DIRS=()        # every PostgreSQL data directory started

cleanup() {
    local rc=$?
    set +e
    # SIGTERM every tandem node at once (a cluster losing quorum one node at a time could
    # stall a drain), then wait up to 30 s before SIGKILL.
    local np name pid
    for np in "${TANDEM_PIDS[@]}"; do
        pid=${np#*:}
        kill -0 "$pid" 2>/dev/null && { log "stopping ${np%%:*} (SIGTERM, pid $pid)"; kill -TERM "$pid"; }
    done
    for np in "${TANDEM_PIDS[@]}"; do
        name=${np%%:*} pid=${np#*:}
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not exit within 30s of SIGTERM; sending SIGKILL"
            kill -KILL "$pid"
        fi
        wait "$pid" 2>/dev/null
        log "$name exited with status $?"
    done
    local d
    for d in "${PG_DIRS[@]}"; do
        log "stopping PostgreSQL $(basename "$d") (pg_ctl stop -m fast)"
        timeout 60 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$d" stop -m fast -w -t 30 >/dev/null \
            || { log "pg_ctl stop failed; killing postmaster";
                 kill -KILL "$(head -1 "$d/postmaster.pid" 2>/dev/null)" 2>/dev/null; }
    done
    if [[ $KEEP_LOGS == 1 ]]; then
        rm -rf "$HERE/last-run"; mkdir -p "$HERE/last-run"
        cp "$WORK"/*.log "$WORK"/*.out "$WORK"/pg/*.log "$HERE/last-run/" 2>/dev/null
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
unset_tandem=()
for v in $(compgen -e | grep '^TANDEM_' || true); do unset_tandem+=(-u "$v"); done

# start_tandem name subcommand-and-flags... : starts one node in the background with its
# ready file at $WORK/name.ready; records name:pid in TANDEM_PIDS and sets PID_<name>.
start_tandem() {
    local name=$1; shift
    mkdir -p "$WORK/$name"
    rm -f "$WORK/$name.ready"
    env "${unset_tandem[@]}" TANDEM_READY_FILE="$WORK/$name.ready" RUST_LOG="${RUST_LOG:-warn}" \
        "$TANDEM_BIN" "$@" --insecure --store="$WORK/$name/store" \
        --listen-addr=127.0.0.1:0 --http-addr=127.0.0.1:0 \
        >"$WORK/$name.log" 2>&1 &
    TANDEM_PIDS+=("$name:$!")
    printf -v "PID_${name//-/_}" '%s' "$!"
}

# wait_ready_file name pattern: until the ready file has a line matching the (grep -x) pattern
wait_ready_file() {
    local name=$1 pat=$2 pidvar="PID_${1//-/_}"
    for _ in $(seq 1 600); do
        [[ -f $WORK/$name.ready ]] && grep -qx "$pat" "$WORK/$name.ready" && return 0
        kill -0 "${!pidvar}" 2>/dev/null || { tail -30 "$WORK/$name.log" >&2; die "$name exited during startup"; }
        sleep 0.1
    done
    tail -30 "$WORK/$name.log" >&2
    die "$name: no '$pat' line in its ready file within 60s"
}
ready_field() { sed -n "s/^$2:[[:space:]]*//p" "$WORK/$1.ready" | head -1; }

# wait_replicated host what: polls `tandem node status` every 0.5 s (up to 60 s) until it
# lists 3 nodes, each with the same number of ranges and none under-replicated.
wait_replicated() {
    local host=$1 what=$2 st verdict=
    for _ in $(seq 1 120); do
        st=$("$TANDEM_BIN" node status --insecure --host="$host" 2>&1) || st=
        verdict=$(awk -F'|' 'NR > 2 && NF >= 11 {
                r = $10; u = $11; gsub(/ /, "", r); gsub(/ /, "", u);
                n++; if (n == 1) first = r; if (r != first) diff = 1; if (u != "0") under = 1
            } END { print (n == 3 && !diff && !under && first > 0) ? "ok " first : "no" }' <<<"$st")
        if [[ $verdict == ok* ]]; then
            log "tandem-3: $what: 3 nodes with ${verdict#ok } ranges each, none under-replicated"
            return 0
        fi
        sleep 0.5
    done
    printf '%s\n' "$st" >&2
    die "tandem-3: $what: ranges not fully replicated on 3 nodes within 60s"
}

if has_system tandem-3; then
    log "tandem-3: starting node 1 ($TANDEM_BIN)"
    start_tandem n1 start
    wait_ready_file n1 waiting_for_init
    N1_LISTEN=$(ready_field n1 listen_addr)
    for n in n2 n3; do
        log "tandem-3: starting $n --join=$N1_LISTEN"
        start_tandem "$n" start --join="$N1_LISTEN"
    done
    wait_ready_file n2 'waiting_for_init\|ready'
    wait_ready_file n3 'waiting_for_init\|ready'
    log "tandem-3: tandem init --host=$N1_LISTEN"
    timeout 60 "$TANDEM_BIN" init --insecure --host="$N1_LISTEN" >"$WORK/init.out" 2>&1 \
        || { cat "$WORK/init.out" >&2; die "tandem init failed"; }
    for n in n1 n2 n3; do wait_ready_file "$n" ready; done
    T3_ADDR=$(ready_field n1 sql_addr)
    log "tandem-3: all nodes ready, node 1 sql at $T3_ADDR"
    wait_replicated "$N1_LISTEN" "after init"
fi

if has_system tandem-1; then
    log "tandem-1: starting a single node"
    start_tandem t1 start-single-node
    wait_ready_file t1 ready
    T1_ADDR=$(ready_field t1 sql_addr)
    log "tandem-1: ready, sql at $T1_ADDR"
fi

# vars http_addr name...: "name=value ..." from the node's Prometheus endpoint
vars() {
    python3 - "$@" <<'PY' 2>/dev/null || echo "(metrics unavailable)"
import sys, urllib.request
body = urllib.request.urlopen("http://%s/_status/vars" % sys.argv[1], timeout=10).read().decode()
vals = {}
for line in body.splitlines():
    parts = line.split()
    if len(parts) == 2 and parts[0] in sys.argv[2:]:
        vals[parts[0]] = parts[1]
print(" ".join("%s=%s" % (n, vals.get(n, "?")) for n in sys.argv[2:]))
PY
}

# ---------------------------------------------------------------- PostgreSQL 15 + sync standby
pgrun() { runuser -u "$PG_USER" -- "$@"; }
if has_system pg-sync; then
    PG_P=$(free_port); PG_S=$(free_port)
    mkdir -p "$WORK/pg"; chown "$PG_USER" "$WORK/pg"
    log "pg-sync: initdb + start primary on 127.0.0.1:$PG_P ($("$PG_BINDIR/postgres" --version)) as $PG_USER"
    timeout 120 runuser -u "$PG_USER" -- "$PG_BINDIR/initdb" -D "$WORK/pg/primary" -U postgres -A trust -E UTF8 --locale=C \
        >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; die "initdb failed"; }
    cat >>"$WORK/pg/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_P
unix_socket_directories = ''
max_connections = 50
shared_buffers = 128MB
fsync = on
full_page_writes = on
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
EOF
    echo "host replication all 127.0.0.1/32 trust" >>"$WORK/pg/primary/pg_hba.conf"
    PG_DIRS+=("$WORK/pg/primary")
    timeout 90 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/primary" -l "$WORK/pg/primary.log" -w -t 60 start \
        >/dev/null || { tail -30 "$WORK/pg/primary.log" >&2; die "PostgreSQL primary did not start"; }

    log "pg-sync: pg_basebackup -R -X stream to the standby (port $PG_S, application_name pgstandby)"
    timeout 300 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PG_P" -U postgres -D "$WORK/pg/standby" \
        -R -X stream -c fast >"$WORK/pg/basebackup.log" 2>&1 \
        || { cat "$WORK/pg/basebackup.log" >&2; die "pg_basebackup failed"; }
    # Later settings win: the standby listens on its own port and names itself to the primary.
    cat >>"$WORK/pg/standby/postgresql.conf" <<EOF
port = $PG_S
EOF
    cat >>"$WORK/pg/standby/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$PG_P user=postgres application_name=pgstandby'
EOF
    PG_DIRS+=("$WORK/pg/standby")
    timeout 90 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$WORK/pg/standby" -l "$WORK/pg/standby.log" -w -t 60 start \
        >/dev/null || { tail -30 "$WORK/pg/standby.log" >&2; die "PostgreSQL standby did not start"; }

    pgq() { timeout 60 "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres "$@"; }
    pgq -p "$PG_P" -c "ALTER SYSTEM SET synchronous_standby_names = 'pgstandby'" >/dev/null
    pgq -p "$PG_P" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 120); do
        SYNC_STATE=$(pgq -p "$PG_P" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pgstandby'" 2>/dev/null || true)
        [[ $SYNC_STATE == sync ]] && break
        sleep 0.5
    done
    [[ $SYNC_STATE == sync ]] || { tail -20 "$WORK/pg/standby.log" >&2; die "pg-sync: standby not synchronous (sync_state '$SYNC_STATE')"; }
    log "pg-sync: primary ready on 127.0.0.1:$PG_P, standby pgstandby streaming with sync_state=sync"
fi

# Connection settings per system: host port user db
declare -A HOSTPORT=([tandem-3]=${T3_ADDR:-} [tandem-1]=${T1_ADDR:-} [pg-sync]=127.0.0.1:${PG_P:-})
declare -A DBUSER=([tandem-3]=root [tandem-1]=root [pg-sync]=postgres)
declare -A DBNAME=([tandem-3]=defaultdb [tandem-1]=defaultdb [pg-sync]=postgres)
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10
conn() { echo "postgresql://${DBUSER[$1]}@${HOSTPORT[$1]}/${DBNAME[$1]}?sslmode=disable"; }

sql() { # system, then psql args; stops at the first error
    local s=$1; shift
    timeout 300 "$PSQL" -X -q -v ON_ERROR_STOP=1 "$(conn "$s")" "$@"
}

# ---------------------------------------------------------------- schema + data
# The same rows in all: k = 1..ROWS, v = 'value-<k>'.
awk -v rows="$ROWS" -v batch="$BATCH" 'BEGIN {
    for (i = 1; i <= rows; i += batch) {
        line = "INSERT INTO bench VALUES ";
        for (j = i; j < i + batch && j <= rows; j++)
            line = line (j > i ? ", " : "") "(" j ", '\''value-" j "'\'')";
        print line ";";
    }
}' >"$WORK/load.sql"

declare -A INIT_S=() LOAD_S=()
for s in "${SYSTEMS[@]}"; do
    if [[ " ${WORKLOADS[*]} " == *" point-select "* ]]; then
        log "$s: creating bench and loading $ROWS rows in batches of $BATCH"
        if [[ $s == pg-sync ]]; then ddl="CREATE TABLE bench (k BIGINT PRIMARY KEY, v TEXT)"
        else ddl="CREATE TABLE bench (k INT PRIMARY KEY, v STRING)"; fi
        sql "$s" -c "$ddl" >"$WORK/$s-ddl.out" 2>&1 || { cat "$WORK/$s-ddl.out" >&2; die "$s: DDL failed: $ddl"; }
        t0=$(date +%s.%N)
        sql "$s" -f "$WORK/load.sql" >"$WORK/$s-load.out" 2>&1 \
            || { cat "$WORK/$s-load.out" >&2; die "$s: loading failed (statements in $WORK/load.sql, batches of $BATCH)"; }
        LOAD_S[$s]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        log "$s: loaded in ${LOAD_S[$s]} s"
        for k in 1 $((ROWS / 2)) "$ROWS"; do
            got=$(sql "$s" -A -t -c "SELECT v FROM bench WHERE k = $k" 2>&1) || die "$s: check select failed: $got"
            [[ $got == "value-$k" ]] || die "$s: SELECT v FROM bench WHERE k = $k returned '$got'"
        done
        got=$(sql "$s" -A -t -c "SELECT count(*) FROM bench" 2>&1) || die "$s: count failed: $got"
        [[ $got == "$ROWS" ]] || die "$s: bench has $got rows, expected $ROWS"
    fi
    if [[ " ${WORKLOADS[*]} " == *" tpcb-like "* ]]; then
        # pgbench's own initialization (COPY load, VACUUM, primary keys), timed.
        log "$s: pgbench -i -s $SCALE"
        t0=$(date +%s.%N)
        timeout 1800 "$PGBENCH" -i -s "$SCALE" "$(conn "$s")" >"$WORK/$s-init.out" 2>&1 \
            || { cat "$WORK/$s-init.out" >&2; die "$s: pgbench -i failed"; }
        INIT_S[$s]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        log "$s: pgbench -i done in ${INIT_S[$s]} s"
    fi
done
has_system tandem-3 && wait_replicated "$N1_LISTEN" "after loading"

# ---------------------------------------------------------------- pgbench
cat >"$WORK/point-select.sql" <<EOF
\set k random(1, $ROWS)
SELECT v FROM bench WHERE k = :k;
EOF

# TPS/LAT/RETRIED[proto,workload,system] = one value per rep, space separated
declare -A TPS LAT RETRIED NOTES
run_one() { # proto workload system rep
    local p=$1 w=$2 s=$3 r=$4 out="$WORK/pgbench-$1-$2-$3-$4.out" rc=0 script
    if [[ $w == tpcb-like ]]; then
        script=(-b tpcb-like "--max-tries=$MAX_TRIES")
    else
        script=(-f "$WORK/$w.sql")
    fi
    timeout $((DURATION + 120)) "$PGBENCH" -n -M "$p" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
        "${script[@]}" "$(conn "$s")" >"$out" 2>&1 || rc=$?
    local tps lat failed errs retried
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out" | head -1)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out" | head -1)
    retried=$(sed -n 's/^number of transactions retried: [0-9]* (\([0-9.]*\)%).*/\1/p' "$out" | head -1)
    errs=$(grep -E 'ERROR|FATAL|error|aborted|could not' "$out" \
        | sed -E 's/client [0-9]+/client N/g' \
        | sort | uniq -c | sort -rn | head -5 | sed -E 's/^ *([0-9]+) /\1x /; s/^/    /' || true)
    if [[ $rc != 0 || -z $tps || -n $errs || ${failed:-0} != 0 ]]; then
        NOTES[$p,$w,$s]+="rep $r: pgbench exit $rc, failed transactions ${failed:-?}"$'\n'"${errs:+$errs$'\n'}"
        log "$s $w ($p) rep $r: problem (exit $rc); output:"; sed 's/^/    /' "$out" | tail -15 >&2
    fi
    # A run in which clients aborted does not count as a result.
    if [[ $rc == 0 && -n $tps ]]; then
        TPS[$p,$w,$s]+="$tps "; LAT[$p,$w,$s]+="$lat "
        [[ -n $retried ]] && RETRIED[$p,$w,$s]+="$retried "
    fi
    log "$s $w ($p) rep $r: tps=${tps:-n/a} lat_ms=${lat:-n/a}${retried:+ retried=$retried%} exit=$rc"
}

median() { # decimals, then numbers -> median (mean of the middle two if even); "n/a" if none
    local d=$1; shift
    [[ $# -eq 0 ]] && { echo n/a; return; }
    printf '%s\n' "$@" | sort -g | awk -v d="$d" '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.*f", d, m }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.3f", a/b; else print "n/a" }'; }

# CPU seconds (user+sys) used so far by a process tree root (tandem pids; PostgreSQL postmasters
# and their children), to show what the idle systems cost while another one is measured.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        for c in $pid $(pgrep -P "$pid" || true); do
            [[ -r /proc/$c/stat ]] && total=$(( total + $(awk '{print $14 + $15}' "/proc/$c/stat") ))
        done
    done
    echo "$total"
}
declare -A ROOTS
has_system tandem-3 && ROOTS[tandem-3]="$PID_n1 $PID_n2 $PID_n3"
has_system tandem-1 && ROOTS[tandem-1]="$PID_t1"
has_system pg-sync && ROOTS[pg-sync]="$(head -1 "$WORK/pg/primary/postmaster.pid") $(head -1 "$WORK/pg/standby/postmaster.pid")"
IDLE=
HZ=$(getconf CLK_TCK)
declare -A C0
for s in "${SYSTEMS[@]}"; do C0[$s]=$(cpu_ticks ${ROOTS[$s]}); done
sleep 5
for s in "${SYSTEMS[@]}"; do
    IDLE+="$s $(awk -v a="${C0[$s]}" -v b="$(cpu_ticks ${ROOTS[$s]})" -v hz="$HZ" 'BEGIN{printf "%.0f%%", (b-a)/hz/5*100}'), "
done
IDLE=${IDLE%, }
log "idle CPU (of one core, over 5 s): $IDLE"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE"
for p in $PROTOCOLS; do
    for r in $(seq 1 "$REPS"); do
        for w in "${WORKLOADS[@]}"; do
            n=${#SYSTEMS[@]}
            for i in $(seq 0 $((n - 1))); do
                run_one "$p" "$w" "${SYSTEMS[$(( (i + r - 1) % n ))]}" "$r"
            done
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $LOAD_AFTER"

# ---------------------------------------------------------------- PCR on 3 + 3 nodes
# `tandem demo --nodes 3`: two 3-node clusters (start --join + init), movr on the primary's
# application virtual cluster while the standby replicates it; the demo samples the lag the
# standby reports (SHOW VIRTUAL CLUSTER ... WITH REPLICATION STATUS) every 0.5 s and prints
# median / p99 / max, then cuts over and verifies fingerprints and row counts.
PCR_LINE=
if [[ $PCR_DURATION != 0 ]]; then
    log "PCR: tandem demo --nodes 3 --duration ${PCR_DURATION}s"
    if env "${unset_tandem[@]}" RUST_LOG=warn timeout $((PCR_DURATION + 300)) \
        "$TANDEM_BIN" demo --nodes 3 --duration "${PCR_DURATION}s" --dir "$WORK/pcr-demo" \
        >"$WORK/pcr-demo.out" 2>&1; then
        lagline=$(grep -m1 'replication lag during the workload' "$WORK/pcr-demo.out" || true)
        p99=$(sed -n 's/.* p99 \([0-9.]*\)s.*/\1/p' <<<"$lagline")
        verdict=$(awk -v p="$p99" 'BEGIN { if (p == "") print "n/a"; else if (p + 0 < 1.0) print "met"; else print "NOT met" }')
        cut_line=$(grep -m1 'serves SQL' "$WORK/pcr-demo.out" | sed 's/^\[standby\] //' || true)
        movr_line=$(grep -m1 'movr finished' "$WORK/pcr-demo.out" | sed 's/^\[primary\] //' || true)
        fp=$(grep -m1 '^\[verify\] fingerprints' "$WORK/pcr-demo.out" | sed 's/^\[verify\] //' || true)
        leases=$(grep -m1 'leases per node' "$WORK/pcr-demo.out" | sed 's/^\[primary\] //' || true)
        PCR_LINE="PCR on 3 + 3 nodes under movr (tandem demo --nodes 3, ${PCR_DURATION}s): ${lagline#\[standby\] }"$'\n'
        PCR_LINE+="  aim: PCR lag p99 < 1 s: ${p99:-n/a} s -> $verdict"$'\n'
        PCR_LINE+="  $movr_line"$'\n'"  primary $leases"$'\n'"  $cut_line; $fp"
    else
        PCR_LINE="PCR on 3 + 3 nodes: tandem demo failed (exit $?); see $WORK/pcr-demo.out"
        NOTES[all,pcr,tandem-3]+="tandem demo --nodes 3 failed"$'\n'
    fi
fi

# Still 3 fully replicated nodes, still a synchronous standby?
POST=
if has_system tandem-3; then
    wait_replicated "$N1_LISTEN" "after the runs"
    POST+="tandem-3: 3 live nodes, no under-replicated range after the runs."$'\n'
    # Every node applies the raft log and fsyncs: counters from each node's /_status/vars.
    sleep 1.5   # the counters are refreshed every second
    POST+="tandem-3 counters at the end:"
    for n in n1 n2 n3; do
        POST+=" $n $(vars "$(ready_field "$n" http_addr)" txn_commits raft_entries_applied storage_fsyncs);"
    done
    POST+=$'\n'
fi
if has_system pg-sync; then
    SYNC_STATE=$(pgq -p "$PG_P" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pgstandby'" 2>&1 || true)
    SC=$(pgq -p "$PG_P" -c "SHOW synchronous_commit" 2>&1 || true)
    LAG=$(pgq -p "$PG_P" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) FROM pg_stat_replication WHERE application_name = 'pgstandby'" 2>&1 || true)
    POST+="pg-sync: standby sync_state=$SYNC_STATE, synchronous_commit=$SC, standby flush lag ${LAG} bytes after the runs."
    [[ $SYNC_STATE == sync ]] || NOTES[all,all,pg-sync]+="standby was not synchronous after the runs (sync_state '$SYNC_STATE')"$'\n'
fi

# ---------------------------------------------------------------- report
col() { case $1 in tandem-3) echo 3node;; tandem-1) echo 1node;; pg-sync) echo pgsync;; esac; }
echo
echo "tandem: $TANDEM_DESC"
echo "PostgreSQL: $("$PG_BINDIR/postgres" --version), primary + 1 synchronous streaming standby (synchronous_commit=on)"
echo "pgbench -n -c $CLIENTS -j $THREADS -T $DURATION, $REPS reps interleaved, medians; tpcb-like scale $SCALE --max-tries=$MAX_TRIES; point-select over $ROWS rows"
echo "$(nproc) cores, loopback, fsync on everywhere; load average before $LOAD_BEFORE, after $LOAD_AFTER"
echo "idle CPU of each system while idle (5 s, % of one core): $IDLE"
for p in $PROTOCOLS; do
    echo
    echo "protocol: -M $p"
    hdr=(workload)
    for s in "${SYSTEMS[@]}"; do hdr+=("$(col "$s")_tps"); done
    has_system tandem-3 && has_system pg-sync && hdr+=("3node/pgsync")
    has_system tandem-3 && has_system tandem-1 && hdr+=("3node/1node")
    for s in "${SYSTEMS[@]}"; do hdr+=("$(col "$s")_lat_ms"); done
    fmt="%-13s"; for _ in $(seq 2 ${#hdr[@]}); do fmt+=" %-13s"; done; fmt+=$'\n'
    # shellcheck disable=SC2059
    printf "$fmt" "${hdr[@]}"
    for w in "${WORKLOADS[@]}"; do
        declare -A MT=() ML=()
        row=("$w")
        for s in "${SYSTEMS[@]}"; do
            # shellcheck disable=SC2086
            MT[$s]=$(median 1 ${TPS[$p,$w,$s]:-}); ML[$s]=$(median 2 ${LAT[$p,$w,$s]:-})
            row+=("${MT[$s]}")
        done
        has_system tandem-3 && has_system pg-sync && row+=("$(ratio "${MT[tandem-3]}" "${MT[pg-sync]}")")
        has_system tandem-3 && has_system tandem-1 && row+=("$(ratio "${MT[tandem-3]}" "${MT[tandem-1]}")")
        for s in "${SYSTEMS[@]}"; do row+=("${ML[$s]}"); done
        # shellcheck disable=SC2059
        printf "$fmt" "${row[@]}"
        if [[ $w == tpcb-like ]]; then
            line="  tpcb-like transactions retried (40001), median %:"
            for s in "${SYSTEMS[@]}"; do
                # shellcheck disable=SC2086
                line+=" $(col "$s") $(median 2 ${RETRIED[$p,$w,$s]:-})"
            done
            echo "$line"
            if has_system tandem-3 && has_system pg-sync; then
                rt=$(ratio "${MT[tandem-3]}" "${MT[pg-sync]}")
                verdict=$(awk -v r="$rt" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 >= 0.5) print "met"; else print "NOT met" }')
                echo "  aim: 3-node tpcb-like >= 0.5x PostgreSQL with a synchronous standby: ${rt}x -> $verdict"
            fi
        fi
        unset MT ML
    done
done
echo
[[ ${#INIT_S[@]} -gt 0 ]] && {
    line="pgbench -i -s $SCALE (s):"; for s in "${SYSTEMS[@]}"; do line+=" $(col "$s") ${INIT_S[$s]:-n/a}"; done; echo "$line"; }
[[ ${#LOAD_S[@]} -gt 0 ]] && {
    line="loading $ROWS bench rows (s):"; for s in "${SYSTEMS[@]}"; do line+=" $(col "$s") ${LOAD_S[$s]:-n/a}"; done; echo "$line"; }
[[ -n $POST ]] && printf '%s\n' "${POST%$'\n'}"
[[ -n $PCR_LINE ]] && { echo; printf '%s\n' "$PCR_LINE"; }
problems=0
for key in "${!NOTES[@]}"; do
    if [[ $problems == 0 ]]; then echo; echo "problems:"; fi
    problems=1
    IFS=, read -r p w s <<<"$key"
    printf '%s' "${NOTES[$key]}" | sed "s/^/  $s $w (-M $p): /"
done
