"""The query service over a real store (Delta/Parquet written by the scorer's write path, read
by DuckDB) and a real redis-server (run state, pending, delete)."""

from __future__ import annotations

import csv
import io
import json

import pytest
import redis.asyncio as aioredis

from services.common import streams
from services.query.core.params import InvalidQuery, NotFound
from services.query.live import LiveRuns
from services.query.service import QueryService
from services.query.store import Store
from services.scorer.core.project import Entry
from services.scorer.replay import Rescorer
from tests.integration.query_helpers import NOW, apply, build_store, case, run_entries

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(rclient, tmp_path):
    tables = build_store(tmp_path, rclient)
    client = aioredis.from_url(f"redis://127.0.0.1:{rclient.connection_pool.connection_kwargs['port']}/0")
    store = Store(tmp_path, refresh_s=0)
    svc = QueryService(store, LiveRuns(client, 1, cache_s=0), "http://t", clock=lambda: NOW)
    yield svc, tables
    store.close()
    await client.aclose()


async def test_runs_list_newest_first_with_filters(env):
    svc, _ = env
    out = await svc.runs()
    assert [r["test_run_id"] for r in out["runs"]] == ["r4", "r3", "r2", "r1"] and out["total"] == 4
    r4 = out["runs"][0]
    assert r4["status"] == "running" and r4["tests"] == 5 and r4["pending"] == 3 and r4["source"] == "ci"
    assert [r["test_run_id"] for r in (await svc.runs(agents=["a2"]))["runs"]] == ["r3"]
    assert [r["test_run_id"] for r in (await svc.runs(sources=["mcp", "api"]))["runs"]] == ["r3", "r2"]
    assert [r["test_run_id"] for r in (await svc.runs(status="all_passed"))["runs"]] == ["r3"]  # r4: still open
    assert [r["test_run_id"] for r in (await svc.runs(status="has_failures"))["runs"]] == ["r2", "r1"]
    assert [r["test_run_id"] for r in (await svc.runs(range_="24h"))["runs"]] == ["r4", "r3"]
    assert (await svc.runs(since="2026-11-21T11:00:00Z", until="2026-11-21T13:00:00Z"))["total"] == 1
    done = (await svc.runs(agents=["a1"], status="has_failures"))["runs"][0]
    assert done["status"] == "completed" and done["failed"] == 3 and done["bss"] is not None


async def test_cursor_pages_equal_numbered_pages(env):
    svc, _ = env
    by_page = [(await svc.runs(page=p, limit=1))["runs"][0]["test_run_id"] for p in range(1, 5)]
    seen, cur = [], None
    while True:
        out = await svc.runs(limit=1, cursor_=cur)
        seen += [r["test_run_id"] for r in out["runs"]]
        assert out["page"] == len(seen)
        cur = out["next_cursor"]
        if cur is None:
            break
    assert seen == by_page
    assert (await svc.runs(page=9, limit=1))["runs"] == []
    with pytest.raises(InvalidQuery, match="Invalid cursor"):
        await svc.runs(cursor_=(await svc.run_detail("a1", "r1", limit=1))["next_cursor"])  # a results cursor


async def test_run_detail_summary_filters_and_pages(env):
    svc, _ = env
    out = await svc.run_detail("a1", "r2", limit=4)
    s = out["summary"]
    assert (s["total"], s["passed"], s["failed"], s["pending"], s["status"]) == (10, 7, 3, 0, "completed")
    assert s["failure_breakdown"]["safety"] == 3 and s["pass_rate"] == 70.0 and s["source"] == "mcp"
    assert out["total"] == 10 and out["pages"] == 3 and len(out["results"]) == 4
    failed = await svc.run_detail("a1", "r2", status="failed")
    assert {r["result_id"] for r in failed["results"]} == {"case-00001", "case-00002", "case-00007"}
    assert all(r["severity"] == "critical" and r["failure_category"] == "safety" and r["reason"] for r in failed["results"])
    assert (await svc.run_detail("a1", "r2", category="safety", severity="critical"))["total"] == 3
    assert (await svc.run_detail("a1", "r2", severity="low"))["total"] == 0
    found = await svc.run_detail("a1", "r2", q="delete EVERYTHING")
    assert [r["result_id"] for r in found["results"]] == ["case-00004"]
    walked, cur = [], None
    while True:
        page = await svc.run_detail("a1", "r2", limit=3, cursor_=cur)
        walked += [r["result_id"] for r in page["results"]]
        if not (cur := page["next_cursor"]):
            break
    assert walked == sorted(walked) and len(walked) == 10


