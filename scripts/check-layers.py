#!/usr/bin/python3
"""Checks the layer rules of the source tree (README, "Architecture").

Reads every #include "..." line of the C sources and fails with file:line
on an include that points the wrong way; also finds SQL text outside the
storage layer and wire-JSON encoding outside protocol/. One line per rule,
"ok - rule" or "not ok - rule" followed by "#   file:line: ..." details;
last line "N passed, N failed"; exit status 1 if any rule failed.

    scripts/check-layers.py [ROOT]
"""

import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
LAYERS = ["base", "io", "shm", "protocol", "worker/net", "worker/svc", "worker/api", "master", "cli"]

# layer -> layers it may include (itself always allowed)
ALLOWED = {
    "base": set(),
    "io": {"base"},
    "shm": {"base"},
    "protocol": {"base"},
    "worker/net": {"base", "io", "shm", "protocol"},
    "worker/svc": {"base", "io", "shm", "protocol"},
    "worker/api": {"base", "io", "shm", "protocol", "worker/net", "worker/svc"},
    "worker": {"base", "io", "shm", "protocol", "worker/net", "worker/svc", "worker/api"},
    "master": {"base", "io", "shm", "protocol"},
    # cli/ may use everything; ragws ingest runs the extractors (worker/svc).
    "cli": {"base", "io", "shm", "protocol", "master", "worker", "worker/svc"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SQL = re.compile(r'"[^"]*\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)', re.I)
JSON_ENC = re.compile(r'\b(json_dumps|json_dumpb|json_dump_callback)\s*\(')
# JSON written by hand: a printf-family format string holding a JSON object.
JSON_FMT = re.compile(r'\b\w*printf\s*\([^;]*"[^"]*\{\\"')
# Files that encode JSON that is not a wire message (log records).
JSON_OK = {"base/log.c"}


def layer_of(rel):
    parts = rel.split("/")
    if parts[0] == "worker" and len(parts) > 2:
        return "worker/" + parts[1]
    return parts[0] if parts[0] in ALLOWED else None


def sources():
    for ext in ("*.c", "*.h"):
        for p in ROOT.rglob(ext):
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith(("build/", "tests/", "bench/", "node_modules/")):
                continue
            if layer_of(rel):
                yield p, rel


MAX_FUNC_LINES = 80
MAX_FILE_LINES = 600
# Files allowed over MAX_FILE_LINES, each with its reason in README.md
# ("Layout": why these stay whole).
LONG_FILES_OK = set()


def size_problems(rel, lines):
    """Functions over MAX_FUNC_LINES (a body from a '{' to a '}' in column 0,
    the project's clang-format style) and files over MAX_FILE_LINES."""
    bad = []
    if rel.endswith(".c") and len(lines) > MAX_FILE_LINES and rel not in LONG_FILES_OK:
        bad.append(f"{rel}: {len(lines)} lines (over {MAX_FILE_LINES})")
    start = None
    for n, line in enumerate(lines, 1):
        if line == "{" and n > 1 and lines[n - 2].rstrip().endswith(")"):
            start = n
        elif line == "}" and start:
            if n - start - 1 > MAX_FUNC_LINES:
                head = lines[start - 2].strip()
                bad.append(f"{rel}:{start - 1}: {head[:60]} has {n - start - 1} lines (over {MAX_FUNC_LINES})")
            start = None
    return bad


def main():
    rules = {"include direction": [], "SQL only in worker/svc/store and cli/": [],
             "wire JSON encoded only in protocol/": [],
             f"functions of at most {MAX_FUNC_LINES} lines, files of at most {MAX_FILE_LINES}": []}
    for path, rel in sorted(sources(), key=lambda t: t[1]):
        me = layer_of(rel)
        lines = path.read_text(errors="replace").splitlines()
        rules[f"functions of at most {MAX_FUNC_LINES} lines, files of at most {MAX_FILE_LINES}"] += size_problems(rel, lines)
        for n, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if m:
                target = layer_of(m.group(1))
                if target and target != me and target not in ALLOWED[me]:
                    rules["include direction"].append(f"{rel}:{n}: {me}/ includes {m.group(1)}")
            if SQL.search(line) and not (rel.startswith("worker/svc/store") or me == "cli"):
                rules["SQL only in worker/svc/store and cli/"].append(f"{rel}:{n}: {line.strip()[:90]}")
            if (JSON_ENC.search(line) or JSON_FMT.search(line)) and me != "protocol" and rel not in JSON_OK:
                rules["wire JSON encoded only in protocol/"].append(f"{rel}:{n}: {line.strip()[:90]}")
    passed = failed = 0
    for rule, bad in rules.items():
        if bad:
            failed += 1
            print(f"not ok - {rule}")
            for b in bad:
                print(f"#   {b}")
        else:
            passed += 1
            print(f"ok - {rule}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
