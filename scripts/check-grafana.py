#!/usr/bin/python3
"""Checks the Grafana dashboard and the Prometheus alert rules of scripts/.

    /usr/bin/python3 scripts/check-grafana.py [--metrics FILE|URL]

Without --metrics (scripts/check-ops.sh, in make test):
  - scripts/grafana/ragws-dashboard.json is a Grafana dashboard of schema 39
    that imports anywhere: a DS_PROMETHEUS datasource input that every panel
    and query uses, unique panel ids and refIds, panels inside the 24-column
    grid and not overlapping, every $variable defined;
  - every dashboard expression is valid PromQL (promtool check rules on a
    file of recording rules made from them, Grafana's $__ intervals replaced);
  - scripts/prometheus/ragws-alerts.yml passes `promtool check rules`, every
    alert has for:, a severity label and summary/description annotations;
  - `promtool test rules scripts/prometheus/ragws-alerts.test.yml` passes.
With --metrics (a file holding a /metrics scrape, or an http:// URL to
scrape; tests/integration/test_grafana_alerts.py): also every metric name in
the dashboard expressions, the rule expressions and the rule tests' input
series is one the scrape holds (histogram series by their _bucket, _sum and
_count names), `up` excepted (Prometheus makes it).

Prints one line per check, "ok - name" or "not ok - name" followed by
"#"-prefixed detail, then "N passed, N failed"; exit status 1 if any failed.
No third-party Python module: the rules file is read with a small YAML
subset reader (block lists, `key: value`, `>-` / `|` scalars), and the
number of rules it finds is checked against promtool's count.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(REPO, "scripts/grafana/ragws-dashboard.json")
RULES = os.path.join(REPO, "scripts/prometheus/ragws-alerts.yml")
RULES_TEST = os.path.join(REPO, "scripts/prometheus/ragws-alerts.test.yml")

# Series Prometheus itself makes for every target: not in /metrics.
SYNTHETIC = {"up"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}
GRAFANA_BUILTIN = re.compile(r"^__")

results = []


def report(name, ok, detail=()):
    results.append(ok)
    print(("ok - " if ok else "not ok - ") + name)
    if not ok:
        for line in detail:
            for sub in str(line).splitlines():
                if sub.strip():
                    print("#   " + sub)


# ---- PromQL ----------------------------------------------------------------

def grafana_to_promql(expr):
    """A dashboard query as Prometheus sees it: Grafana's interval variables
    become durations, other variables a plain word."""
    expr = re.sub(r"\$__(rate_interval|interval|range)(_ms|_s)?|\$\{__(rate_interval|interval|range)\}",
                  "5m", expr)
    return re.sub(r"\$\{[^}]*\}|\$\w+", "x", expr)


def metric_names(expr):
    """The metric names an expression selects."""
    names = set(re.findall(r'__name__\s*=~?\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', expr))
    e = grafana_to_promql(expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', e)  # strings
    e = re.sub(r"#[^\n]*", " ", e)                                          # comments
    e = re.sub(r"\{[^}]*\}", " ", e)                                        # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                       # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?\w+", " ", e)
    e = re.sub(r"(?<![\w:])(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", " ", e)
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in KEYWORDS or re.match(r"\s*\(", e[m.end():]):
            continue  # an operator, or a function / aggregation
        names.add(word)
    return names


def scrape_names(text):
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            if m:
                names.add(m.group(0))
    return names


def promtool(*args):
    try:
        p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return 127, "promtool not found: run scripts/deps.sh (package prometheus)"
    except subprocess.TimeoutExpired:
        return 124, "promtool timed out"
    return p.returncode, (p.stdout + p.stderr).strip()


# ---- the dashboard ---------------------------------------------------------

def dashboard_queries(dash):
    """[(where, expr)] of every panel target and every query variable."""
    out = []
    for p in all_panels(dash):
        for t in p.get("targets", []):
            out.append((f"panel {p.get('id')} {p.get('title')!r} {t.get('refId')}", t.get("expr", "")))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$", q)
        if m:
            out.append((f"variable {v.get('name')}", m.group(1)))
        elif not re.match(r"^\s*label_values\(\s*[a-zA-Z_]\w*\s*\)\s*$", q):
            out.append((f"variable {v.get('name')}", q))
    return out


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])  # a collapsed row holds its panels


def check_structure(dash):
    bad = []
    if dash.get("schemaVersion") != 39:
        bad.append(f"schemaVersion is {dash.get('schemaVersion')}, not 39")
    inputs = {i.get("name"): i for i in dash.get("__inputs", [])}
    ds = inputs.get("DS_PROMETHEUS", {})
    if ds.get("type") != "datasource" or ds.get("pluginId") != "prometheus":
        bad.append("no __inputs entry DS_PROMETHEUS of type datasource, pluginId prometheus")
    if not dash.get("uid") or not dash.get("title"):
        bad.append("no uid or title")
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    ids, cells = set(), {}
    for p in all_panels(dash):
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids or not isinstance(p.get("id"), int):
            bad.append(f"{where}: id missing or not unique")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24 or min(g.values()) < 0:
            bad.append(f"{where}: gridPos {g} outside the 24-column grid")
            continue
        for cx in range(g["x"], g["x"] + g["w"]):
            for cy in range(g["y"], g["y"] + g["h"]):
                if (cx, cy) in cells:
                    bad.append(f"{where} overlaps {cells[(cx, cy)]}")
                    break
                cells[(cx, cy)] = where
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
            bad.append(f"{where}: datasource is not ${{DS_PROMETHEUS}}")
        targets = p.get("targets", [])
        if not targets:
            bad.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            bad.append(f"{where}: refIds {refs} missing or not unique")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                bad.append(f"{where} {t.get('refId')}: datasource is not ${{DS_PROMETHEUS}}")
            if not t.get("expr", "").strip():
                bad.append(f"{where} {t.get('refId')}: empty expr")
    for where, expr in dashboard_queries(dash):
        for v in re.findall(r"\$\{(\w+)[^}]*\}|\$(\w+)", expr):
            name = v[0] or v[1]
            if name not in variables and not GRAFANA_BUILTIN.match(name):
                bad.append(f"{where}: ${name} is not a dashboard variable")
    report("grafana dashboard: schema 39, ${DS_PROMETHEUS} input, panel grid, ids, variables",
           not bad, bad)


def check_dashboard_promql(queries):
    """Every query as a recording rule (JSON is YAML) for promtool."""
    rules = [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e)} for i, (_, e) in enumerate(queries)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        rc, out = promtool("check", "rules", f.name)
    finally:
        os.unlink(f.name)
    detail = [out]
    for m in re.finditer(r"dashboard:query_(\d+)", out):
        where, expr = queries[int(m.group(1))]
        detail.append(f"query_{m.group(1)} is {where}: {expr}")
    report(f"grafana dashboard: all {len(queries)} queries are valid PromQL (promtool)", rc == 0, detail)


# ---- the rules file (a YAML subset) -----------------------------------------

def yaml_scalars(path, key):
    """Values of `key:` anywhere in a block-style YAML file: plain, quoted,
    or block scalars (>-, >, |, |-; folded into one line, which is the same
    PromQL). Returns [(line number, value)]."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    pat = re.compile(r"^(\s*)(?:- )?" + re.escape(key) + r":\s*(.*?)\s*$")
    while i < len(lines):
        m = pat.match(lines[i])
        i += 1
        if not m:
            continue
        indent, value, start = len(m.group(1)), m.group(2), i
        if value in (">", ">-", "|", "|-", ">+", "|+"):
            body = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            value = " ".join(b for b in body if b)
        elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace("''", "'") if value[0] == "'" else json.loads(value)
        out.append((start, value))
    return out


