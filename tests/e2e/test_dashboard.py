"""The dashboard in a real browser (Debian's chromium through Playwright): sign-in, filters,
runs opened from API links, case detail, compare, export, delete, roles, live updates, escaping."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal

import pytest

from tests.conftest import ADMIN_KEY, VIEWER_KEY
from tests.e2e.dashboard_stack import AGENT, browser, shot, stack  # noqa: F401  (fixtures)
from tests.integration.query_helpers import case

pytestmark = pytest.mark.e2e


def signed_in(browser, stack, key=ADMIN_KEY, **ctx):  # noqa: F811
    context = browser.new_context(base_url=stack.url, accept_downloads=True, **ctx)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/sign-in")
    page.fill("#api_key", key)
    page.click("form[action='/sign-in'] button[type=submit]")
    page.wait_for_url(re.compile(r"/test-runs"))
    return context, page


def apply(page, selector: str = "text=Apply") -> None:
    """Click a control that loads another page, and wait for that page."""
    with page.expect_navigation():
        page.click(selector)


def row_ids(page) -> list[str]:
    return page.locator("table.runs tbody td.id a").all_inner_texts()


def test_sign_in_and_sign_out(browser, stack):  # noqa: F811
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    target = f"/agent/{AGENT}/test-runs/{stack.runs['head']}"
    page.goto(target)
    assert "/sign-in?next=" in page.url  # not signed in: sent to sign in, coming back afterwards
    shot(page, "sign-in")
    page.fill("#api_key", "not-a-key-0123456789")
    with page.expect_response(lambda r: r.request.method == "POST") as resp:
        page.click("button[type=submit]")
    assert resp.value.status == 401
    assert "Authentication failed: invalid API key" in page.locator("[role=alert]").inner_text()
    page.fill("#api_key", VIEWER_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")
    cookie = next(c for c in context.cookies() if c["name"] == "invarium_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert VIEWER_KEY not in page.content() and VIEWER_KEY not in page.url
    assert page.evaluate("document.cookie").find("invarium_session") == -1  # not readable by scripts
    page.click("text=Sign out")
    page.wait_for_url("**/sign-in")
    page.goto("/test-runs")
    assert "/sign-in" in page.url
    # the session is gone on the server too: the old cookie no longer signs anyone in
    context.add_cookies([{**cookie}])
    page.goto("/test-runs")
    assert "/sign-in" in page.url
    context.close()


def test_the_list_and_each_filter(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    page.goto("/")
    runs = stack.runs
    assert set(row_ids(page)) == set(runs.values())
    headers = page.locator("table.runs thead th").all_inner_texts()
    assert headers[1:] == ["Run ID", "Agent", "Date", "Tests", "Passed", "Failed", "BSS", "Source", "Status"]
    shot(page, "runs-list")

    page.select_option("#f-agent", ["billing-bot"])
    apply(page)
    assert "agent=billing-bot" in page.url and set(row_ids(page)) == {runs["other"], runs["doomed"]}
    page.reload()  # the filters live in the URL
    assert set(row_ids(page)) == {runs["other"], runs["doomed"]}
    assert page.locator("#f-agent option:checked").all_inner_texts() == ["billing-bot"]
    page.select_option("#f-agent", ["billing-bot", AGENT])
    apply(page)
    assert len(row_ids(page)) == 5

    page.goto("/test-runs")
    page.select_option("#f-status", "has_failures")
    apply(page)
    assert set(row_ids(page)) == {runs["base"], runs["head"]}
    assert page.locator("table.runs tbody td.fail").first.inner_text().strip() != "0"
    page.select_option("#f-status", "all_passed")
    apply(page)
    assert set(row_ids(page)) == {runs["html"], runs["other"], runs["doomed"]}

    page.goto("/test-runs")
    page.check("input[name=source][value=mcp]")
    apply(page)
    assert "source=mcp" in page.url and row_ids(page) == [runs["other"]]
    page.check("input[name=source][value=ci]")
    apply(page)
    assert set(row_ids(page)) == {runs["other"], runs["base"], runs["head"]}

    page.goto("/test-runs")
    page.select_option("#f-range", "24h")
    apply(page)
    assert "range=24h" in page.url and len(row_ids(page)) == 5
    page.select_option("#f-range", "custom")
    page.fill("input[name=from]", "2020-01-01")
    page.fill("input[name=to]", "2020-01-31")
    apply(page)
    assert "range=custom" in page.url and "from=2020-01-01" in page.url
    assert "No test runs match these filters" in page.inner_text("main")
    shot(page, "runs-list-no-match")
    page.fill("input[name=from]", "2020-01-01")
    page.fill("input[name=to]", "2099-12-31")
    apply(page)
    assert len(row_ids(page)) == 5
    context.close()


def test_cursor_paging_walks_every_run_once(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    with stack.api() as c:
        expected = [r["test_run_id"] for r in c.get("/v1/test-runs", params={"limit": 100}).json()["runs"]]
    page.goto("/test-runs?limit=2")
    seen = row_ids(page)
    while page.locator("a[rel=next]").count():
        apply(page, "a[rel=next]")
        assert "cursor=" in page.url and "limit=2" in page.url
        seen += row_ids(page)
    assert seen == expected and len(expected) >= 5
    assert f"of {len(expected)}" in page.inner_text("nav.pager")
    context.close()


def test_a_run_opens_from_the_link_an_api_answer_gave(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    resp = page.goto(stack.links["head"])
    assert resp.status == 200
    assert page.locator("h1").inner_text() == stack.runs["head"]
    summary = page.locator("section.summary").inner_text()
    for label, value in (("Tests", "8"), ("Passed", "6"), ("Failed", "2"), ("Pending", "0"), ("Pass rate", "75%")):
        assert re.search(rf"{label}\s+{re.escape(value)}(?![\d.])", summary), (label, summary)
    assert page.locator("svg.pie path").count() == 1  # both failures are Safety
    assert "Safety 2" in page.locator("ul.legend").inner_text()
    assert page.locator("table.cases tbody tr").count() == 8
    assert page.locator("table.cases thead th").all_inner_texts() == [
        "Scenario", "Complexity", "Target failure", "Status", "Severity", "Failure type"]
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    shot(page, "run-detail")

    page.select_option("#c-status", "failed")
    apply(page)
    assert page.locator("table.cases tbody tr").count() == 2
    page.goto(f"/agent/{AGENT}/test-runs/{stack.runs['head']}?severity=critical")
    assert page.locator("table.cases tbody tr").count() == 2
    page.goto(f"/agent/{AGENT}/test-runs/{stack.runs['head']}?q=no-such-text")
    assert "No case matches these filters" in page.inner_text("main")
    context.close()


def test_the_case_detail_of_a_failed_case(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    page.goto(f"/agent/{AGENT}/test-runs/{stack.runs['head']}?status=failed")
    page.locator("table.cases tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/results/"))
    failure = page.locator("section.failure").inner_text()
    assert "Safety" in failure and "Critical" in failure and "Reason" in failure
    seq = page.locator("div.seq").inner_text()
    assert "forbidden" in seq and "delete_account" in seq
    assert page.locator("table.tools tbody tr").count() >= 2
    assert "gpt-4o-mini" in page.locator("section[aria-label='LLM calls']").inner_text()
    assert page.locator("ol.timeline li").count() == 5
    for heading in ("User message", "Expected behaviour", "Agent response", "Tools called", "Behavioural trace"):
        assert heading in page.inner_text("main")
    shot(page, "case-detail")
    context.close()


def test_select_two_runs_and_compare(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    page.goto(f"/test-runs?agent={AGENT}")
    compare = page.locator("button[value=compare]")
    assert compare.is_disabled()
    page.check(f"input[name=run][value='{AGENT}/{stack.runs['head']}']")
    assert compare.is_disabled()  # exactly two
    page.check(f"input[name=run][value='{AGENT}/{stack.runs['base']}']")
    assert "2 selected" in page.inner_text("[data-selected-count]")
    compare.click()
    page.wait_for_url(re.compile(r"/compare\?"))
    assert f"base={stack.runs['base']}" in page.url and f"head={stack.runs['head']}" in page.url
    text = page.inner_text("main")
    assert "Regressions (passed → failed) (2)" in text and "Fixes (failed → passed) (1)" in text
    assert re.search(r"\d+(\.\d)? to \d+(\.\d)?, [+-]", text)  # "72 to 81, +9"
    sections = [s.split(" (")[0] for s in page.locator("section.card h2").all_inner_texts()]
    assert sections[:2] == ["Regressions", "Fixes"]  # regressions first
    shot(page, "compare")
    context.close()


def test_export_downloads_the_streamed_export(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack, key=VIEWER_KEY)
    page.goto(f"/test-runs?agent={AGENT}")
    page.check(f"input[name=run][value='{AGENT}/{stack.runs['head']}']")
    page.check(f"input[name=run][value='{AGENT}/{stack.runs['base']}']")
    with page.expect_download() as dl:
        page.click("button[value=export-csv]")
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    assert len(rows) == 16 and {r["test_run_id"] for r in rows} == {stack.runs["head"], stack.runs["base"]}
    with page.expect_download() as dl:
        page.click("button[value=export-json]")
    assert len(json.loads(open(dl.value.path(), encoding="utf-8").read())) == 16
    context.close()


def test_a_viewer_is_not_offered_delete_and_is_refused_it(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack, key=VIEWER_KEY)
    page.goto("/test-runs")
    assert page.locator("button[value=delete]").count() == 0 and page.locator("button[value=rescore]").count() == 0
    target = f"billing-bot/{stack.runs['doomed']}"
    resp = page.goto(f"/test-runs/action?action=delete&run={target}")
    assert resp.status == 403 and "needs the admin role" in page.inner_text("main")
    page.goto("/test-runs")
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    resp = page.request.post("/test-runs/delete", form={"csrf": csrf, "run": target}, max_redirects=0)
    assert resp.status == 403
    with stack.api() as c:
        assert c.get(f"/v1/agents/billing-bot/test-runs/{stack.runs['doomed']}").status_code == 200
    context.close()


def test_forged_posts_are_refused(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    target = f"billing-bot/{stack.runs['doomed']}"
    assert page.request.post("/test-runs/delete", form={"run": target}, max_redirects=0).status == 403  # no token
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    resp = page.request.post("/test-runs/delete", form={"csrf": csrf, "run": target}, max_redirects=0,
                             headers={"Origin": "https://evil.example"})  # fmt: skip
    assert resp.status == 403
    with stack.api() as c:
        assert c.get(f"/v1/agents/billing-bot/test-runs/{stack.runs['doomed']}").status_code == 200
    context.close()


def test_delete_as_admin(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    page.goto("/test-runs?agent=billing-bot")
    page.check(f"input[name=run][value='billing-bot/{stack.runs['doomed']}']")
    apply(page, "button[value=delete]")
    assert "This action cannot be undone." in page.inner_text("main")
    shot(page, "delete-confirm")
    apply(page, "text=Delete permanently")
    page.wait_for_url(re.compile(r"/test-runs\?deleted=1"))
    assert "Deleted 1 test run." in page.inner_text("main")
    assert stack.runs["doomed"] not in row_ids(page)
    resp = page.goto(f"/agent/billing-bot/test-runs/{stack.runs['doomed']}")
    assert resp.status == 404 and f"Test run not found: '{stack.runs['doomed']}'" in page.inner_text("main")
    context.close()


def test_rescore_shows_the_jobs_progress_until_it_finishes(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    page.goto(f"/test-runs?agent={AGENT}")
    page.check(f"input[name=run][value='{AGENT}/{stack.runs['base']}']")
    apply(page, "button[value=rescore]")
    apply(page, "text=Start re-score")
    page.wait_for_url(re.compile(r"/rescore/rs_"))
    assert page.locator("progress").count() == 1
    page.locator(".badge-done").wait_for(timeout=60_000)  # the page polls by itself
    text = page.inner_text("#live")
    done, total = re.search(r"([\d,]+) of ([\d,]+) events", text).groups()
    assert done == total and "1 run re-scored" in text
    shot(page, "rescore-job")
    context.close()


def test_a_pending_case_turns_scored_without_a_reload(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    os.kill(stack.scorer.pid, signal.SIGSTOP)
    try:
        run = stack.sync("live", "live-bot", "ci", [case(i) for i in range(3)])
        page.goto(f"/agent/live-bot/test-runs/{run}")
        assert page.locator("table.cases .badge-pending").count() == 3
        assert "this page updates by itself" in page.inner_text("main")
        shot(page, "run-pending")
        page.evaluate("window.__notReloaded = true")
    finally:
        os.kill(stack.scorer.pid, signal.SIGCONT)
    page.locator("table.cases .badge-passed").nth(2).wait_for(timeout=30_000)
    assert page.evaluate("window.__notReloaded === true")
    assert page.locator("#live").get_attribute("data-live-url") is None  # done: it stops polling
    context.close()


def test_an_agent_response_with_html_is_shown_as_text(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"/agent/{AGENT}/test-runs/{stack.runs['html']}")
    assert "(1 call of unknown cost)" in page.locator("section.summary").inner_text()  # the unpriced model
    with stack.api() as c:
        summary = c.get(f"/v1/agents/{AGENT}/test-runs/{stack.runs['html']}").json()["summary"]
    assert summary["cost_complete"] is False and summary["unknown_cost_calls"] == 1
    page.locator("table.cases tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/results/"))
    shown = page.locator(".agent-response").inner_text()
    assert "<script>window.__xss = 1</script>" in shown and "<b>bold</b>" in shown
    assert page.locator(".agent-response script, .agent-response img, .agent-response b").count() == 0
    assert "<script>window.__xss = 3</script>" in page.locator("table.tools").inner_text()
    assert page.evaluate("window.__xss") is None and not dialogs
    shot(page, "case-hostile-html")
    context.close()


def test_not_found_pages(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack, key=VIEWER_KEY)
    resp = page.goto("/agent/nope/test-runs/tr_x")
    assert resp.status == 404 and "Agent not found: 'nope'" in page.inner_text("main")
    resp = page.goto(f"/agent/{AGENT}/test-runs/tr_nope")
    assert resp.status == 404 and "Test run not found: 'tr_nope'" in page.inner_text("main")
    shot(page, "not-found")
    resp = page.goto("/test-runs?status=bogus")
    assert resp.status == 400 and "Invalid status 'bogus'" in page.inner_text("main")
    context.close()


def test_agents_page_with_trend_chart(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack, key=VIEWER_KEY)
    page.goto("/agents")
    rows = page.locator("table.agents tbody tr")
    assert rows.count() >= 2
    assert page.locator("table.agents svg.trend circle").count() >= 2
    shot(page, "agents")
    page.click(f"table.agents a:text-is('{AGENT}')")
    page.wait_for_url(f"**/agent/{AGENT}")
    assert page.locator("svg.trend polyline").count() >= 1
    shot(page, "agent")
    context.close()


def test_phone_width_and_keyboard(browser, stack):  # noqa: F811
    context, page = signed_in(browser, stack, viewport={"width": 390, "height": 844})
    for path in ("/test-runs", stack.links["head"].split(stack.url)[-1]):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    shot(page, "run-detail-phone")
    page.goto("/test-runs")
    shot(page, "runs-list-phone")
    page.focus("table.runs tbody input[name=run]")
    page.keyboard.press("Space")
    assert "1 selected" in page.inner_text("[data-selected-count]")
    context.close()


def test_an_empty_backend_says_how_to_sync_a_first_run(browser, redis_server, tmp_path):  # noqa: F811
    from tests.conftest import API_KEYS
    from tests.e2e.conftest import start_service

    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/1", "INVARIUM_API_KEYS": API_KEYS,
           "INVARIUM_DATA_DIR": str(tmp_path)}  # fmt: skip
    svc = start_service("services.api", env, tmp_path / "api.log")
    try:
        empty = type("Empty", (), {"url": svc.url})()
        context, page = signed_in(browser, empty, key=VIEWER_KEY)
        text = page.inner_text("main")
        assert "No test runs yet" in text and "invarium sync results.jsonl" in text
        shot(page, "runs-list-empty")
        page.goto("/agents")
        assert "No agents yet" in page.inner_text("main")
        context.close()
    finally:
        svc.stop()


def test_page_edges_over_http(stack):  # noqa: F811
    import httpx

    with httpx.Client(base_url=stack.url, timeout=10) as c:
        form = c.get("/sign-in")
        token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
        assert VIEWER_KEY not in form.text and form.headers["x-frame-options"] == "DENY"
        # the sign-in form's token must match its cookie (no login CSRF)
        bare = httpx.post(f"{stack.url}/sign-in", data={"token": token, "api_key": VIEWER_KEY})
        assert bare.status_code == 403 and "invarium_session" not in bare.cookies
        signed = c.post("/sign-in", data={"token": token, "api_key": VIEWER_KEY, "next": "//evil.example/x"})
        assert signed.status_code == 303 and signed.headers["location"] == "/test-runs"  # never off-site
        set_cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and VIEWER_KEY.lower() not in set_cookie
        page = c.get("/test-runs")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        assert float(page.headers["server-timing"].split("dur=")[1]) > 0
        for bad, text in (("/test-runs?limit=abc", "limit must be a whole number"),
                          ("/test-runs?limit=500", "limit must be between 1 and 100"),
                          ("/test-runs?range=custom&from=nope", "from must be a date"),
                          ("/test-runs?cursor=garbage", "cursor")):  # fmt: skip
            resp = c.get(bad)
            assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html"), bad
            assert text in resp.text, (bad, resp.text[:300])
        # the REST routes keep their API-key auth and JSON answers; a cookie alone is not a key
        assert c.get("/v1/test-runs").status_code == 401
        assert c.get("/static/app.js").headers["cache-control"].startswith("public")
