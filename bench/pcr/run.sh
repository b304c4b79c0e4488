#!/usr/bin/env bash
# Physical cluster replication benchmark, on loopback, in one run:
#   tandem   primary (replication-source) -> standby (replication-target)
#            - initial scan MB/s of a virtual cluster holding DATA_MB of rows
#            - replication lag (now - replicated_time, sampled every 100 ms on the standby)
#              p50/p99/max while `tandem workload run movr` runs at full speed on the primary
#            - cutover time: COMPLETE REPLICATION TO LATEST until the promoted cluster
#              answers a query on that data after START SERVICE SHARED
#   PostgreSQL 15 streaming replication (primary -> hot standby made by pg_basebackup -R)
#            - pg_basebackup MB/s of the same DATA_MB
#            - replay lag (now() - pg_last_xact_replay_timestamp() on the standby, every
#              100 ms) p50/p99/max while pgbench tpcb-like runs at full speed (movr speaks
#              CockroachDB SQL, so PostgreSQL gets pgbench's write workload)
#            - promote time: pg_ctl promote until the standby commits a write
# See bench/pcr/README.md.
#
# Environment knobs (defaults in brackets):
#   DATA_MB [1024]  DURATION [30] seconds of workload  CLIENTS [8]  BATCH_ROWS [20000]
#   PG_SCALE [10] pgbench -i scale   SKIP_BUILD [0]  BENCH_TANDEM_BIN [target/release/tandem]
#   PG_BINDIR [/usr/lib/postgresql/15/bin]  PG_USER [nobody]  KEEP_LOGS [0]
#   SCAN_ONLY [0]: 1 stops after tandem's initial scan (no workload, no PostgreSQL)
set -euo pipefail

