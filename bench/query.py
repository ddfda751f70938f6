"""Query benchmark: `GET /events?limit=50` over 1,000,000 events, on SQLite and on PostgreSQL.

For each database it bulk-loads the events straight into the store tables (the point is
query speed, not ingest: rows go in through executemany / COPY, not through the API), spread
over channels, things, event types, topics, severities, states and ninety days, plus a tenth
as many in a second workspace so that workspace scoping is exercised. Then it starts
`eventgate serve` on that database and, for each query shape,

  * prints the plan of the exact statement the server runs (EXPLAIN QUERY PLAN / EXPLAIN) and
    flags it if it scans the whole events or event_tags table (SQLite `SCAN events`,
    PostgreSQL `Seq Scan on events`) or sorts every matching row (SQLite `USE TEMP B-TREE`),
  * sends the request sequentially over one keep-alive connection and records the latency.

It ends with one table: p50 / p99 per shape and database, and whether every shape met the
targets. Figures depend on the machine: say whether it was quiet when you quote them.

    .venv/bin/python bench/query.py                                  # both databases, 1,000,000 events
    .venv/bin/python bench/query.py --events 100000 --requests 100   # a quick look
    .venv/bin/python bench/query.py --backend sqlite
    .venv/bin/python bench/query.py --postgres-url postgresql://postgres@127.0.0.1:5432/test

PostgreSQL: a fresh database `eventgate_bench_<random>` is created beside --postgres-url and
dropped at the end (--keep keeps it, and the SQLite file, for a re-run with --reuse).

Targets: p50 < 20 ms and p99 < 60 ms for every shape on both databases; no flagged plan.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from eventgate.auth.keys import ApiKey  # noqa: E402
from eventgate.auth.passwords import hash_password  # noqa: E402
from eventgate.ids import new_channel_id  # noqa: E402
from eventgate.service.event_queries import encode_cursor, parse_listing  # noqa: E402
from eventgate.store.database import Database, migrate, normalize_url, open_database  # noqa: E402
from eventgate.store.event_queries import PagePosition, page_statement  # noqa: E402
from eventgate.store.keys import create_key  # noqa: E402
from eventgate.store.schema import event_types, events  # noqa: E402
from eventgate.store.workspaces import create_workspace, find_workspace  # noqa: E402

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
TARGET_P50_MS = 20.0
TARGET_P99_MS = 60.0
DAY_MS = 86_400_000
SPAN_DAYS = 90
PAGE = 50
HTTP_FLOOR = "(HTTP floor: GET /healthz)"

WORKSPACE = "bench"
OTHER_WORKSPACE = "bench-other"
CHANNELS = 20
THINGS = 5000
TYPES = 30
TAGS = 60
RARE_TAG = "topic-rare"
RARE_WORD = "kraken"
COMPONENTS = ("disk", "cpu", "memory", "network", "database", "queue", "cache", "api", "worker", "backup",
              "certificate", "door", "sensor", "battery", "deploy")
PROBLEMS = ("usage high", "latency spike", "error rate up", "unreachable", "restarted", "degraded", "recovered",
            "threshold crossed", "timeout", "failed")
HOSTS = tuple(f"{prefix}-{n}" for prefix in ("web", "db", "cache", "edge", "iot") for n in range(1, 401))
SEVERITIES = ("critical", "high", "normal", "low")
SEVERITY_WEIGHTS = (2, 10, 58, 30)

EVENT_COLUMNS = ("pk", "workspace_id", "id", "channel_id", "thing_id", "event_type_id", "title", "message",
                 "description", "status", "state", "severity", "tags", "images", "attrs", "metadata", "actions",
                 "started_at", "ended_at", "created_at", "updated_at", "seq")


# -- the data -----------------------------------------------------------------------------------


@dataclass
class Fixture:
    """What the loader created in a workspace, for building the query shapes."""

    workspace_id: str
    channel_ids: list[str]
    type_ids: list[int]
    start_ms: int
    end_ms: int


# (workspace, how many events, i -> pk, random seed)
LoadStep = tuple[Fixture, int, Callable[[int], int], int]


def _tag_sets(rng: random.Random) -> list[tuple[list[str], str]]:
    """A pool of tag combinations (zipf-like popularity), pre-encoded as JSON."""
    names = [f"topic-{i:02d}" for i in range(TAGS)]
    weights = [1.0 / (i + 1) for i in range(TAGS)]
    pool = []
    for _ in range(4096):
        count = rng.choices((0, 1, 2, 3), weights=(20, 50, 25, 5))[0]
        tags = list(dict.fromkeys(rng.choices(names, weights=weights, k=count)))
        pool.append((tags, "[" + ",".join(f'"{t}"' for t in tags) + "]"))
    return pool


def generate_rows(fixture: Fixture, count: int, pk_of: Callable[[int], int], seed: int
                  ) -> Iterator[tuple[tuple[Any, ...], list[str]]]:
    """(event row in EVENT_COLUMNS order, its tags) for `count` events, oldest first."""
    rng = random.Random(seed)
    tag_pool = _tag_sets(rng)
    span = fixture.end_ms - fixture.start_ms
    for i in range(count):
        pk = pk_of(i)
        created = fixture.start_ms + span * i // count + rng.randrange(1000)
        component = COMPONENTS[rng.randrange(len(COMPONENTS))]
        problem = PROBLEMS[rng.randrange(len(PROBLEMS))]
        host = HOSTS[rng.randrange(len(HOSTS))]
        word = f" {RARE_WORD} sighted" if rng.random() < 0.0001 else ""
        tags, tags_json = tag_pool[rng.randrange(len(tag_pool))]
        if rng.random() < 0.0001:
            tags = tags + [RARE_TAG]
            tags_json = "[" + ",".join(f'"{t}"' for t in tags) + "]"
        ongoing = rng.random() < 0.05
        channel = fixture.channel_ids[min(int(rng.expovariate(0.25)), len(fixture.channel_ids) - 1)]
        row = (
            pk, fixture.workspace_id, f"ev{pk:010d}", channel, f"thing-{rng.randrange(THINGS):05d}",
            fixture.type_ids[rng.randrange(len(fixture.type_ids))],
            f"{component} {problem} on {host}",
            f"{component} on {host}: {problem}, value {rng.randrange(10_000)} (ticket {rng.randrange(16**6):06x}){word}",
            None, "ongoing" if ongoing else "closed", "ongoing" if ongoing else "closed",
            rng.choices(SEVERITIES, weights=SEVERITY_WEIGHTS)[0], tags_json, "[]", "{}", "{}", "[]",
            created, None if ongoing else created + 60_000, created, created + (0 if ongoing else 60_000), pk,
        )
        yield row, tags


def prepare_workspace(database: Database, name: str, channels: int, now_ms: int) -> Fixture:
    password_hash = hash_password("bench-password-1234")
    with database.writer.begin() as connection:
        workspace = find_workspace(connection, name) or create_workspace(connection, name)
        channel_ids = [new_channel_id() for _ in range(channels)]
        connection.execute(sa.text(
            "INSERT INTO channels (id, workspace_id, name, password_hash, is_default, created_at, "
            "password_changed_at) VALUES (:id, :ws, :name, :hash, :d, :now, :now)"),
            [{"id": c, "ws": workspace.id, "name": f"channel-{i}", "hash": password_hash, "d": False, "now": now_ms}
             for i, c in enumerate(channel_ids)])
        connection.execute(sa.insert(event_types), [
            {"workspace_id": workspace.id, "name": f"Type {i}", "code": f"type_{i:02d}", "code_key": f"type_{i:02d}",
             "status": 1, "type": "CUSTOM", "created_at": now_ms, "updated_at": now_ms} for i in range(TYPES)])
        type_ids = list(connection.execute(
            sa.select(event_types.c.id).where(event_types.c.workspace_id == workspace.id,
                                              event_types.c.type == "CUSTOM")).scalars())
    return Fixture(workspace.id, channel_ids, type_ids, now_ms - SPAN_DAYS * DAY_MS, now_ms)


def load_sqlite(database: Database, plan: list[LoadStep]) -> None:
    """executemany in big transactions. The secondary indexes and the text-search triggers are
    dropped first and rebuilt after (one sort per index and one FTS 'rebuild' instead of a
    million incremental updates); the schema ends exactly as the migrations made it."""
    raw = database.writer.raw_connection()
    try:
        driver = raw.driver_connection
        driver.execute("PRAGMA synchronous=OFF")
        definitions = driver.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL").fetchall()
        for kind, name, _ in definitions:
            driver.execute(f"DROP {kind.upper()} {name}")
        insert_event = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                        f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})")
        for fixture, count, pk_of, seed in plan:
            batch: list[tuple[Any, ...]] = []
            tag_rows: list[tuple[str, str, int]] = []
            for row, tags in generate_rows(fixture, count, pk_of, seed):
                batch.append(row)
                tag_rows.extend((fixture.workspace_id, tag, row[0]) for tag in tags)
                if len(batch) >= 100_000:
                    _sqlite_flush(driver, insert_event, batch, tag_rows)
            _sqlite_flush(driver, insert_event, batch, tag_rows)
        for kind, _, sql in definitions:
            if kind == "index":
                driver.execute(sql)
        driver.execute("INSERT INTO events_fts(events_fts) VALUES ('rebuild')")
        for kind, _, sql in definitions:
            if kind == "trigger":
                driver.execute(sql)
        driver.execute("PRAGMA synchronous=FULL")
    finally:
        raw.close()


def _sqlite_flush(driver: Any, insert_event: str, batch: list, tag_rows: list) -> None:
    driver.execute("BEGIN")
    driver.executemany(insert_event, batch)
    driver.executemany("INSERT INTO event_tags (workspace_id, tag, event_pk) VALUES (?, ?, ?)", tag_rows)
    driver.execute("COMMIT")
    batch.clear()
    tag_rows.clear()


def load_postgres(database: Database, plan: list[LoadStep]) -> None:
    """COPY. Indexes that no constraint needs are dropped first and built again after (much
    faster than a million incremental inserts, GIN especially), then VACUUM ANALYZE — what
    autovacuum would have done by the time anyone queries a table this size."""
    raw = database.writer.raw_connection()
    try:
        driver = raw.driver_connection
        with driver.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN ('events', 'event_tags') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")
            definitions = cursor.fetchall()
            for name, _ in definitions:
                cursor.execute(f'DROP INDEX "{name}"')
            for fixture, count, pk_of, seed in plan:
                tag_rows: list[tuple[str, str, int]] = []
                with cursor.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for row, tags in generate_rows(fixture, count, pk_of, seed):
                        copy.write_row(row)
                        tag_rows.extend((fixture.workspace_id, tag, row[0]) for tag in tags)
                with cursor.copy("COPY event_tags (workspace_id, tag, event_pk) FROM STDIN") as copy:
                    for tag_row in tag_rows:
                        copy.write_row(tag_row)
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in definitions:
                cursor.execute(definition)
            cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'pk'), (SELECT max(pk) FROM events))")
        driver.commit()
        driver.autocommit = True
        with driver.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE events")
            cursor.execute("VACUUM ANALYZE event_tags")
        driver.autocommit = False
    finally:
        raw.close()


def load(database: Database, total: int) -> tuple[Fixture, ApiKey, str]:
    """Create both workspaces and their events; return the measured workspace and a key for it."""
    now_ms = int(time.time() * 1000)
    main = prepare_workspace(database, WORKSPACE, CHANNELS, now_ms)
    other = prepare_workspace(database, OTHER_WORKSPACE, 5, now_ms)
    other_count = total // 10
    # Interleave the two workspaces' pks the way concurrent tenants would: every 11th pk is the other's.
    plan: list[LoadStep] = [(main, total, lambda i: i + 1 + i // 10, 1),
                            (other, other_count, lambda i: 11 * (i + 1), 2)]
    started = time.perf_counter()
    (load_sqlite if database.is_sqlite else load_postgres)(database, plan)
    with database.writer.begin() as connection:
        for fixture, count, _, _ in plan:
            connection.execute(sa.text("UPDATE sequences SET last_seq = :n WHERE workspace_id = :ws"),
                               {"n": count, "ws": fixture.workspace_id})
    print(f"  loaded {total + other_count:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return main, *_bench_key(database, main.workspace_id)


def _bench_key(database: Database, workspace_id: str) -> tuple[ApiKey, str]:
    with database.writer.begin() as connection:
        plain, key = create_key(connection, workspace_id, "bench", ("events:read",))
    return key, plain


def existing_fixture(database: Database) -> tuple[Fixture, ApiKey, str]:
    with database.reader.connect() as connection:
        workspace = find_workspace(connection, WORKSPACE)
        assert workspace is not None, "--reuse: no bench workspace in this database"
        channel_ids = list(connection.execute(sa.text(
            "SELECT id FROM channels WHERE workspace_id = :ws AND is_default = :d ORDER BY name"),
            {"ws": workspace.id, "d": False}).scalars())
        type_ids = list(connection.execute(sa.select(event_types.c.id).where(
            event_types.c.workspace_id == workspace.id, event_types.c.type == "CUSTOM")).scalars())
        bounds = connection.execute(sa.select(sa.func.min(events.c.created_at), sa.func.max(events.c.created_at))
                                    .where(events.c.workspace_id == workspace.id)).one()
    fixture = Fixture(workspace.id, channel_ids, type_ids, bounds[0], bounds[1])
    return fixture, *_bench_key(database, workspace.id)


# -- the query shapes ---------------------------------------------------------------------------


def shapes(database: Database, fixture: Fixture) -> list[tuple[str, dict[str, str]]]:
    day_s = DAY_MS // 1000
    end_s = fixture.end_ms // 1000
    base = {"limit": str(PAGE)}
    listed = [
        ("unfiltered", {}),
        ("active=true", {"active": "true"}),
        ("active=false", {"active": "false"}),
        ("severity=critical", {"severity": "critical"}),
        ("channel_id", {"channel_id": fixture.channel_ids[3]}),
        ("thing_id", {"thing_id": "thing-00042"}),
        ("event_type", {"event_type": "type_07"}),
        ("topic (common)", {"topic": "topic-03"}),
        ("topic (rare)", {"topic": RARE_TAG}),
        ("since (last day)", {"since": str(end_s - day_s)}),
        ("until (60 days ago)", {"until": str(end_s - 60 * day_s)}),
        ("since+until (a day, 45 days ago)", {"since": str(end_s - 46 * day_s), "until": str(end_s - 45 * day_s)}),
        ("q (common word)", {"q": "latency"}),
        ("q (word prefix)", {"q": "timeo*"}),
        ("q (host name)", {"q": "web-17"}),
        ("q (rare word)", {"q": RARE_WORD}),
        ("q (no match)", {"q": "zebra crossing"}),
        ("cursor page 1000", {"cursor": deep_cursor(database, fixture, None)}),
        ("cursor page 1000, severity=low", {"severity": "low", "cursor": deep_cursor(database, fixture, "low")}),
    ]
    return [(name, {**base, **params}) for name, params in listed]


def deep_cursor(database: Database, fixture: Fixture, severity: str | None) -> str:
    """The cursor a client would hold after 999 pages of 50 (or half-way, on a small load)."""
    query = sa.select(events.c.pk).where(events.c.workspace_id == fixture.workspace_id)
    if severity:
        query = query.where(events.c.severity == severity)
    with database.reader.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        offset = min(999 * PAGE, count // 2)
        pk = connection.execute(query.order_by(events.c.pk.desc()).offset(offset - 1).limit(1)).scalar_one()
    return encode_cursor(PagePosition(pk=pk))


def explain(database: Database, key: ApiKey, params: dict[str, str]) -> tuple[list[str], list[str], float]:
    """(plan lines, problems, median ms of the bare SQL) for the statement the server runs."""
    listing = parse_listing(params.items(), key)
    dialect = "sqlite" if database.is_sqlite else "postgresql"
    statement = page_statement(dialect, listing.filter, listing.after, listing.limit + 1)
    with database.reader.connect() as connection:
        sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        if database.is_sqlite:
            lines = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
            problems = [line for line in lines
                        if line.startswith(("SCAN events ", "SCAN event_tags ")) or line in ("SCAN events", "SCAN event_tags")
                        or "TEMP B-TREE" in line]
        else:
            lines = [row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql)]
            problems = [line.strip() for line in lines
                        if "Seq Scan on events " in line or "Seq Scan on event_tags " in line]
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            connection.execute(statement).all()
            timings.append((time.perf_counter() - started) * 1000)
            connection.rollback()
    return lines, problems, statistics.median(timings)


# -- the server and the measurement -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("eventgate did not start")


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Result:
    p50: float
    p99: float
    rows: int
    problems: list[str]
    sql_ms: float = 0.0


def measure(client: httpx.Client, path: str, params: dict[str, str], requests: int) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, rows on the page) over `requests` sequential requests after 10 unmeasured ones."""
    latencies = []
    rows = 0
    for i in range(requests + 10):
        started = time.perf_counter()
        reply = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status_code != 200:
            raise RuntimeError(f"GET {path} {params} → {reply.status_code} {reply.text[:200]}")
        if i >= 10:  # the first requests warm the caches
            latencies.append(elapsed)
        if path == "/events":
            rows = len(reply.json()["data"])
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], rows