def check_rules(path, test_path):
    rc, out = promtool("check", "rules", path)
    report(f"promtool check rules {os.path.relpath(path, REPO)}", rc == 0, [out])
    exprs = yaml_scalars(path, "expr")
    m = re.search(r"SUCCESS: (\d+) rules found", out)
    report(f"{len(exprs)} rule expressions read, as many as promtool found",
           bool(m) and int(m.group(1)) == len(exprs), [f"promtool: {m.group(0) if m else out}"])
    text = open(path, encoding="utf-8").read()
    bad = []
    for block in re.split(r"\n\s*- alert: ", text)[1:]:
        name = block.split("\n", 1)[0].strip()
        for need, pat in (("for:", r"\n\s+for: \d+[smhd]"), ("severity label", r"\n\s+severity: (critical|warning|info)\b"),
                          ("summary", r"\n\s+summary: "), ("description", r"\n\s+description: ")):
            if not re.search(pat, block.split("\n  - name:")[0]):
                bad.append(f"{name}: no {need}")
    report("every alert has for:, a severity label, summary and description", not bad, bad)
    rc, out = promtool("test", "rules", test_path)
    report(f"promtool test rules {os.path.relpath(test_path, REPO)}", rc == 0, [out])
    return exprs


# ---- main -------------------------------------------------------------------

def load_scrape(src):
    if re.match(r"^https?://", src):
        with urllib.request.urlopen(src, timeout=10) as r:
            return r.read().decode()
    return open(src, encoding="utf-8").read()


def check_names(what, exprs, exported):
    bad, names = [], set()
    for where, expr in exprs:
        for n in sorted(metric_names(expr)):
            names.add(n)
            if n not in exported and n not in SYNTHETIC:
                bad.append(f"{where}: {n} is not in /metrics")
    report(f"{what}: all {len(names)} metric names are in /metrics", not bad and bool(names), bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", help="a /metrics scrape: file, or http(s):// URL")
    ap.add_argument("--dashboard", default=DASHBOARD)
    ap.add_argument("--rules", default=RULES)
    ap.add_argument("--rules-test", default=RULES_TEST)
    args = ap.parse_args()

    try:
        dash = json.load(open(args.dashboard, encoding="utf-8"))
    except (OSError, ValueError) as e:
        report(f"grafana dashboard {args.dashboard} is JSON", False, [str(e)])
        dash = None
    queries = []
    if dash is not None:
        check_structure(dash)
        queries = dashboard_queries(dash)
        check_dashboard_promql(queries)
    rule_exprs = check_rules(args.rules, args.rules_test)

    if args.metrics:
        exported = scrape_names(load_scrape(args.metrics))
        report(f"the scrape holds metrics ({len(exported)} series names)", len(exported) > 0)
        check_names("grafana dashboard", queries, exported)
        check_names("alert rules", [(f"{os.path.basename(args.rules)}:{n}", e) for n, e in rule_exprs], exported)
        series = [(f"{os.path.basename(args.rules_test)}:{n}", s)
                  for n, s in yaml_scalars(args.rules_test, "series")]
        check_names("alert rule tests' input series", series, exported)

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
