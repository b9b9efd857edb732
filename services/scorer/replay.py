"""Re-score: replay the archive and the live stream through the current algorithm.

* Everything: the projections are rebuilt into a new generation, which readers are
  switched to in one atomic rename of ``tables/CURRENT``; until then they keep reading the
  old one, and a failed or interrupted re-score leaves ``CURRENT`` untouched.
* A selection (agent, runs, date range): the selected runs' rows are recomputed and swapped
  in with one Delta commit (overwrite with a predicate), so readers see old or new, never a mix.

Either way, events that arrived while the re-score ran are applied again afterwards
(idempotently, by stream id). Runs with a ``RunDeleted`` tombstone are not resurrected.
The projection is the same pure ``project`` the live worker uses; the work is spread over
processes by archive file, each reading and writing in bounded batches.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import redis
from deltalake import write_deltalake

from services.common import streams
from services.common.delta import local_files, table_configuration
from services.common.locks import lease_sync
from services.scorer.consumer import STATS_WRITER, stats_epoch_key
from services.scorer.core.pricing import default_price_table
from services.scorer.gctuning import quiet_gc
from services.scorer.core.project import RESULTS_SCHEMA, Entry, project, stream_id_key
from services.scorer.tables import Generation, Tables, unseen

READ_BATCH = 10_000


@dataclass(frozen=True)
class Selection:
    """What to re-score; all None means everything."""

    agent: str | None = None
    runs: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def everything(self) -> bool:
        return self.agent is None and not self.runs and self.since is None and self.until is None


@dataclass
class Progress:
    phase: str = "planning"
    total: int = 0
    done: int = 0
    runs: int = 0
    generation: str = ""
    extra: dict = field(default_factory=dict)


def _archive_files(tables: Tables) -> list[str]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return local_files(DeltaTable(str(tables.archive_path)))
    except TableNotFoundError:
        return []


def _tail(client: redis.Redis, partitions: int) -> list[Entry]:
    """Everything still in the live stream (the part not yet trimmed), oldest first."""
    out: list[Entry] = []
    for p in range(partitions):
        start = "-"
        while True:
            chunk = client.xrange(streams.stream_key(p), min=start, count=READ_BATCH)
            out.extend(Entry(p, sid.decode(), f[b"__data__"]) for sid, f in chunk if b"__data__" in f)
            if len(chunk) < READ_BATCH:
                break
            ms, seq = stream_id_key(chunk[-1][0].decode())
            start = f"{ms}-{seq + 1}"
    return out


def _select_runs(files: list[str], tail: list[Entry], sel: Selection) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(selected runs, deleted runs) from the archive and the live tail."""
    con = duckdb.connect()
    try:
        con.register("tail", _tail_index(tail))
        src = 'SELECT agent, run, type, "at" FROM tail'
        if files:
            src += ' UNION ALL SELECT agent, run, type, "at" FROM read_parquet($files)'
        where, params = ["type IN ('RunCreated', 'ResultsSynced')"], {"files": files} if files else {}
        if sel.agent:
            where.append("agent = $agent")
            params["agent"] = sel.agent
        if sel.runs:
            where.append("list_contains($runs, run)")
            params["runs"] = list(sel.runs)
        having = []
        if sel.since:
            having.append("min(\"at\") >= $since")
            params["since"] = sel.since
        if sel.until:
            having.append("min(\"at\") < $until")
            params["until"] = sel.until
        q = f"SELECT agent, run FROM ({src}) WHERE {' AND '.join(where)} GROUP BY agent, run"
        if having:
            q += " HAVING " + " AND ".join(having)
        selected = set(con.sql(q, params=params or None).fetchall())
        deleted = set(con.sql(f"SELECT DISTINCT agent, run FROM ({src}) WHERE type = 'RunDeleted'",
                              params={"files": files} if files else None).fetchall())  # fmt: skip
    finally:
        con.close()
    return selected, deleted


def _tail_index(tail: list[Entry]) -> pa.Table:
    import orjson

    rows = {"agent": [], "run": [], "type": [], "at": []}
    for e in tail:
        try:
            ev = orjson.loads(e.data)
            rows["agent"].append(ev["agent"])
            rows["run"].append(ev["run"])
            rows["type"].append(ev["type"])
            rows["at"].append(datetime.fromisoformat(ev["at"].replace("Z", "+00:00")))
        except Exception:  # noqa: BLE001 - a poison tail entry selects nothing
            continue
    return pa.table(rows, schema=pa.schema([("agent", pa.string()), ("run", pa.string()), ("type", pa.string()),
                                            ("at", pa.timestamp("us", tz="UTC"))]))  # fmt: skip