def run_backend(name: str, database_url: str, args: argparse.Namespace) -> dict[str, Result]:
    print(f"\n== {name}: {database_url}", flush=True)
    database = open_database(database_url)
    migrate(database)
    if args.reuse:
        fixture, key, plain = existing_fixture(database)
    else:
        fixture, key, plain = load(database, args.events)
    results: dict[str, Result] = {}
    process, base = start_server(database_url)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {plain}"}, timeout=30) as client:
            p50, p99, _ = measure(client, "/healthz", {}, args.requests)
            results[HTTP_FLOOR] = Result(p50, p99, 0, [])
            print(f"\n  {HTTP_FLOOR}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
            for shape, params in shapes(database, fixture):
                lines, problems, sql_ms = explain(database, key, params)
                p50, p99, rows = measure(client, "/events", params, args.requests)
                results[shape] = Result(p50, p99, rows, problems, sql_ms)
                flag = "  <-- SCANS" if problems else ""
                print(f"\n  {shape}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rows} rows, SQL alone {sql_ms:.2f} ms{flag}",
                      flush=True)
                for line in lines:
                    print(f"      {line}")
    finally:
        stop_server(process)
        database.dispose()
    return results


def fresh_postgres(base_url: str, reuse: str | None) -> tuple[str, Callable[[], None]]:
    base = sa.make_url(normalize_url(base_url))
    name = reuse or f"eventgate_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    if not reuse:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def print_table(all_results: dict[str, dict[str, Result]]) -> bool:
    backends = list(all_results)
    shape_names = list(next(iter(all_results.values())))
    width = max(len(s) for s in shape_names) + 2
    header = f"{'GET /events?limit=50 …':<{width}}" + "".join(
        f"{'':3}{b:>8}: {'p50':>7}{'p99':>8}{'SQL':>7}{'rows':>5}" for b in backends)
    print("\n" + header + "\n" + "-" * len(header))
    ok = True
    for shape in shape_names:
        line = f"{shape:<{width}}"
        for backend in backends:
            r = all_results[backend][shape]
            if shape == HTTP_FLOOR:
                line += f"{'':13}{r.p50:>5.1f}ms{r.p99:>6.1f}ms{'':12}"
                continue
            mark = "" if r.p50 < TARGET_P50_MS and r.p99 < TARGET_P99_MS and not r.problems else "!"
            ok = ok and not mark
            line += f"{mark:>3}{'':10}{r.p50:>5.1f}ms{r.p99:>6.1f}ms{r.sql_ms:>5.1f}ms{r.rows:>5}"
        print(line)
    print(f"\ntargets: p50 < {TARGET_P50_MS:.0f} ms and p99 < {TARGET_P99_MS:.0f} ms through HTTP, no plan scanning a "
          f"whole table ('!' marks a miss) → {'all met' if ok else 'NOT all met'}")
    print("SQL = median of the bare statement in this process; the HTTP floor is GET /healthz on the same server.")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per shape")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("EVENTGATE_BENCH_POSTGRES_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the databases for --reuse")
    parser.add_argument("--reuse", default=None,
                        help="reuse kept databases: SQLITE_FILE,PG_DATABASE_NAME (either may be empty)")
    args = parser.parse_args()
    reuse_sqlite, _, reuse_pg = (args.reuse or "").partition(",")
    all_results: dict[str, dict[str, Result]] = {}
    if args.backend in ("sqlite", "both"):
        directory = Path(reuse_sqlite).parent if reuse_sqlite else Path(tempfile.mkdtemp(prefix="eventgate-bench-"))
        path = Path(reuse_sqlite) if reuse_sqlite else directory / "bench.db"
        args_sqlite = argparse.Namespace(**{**vars(args), "reuse": bool(reuse_sqlite)})
        try:
            all_results["sqlite"] = run_backend("SQLite", f"sqlite:///{path}", args_sqlite)
        finally:
            if args.keep or reuse_sqlite:
                print(f"  kept {path}")
            else:
                shutil.rmtree(directory, ignore_errors=True)
    if args.backend in ("postgresql", "both"):
        url, drop = fresh_postgres(args.postgres_url, reuse_pg or None)
        args_pg = argparse.Namespace(**{**vars(args), "reuse": bool(reuse_pg)})
        try:
            all_results["postgres"] = run_backend("PostgreSQL", url, args_pg)
        finally:
            if args.keep or reuse_pg:
                print(f"  kept database {sa.make_url(url).database}")
            else:
                drop()
    return 0 if print_table(all_results) else 1


if __name__ == "__main__":
    sys.exit(main())
