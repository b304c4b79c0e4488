"""A small SQLAlchemy 2 application run against tandem by tests/sql_clients.rs.

Usage: python3 sqlalchemy_app.py <postgresql URL>. It uses SQLAlchemy's stock PostgreSQL
dialect over psycopg 3 (`postgresql+psycopg://`): the engine's first-connect checks, the
Inspector's reflection of tables, columns, keys, foreign keys, indexes and unique constraints,
metadata.create_all, and ORM inserts (with RETURNING), queries and relationships. Exits non-zero
(with a traceback) on the first thing that does not behave as it does on PostgreSQL.
"""
import sys
from typing import List, Optional

import sqlalchemy
from sqlalchemy import ForeignKey, String, create_engine, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

url = sys.argv[1].replace("postgresql://", "postgresql+psycopg://", 1)
engine = create_engine(url)

with engine.begin() as conn:
    for t in ("notes", "accounts", "rides", "users"):
        conn.execute(text(f"DROP TABLE IF EXISTS {t}"))
    conn.execute(
        text(
            "CREATE TABLE users (id INT8 PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT 'x', "
            "city TEXT, tags TEXT[], n INT4 CHECK (n > 0), email STRING UNIQUE)"
        )
    )
    conn.execute(text("CREATE INDEX users_city_idx ON users (city)"))
    conn.execute(
        text("CREATE TABLE rides (id INT8 PRIMARY KEY, user_id INT8 REFERENCES users(id))")
    )

assert engine.dialect.server_version_info[0] >= 13, engine.dialect.server_version_info

insp = inspect(engine)
tables = insp.get_table_names()
assert {"users", "rides"} <= set(tables), tables
assert insp.has_table("users") and not insp.has_table("nosuch")

cols = {c["name"]: c for c in insp.get_columns("users")}
assert list(cols) == ["id", "name", "city", "tags", "n", "email"], list(cols)
assert isinstance(cols["id"]["type"], sqlalchemy.BIGINT), cols["id"]
assert isinstance(cols["name"]["type"], sqlalchemy.VARCHAR), cols["name"]
assert cols["name"]["type"].length == 20, cols["name"]
assert cols["name"]["nullable"] is False and cols["name"]["default"] is not None, cols["name"]
assert isinstance(cols["tags"]["type"], sqlalchemy.ARRAY), cols["tags"]
assert isinstance(cols["n"]["type"], sqlalchemy.INTEGER), cols["n"]
assert cols["city"]["nullable"] is True, cols["city"]

pk = insp.get_pk_constraint("users")
assert pk["constrained_columns"] == ["id"], pk
assert pk["name"] == "users_pkey", pk

fks = insp.get_foreign_keys("rides")
assert len(fks) == 1, fks
assert fks[0]["constrained_columns"] == ["user_id"], fks
assert fks[0]["referred_table"] == "users" and fks[0]["referred_columns"] == ["id"], fks

indexes = {i["name"]: i for i in insp.get_indexes("users")}
assert indexes["users_city_idx"]["column_names"] == ["city"], indexes
assert indexes["users_city_idx"]["unique"] is False, indexes

uniques = insp.get_unique_constraints("users")
assert [u["column_names"] for u in uniques] == [["email"]], uniques

checks = insp.get_check_constraints("users")
assert len(checks) == 1 and "n > 0" in checks[0]["sqltext"], checks


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    email: Mapped[Optional[str]]
    notes: Mapped[List["Note"]] = relationship(back_populates="account")


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    body: Mapped[str]
    account: Mapped[Account] = relationship(back_populates="notes")


Base.metadata.create_all(engine)
Base.metadata.create_all(engine)  # the second run finds the tables and creates nothing

with Session(engine) as s:
    a = Account(name="alice", email="a@example.com")
    b = Account(name="bob")
    a.notes.append(Note(body="hello"))
    a.notes.append(Note(body="world"))
    s.add_all([a, b])
    s.commit()
    assert a.id is not None and b.id is not None and a.id != b.id

with Session(engine) as s:
    rows = s.scalars(
        select(Account).where(Account.name.in_(["alice", "bob"])).order_by(Account.name)
    ).all()
    assert [r.name for r in rows] == ["alice", "bob"], rows
    assert sorted(n.body for n in rows[0].notes) == ["hello", "world"]
    assert rows[1].email is None
    rows[1].email = "b@example.com"
    s.delete(rows[0].notes[0])
    s.commit()

with Session(engine) as s:
    bob = s.scalars(select(Account).where(Account.name == "bob")).one()
    assert bob.email == "b@example.com"
    assert s.scalar(select(sqlalchemy.func.count()).select_from(Note)) == 1

reflected = sqlalchemy.MetaData()
reflected.reflect(engine, only=["accounts", "notes"])
notes = reflected.tables["notes"]
assert [fk.target_fullname for fk in notes.foreign_keys] == ["accounts.id"]

print("sqlalchemy app: ok")