DATA_MB=${DATA_MB:-1024}
DURATION=${DURATION:-30}
CLIENTS=${CLIENTS:-8}
BATCH_ROWS=${BATCH_ROWS:-20000}
PG_SCALE=${PG_SCALE:-10}
SKIP_BUILD=${SKIP_BUILD:-0}
PG_USER=${PG_USER:-nobody}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
KEEP_LOGS=${KEEP_LOGS:-0}
SCAN_ONLY=${SCAN_ONLY:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PSQL=${PSQL:-/usr/bin/psql}
PGBENCH=${PGBENCH:-/usr/bin/pgbench}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

[[ $EUID -eq 0 ]] || die "run as root (PostgreSQL is started via runuser -u $PG_USER)"
for t in "$PSQL" "$PGBENCH" python3 runuser timeout awk sort; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
for b in initdb pg_ctl postgres pg_basebackup; do
    [[ -x $PG_BINDIR/$b ]] || die "missing $PG_BINDIR/$b"
done

TANDEM_BIN=${BENCH_TANDEM_BIN:-$REPO/target/release/tandem}
if [[ -z ${BENCH_TANDEM_BIN:-} && $SKIP_BUILD != 1 ]]; then
    log "building tandem (cargo build --release --bin tandem)"
    (cd "$REPO" && timeout 3600 cargo build --release --bin tandem) >&2 || die "cargo build failed"
fi
[[ -x $TANDEM_BIN ]] || die "no tandem binary at $TANDEM_BIN"

WORK=$(mktemp -d /tmp/tandem-pcr-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DIRS=()
SAMPLER=

cleanup() {
    local rc=$?
    set +e
    [[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for d in "${PG_DIRS[@]}"; do
        timeout 60 runuser -u "$PG_USER" -- "$PG_BINDIR/pg_ctl" -D "$d" stop -m immediate -w >/dev/null 2>&1
    done
    if [[ $KEEP_LOGS == 1 ]]; then
        rm -rf "$HERE/last-run"; mkdir -p "$HERE/last-run"
        cp "$WORK"/*.log "$WORK"/*.out "$WORK"/*.samples "$WORK"/pg/*.log "$HERE/last-run/" 2>/dev/null
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

# percentiles <file>: "p50 p99 max n" of the numbers in the file (seconds)
percentiles() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a n/a 0"; exit }
        i50 = int(0.50 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999);
        printf "%.3f %.3f %.3f %d\n", v[i50], v[i99], v[NR], NR }'
}

# sample <interval s> <out file> <psql args...>: runs one query in one session every interval,
# writing one number per line, until killed.
sample() {
    local every=$1 out=$2; shift 2
    local q=$1; shift
    ( while :; do echo "$q"; sleep "$every"; done ) | "$PSQL" -X -q -A -t "$@" >"$out" 2>/dev/null
}

start_tandem() {  # name profile -> sets <NAME>_PORT, <NAME>_HTTP
    local name=$1 profile=$2 ready=$WORK/$1.ready
    local unset_tandem=()
    for v in $(compgen -e | grep '^TANDEM_' || true); do unset_tandem+=(-u "$v"); done
    env "${unset_tandem[@]}" TANDEM_READY_FILE="$ready" RUST_LOG="${RUST_LOG:-warn}" \
        "$TANDEM_BIN" start-single-node --insecure --store="$WORK/$name" \
        --listen-addr=127.0.0.1:0 --http-addr=127.0.0.1:0 --config-profile="$profile" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 600); do
        [[ -f $ready ]] && grep -qx ready "$ready" && break
        sleep 0.1
    done
    grep -qx ready "$ready" 2>/dev/null || { tail -30 "$WORK/$name.log" >&2; die "$name not ready"; }
    local addr; addr=$(sed -n 's/^sql_addr:[[:space:]]*//p' "$ready" | head -1)
    local http; http=$(sed -n 's/^http_addr:[[:space:]]*//p' "$ready" | head -1)
    printf -v "${name^^}_PORT" '%s' "${addr##*:}"
    printf -v "${name^^}_HTTP" '%s' "$http"
    log "$name ready at $addr ($profile)"
}

disk_written() {  # bytes written to whole disks so far (partitions and device-mapper excluded)
    awk '$3 !~ /^(loop|ram|dm-)/ && $3 !~ /[0-9]$/ || $3 ~ /^nvme[0-9]+n[0-9]+$/ { s += $10 } END { printf "%.0f", s * 512 }' /proc/diskstats
}

metric() {  # http_addr name
    python3 - "$1" "$2" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://%s/_status/vars" % sys.argv[1], timeout=10).read().decode()
for line in body.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[1]); break
else:
    print(0)
PY
}

ROWS=$(( DATA_MB * 1024 * 1024 / 1000 ))
PAYLOAD="repeat(md5(g::TEXT), 31)"   # 992 bytes per row

# ================================================================ tandem
start_tandem primary replication-source
start_tandem standby replication-target
P_APP="postgresql://root@127.0.0.1:$PRIMARY_PORT/defaultdb?sslmode=disable&options=-ccluster%3Dapplication"
P_SYS="postgresql://root@127.0.0.1:$PRIMARY_PORT/defaultdb?sslmode=disable&options=-ccluster%3Dsystem"
S_SYS="postgresql://root@127.0.0.1:$STANDBY_PORT/defaultdb?sslmode=disable&options=-ccluster%3Dsystem"
S_APP="postgresql://root@127.0.0.1:$STANDBY_PORT/defaultdb?sslmode=disable&options=-ccluster%3Dapplication"
q() { "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

log "tandem: loading $DATA_MB MB ($ROWS rows of ~1000 bytes) into the primary's application cluster"
q "$P_APP" -c "CREATE TABLE big (id INT8 PRIMARY KEY, payload STRING)"
t0=$(now)
for (( lo = 1; lo <= ROWS; lo += BATCH_ROWS )); do
    hi=$(( lo + BATCH_ROWS - 1 )); (( hi > ROWS )) && hi=$ROWS
    q "$P_APP" -c "INSERT INTO big SELECT g, $PAYLOAD FROM generate_series($lo, $hi) AS g" >/dev/null
done
T_LOAD=$(elapsed "$t0" "$(now)")
log "tandem: loaded in ${T_LOAD}s"

log "tandem: CREATE VIRTUAL CLUSTER application FROM REPLICATION OF application (initial scan)"
W0=$(disk_written)
t0=$(now)
q "$S_SYS" -c "CREATE VIRTUAL CLUSTER application LIKE template FROM REPLICATION OF application ON 'postgresql://root@127.0.0.1:$PRIMARY_PORT/defaultdb?sslmode=disable&options=-ccluster=system'"
# One session polls (a psql started every 100 ms took ~10% of the two cores from the scan).
coproc POLL { "$PSQL" -X -q -A -t "$S_SYS"; }
st=
for _ in $(seq 1 36000); do
    echo "SELECT status FROM [SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS];" >&"${POLL[1]}"
    read -r -t 30 -u "${POLL[0]}" st || die "status poll failed"
    [[ $st == replicating ]] && break
    sleep 0.1
done
exec {POLL[1]}>&-
[[ $st == replicating ]] || die "initial scan did not finish (status: $st)"
T_SCAN=$(elapsed "$t0" "$(now)")
SCAN_BYTES=$(metric "$STANDBY_HTTP" physical_replication_logical_bytes)
SCAN_MBS=$(awk -v b="$SCAN_BYTES" -v t="$T_SCAN" 'BEGIN { printf "%.1f", b / 1048576 / t }')
log "tandem: initial scan of $(awk -v b="$SCAN_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MB in ${T_SCAN}s = $SCAN_MBS MB/s"
SCAN_AMP=$(awk -v w="$(( $(disk_written) - W0 ))" -v b="$SCAN_BYTES" 'BEGIN { if (b > 0) printf "%.2f", w / b; else print "n/a" }')
log "tandem: bytes written to disk (all devices, /proc/diskstats) per byte ingested during the scan: $SCAN_AMP"
if [[ $SCAN_ONLY == 1 ]]; then
    printf 'initial scan %s MB/s (%s s), disk bytes written per ingested byte %s\n' "$SCAN_MBS" "$T_SCAN" "$SCAN_AMP"
    exit 0
fi

log "tandem: movr init, then movr at full speed for ${DURATION}s (concurrency $CLIENTS) with lag sampled every 100 ms"
"$TANDEM_BIN" workload init movr "$P_APP" >"$WORK/movr-init.out" 2>&1 || { tail "$WORK/movr-init.out" >&2; die "movr init"; }
sample 0.1 "$WORK/tandem-lag.samples" \
    "SELECT extract(epoch FROM replication_lag) FROM [SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS];" "$S_SYS" &
SAMPLER=$!
"$TANDEM_BIN" workload run movr --duration="${DURATION}s" --concurrency="$CLIENTS" "$P_APP" \
    >"$WORK/movr-run.out" 2>&1 || log "movr run exited with an error"
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
grep -E '^[0-9.]+$' "$WORK/tandem-lag.samples" >"$WORK/tandem-lag.clean.samples" || true
read -r T_P50 T_P99 T_MAX T_N < <(percentiles "$WORK/tandem-lag.clean.samples")
MOVR_LINE=$(grep -A1 '__result$' "$WORK/movr-run.out" | tail -1 || true)
log "tandem: lag p50 ${T_P50}s p99 ${T_P99}s max ${T_MAX}s over $T_N samples"

log "tandem: cutover (COMPLETE REPLICATION TO LATEST -> ready -> START SERVICE SHARED -> query)"
t0=$(now)
q "$S_SYS" -c "ALTER VIRTUAL CLUSTER application COMPLETE REPLICATION TO LATEST" >"$WORK/cutover.out"
for _ in $(seq 1 6000); do
    ds=$(q "$S_SYS" -c "SELECT data_state FROM [SHOW VIRTUAL CLUSTER application]")
    [[ $ds == ready ]] && break
    sleep 0.05
done
q "$S_SYS" -c "ALTER VIRTUAL CLUSTER application START SERVICE SHARED"
for _ in $(seq 1 600); do
    q "$S_APP" -c "SELECT id FROM big WHERE id = 1" >/dev/null 2>&1 && break
    sleep 0.05
done
T_CUT=$(elapsed "$t0" "$(now)")
CUTOVER_TS=$(cat "$WORK/cutover.out")
FP_P=$(q "$P_SYS" -c "SELECT fingerprint FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER application] AS OF SYSTEM TIME '$CUTOVER_TS'")
FP_S=$(q "$S_SYS" -c "SELECT fingerprint FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER application] AS OF SYSTEM TIME '$CUTOVER_TS'")
log "tandem: cutover in ${T_CUT}s; fingerprints $FP_P / $FP_S"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()

# ================================================================ PostgreSQL 15
PG_P=$(free_port); PG_S=$(free_port)
mkdir -p "$WORK/pg"; chown "$PG_USER" "$WORK/pg"
pgrun() { runuser -u "$PG_USER" -- "$@"; }
log "PostgreSQL: initdb + start primary on $PG_P ($("$PG_BINDIR/postgres" --version))"
pgrun "$PG_BINDIR/initdb" -D "$WORK/pg/primary" -U postgres -A trust -E UTF8 --locale=C >"$WORK/pg-initdb.log" 2>&1
cat >>"$WORK/pg/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_P
unix_socket_directories = '$WORK/pg'
wal_level = replica
max_wal_senders = 4
shared_buffers = 512MB
max_wal_size = 4GB
CONF
echo "host replication all 127.0.0.1/32 trust" >>"$WORK/pg/primary/pg_hba.conf"
PG_DIRS+=("$WORK/pg/primary")
pgrun "$PG_BINDIR/pg_ctl" -D "$WORK/pg/primary" -l "$WORK/pg/primary.log" -w start >/dev/null
PGP="postgresql://postgres@127.0.0.1:$PG_P/postgres"
log "PostgreSQL: loading $DATA_MB MB"
q "$PGP" -c "CREATE TABLE big (id INT8 PRIMARY KEY, payload TEXT)"
t0=$(now)
for (( lo = 1; lo <= ROWS; lo += BATCH_ROWS )); do
    hi=$(( lo + BATCH_ROWS - 1 )); (( hi > ROWS )) && hi=$ROWS
    q "$PGP" -c "INSERT INTO big SELECT g, $PAYLOAD FROM generate_series($lo, $hi) AS g" >/dev/null
done
PG_LOAD=$(elapsed "$t0" "$(now)")
q "$PGP" -c "CHECKPOINT" >/dev/null
PG_BYTES=$(q "$PGP" -c "SELECT pg_database_size('postgres')")
log "PostgreSQL: pg_basebackup -R -X stream to the standby"
t0=$(now)
pgrun "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PG_P" -U postgres -D "$WORK/pg/standby" -R -X stream -c fast \
    >"$WORK/pg-basebackup.log" 2>&1 || { cat "$WORK/pg-basebackup.log" >&2; die "pg_basebackup"; }
T_BB=$(elapsed "$t0" "$(now)")
BB_MBS=$(awk -v b="$PG_BYTES" -v t="$T_BB" 'BEGIN { printf "%.1f", b / 1048576 / t }')
sed -i "s/^port = .*/port = $PG_S/" "$WORK/pg/standby/postgresql.conf"
PG_DIRS+=("$WORK/pg/standby")
pgrun "$PG_BINDIR/pg_ctl" -D "$WORK/pg/standby" -l "$WORK/pg/standby.log" -w start >/dev/null
PGS="postgresql://postgres@127.0.0.1:$PG_S/postgres"
log "PostgreSQL: basebackup of $(awk -v b="$PG_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MB in ${T_BB}s = $BB_MBS MB/s"

log "PostgreSQL: pgbench -i -s $PG_SCALE, then tpcb-like at full speed for ${DURATION}s with replay lag sampled every 100 ms"
"$PGBENCH" -i -s "$PG_SCALE" -q "$PGP" >"$WORK/pgbench-init.out" 2>&1
sleep 1
sample 0.1 "$WORK/pg-lag.samples" \
    "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp());" "$PGS" &
SAMPLER=$!
"$PGBENCH" -c "$CLIENTS" -j 2 -T "$DURATION" "$PGP" >"$WORK/pgbench-run.out" 2>&1 || log "pgbench exited with an error"
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
grep -E '^-?[0-9.]+$' "$WORK/pg-lag.samples" | awk '{ print ($1 < 0 ? 0 : $1) }' >"$WORK/pg-lag.clean.samples" || true
read -r P_P50 P_P99 P_MAX P_N < <(percentiles "$WORK/pg-lag.clean.samples")
PG_TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench-run.out" | head -1)

log "PostgreSQL: promote (pg_ctl promote -> first committed write on the standby)"
t0=$(now)
pgrun "$PG_BINDIR/pg_ctl" -D "$WORK/pg/standby" promote -w >/dev/null
for _ in $(seq 1 600); do
    q "$PGS" -c "CREATE TABLE IF NOT EXISTS promoted_probe (x INT)" >/dev/null 2>&1 && break
    sleep 0.05
done
T_PROMOTE=$(elapsed "$t0" "$(now)")

cat <<REPORT

Physical replication on loopback ($(nproc) cores), $(date -u '+%F %T') UTC
tandem: $("$TANDEM_BIN" --version 2>/dev/null | head -1) ($TANDEM_BIN)
PostgreSQL: $("$PG_BINDIR/postgres" --version)

                              tandem PCR                     PostgreSQL 15 streaming
data loaded                   ${DATA_MB} MB in ${T_LOAD}s               ${DATA_MB} MB in ${PG_LOAD}s
initial copy                  ${SCAN_MBS} MB/s (initial scan)   ${BB_MBS} MB/s (pg_basebackup)
workload during lag sampling  movr, ${CLIENTS} clients           pgbench tpcb-like, ${CLIENTS} clients (${PG_TPS} tps)
lag p50 / p99 / max (s)       ${T_P50} / ${T_P99} / ${T_MAX}    ${P_P50} / ${P_P99} / ${P_MAX}
lag samples (every 100 ms)    ${T_N}                            ${P_N}
cutover / promote to SQL      ${T_CUT}s                         ${T_PROMOTE}s
fingerprints at cutover       primary ${FP_P}, standby ${FP_S} ($( [[ $FP_P == "$FP_S" ]] && echo equal || echo DIFFERENT))
movr                          ${MOVR_LINE}
REPORT