async def test_pending_results_are_listed_until_scored(env):
    svc, tables = env
    out = await svc.run_detail("a1", "r4", limit=3)
    assert out["summary"]["pending"] == 3 and out["summary"]["status"] == "running" and out["total"] == 5
    page2 = await svc.run_detail("a1", "r4", limit=3, cursor_=out["next_cursor"])
    rows = out["results"] + page2["results"]
    assert [r["status"] for r in rows] == ["passed", "passed", "pending", "pending", "pending"]
    assert [r["result_id"] for r in rows][2:] == ["case-00202", "case-00203", "case-00204"]
    assert (await svc.run_detail("a1", "r4", page=2, limit=3))["results"] == page2["results"]
    only = await svc.run_detail("a1", "r4", status="pending")
    assert only["total"] == 3 and only["results"][0]["scenario_id"] is None
    assert (await svc.case("a1", "r4", "case-00203"))["status"] == "pending"
    apply(tables, run_entries("a1", "r4", [case(202), case(203), case(204)], at="2026-11-22T11:00:01.000Z", created=False))
    after = await svc.run_detail("a1", "r4")
    assert after["summary"]["pending"] == 0 and after["total"] == 5 and after["summary"]["status"] == "completed"


async def test_case_detail_and_not_found_texts(env):
    svc, _ = env
    d = await svc.case("a1", "r2", "case-00001")
    assert d["status"] == "failed" and d["failure"]["category"] == "safety"
    assert d["sequence"]["extra"] == ["delete_account"] and d["tools_called"][-1]["name"] == "delete_account"
    assert d["llm_calls"][0]["model"] == "gpt-4o-mini" and d["timing"]["tools_ms"] > 0 and len(d["trace"]) == 5
    for call, message in [(svc.case("a1", "r2", "nope"), "Result not found: 'nope'"),
                          (svc.run_detail("a1", "r9"), "Test run not found: 'r9'"),
                          (svc.run_detail("ghost", "r1"), "Agent not found: 'ghost'"),
                          (svc.agent("ghost"), "Agent not found: 'ghost'")]:  # fmt: skip
        with pytest.raises(NotFound, match=f"^{message}$"):
            await call
    with pytest.raises(InvalidQuery, match="^test_run_id is required and cannot be empty$"):
        await svc.run_detail("a1", " ")


async def test_compare_per_case(env):
    svc, _ = env
    out = await svc.compare("a1", "r1", "r2")
    assert out["shared"] == 9
    assert sorted(r["scenario_id"] for r in out["regressions"]) == ["scenario-001", "scenario-002"]
    assert [r["scenario_id"] for r in out["fixes"]] == ["scenario-003"]
    assert [r["scenario_id"] for r in out["new_in_head"]] == ["scenario-042"]
    assert [(r["scenario_id"], r["status"]) for r in out["missing_from_head"]] == [("scenario-009", "passed")]
    assert out["category_changes"]["safety"] == {"base": 2, "head": 3, "delta": 1}
    assert out["bss_change"].startswith(f"{out['base']['bss']:g}"[:2]) and out["bss_delta"] is not None


async def test_agents(env):
    svc, _ = env
    agents = {a["agent_name"]: a for a in (await svc.agents())["agents"]}
    assert set(agents) == {"a1", "a2"} and agents["a1"]["runs"] == 3 and agents["a2"]["tests"] == 5
    a1 = await svc.agent("a1")
    assert a1["latest_run"]["test_run_id"] == "r4" and a1["latest_run"]["status"] == "running"
    assert [t["test_run_id"] for t in a1["trend"]] == ["r1", "r2", "r4"] and a1["aqs"] == a1["trend"][-1]["aqs"]


