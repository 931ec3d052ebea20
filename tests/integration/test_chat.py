"""/chat/ws (SPEC S4.3, seed 001): answers numbered bot_1, bot_2 ... per
connection, both sides stored, reactions stored, validation errors keep the
connection open, and conversation_id continues a stored conversation."""

import json
import re

from harness import recv_json, timeout
from ragkit import apsql, conversation_messages, ensure_samples, sql_literal, unique

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS = "2025-12-26T14:54:04.068Z"


async def turn(ws, text, **extra):
    """Send one message; returns (bot id, chunks text, complete message)."""
    await ws.send(json.dumps({"message": text, "timestamp": TS, **extra}))
    chunks, ids = [], set()
    while True:
        m = await recv_json(ws, 15)
        if m["type"] == "chunk":
            assert set(m) == {"type", "message_id", "text"}, m
            assert isinstance(m["text"], str) and m["text"], m
            chunks.append(m["text"])
            ids.add(m["message_id"])
        elif m["type"] == "complete":
            assert ids <= {m["message_id"]}, (ids, m)
            return m["message_id"], "".join(chunks), m
        else:
            raise AssertionError(f"unexpected message: {m}")


async def expect_error(ws, payload, code=None):
    await ws.send(payload if isinstance(payload, str) else json.dumps(payload))
    m = await recv_json(ws, 5)
    assert m["type"] == "error", (payload, m)
    assert isinstance(m["message"], str) and m["message"], m
    if code:
        assert m.get("code") == code, (payload, m)
    return m


@timeout(40)
async def test_chat_numbering_storage_reactions_and_continuation(ctx):
    await ensure_samples()
    s = await ctx.server()
    ws = await ctx.ws(s, "/chat/ws")
    q1 = unique("How do workers share broadcasts?")
    q2 = unique("How is the server reloaded without dropping clients?")
    bot, text1, done1 = await turn(ws, q1)
    assert bot == "bot_1" and text1, (bot, text1)
    conv = done1.get("conversation_id")
    assert isinstance(conv, str) and UUID4.match(conv), done1
    assert set(done1) == {"type", "message_id", "conversation_id"}, done1
    bot, text2, done2 = await turn(ws, q2)
    assert bot == "bot_2" and text2 and done2["conversation_id"] == conv, done2

    msgs = await conversation_messages(external_id=conv, kind="chat")
    assert [(m["role"], m["content"], m["status"]) for m in msgs] == [
        ("user", q1, "complete"), ("assistant", text1, "complete"),
        ("user", q2, "complete"), ("assistant", text2, "complete")], msgs

    # reactions, stored against the right assistant message
    for bot_id, reaction in (("bot_1", "like"), ("bot_2", "dislike")):
        await ws.send(json.dumps({"type": "reaction", "message_id": bot_id,
                                  "reaction": reaction}))
        m = await recv_json(ws, 5)
        assert m == {"type": "reaction_saved", "message_id": bot_id, "reaction": reaction}, m
    rows = await apsql("SELECT r.message_id, r.external_message_id, r.reaction FROM reactions r"
                       " JOIN conversations c ON c.id = r.conversation_id"
                       f" WHERE c.kind = 'chat' AND c.external_id = {sql_literal(conv)}"
                       " ORDER BY r.id")
    assert rows == [(str(msgs[1]["id"]), "bot_1", "like"),
                    (str(msgs[3]["id"]), "bot_2", "dislike")], rows

    # validation errors: the connection stays open and numbering goes on
    await expect_error(ws, {"message": "", "timestamp": TS}, "VALIDATION_ERROR")
    await expect_error(ws, {"message": " \n\t ", "timestamp": TS}, "VALIDATION_ERROR")
    await expect_error(ws, {"timestamp": TS}, "VALIDATION_ERROR")
    await expect_error(ws, {"message": 42}, "VALIDATION_ERROR")
    await expect_error(ws, "{not json", "INVALID_JSON")
    await expect_error(ws, {"type": "reaction", "message_id": "bot_1"}, "VALIDATION_ERROR")
    await expect_error(ws, {"type": "dance", "message": "x"}, "UNKNOWN_TYPE")
    await expect_error(ws, {"message": "x", "conversation_id": "bad id!"}, "VALIDATION_ERROR")
    q3 = unique("Which configuration keys set limits?")
    bot, text3, done3 = await turn(ws, q3)
    assert bot == "bot_3" and done3["conversation_id"] == conv, done3
    # nothing stored for the refused messages
    msgs = await conversation_messages(external_id=conv, kind="chat")
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 3, msgs

    # a new connection continues the stored conversation; its numbering restarts
    ws2 = await ctx.ws(s, "/chat/ws")
    q4 = unique("What does the ring hold?")
    bot, text4, done4 = await turn(ws2, q4, conversation_id=conv)
    assert bot == "bot_1" and done4["conversation_id"] == conv, done4
    msgs = await conversation_messages(external_id=conv, kind="chat")
    assert [(m["role"], m["content"]) for m in msgs[-2:]] == [("user", q4),
                                                              ("assistant", text4)], msgs
    assert len(msgs) == 8, msgs
    # ... and a fresh connection without it starts a new one
    ws3 = await ctx.ws(s, "/chat/ws")
    bot, _, done5 = await turn(ws3, unique("How do workers share broadcasts?"))
    assert bot == "bot_1" and done5["conversation_id"] != conv, done5
    rows = await apsql("SELECT count(*) FROM conversations WHERE kind = 'chat' AND external_id"
                       f" = {sql_literal(conv)}")
    assert rows == [("1",)], rows


@timeout(30)
async def test_reaction_to_unknown_answer_is_refused(ctx):
    await ensure_samples()
    s = await ctx.server()
    ws = await ctx.ws(s, "/chat/ws")
    bot, _, done = await turn(ws, unique("How do workers share broadcasts?"))
    await ws.send(json.dumps({"type": "reaction", "message_id": "bot_9", "reaction": "love"}))
    m = await recv_json(ws, 5)
    assert m["type"] == "error" and m["code"] == "UNKNOWN_MESSAGE_ID", m
    assert m["message_id"] == "bot_9" and m["message"], m
    rows = await apsql("SELECT count(*) FROM reactions r JOIN conversations c"
                       " ON c.id = r.conversation_id WHERE c.external_id = "
                       f"{sql_literal(done['conversation_id'])}")
    assert rows == [("0",)], rows
