/* Seed 003 outputs: suggestions, WebSocket frames and REST bodies (see
 * protocol/conversation.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "protocol/conversation.h"
#include "protocol/json_msg.h"

/* Copy src cut on a character boundary to fit cap (NUL included). */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = utf8_prefix(src, strlen(src), cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void conv_sugg_add_question(conv_suggestion_t *s, const char *q)
{
    if (s->nq >= CONV_Q_MAX || !q || !*q) return;
    for (int i = 0; i < s->nq; i++)
        if (strcmp(s->questions[i], q) == 0) return;
    copy_cut(s->questions[s->nq++], CONV_Q_LEN, q);
}

int conv_sugg_has_signal(const conv_suggestion_t *s, const char *sig)
{
    for (int i = 0; i < s->ns; i++)
        if (strcmp(s->signals[i], sig) == 0) return 1;
    return 0;
}

void conv_sugg_add_signal(conv_suggestion_t *s, const char *sig)
{
    if (s->ns >= CONV_SIG_MAX || !sig || !*sig || conv_sugg_has_signal(s, sig)) return;
    copy_cut(s->signals[s->ns++], CONV_SIG_LEN, sig);
}

static json_t *sugg_json(const conv_suggestion_t *s)
{
    json_t *q = json_array(), *sig = json_array();
    for (int i = 0; q && i < s->nq; i++) json_array_append_new(q, json_msg_text(s->questions[i]));
    for (int i = 0; sig && i < s->ns; i++) json_array_append_new(sig, json_msg_text(s->signals[i]));
    return json_pack("{s:o*,s:o*,s:o*}", "questions", q, "signals_detected", sig,
                     "recommended_direction", json_msg_text(s->direction));
}

char *conv_suggestion_encode(const conv_suggestion_t *s)
{
    return json_msg_dump_free(sugg_json(s));
}

/* The outermost {...} of a model's answer (fences and prose around it). */
static json_t *llm_object(const char *text)
{
    const char *b = strchr(text, '{'), *e = strrchr(text, '}');
    if (!b || !e || e < b) return NULL;
    json_t *v = json_loadb(b, (size_t)(e - b + 1), JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static int str_list(json_t *a, conv_suggestion_t *out, int questions)
{
    if (!json_is_array(a)) return -1;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        if (!json_is_string(x)) return -1;
        const char *t = json_string_value(x);
        if (!utf8_valid(t, strlen(t), NULL)) return -1;
        if (questions)
            conv_sugg_add_question(out, t);
        else
            conv_sugg_add_signal(out, t);
    }
    return 0;
}

int conv_suggestion_from_llm(const char *text, conv_suggestion_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *v = text ? llm_object(text) : NULL;
    if (!v) return -1;
    json_t *d = json_object_get(v, "recommended_direction");
    int rc = -1;
    if (json_is_string(d) && json_string_length(d) > 0 &&
        utf8_valid(json_string_value(d), json_string_length(d), NULL) &&
        str_list(json_object_get(v, "questions"), out, 1) == 0 &&
        str_list(json_object_get(v, "signals_detected"), out, 0) == 0 && out->nq > 0) {
        copy_cut(out->direction, CONV_DIR_LEN, json_string_value(d));
        rc = 0;
    }
    json_decref(v);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

char *conv_suggestion_metadata(const conv_suggestion_t *s, const char *source, long long reply_to)
{
    json_t *o = sugg_json(s);
    if (!o) return NULL;
    json_object_set_new(o, "type", json_string("suggestion"));
    json_object_set_new(o, "source", json_msg_text(source));
    json_object_set_new(o, "reply_to", json_integer(reply_to));
    json_object_del(o, "recommended_direction"); /* it is the message's content */
    return json_msg_dump_free(o);
}

static json_t *input_json(const conv_input_t *in)
{
    return json_pack("{s:o*,s:s,s:o*,s:o*}", "text", json_msg_text(in->text), "speaker",
                     in->speaker, "sentiment", json_msg_text(in->sentiment), "emotion",
                     json_msg_text(in->emotion));
}

char *conv_input_metadata(const conv_input_t *in)
{
    return json_msg_dump_free(json_pack("{s:s,s:o*,s:o*}", "speaker", in->speaker, "sentiment",
                                        json_msg_text(in->sentiment), "emotion",
                                        json_msg_text(in->emotion)));
}

char *conv_session_init(const char *session_id)
{
    return json_msg_dump_free(
        json_pack("{s:s,s:o*}", "type", "session_init", "session_id", json_msg_text(session_id)));
}

char *conv_token(const char *content, const char *full_text)
{
    return json_msg_dump_free(json_pack("{s:s,s:o*,s:o*}", "type", "token", "content",
                                        json_msg_text(content), "full_text",
                                        json_msg_text(full_text)));
}

char *conv_validation_error(const char *details)
{
    return json_msg_dump_free(
        json_pack("{s:s,s:o*}", "error", "validation_error", "details", json_msg_text(details)));
}

char *conv_error(const char *error, const char *code, const char *details, int recoverable)
{
    return json_msg_dump_free(json_pack("{s:s,s:s,s:o*,s:b}", "error", error, "code", code,
                                        "details", json_msg_text(details), "recoverable",
                                        recoverable));
}

static json_t *err_json(const conv_err_t *e)
{
    json_t *loc = json_array();
    json_array_append_new(loc, json_string(e->where));
    if (e->list[0]) {
        json_array_append_new(loc, json_string(e->list));
        json_array_append_new(loc, json_integer(e->index));
    }
    if (e->field[0]) json_array_append_new(loc, json_string(e->field));
    return json_pack("{s:s,s:o*,s:s}", "type", e->type, "loc", loc, "msg", e->msg);
}

char *conv_422(const conv_errs_t *errs)
{
    json_t *d = json_array();
    for (int i = 0; d && i < errs->n; i++) {
        json_t *e = err_json(&errs->e[i]);
        if (e && errs->json_error[0] && strcmp(errs->e[i].type, "json_invalid") == 0)
            json_object_set_new(e, "ctx",
                                json_pack("{s:o*}", "error", json_msg_text(errs->json_error)));
        json_array_append_new(d, e);
    }
    return json_msg_dump_free(json_pack("{s:o*}", "detail", d));
}

/* {label: count} of one field over the turns. */
static json_t *counts(const conv_turn_t *t, size_t n, int emotion)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        const char *k = emotion ? t[i].emotion : t[i].sentiment;
        if (!k || !utf8_valid(k, strlen(k), NULL)) continue;
        json_t *c = json_object_get(o, k);
        json_object_set_new(o, k, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    return o;
}

static json_t *summary_json(const conv_turn_t *t, size_t n)
{
    size_t client = 0;
    for (size_t i = 0; i < n; i++) client += t[i].speaker && strcmp(t[i].speaker, "client") == 0;
    return json_pack("{s:I,s:I,s:I,s:o*,s:o*}", "total_messages", (json_int_t)n, "client_messages",
                     (json_int_t)client, "agent_messages", (json_int_t)(n - client), "sentiments",
                     counts(t, n, 0), "emotions", counts(t, n, 1));
}

/* Upper-case ASCII copy of a speaker name ("client" -> "CLIENT"). */
static void upper(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        dst[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    dst[i] = '\0';
}

char *conv_context(const conv_turn_t *t, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(t[i].text) + strlen(t[i].sentiment) + strlen(t[i].emotion) + 64;
    char *ctx = malloc(cap), sp[16];
    if (!ctx) return NULL;
    size_t off = 0;
    ctx[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        upper(sp, sizeof sp, t[i].speaker);
        off += (size_t)snprintf(ctx + off, cap - off, "%s[%s] (sentiment: %s, emotion: %s): %s",
                                i ? "\n" : "", sp, t[i].sentiment, t[i].emotion, t[i].text);
    }
    char *out = json_msg_dump_free(
        json_pack("{s:o*,s:o*}", "context", json_msg_text(ctx), "summary", summary_json(t, n)));
    free(ctx);
    return out;
}

static json_t *last_text(const conv_turn_t *t, size_t n, int which)
{
    if (!n) return json_null();
    const conv_turn_t *l = &t[n - 1];
    return json_msg_text(which == 0 ? l->speaker : which == 1 ? l->emotion : l->sentiment);
}

char *conv_summary(const conv_turn_t *t, size_t n)
{
    return json_msg_dump_free(json_pack("{s:o*,s:o*,s:o*,s:o*}", "summary", summary_json(t, n),
                                        "last_speaker", last_text(t, n, 0), "last_emotion",
                                        last_text(t, n, 1), "last_sentiment", last_text(t, n, 2)));
}

char *conv_status(const conv_turn_t *t, size_t n, const char *session_id)
{
    return json_msg_dump_free(json_pack(
        "{s:s,s:I,s:o*,s:o*,s:o*,s:o*}", "status", "active", "conversation_messages", (json_int_t)n,
        "last_speaker", last_text(t, n, 0), "last_emotion", last_text(t, n, 1), "last_sentiment",
        last_text(t, n, 2), "session_id", json_msg_text(session_id)));
}

char *conv_cleared(const char *session_id)
{
    return json_msg_dump_free(json_pack("{s:s,s:s,s:o*}", "status", "cleared", "message",
                                        "Conversation memory has been cleared", "session_id",
                                        json_msg_text(session_id)));
}

char *conv_webhook_answer(const char *session_id, const conv_suggestion_t *s)
{
    return json_msg_dump_free(json_pack("{s:o*,s:o*}", "session_id", json_msg_text(session_id),
                                        "suggestion", sugg_json(s)));
}

const char *conv_overall_sentiment(const conv_turn_t *t, size_t n)
{
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        pos += t[i].sentiment && strcmp(t[i].sentiment, "positive") == 0;
        neg += t[i].sentiment && strcmp(t[i].sentiment, "negative") == 0;
    }
    if (pos > neg) return "positive";
    if (neg > pos) return "negative";
    return pos ? "mixed" : "neutral";
}

/* Signals that make a message a key moment of a call. */
static int key_signal(const conv_suggestion_t *s)
{
    static const char *const keys[] = {"strong objection", "pricing objection",
                                       "buying signal",    "competitor mention",
                                       "urgency",          "interest expressed"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (conv_sugg_has_signal(s, keys[i])) return 1;
    return 0;
}

char *conv_batch_answer(const char *conv_id, const conv_input_t *ins, const conv_suggestion_t *s,
                        size_t n)
{
    json_t *list = json_array(), *keys = json_array();
    conv_turn_t *t = calloc(n ? n : 1, sizeof *t);
    if (!t) {
        json_decref(list);
        json_decref(keys);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = (conv_turn_t){ins[i].speaker, ins[i].sentiment, ins[i].emotion, ins[i].text};
        json_array_append_new(list, json_pack("{s:o*,s:o*}", "message", input_json(&ins[i]),
                                              "suggestion", sugg_json(&s[i])));
        if (!key_signal(&s[i])) continue;
        json_t *sig = json_array();
        for (int k = 0; sig && k < s[i].ns; k++)
            json_array_append_new(sig, json_msg_text(s[i].signals[k]));
        json_array_append_new(keys, json_pack("{s:I,s:s,s:o*,s:o*}", "index", (json_int_t)i,
                                              "speaker", ins[i].speaker, "text",
                                              json_msg_text(ins[i].text), "signals", sig));
    }
    json_t *o = json_pack("{s:o*,s:o*,s:o*,s:s,s:o*}", "conversation_id",
                          conv_id ? json_msg_text(conv_id) : json_null(), "suggestions", list,
                          "summary", summary_json(t, n), "overall_sentiment",
                          conv_overall_sentiment(t, n), "key_moments", keys);
    free(t);
    return json_msg_dump_free(o);
}

char *conv_critical_data(const char *session_id, const conv_input_t *in, const conv_suggestion_t *s)
{
    return json_msg_dump_free(json_pack("{s:o*,s:o*,s:o*}", "session_id", json_msg_text(session_id),
                                        "message", input_json(in), "suggestion", sugg_json(s)));
}