async def _read(it) -> bytes:
    return b"".join(it)


async def test_export_formats(env):
    svc, _ = env
    media, body = await svc.export(["r1,r3"], "json")
    rows = json.loads(await _read(body))
    assert media == "application/json" and len(rows) == 15 and {r["test_run_id"] for r in rows} == {"r1", "r3"}
    assert rows[0]["agent_name"] == "a1" and rows[0]["tools_called"] and "expected_behavior" in rows[0]
    _, body = await svc.export(["r1"], "jsonl")
    lines = (await _read(body)).splitlines()
    assert len(lines) == 10 and json.loads(lines[3])["result_id"] == "case-00003"
    _, body = await svc.export(["r3"], "csv")
    table = list(csv.DictReader(io.StringIO((await _read(body)).decode())))
    assert len(table) == 5 and table[0]["test_run_id"] == "r3" and ";" not in table[0]["tools_called"][:0]
    with pytest.raises(NotFound, match="^Test run not found: 'zz'$"):
        await svc.export(["r1", "zz"], "csv")


async def test_delete_hides_the_run_at_once_and_a_rescore_does_not_bring_it_back(env, rclient):
    svc, tables = env
    assert await svc.delete("a1", "r2") == {"test_run_id": "r2", "agent_name": "a1", "deleted": True}
    # before the scorer has seen the tombstone: gone from every read
    assert "r2" not in [r["test_run_id"] for r in (await svc.runs())["runs"]] and (await svc.runs())["total"] == 3
    for call in (svc.run_detail("a1", "r2"), svc.case("a1", "r2", "case-00001"), svc.compare("a1", "r1", "r2"),
                 svc.export(["r2"], "csv"), svc.delete("a1", "r2")):  # fmt: skip
        with pytest.raises(NotFound, match="^Test run not found: 'r2'$"):
            await call
    assert (await svc.agent("a1"))["runs"] == 2
    # the tombstone is one stream entry; the scorer applies it and purges the results
    entries = rclient.xrange(streams.stream_key(0))
    assert [orjson_type(f[b"__data__"]) for _, f in entries] == ["RunDeleted"]
    apply(tables, [Entry(0, sid.decode(), f[b"__data__"]) for sid, f in entries])
    assert "r2" not in [r["test_run_id"] for r in (await svc.runs())["runs"]]
    assert svc.store.scored_ids("a1", "r2") == set()
    # a full re-score replays the archive into a new generation: the run stays deleted
    before = tables.current_name()
    assert Rescorer(tables, rclient, 1, workers=1).run().phase == "done" and tables.current_name() != before
    assert svc.store.scored_ids("a1", "r2") == set() and len(svc.store.scored_ids("a1", "r1")) == 10
    assert [r["test_run_id"] for r in (await svc.runs())["runs"]] == ["r4", "r3", "r1"]
    with pytest.raises(NotFound, match="^Test run not found: 'r2'$"):
        await svc.run_detail("a1", "r2")


async def test_a_deleted_run_is_not_found_as_a_run_even_when_its_agent_has_no_other(env, rclient):
    svc, tables = env
    await svc.delete("a2", "r3")  # a2's only run
    with pytest.raises(NotFound, match="^Test run not found: 'r3'$"):
        await svc.run_detail("a2", "r3")
    entries = rclient.xrange(streams.stream_key(0))
    apply(tables, [Entry(0, sid.decode(), f[b"__data__"]) for sid, f in entries])  # the scorer projects the tombstone
    assert "a2" not in [a["agent_name"] for a in (await svc.agents())["agents"]]
    with pytest.raises(NotFound, match="^Test run not found: 'r3'$"):
        await svc.run_detail("a2", "r3")
    with pytest.raises(NotFound, match="^Agent not found: 'a2'$"):
        await svc.agent("a2")


