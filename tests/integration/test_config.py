"""Configuration from the command line (SPEC S9): `ragws check-config`,
-o overrides, error messages with file:line, and the documented syntax of
ragws.conf (comments, units, duplicates)."""

import re

from harness import Server, ServerError, run_cli, write_config


async def check(ctx, text, *extra, name="test.conf"):
    path = write_config(ctx.tmp / name, text)
    return await run_cli(["check-config", "-c", path, *extra])


def dumped(out):
    """{'section.key': 'value'} from `check-config -v` output."""
    values, section = {}, None
    for line in out.splitlines():
        m = re.match(r"^\[(\w+)\]$", line.strip())
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^(\w+)\s*=\s*(.*)$", line.strip())
        if m and section:
            values[f"{section}.{m.group(1)}"] = m.group(2).strip()
    return values


async def test_check_config_default_file_ok(ctx):
    rc, out, err = await run_cli(["check-config", "-c", "ragws.conf"])
    assert rc == 0, (rc, out, err)
    assert "OK" in out, out
    rc, out, err = await run_cli(["version"])
    assert rc == 0 and out.startswith("ragws "), (rc, out, err)


async def test_check_config_reports_file_and_line(ctx):
    cases = [
        # (file text, line, fragment of the message)
        ("# comment\n\n[server]\nlisten = 127.0.0.1:9000\n\n[limits]\n; another comment\n"
         "max_message_bytes = 2KiB ; inline comment\nbogus_key = 1\n", 9, "bogus_key"),
        ("[server]\nworkers = 2\n[nosuch]\n", 3, "nosuch"),
        ("listen = 127.0.0.1:9000\n", 1, "section"),
        ("[limits]\nmax_message_bytes = 8\n", 2, "max_message_bytes"),
        ("[limits]\n\nmax_message_bytes = 12x\n", 3, "12x"),
        ("[limits]\nhandshake_timeout = 5 parsecs\n", 2, "handshake_timeout"),
        ("[limits]\nhandshake_timeout = 0\n", 2, "handshake_timeout"),
        ("[limits]\nrate_limit = 0\n", 2, "rate_limit"),
        ("[limits]\nrate_burst = 1.5\n", 2, "rate_burst"),
        ("[server]\nlisten = localhost:8000\n", 2, "listen"),
        ("[server]\nlisten = 127.0.0.1:70000\n", 2, "listen"),
        ("[server]\nworkers = 0\n", 2, "workers"),
        ("[server]\nworkers = 65\n", 2, "workers"),
        ("[cors]\nallowed_origins = https://a.example/\n", 2, "allowed_origins"),
        ("[cors]\nallowed_origins = *, https://a.example\n", 2, "allowed_origins"),
        ("[log]\nlevel = verbose\n", 2, "level"),
        ("[monitor]\ncpu_alert_percent = 101\n", 2, "cpu_alert_percent"),
        ("[shm]\nring_size = 1KiB\n", 2, "ring_size"),
        ("[server]\nthis line is not a key value pair\n", 2, ""),
    ]
    failures = []
    for text, line, frag in cases:
        rc, out, err = await check(ctx, text, name="bad.conf")
        want = f"bad.conf:{line}:"
        if rc == 0 or want not in err or frag not in err:
            failures.append(f"{text!r}: rc={rc}, stderr={err.strip()!r} (wanted {want} ... {frag})")
    assert not failures, "\n".join(failures)


async def test_override_errors_name_the_key(ctx):
    cases = [
        (["-o", "limits.max_message_bytes=12x"], "limits.max_message_bytes"),
        (["-o", "limits.rate_limit=0"], "limits.rate_limit"),
        (["-o", "nosuch.key=1"], "nosuch"),
        (["-o", "limits.no_such_key=1"], "no_such_key"),
        (["-o", "limits.rate_limit"], "limits.rate_limit"),
        (["-o", "server.listen=[::1]"], "server.listen"),
    ]
    failures = []
    for args, frag in cases:
        rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", *args])
        if rc == 0 or frag not in err:
            failures.append(f"{args}: rc={rc} stderr={err.strip()!r}")
    assert not failures, "\n".join(failures)
    # an override beats the file
    rc, out, err = await run_cli(["check-config", "-v", "-c", "ragws.conf", "-o",
                                  "limits.rate_limit=7.5", "-o", "server.workers=3"])
    assert rc == 0, err
    v = dumped(out)
    assert v["limits.rate_limit"] == "7.5" and v["server.workers"] == "3", v


async def test_config_syntax_and_units(ctx):
    text = """
[server]
  workers = 3
listen = 127.0.0.1:9100
[limits]
rate_limit = 5
rate_limit = 7 ; the last one wins
max_message_bytes = 2KB
max_body_bytes = 1MB
handshake_timeout = 0.25
keepalive_interval = 2m
keepalive_timeout = 500ms
send_buffer_limit = 65536
[monitor]
interval = 1h
[log]
level = warn
"""
    rc, out, err = await check(ctx, text, "-v")
    assert rc == 0, (rc, out, err)
    v = dumped(out)
    expect = {
        "server.workers": "3", "server.listen": "127.0.0.1:9100", "limits.rate_limit": "7",
        "limits.max_message_bytes": "2KiB", "limits.max_body_bytes": "1MiB",
        "limits.handshake_timeout": "250ms", "limits.keepalive_interval": "2m",
        "limits.keepalive_timeout": "500ms", "limits.send_buffer_limit": "64KiB",
        "monitor.interval": "1h", "log.level": "warn",
    }
    wrong = {k: (v.get(k), want) for k, want in expect.items() if v.get(k) != want}
    assert not wrong, wrong
    # the dump is itself a valid configuration that reads back the same
    dump = out[out.index("\n") + 1:]  # without the "FILE: OK (...)" line
    rc2, out2, err2 = await check(ctx, dump, "-v", name="dump.conf")
    assert rc2 == 0, (rc2, err2)
    assert dumped(out2) == v, {k: (v[k], dumped(out2).get(k)) for k in v if dumped(out2).get(k) != v[k]}


async def test_server_refuses_to_start_with_bad_config(ctx):
    path = write_config(ctx.tmp / "broken.conf", "[server]\nworkers = many\n")
    s = Server(ctx.tmp, "broken")
    ctx.servers.append(s)
    try:
        await s.start(config=path, ready_timeout=10)
    except ServerError as e:
        assert "exited" in str(e), e
    else:
        raise AssertionError("server started with an invalid configuration")
    rc = await s.wait_exit(5)
    assert rc not in (None, 0), rc
    assert "broken.conf:2:" in s.log_text(), s.log_text()
