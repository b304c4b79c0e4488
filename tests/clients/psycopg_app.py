"""A small psycopg 3 application run against tandem by tests/sql_clients.rs.

Usage: python3 psycopg_app.py <postgresql URL>. Exits non-zero (with a traceback) on the first
thing that does not behave as it does on PostgreSQL.
"""
import datetime
import decimal
import sys
import uuid

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

url = sys.argv[1]

with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("DROP TABLE IF EXISTS orders")
    conn.execute("DROP TABLE IF EXISTS customers")
    conn.execute(
        """CREATE TABLE customers (
               id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
               name STRING NOT NULL UNIQUE,
               credit DECIMAL NOT NULL DEFAULT 0,
               vip BOOL DEFAULT false,
               joined DATE,
               last_seen TIMESTAMPTZ,
               grace INTERVAL,
               avatar BYTES,
               prefs JSONB,
               score FLOAT)"""
    )
    conn.execute(
        """CREATE TABLE orders (
               id INT PRIMARY KEY,
               customer UUID NOT NULL REFERENCES customers (id),
               total DECIMAL NOT NULL CHECK (total >= 0),
               placed TIMESTAMP NOT NULL DEFAULT now())"""
    )

    # Parameters of every common Python type, read back unchanged.
    cid = uuid.uuid4()
    when = datetime.datetime(2026, 11, 26, 12, 30, 5, 123456, tzinfo=datetime.timezone.utc)
    row = (
        cid,
        "ada",
        decimal.Decimal("1234.50"),
        True,
        datetime.date(2026, 1, 31),
        when,
        datetime.timedelta(days=3, hours=4),
        b"\x00\x01\xffpng",
        Jsonb({"theme": "dark", "langs": ["en", "fr"]}),
        0.25,
    )
    conn.execute(
        "INSERT INTO customers (id, name, credit, vip, joined, last_seen, grace, avatar, prefs, score)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        row,
    )
    got = conn.execute(
        "SELECT id, name, credit, vip, joined, last_seen, grace, avatar, prefs, score"
        " FROM customers WHERE id = %s",
        (cid,),
    ).fetchone()
    assert got[0] == cid, got
    assert got[1] == "ada", got
    assert got[2] == decimal.Decimal("1234.50"), got
    assert got[3] is True, got
    assert got[4] == datetime.date(2026, 1, 31), got
    assert got[5] == when, got
    assert got[6] == datetime.timedelta(days=3, hours=4), got
    assert bytes(got[7]) == b"\x00\x01\xffpng", got
    assert got[8] == {"theme": "dark", "langs": ["en", "fr"]}, got
    assert got[9] == 0.25, got

    # executemany, RETURNING, a JSON operator with a parameter.
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO customers (name, credit, prefs) VALUES (%s, %s, %s)",
            [(f"user{i}", decimal.Decimal(i), Jsonb({"n": i})) for i in range(20)],
        )
        cur.execute("SELECT count(*) FROM customers WHERE prefs->>'n' = %s", ("7",))
        assert cur.fetchone() == (1,)
        cur.execute(
            "UPDATE customers SET vip = true WHERE credit >= %s RETURNING name", (decimal.Decimal(18),)
        )
        assert sorted(r[0] for r in cur.fetchall()) == ["ada", "user18", "user19"]

    # A transaction that commits and one that rolls back.
    with conn.transaction():
        conn.execute("INSERT INTO orders (id, customer, total) VALUES (%s, %s, %s)", (1, cid, 10))
        conn.execute("INSERT INTO orders (id, customer, total) VALUES (%s, %s, %s)", (2, cid, 32.5))
    try:
        with conn.transaction():
            conn.execute("INSERT INTO orders (id, customer, total) VALUES (3, %s, 1)", (cid,))
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert conn.execute("SELECT count(*), sum(total) FROM orders").fetchone() == (2, decimal.Decimal("42.5"))

    # Errors arrive as psycopg's SQLSTATE classes.
    for sql, params, cls in [
        ("INSERT INTO customers (name) VALUES (%s)", ("ada",), errors.UniqueViolation),
        ("INSERT INTO orders (id, customer, total) VALUES (9, %s, 1)", (uuid.uuid4(),), errors.ForeignKeyViolation),
        ("INSERT INTO orders (id, customer, total) VALUES (9, %s, -1)", (cid,), errors.CheckViolation),
        ("SELECT nosuch FROM orders", None, errors.UndefinedColumn),
        ("SELECT 1 / 0", None, errors.DivisionByZero),
    ]:
        try:
            conn.execute(sql, params)
        except cls:
            pass
        else:
            raise AssertionError(f"{sql}: no {cls.__name__}")

    # COPY FROM STDIN through psycopg's copy API, then a join with aggregates.
    with conn.cursor() as cur:
        with cur.copy("COPY orders (id, customer, total) FROM STDIN") as copy:
            for i in range(100, 150):
                copy.write_row((i, cid, decimal.Decimal(i) / 10))
        cur.execute(
            """SELECT c.name, count(o.id), sum(o.total)
               FROM customers c JOIN orders o ON o.customer = c.id
               GROUP BY c.name ORDER BY c.name"""
        )
        assert cur.fetchall() == [("ada", 52, decimal.Decimal("42.5") + sum(decimal.Decimal(i) / 10 for i in range(100, 150)))]

    # Introspection the way ORMs do it.
    cols = conn.execute(
        """SELECT column_name, is_nullable FROM information_schema.columns
           WHERE table_name = %s ORDER BY ordinal_position""",
        ("orders",),
    ).fetchall()
    assert [c[0] for c in cols] == ["id", "customer", "total", "placed"], cols
    version = conn.execute("SELECT version()").fetchone()[0]
    assert "tandem" in version and "CockroachDB" in version, version
    assert conn.info.server_version >= 130000, conn.info.server_version

print("psycopg app: ok")