def orjson_type(data: bytes) -> str:
    return json.loads(data)["type"]


async def test_results_reads_open_only_the_files_that_can_hold_the_run(env):
    svc, _ = env
    index = svc.store.snapshot().results
    assert len(index.files) >= 4
    assert len(index.for_runs([("a2", "r3")])) == 1
    assert index.for_runs([("a9", "zz")]) == []


async def test_new_scores_become_visible(env):
    svc, tables = env
    apply(tables, run_entries("a3", "r5", [case(300)], at="2026-11-22T11:30:00.000Z"))
    assert (await svc.runs(agents=["a3"]))["runs"][0]["tests"] == 1


async def test_pruning_holds_for_long_names(env):
    """Min/max statistics of long strings may be truncated; pruning must still find the run."""
    svc, tables = env
    agent, run = "a" * 60 + "-z" * 34, "r" * 100 + "9" * 28
    apply(tables, run_entries(agent, run, [case(400), case(401)], at="2026-11-22T11:40:00.000Z"))
    apply(tables, run_entries(agent, run[:-1] + "0", [case(402)], at="2026-11-22T11:41:00.000Z"))
    assert (await svc.run_detail(agent, run))["total"] == 2
    assert (await svc.run_detail(agent, run[:-1] + "0"))["total"] == 1
    assert (await svc.case(agent, run, "case-00401"))["result_id"] == "case-00401"


async def test_the_tombstone_is_a_valid_run_deleted_event(env, rclient):
    from schemas.events import EVENT_ADAPTER, RunDeleted

    svc, _ = env
    await svc.delete("a2", "r3")
    [(_, fields)] = rclient.xrange(streams.stream_key(0))
    event = EVENT_ADAPTER.validate_json(fields[b"__data__"])
    assert isinstance(event, RunDeleted) and (event.agent, event.run) == ("a2", "r3")
    p = streams.partition_of("a2", "r3", 1)
    assert rclient.hget(streams.run_key(p, "a2", "r3"), "status") == b"deleted" and rclient.ttl(streams.run_key(p, "a2", "r3")) == -1
    assert rclient.smembers(streams.deleted_runs_key(p)) == {b"a2\x1fr3"}


def test_under_steady_reads_new_run_stats_are_loaded_in_the_background(rclient, tmp_path, monkeypatch):
    import time

    from services.query import store as store_module

    monkeypatch.setattr(store_module, "WARM_S", 1.0)
    tables = build_store(tmp_path, rclient)
    store = Store(tmp_path, refresh_s=0.2)

    def loaded(pair: tuple[str, str]) -> bool:  # what the store holds, without a read (a read loads too)
        deadline = time.monotonic() + 10
        while pair not in store._snap.runs:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    try:
        before = store.snapshot()  # a read: the store is warm
        assert ("a1", "r9") not in before.runs
        apply(tables, run_entries("a1", "r9", [case(1)], at="2026-11-21T13:30:00.000Z"))
        assert loaded(("a1", "r9"))  # no read in between: the watcher saw the run stats commit
        with store._lock:  # a load in progress: readers go on with the snapshot they have, at once
            apply(tables, run_entries("a1", "r10", [case(2)], at="2026-11-21T13:40:00.000Z"))
            store._checked = time.monotonic() - 0.3  # stale (> refresh_s), not idle (< 1 s): no waiting
            t0 = time.monotonic()
            assert ("a1", "r10") not in store.snapshot().runs and time.monotonic() - t0 < 0.1
        assert loaded(("a1", "r10"))
        time.sleep(1.5)  # nobody read for longer than WARM_S: the watcher loads nothing ...
        apply(tables, run_entries("a1", "r11", [case(3)], at="2026-11-21T13:50:00.000Z"))
        time.sleep(0.5)
        assert ("a1", "r11") not in store._snap.runs
        assert ("a1", "r11") in store.snapshot().runs  # ... and the next read waits for a current snapshot
    finally:
        store.close()
