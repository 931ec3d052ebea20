/* Seed 003 inputs: InputMessage and the batch, validated the way FastAPI
 * (pydantic v2) reports errors. Encoders are in conversation_out.c. */
#include "protocol/conversation.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "protocol/json_msg.h"

const char CONV_PING[] = "{\"type\":\"ping\"}";
const char CONV_PONG[] = "{\"type\":\"pong\"}";

static void err_add(conv_errs_t *errs, const char *where, const char *list, int index,
                    const char *field, const char *type, const char *msg)
{
    if (errs->n >= CONV_ERRS_MAX) return;
    conv_err_t *e = &errs->e[errs->n++];
    snprintf(e->where, sizeof e->where, "%s", where);
    snprintf(e->list, sizeof e->list, "%s", list ? list : "");
    e->index = index;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

void conv_errs_query(conv_errs_t *errs, const char *name, const char *type, const char *msg)
{
    err_add(errs, "query", NULL, -1, name, type, msg);
}

int conv_session_valid(const char *s, size_t len)
{
    return len == strlen(s) && name_valid(s, len, CONV_SESSION_MAX, "_.:-");
}

/* A string field: required (or defaulted when def is not NULL), at most
 * max bytes (0: no limit), at least 1 character. *out: the value. */
static int str_field(json_t *o, const char *name, const char *def, size_t max, const char **out,
                     conv_errs_t *errs, const char *list, int index)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || (json_is_null(v) && def)) {
        if (def) {
            *out = def;
            return 0;
        }
        err_add(errs, "body", list, index, name, "missing", "Field required");
        return -1;
    }
    if (!json_is_string(v)) {
        err_add(errs, "body", list, index, name, "string_type", "Input should be a valid string");
        return -1;
    }
    size_t n = json_string_length(v);
    if (n == 0) {
        err_add(errs, "body", list, index, name, "string_too_short",
                "String should have at least 1 character");
        return -1;
    }
    if (max && n > max) {
        char m[96];
        snprintf(m, sizeof m, "String should have at most %zu characters", max);
        err_add(errs, "body", list, index, name, "string_too_long", m);
        return -1;
    }
    if (strlen(json_string_value(v)) != n) { /* a NUL inside */
        err_add(errs, "body", list, index, name, "string_type", "Input should be a valid string");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int input_from_json(json_t *o, conv_input_t *out, conv_errs_t *errs, const char *list,
                           int index)
{
    memset(out, 0, sizeof *out);
    out->stream = -1;
    if (!json_is_object(o)) {
        err_add(errs, "body", list, index, "", "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from");
        return -1;
    }
    const char *text, *speaker, *sentiment, *emotion;
    int bad = 0;
    bad |= str_field(o, "text", NULL, 0, &text, errs, list, index);
    bad |= str_field(o, "speaker", NULL, 0, &speaker, errs, list, index);
    if (speaker && strcmp(speaker, "client") != 0 && strcmp(speaker, "agent") != 0) {
        err_add(errs, "body", list, index, "speaker", "literal_error",
                "Input should be 'client' or 'agent'");
        bad = -1;
    }
    bad |= str_field(o, "sentiment", "neutral", CONV_LABEL_MAX, &sentiment, errs, list, index);
    bad |= str_field(o, "emotion", "neutral", CONV_LABEL_MAX, &emotion, errs, list, index);
    json_t *st = json_object_get(o, "stream");
    if (st && !json_is_boolean(st) && !json_is_null(st)) {
        err_add(errs, "body", list, index, "stream", "bool_type",
                "Input should be a valid boolean");
        bad = -1;
    }
    if (bad) return -1;
    out->text = strdup(text);
    if (!out->text) {
        err_add(errs, "body", list, index, "", "internal", "out of memory");
        return -1;
    }
    snprintf(out->speaker, sizeof out->speaker, "%s", speaker);
    snprintf(out->sentiment, sizeof out->sentiment, "%s", sentiment);
    snprintf(out->emotion, sizeof out->emotion, "%s", emotion);
    out->stream = st && json_is_boolean(st) ? json_is_true(st) : -1;
    return 0;
}

/* Any JSON value (FastAPI parses the body first: a syntax error is one
 * json_invalid error). */
static json_t *load_any(const char *data, size_t len, conv_errs_t *errs)
{
    json_error_t je;
    memset(errs, 0, sizeof *errs);
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        utf8_snprintf(errs->json_error, sizeof errs->json_error, "line %d, column %d: %s", je.line,
                      je.column, je.text);
        err_add(errs, "body", NULL, -1, "", "json_invalid", "JSON decode error");
    }
    return v;
}

