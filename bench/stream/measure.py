#!/usr/bin/env python3
"""Measures one system for bench/stream/run.sh and prints one JSON line.

Usage: measure.py DSN PID
  DSN  libpq connection string
  PID  the server process to sample, or "backend" for the connection's PostgreSQL backend

Figures: time to the first row and total time of streaming `SELECT * FROM t` (psycopg's
cursor.stream(): single-row mode, no server-side cursor, so rows are read as the server sends
them), the server's peak RSS growth during that scan (VmRSS sampled every 5 ms, minus the value
before the query), the rows received, and the times of `SELECT count(*) FROM t` and
`SELECT * FROM t ORDER BY v LIMIT 10`.
"""
import json
import sys
import threading
import time

import psycopg


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, rss_kb(pid), False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.005)


def timed(conn, sql):
    t0 = time.perf_counter()
    rows = conn.execute(sql).fetchall()
    return time.perf_counter() - t0, rows


def main():
    dsn, pid = sys.argv[1], sys.argv[2]
    with psycopg.connect(dsn, autocommit=True) as conn:
        if pid == "backend":
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        pid = int(pid)
        base = rss_kb(pid)
        sampler = Sampler(pid)
        sampler.start()
        cur = conn.cursor()
        t0 = time.perf_counter()
        first, n = None, 0
        for _ in cur.stream("SELECT * FROM t"):
            if first is None:
                first = time.perf_counter() - t0
            n += 1
        total = time.perf_counter() - t0
        sampler.stop = True
        sampler.join()
        count_s, count = timed(conn, "SELECT count(*) FROM t")
        top_s, top = timed(conn, "SELECT * FROM t ORDER BY v LIMIT 10")
    print(json.dumps({
        "first_row_ms": (first or 0) * 1e3,
        "scan_s": total,
        "rows": n,
        "rss_growth_mb": (sampler.peak - base) / 1024,
        "count_s": count_s,
        "count": count[0][0],
        "top10_s": top_s,
        "top10_rows": len(top),
    }))


if __name__ == "__main__":
    main()
