#!/usr/bin/env python3
"""Measures one system for bench/stream/run.sh and prints one JSON line.

Usage: measure.py DSN PID
  DSN  libpq connection string
  PID  the server process to sample, or "backend" for the connection's PostgreSQL backend

Figures: time to the first row and total time of streaming `SELECT * FROM t` (psycopg's
cursor.stream(): single-row mode, no server-side cursor, so rows are read as the server sends
them), the server's peak RSS growth during that scan (VmRSS sampled every 5 ms, minus the value
before the query; also of RssAnon, which leaves out shared memory such as PostgreSQL's
shared_buffers pages the backend touches), the rows received, and the times of `SELECT count(*) FROM t` and
`SELECT * FROM t ORDER BY v LIMIT 10`.
"""
import json
import sys
import threading
import time

import psycopg


def rss_kb(pid):
    """(VmRSS, RssAnon) of the process in kB."""
    rss, anon = 0, 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1])
    return rss, anon


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop = pid, False
        self.peak, self.peak_anon = rss_kb(pid)

    def run(self):
        while not self.stop:
            rss, anon = rss_kb(self.pid)
            self.peak, self.peak_anon = max(self.peak, rss), max(self.peak_anon, anon)
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
        base, base_anon = rss_kb(pid)
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
        "anon_growth_mb": (sampler.peak_anon - base_anon) / 1024,
        "count_s": count_s,
        "count": count[0][0],
        "top10_s": top_s,
        "top10_rows": len(top),
    }))


if __name__ == "__main__":
    main()