def _archived(path: str, keep: frozenset | None) -> Iterator[tuple[list[Entry], int]]:
    """An archive file in bounded batches: (entries of the kept runs, rows read)."""
    for batch in pq.ParquetFile(path.removeprefix("file://")).iter_batches(
        batch_size=READ_BATCH, columns=["partition", "stream_id", "agent", "run", "data"]
    ):
        entries = [
            Entry(p, s, d)
            for p, s, a, r, d in zip(*(batch.column(i).to_pylist() for i in range(5)))
            if keep is None or (a, r) in keep
        ]
        yield entries, batch.num_rows


def _replay_files(files: list[str], gen_root: str, keep: frozenset | None, deleted: frozenset, counter) -> int:
    """Worker process: project archive rows of ``files`` into the generation at ``gen_root``."""
    prices = default_price_table()
    gen = Generation(Path(gen_root))
    done = 0
    for path in files:
        for entries, read in _archived(path, keep):
            done += _apply(entries, gen, prices, deleted)
            with counter.get_lock():
                counter.value += read
    return done


def _apply(entries: list[Entry], gen: Generation, prices, deleted: frozenset, *, maybe_seen: bool = False) -> int:
    proj = project(entries, prices, skip_runs=deleted)
    for name, rows in (("results", proj.results), ("run_events", proj.run_events)):
        if maybe_seen:
            rows = unseen(gen.path(name), rows)
        if rows.num_rows:
            write_deltalake(str(gen.path(name)), rows, mode="append", configuration=table_configuration(gen.path(name)))
    return proj.results.num_rows


