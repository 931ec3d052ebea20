"""`ragws publish` subcommands for seed 002's server utilities reach a
Socket.IO project room (SPEC S4.4). The client here is a raw Engine.IO
long-polling client (stdlib only), whose requests land on either worker:
the session's worker takes them over."""

import json

from harness import run_cli, timeout

SEP = "\x1e"


async def poll(s, sid, timeout_s=5.0):
    status, _, body = await s.http("GET", f"/socket.io/?EIO=4&transport=polling&sid={sid}",
                                   timeout=timeout_s)
    assert status == 200, (status, body)
    return body.decode().split(SEP)


async def post(s, sid, *packets):
    status, _, body = await s.http("POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}",
                                   body=SEP.join(packets).encode(),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert status == 200 and body == b"ok", (status, body)


async def until_event(s, sid, name, tries=10):
    """Poll until an event called `name` arrives; returns its data."""
    seen = []
    for _ in range(tries):
        for pkt in await poll(s, sid):
            seen.append(pkt)
            if pkt.startswith("42"):
                ev = json.loads(pkt[2:])
                if ev[0] == name:
                    return ev[1]
            elif pkt == "2":
                await post(s, sid, "3")
    raise AssertionError(f"no {name} event; saw {seen}")


@timeout(60)
async def test_publish_subcommands_reach_the_room(ctx):
    s = await ctx.server()
    status, _, body = await s.http("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{"), body
    sid = json.loads(body[1:])["sid"]
    await post(s, sid, "40")
    assert (await until_event(s, sid, "connection_status"))["status"] == "connected"
    await post(s, sid, '42["join_project",{"project_id":5}]')
    assert (await until_event(s, sid, "project_joined")) == {"project_id": 5}

    listen = f"server.listen=127.0.0.1:{s.port}"
    rc, out, err = await run_cli(["publish", "project-update", "5", "document_added",
                                  '{"document_id":10,"filename":"new_doc.pdf"}', "-o", listen])
    assert rc == 0, (rc, out, err)
    assert await until_event(s, sid, "project_update") == {
        "type": "document_added", "data": {"document_id": 10, "filename": "new_doc.pdf"}}

    rc, out, err = await run_cli(["publish", "document-status", "5", "7", "processing", "75",
                                  "-o", listen])
    assert rc == 0, (rc, out, err)
    assert await until_event(s, sid, "document_status") == {
        "document_id": 7, "status": "processing", "progress": 75}

    rc, out, err = await run_cli(["publish", "project", "5", "custom_event", '{"key":"value"}',
                                  "-o", listen])
    assert rc == 0, (rc, out, err)
    assert await until_event(s, sid, "custom_event") == {"key": "value"}

    # another project's update does not reach this room
    rc, out, err = await run_cli(["publish", "project-update", "6", "x", "{}", "-o", listen])
    assert rc == 0
    rc, out, err = await run_cli(["publish", "project", "5", "marker", "{}", "-o", listen])
    got = []
    for _ in range(10):
        pkts = [p for p in await poll(s, sid) if p.startswith("42")]
        got += [json.loads(p[2:])[0] for p in pkts]
        if "marker" in got:
            break
    assert got == ["marker"], got

    # bad input is refused by the CLI or the server, not half-published
    rc, _, err = await run_cli(["publish", "document-status", "5", "7", "sleeping", "1",
                                "-o", listen])
    assert rc != 0 and "400" in err, (rc, err)
    rc, _, err = await run_cli(["publish", "project", "bad id!", "e", "{}", "-o", listen])
    assert rc == 2, (rc, err)
