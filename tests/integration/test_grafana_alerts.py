"""scripts/grafana/ragws-dashboard.json and scripts/prometheus/ragws-alerts.yml
against the real server: every metric they name is in a live /metrics scrape
(scripts/check-grafana.py --metrics), the checker catches a name that is
not, and a real Prometheus (Debian's, from scripts/deps.sh) scraping the
server loads the rules healthy and answers every dashboard query, the key
panels with data."""

import asyncio
import json
import math
import os
import re
import shutil
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import REPO, eventually, free_port, timeout

CHECKER = os.path.join(REPO, "scripts/check-grafana.py")
DASHBOARD = os.path.join(REPO, "scripts/grafana/ragws-dashboard.json")
RULES = os.path.join(REPO, "scripts/prometheus/ragws-alerts.yml")


async def run_checker(*args):
    p = await asyncio.create_subprocess_exec(
        "/usr/bin/python3", CHECKER, *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(p.communicate(), 120)
    return p.returncode, out.decode()


async def scrape_to_file(ctx, s):
    status, _, body = await s.http("GET", "/metrics")
    assert status == 200, status
    path = ctx.tmp / "scrape.txt"
    path.write_bytes(body)
    return str(path)


async def traffic(ctx, s):
    """Connections on both workers and a few broadcasts, so counters and the
    latency histogram move."""
    conns = await ctx.ws_spread(s, 4)
    for i in range(5):
        status, _, _ = await s.http("POST", "/api/broadcast",
                                    body={"channel": "global", "message": {"n": i}})
        assert status in (200, 202), status
    for ws, _ in conns:
        for _ in range(5):
            await asyncio.wait_for(ws.recv(), 5)
    return conns


@timeout(120)
async def test_dashboard_and_rules_name_only_real_metrics(ctx):
    s = await ctx.server()
    await traffic(ctx, s)
    scrape = await scrape_to_file(ctx, s)
    rc, out = await run_checker("--metrics", scrape)
    assert rc == 0, out
    for what in ("grafana dashboard", "alert rules", "alert rule tests' input series"):
        assert re.search(rf"^ok - {re.escape(what)}: all [1-9]\d* metric names are in /metrics$",
                         out, re.M), (what, out)
    assert re.search(r"^ok - promtool check rules ", out, re.M), out
    assert re.search(r"^ok - promtool test rules ", out, re.M), out
    assert out.rstrip().endswith(" passed, 0 failed"), out


@timeout(120)
async def test_checker_rejects_a_metric_the_server_does_not_export(ctx):
    s = await ctx.server()
    scrape = await scrape_to_file(ctx, s)
    dash = json.load(open(DASHBOARD, encoding="utf-8"))
    panel = next(p for p in dash["panels"] if p.get("targets"))
    panel["targets"][0]["expr"] = 'sum(rate(ragws_no_such_thing_total{job=~"$job"}[$__rate_interval]))'
    bad_dash = ctx.tmp / "dash.json"
    bad_dash.write_text(json.dumps(dash))
    rules = open(RULES, encoding="utf-8").read().replace(
        "expr: up{job=\"ragws\"} == 0", "expr: ragws_up_typo{job=\"ragws\"} == 0", 1)
    assert "ragws_up_typo" in rules
    bad_rules = ctx.tmp / "ragws-alerts.yml"
    bad_rules.write_text(rules)
    # the rule test file names its rule file relative to itself
    shutil.copy(os.path.join(REPO, "scripts/prometheus/ragws-alerts.test.yml"), ctx.tmp)
    rc, out = await run_checker("--metrics", scrape, "--dashboard", str(bad_dash),
                                "--rules", str(bad_rules),
                                "--rules-test", str(ctx.tmp / "ragws-alerts.test.yml"))
    assert rc == 1, out
    assert re.search(r"^not ok - grafana dashboard: all \d+ metric names are in /metrics\n"
                     r"#   panel .*: ragws_no_such_thing_total is not in /metrics$", out, re.M), out
    assert re.search(r"^not ok - alert rules: all \d+ metric names are in /metrics\n"
                     r"#   ragws-alerts.yml:\d+: ragws_up_typo is not in /metrics$", out, re.M), out
    # RagwsDown no longer fires in its unit test either
    assert re.search(r"^not ok - promtool test rules ", out, re.M), out


# ---- a real Prometheus ------------------------------------------------------

class Prometheus:
    def __init__(self, ctx, target):
        self.dir = ctx.tmp / "prometheus"
        self.dir.mkdir()
        self.port = free_port()
        self.proc = None
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [RULES],
            "scrape_configs": [{"job_name": "ragws", "static_configs": [{"targets": [target]}]}],
        }
        (self.dir / "prometheus.yml").write_text(json.dumps(cfg))  # JSON is YAML

    async def start(self):
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            "prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
            stdout=self.log, stderr=self.log)

    async def stop(self):
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.log.close()

    def log_tail(self):
        return (self.dir / "prometheus.log").read_text(errors="replace")[-2000:]

    async def api(self, path, **params):
        """GET /api/v1/path (urllib in a thread: Prometheus answers chunked)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)

        def get():
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")

        return await asyncio.get_running_loop().run_in_executor(None, get)

    async def query(self, expr):
        status, r = await self.api("query", query=expr)
        assert status == 200 and r["status"] == "success", (expr, status, r)
        return r["data"]["result"]


def as_prometheus_sees_it(expr):
    """A dashboard query with Grafana's variables filled in: every job and
    instance, a rate window of several scrapes."""
    expr = expr.replace("$__rate_interval", "10s").replace("$__range", "1m")
    return expr.replace('"$job"', '"ragws"').replace('"$instance"', '".+"')


def values(result):
    return [float(r["value"][1]) for r in result]


@timeout(150)
async def test_prometheus_loads_rules_and_answers_every_panel(ctx):
    if not shutil.which("prometheus"):
        raise AssertionError("prometheus not installed: run scripts/deps.sh")
    s = await ctx.server()
    prom = Prometheus(ctx, f"{s.host}:{s.port}")
    await prom.start()
    try:
        await check_against_prometheus(ctx, s, prom)
    except BaseException:
        print(f"-- prometheus log:\n{prom.log_tail()}", file=sys.stderr)
        raise
    finally:
        await prom.stop()


async def check_against_prometheus(ctx, s, prom):
    async def up():
        try:
            return values(await prom.query('up{job="ragws"}')) == [1.0]
        except (OSError, AssertionError, ValueError):
            return False

    await eventually(up, timeout=40, interval=0.5, what="Prometheus scraping ragws (up == 1)")
    t0 = time.monotonic()
    conns = await traffic(ctx, s)
    # a few scrapes after the traffic: rates over 10s need two samples
    while time.monotonic() - t0 < 4:
        await traffic(ctx, s)
        await asyncio.sleep(1)

    status, rules = await prom.api("rules")
    assert status == 200, rules
    alerts = [r for g in rules["data"]["groups"] for r in g["rules"] if r["type"] == "alerting"]
    assert len(alerts) >= 10, [r["name"] for r in alerts]
    for r in alerts:
        assert r["health"] == "ok" and not r.get("lastError"), r
        assert r["labels"].get("severity") in ("critical", "warning"), r
        assert r["state"] == "inactive", r  # a healthy server raises nothing

    dash = json.load(open(DASHBOARD, encoding="utf-8"))
    by_title, empty, n = {}, [], 0
    for p in dash["panels"]:
        for t in p.get("targets", []):
            res = await prom.query(as_prometheus_sees_it(t["expr"]))
            n += 1
            by_title.setdefault(p["title"], []).append(res)
            if not res:  # every selector matches a scraped series
                empty.append(f"{p['title']} {t['refId']}: {t['expr']}")
    assert n >= 50 and not empty, (n, empty)

    def first(title, ref=0):
        return values(by_title[title][ref])

    assert first("Workers listening") == [2.0], by_title["Workers listening"]
    assert first("WebSocket connections")[0] >= len(conns), by_title["WebSocket connections"]
    per_slot = by_title["WebSocket connections per worker"][0]
    assert sorted(r["metric"]["slot"] for r in per_slot) == ["0", "1"], per_slot
    assert first("Messages out /s")[0] > 0, by_title["Messages out /s"]
    p99 = first("Broadcast p99")
    assert p99 and math.isfinite(p99[0]) and 0 < p99[0] <= 1, p99
    assert first("Resident memory")[0] > 1e6, by_title["Resident memory"]
    assert first("Uptime")[0] >= 0, by_title["Uptime"]