class Rescorer:
    def __init__(self, tables: Tables, client: redis.Redis, partitions: int, *, workers: int | None = None,
                 on_progress: Callable[[Progress], None] = lambda p: None) -> None:  # fmt: skip
        self.tables = tables
        self.redis = client
        self.partitions = partitions
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.on_progress = on_progress
        self.progress = Progress()

    def _report(self, **changes) -> None:
        for k, v in changes.items():
            setattr(self.progress, k, v)
        self.on_progress(self.progress)

    def run(self, sel: Selection = Selection()) -> Progress:
        files = _archive_files(self.tables)
        tail = _tail(self.redis, self.partitions)
        selected, deleted = _select_runs(files, tail, sel)
        archived = _archived_ids(files, tail)
        tail = [e for e in tail if (e.partition, e.stream_id) not in archived]
        total = _count(files) + len(tail)
        self._report(phase="replaying", total=total, runs=len(selected))
        live = self.tables.current()
        if sel.everything:
            gen = self.tables.generation(_next_generation(self.tables))
            keep = None
        else:
            gen = Generation(live.root / f"_rescore-{os.getpid()}")
            keep = frozenset(selected)
        self._report(generation=gen.root.name)
        self._replay(files, tail, gen, keep, frozenset(deleted))
        if sel.everything:
            self._report(phase="switching")
            self.tables.refresh_stats(_all_runs(gen), gen=gen)
        # From the switch (or swap) to the end of the catch-up, rows of the live generation are
        # rewritten or added below the settled marks: no stats refresh may fold them meanwhile,
        # and the folds made before are retired (services/scorer/folds.py).
        with lease_sync(self.redis, STATS_WRITER):
            if sel.everything:
                self.redis.incr(stats_epoch_key(gen.root.name))
                self.tables.switch_to(gen.root.name)
            else:
                self._report(phase="swapping")
                self.redis.incr(stats_epoch_key(live.root.name))
                self._swap_runs(gen, live, selected)
                gen = live
            self._report(phase="catching up")
            self._catch_up(gen, files, keep, frozenset(deleted))
        self._report(phase="done", done=total)
        return self.progress

    def _replay(self, files, tail, gen: Generation, keep, deleted) -> None:
        prices = default_price_table()
        if tail:
            _apply([e for e in tail if keep is None or _run_of(e) in keep], gen, prices, deleted)
            self._report(done=self.progress.done + len(tail))
        if not files:
            return
        if self.workers <= 1:  # in this process: small archives, tests
            counter = mp.Value("q", 0)
            _replay_files(files, str(gen.root), keep, deleted, counter)
            self._report(done=self.progress.done + counter.value)
            return
        ctx = mp.get_context("spawn")
        counter = ctx.Value("q", 0)
        chunks = [files[i :: self.workers] for i in range(self.workers) if files[i :: self.workers]]
        base = self.progress.done
        with ProcessPoolExecutor(len(chunks), mp_context=ctx, initializer=_init_counter, initargs=(counter,)) as pool:
            futures = [pool.submit(_replay_files_shared, c, str(gen.root), keep, deleted) for c in chunks]
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2)
                for f in finished:
                    f.result()  # re-raise a worker's failure: CURRENT stays as it was
                self._report(done=base + counter.value)

    def _swap_runs(self, staged: Generation, live: Generation, runs: set[tuple[str, str]]) -> None:
        """One commit replaces the selected runs' results with the re-scored ones."""
        if not runs:
            return
        con = duckdb.connect()
        try:
            files = staged.files("results")
            new = con.sql("SELECT * FROM read_parquet($f)", params={"f": files}).to_arrow_table() if files else RESULTS_SCHEMA.empty_table()
        finally:
            con.close()
        predicate = " OR ".join(f"(agent = {_q(a)} AND run = {_q(r)})" for a, r in sorted(runs))
        write_deltalake(str(live.path("results")), new.cast(RESULTS_SCHEMA), mode="overwrite", predicate=predicate)
        self.tables.refresh_stats(runs, gen=live)
        shutil.rmtree(staged.root, ignore_errors=True)

    def _catch_up(self, gen: Generation, files_before: list[str], keep, deleted) -> None:
        """Apply again what arrived meanwhile; stream ids already in ``gen`` are skipped."""
        prices = default_price_table()
        seen_files = set(files_before)
        new_files = [f for f in _archive_files(self.tables) if f not in seen_files]
        entries = [e for e in _tail(self.redis, self.partitions) if keep is None or _run_of(e) in keep]
        for path in new_files:
            for more, _ in _archived(path, keep):
                entries.extend(more)
        if entries:
            _apply(entries, gen, prices, deleted, maybe_seen=True)
            self.tables.refresh_stats({run for run in map(_run_of, entries) if run}, gen=gen)


_COUNTER = None


def _init_counter(counter) -> None:
    global _COUNTER
    _COUNTER = counter
    quiet_gc()


def _replay_files_shared(files, gen_root, keep, deleted) -> int:
    return _replay_files(files, gen_root, keep, deleted, _COUNTER)


def _run_of(entry: Entry) -> tuple[str, str] | None:
    import orjson

    try:
        ev = orjson.loads(entry.data)
        return ev["agent"], ev["run"]
    except Exception:  # noqa: BLE001
        return None


def _archived_ids(files: list[str], tail: list[Entry]) -> set[tuple[int, str]]:
    """Which tail entries the archive already holds (the live worker archives, then acks, then trims)."""
    if not files or not tail:
        return set()
    con = duckdb.connect()
    try:
        con.register("tail", pa.table({"partition": [e.partition for e in tail], "stream_id": [e.stream_id for e in tail]}))
        return set(con.sql("SELECT a.partition, a.stream_id FROM read_parquet($f) a JOIN tail t "
                           "ON a.partition = t.partition AND a.stream_id = t.stream_id", params={"f": files}).fetchall())  # fmt: skip
    finally:
        con.close()


def _count(files: list[str]) -> int:
    return sum(pq.ParquetFile(f.removeprefix("file://")).metadata.num_rows for f in files)


def _all_runs(gen: Generation) -> set[tuple[str, str]]:
    files = gen.files("results") + gen.files("run_events")
    if not files:
        return set()
    return set(duckdb.sql(f"SELECT DISTINCT agent, run FROM read_parquet({files!r}, union_by_name=true)").fetchall())


def _next_generation(tables: Tables) -> str:
    existing = [p.name for p in tables.root.glob("g[0-9]*") if p.is_dir()] + [tables.current_name()]
    return f"g{max(int(n[1:]) for n in existing) + 1:06d}"


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