int conv_input_parse(const char *data, size_t len, conv_input_t *out, conv_errs_t *errs)
{
    memset(out, 0, sizeof *out);
    json_t *v = load_any(data, len, errs);
    if (!v) return -1;
    int rc = input_from_json(v, out, errs, NULL, -1);
    json_decref(v);
    return rc;
}

void conv_input_free(conv_input_t *in)
{
    if (!in) return;
    free(in->text);
    in->text = NULL;
}

int conv_control_type(const char *data, size_t len)
{
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    int rc = 0;
    json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
    if (json_is_string(t) && !json_object_get(v, "text")) {
        if (strcmp(json_string_value(t), "ping") == 0) rc = 1;
        if (strcmp(json_string_value(t), "pong") == 0) rc = 2;
    }
    json_decref(v);
    return rc;
}

static void batch_free(conv_input_t *ins, size_t n)
{
    for (size_t i = 0; i < n; i++) conv_input_free(&ins[i]);
    free(ins);
}

static int batch_conv_id(json_t *v, char **conv_id, conv_errs_t *errs)
{
    json_t *cid = json_object_get(v, "conversation_id");
    *conv_id = NULL;
    if (!cid || json_is_null(cid)) return 0;
    if (!json_is_string(cid)) {
        err_add(errs, "body", NULL, -1, "conversation_id", "string_type",
                "Input should be a valid string");
        return -1;
    }
    *conv_id = strdup(json_string_value(cid));
    return 0;
}

int conv_batch_parse(const char *data, size_t len, size_t max, conv_input_t **ins, size_t *n_ins,
                     char **conv_id, conv_errs_t *errs)
{
    *ins = NULL;
    *n_ins = 0;
    *conv_id = NULL;
    json_t *v = load_any(data, len, errs);
    if (!v) return -1;
    json_t *msgs = json_is_object(v) ? json_object_get(v, "messages") : NULL;
    int bad = 0;
    if (!json_is_object(v)) {
        err_add(errs, "body", NULL, -1, "", "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from");
        bad = -1;
    } else if (!msgs) {
        err_add(errs, "body", NULL, -1, "messages", "missing", "Field required");
        bad = -1;
    } else if (!json_is_array(msgs)) {
        err_add(errs, "body", NULL, -1, "messages", "list_type", "Input should be a valid list");
        bad = -1;
    } else if (json_array_size(msgs) > max) {
        char m[96];
        snprintf(m, sizeof m, "List should have at most %zu items", max);
        err_add(errs, "body", NULL, -1, "messages", "too_long", m);
        bad = -1;
    }
    if (!bad && batch_conv_id(v, conv_id, errs) < 0) bad = -1;
    size_t n = bad ? 0 : json_array_size(msgs);
    conv_input_t *arr = n ? calloc(n, sizeof *arr) : NULL;
    if (n && !arr) bad = -1;
    for (size_t i = 0; arr && i < n; i++) {
        conv_errs_t one = {0};
        if (input_from_json(json_array_get(msgs, i), &arr[i], &one, "messages", (int)i) < 0) {
            for (int k = 0; k < one.n && errs->n < CONV_ERRS_MAX; k++)
                errs->e[errs->n++] = one.e[k];
            bad = -1;
        }
    }
    json_decref(v);
    if (bad) {
        batch_free(arr, n);
        free(*conv_id);
        *conv_id = NULL;
        return -1;
    }
    *ins = arr;
    *n_ins = n;
    return 0;
}

static void loc_text(const conv_err_t *e, char *out, size_t outlen)
{
    if (e->list[0])
        snprintf(out, outlen, "%s.%d%s%s", e->list, e->index, e->field[0] ? "." : "", e->field);
    else
        snprintf(out, outlen, "%s", e->field[0] ? e->field : e->where);
}

void conv_errs_text(const conv_errs_t *errs, char *out, size_t outlen)
{
    size_t off = (size_t)snprintf(out, outlen, "%d validation error%s for InputMessage", errs->n,
                                  errs->n == 1 ? "" : "s");
    for (int i = 0; i < errs->n && off < outlen; i++) {
        char loc[64];
        loc_text(&errs->e[i], loc, sizeof loc);
        const char *extra = strcmp(errs->e[i].type, "json_invalid") == 0 ? errs->json_error : "";
        off += (size_t)snprintf(out + off, outlen - off, "\n%s\n  %s%s%s [type=%s]", loc,
                                errs->e[i].msg, extra[0] ? ": " : "", extra, errs->e[i].type);
    }
}
