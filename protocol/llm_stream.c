#include "protocol/llm_stream.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llm_parser_init(llm_stream_parser_t *p, int wire, size_t max_line)
{
    memset(p, 0, sizeof *p);
    p->wire = wire;
    p->max_line = max_line ? max_line : LLM_STREAM_MAX_LINE;
    p->state = LLM_PARSE_MORE;
    p->line.max = p->data.max = p->max_line;
}

void llm_parser_reset(llm_stream_parser_t *p)
{
    p->state = LLM_PARSE_MORE;
    buf_reset(&p->line);
    buf_reset(&p->data);
    p->has_data = 0;
    p->after_cr = 0;
    p->deltas = 0;
    p->error[0] = '\0';
    p->model[0] = '\0';
}

void llm_parser_free(llm_stream_parser_t *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
}

const char *llm_parser_error(const llm_stream_parser_t *p)
{
    return p->state == LLM_PARSE_ERROR ? p->error : "";
}

__attribute__((format(printf, 2, 3))) static int fail(llm_stream_parser_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    p->state = LLM_PARSE_ERROR;
    return p->state;
}

/* Copies s into out with control characters blanked, cut at a UTF-8
 * character boundary so the result stays valid text. */
static void clean_copy(char *out, size_t outlen, const char *s, size_t n)
{
    if (!outlen) return;
    if (n > outlen - 1) {
        n = outlen - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    /* Trim the blanks left by a trailing newline. */
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
}

/* The message of an error value: a string, or an object's "message". */
static int error_value_message(json_t *err, char *out, size_t outlen)
{
    json_t *m = err;
    if (json_is_object(err)) {
        m = json_object_get(err, "message");
        if (!json_is_string(m)) m = json_object_get(err, "type");
    }
    if (json_is_string(m) && json_string_length(m) > 0) {
        clean_copy(out, outlen, json_string_value(m), json_string_length(m));
        return 1;
    }
    return 0;
}

char *llm_error_message(const char *body, size_t len, char *out, size_t outlen)
{
    if (!outlen) return out;
    out[0] = '\0';
    json_t *root = json_loadb(body, len, 0, NULL);
    if (json_is_object(root)) {
        json_t *e = json_object_get(root, "error");
        if (!(e && error_value_message(e, out, outlen))) {
            json_t *m = json_object_get(root, "message");
            if (!json_is_string(m)) m = json_object_get(root, "detail");
            error_value_message(m, out, outlen);
        }
    }
    json_decref(root);
    if (!out[0]) clean_copy(out, outlen, body, len);
    return out;
}

static void emit(llm_stream_parser_t *p, json_t *content, llm_delta_fn fn, void *ud)
{
    if (json_is_string(content) && json_string_length(content) > 0) {
        p->deltas++;
        fn(ud, json_string_value(content), json_string_length(content));
    }
}

/* One JSON payload: an SSE event's data or an NDJSON line. */
static int handle_json(llm_stream_parser_t *p, const char *js, size_t len, llm_delta_fn fn,
                       void *ud)
{
    json_error_t jerr;
    json_t *root = json_loadb(js, len, 0, &jerr);
    if (!root) return fail(p, "invalid JSON from the backend: %s", jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(p, "unexpected JSON from the backend (not an object)");
    }
    json_t *err = json_object_get(root, "error");
    if (err && !json_is_null(err)) {
        char msg[200];
        if (!error_value_message(err, msg, sizeof msg))
            snprintf(msg, sizeof msg, "unspecified error");
        json_decref(root);
        return fail(p, "backend error: %s", msg);
    }
    json_t *model = json_object_get(root, "model");
    if (!p->model[0] && json_is_string(model)) /* who answers, in both formats */
        clean_copy(p->model, sizeof p->model, json_string_value(model), json_string_length(model));
    if (p->wire == LLM_WIRE_SSE) {
        json_t *c0 = json_array_get(json_object_get(root, "choices"), 0);
        json_t *delta = json_object_get(c0, "delta");
        if (delta)
            emit(p, json_object_get(delta, "content"), fn, ud);
        else /* legacy /v1/completions chunks */
            emit(p, json_object_get(c0, "text"), fn, ud);
    } else {
        json_t *msg = json_object_get(root, "message");
        if (msg)
            emit(p, json_object_get(msg, "content"), fn, ud);
        else /* /api/generate lines */
            emit(p, json_object_get(root, "response"), fn, ud);
        if (json_is_true(json_object_get(root, "done"))) p->state = LLM_PARSE_DONE;
    }
    json_decref(root);
    return p->state;
}

static int sse_dispatch(llm_stream_parser_t *p, llm_delta_fn fn, void *ud)
{
    if (!p->has_data) return p->state;
    p->has_data = 0;
    size_t n = p->data.len;
    const char *d = p->data.data;
    int state = p->state;
    while (n && (d[0] == ' ' || d[0] == '\t' || d[0] == '\n')) {
        d++;
        n--;
    }
    while (n && (d[n - 1] == ' ' || d[n - 1] == '\t' || d[n - 1] == '\n')) n--;
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0)
        state = p->state = LLM_PARSE_DONE;
    else if (n > 0) /* "data:" alone: nothing to say */
        state = handle_json(p, d, n, fn, ud);
    buf_reset(&p->data); /* after: d points into it */
    return state;
}

static int sse_line(llm_stream_parser_t *p, const char *line, size_t len, llm_delta_fn fn, void *ud)
{
    if (len == 0) return sse_dispatch(p, fn, ud);
    if (line[0] == ':') /* comment, often a keep-alive */
        return p->state;
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    if (flen != 4 || memcmp(line, "data", 4) != 0)
        return p->state; /* event:, id:, retry: and unknown fields */
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - v);
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    size_t need = vlen + (p->has_data ? 1 : 0);
    if (p->data.len + need > p->max_line)
        return fail(p, "event longer than %zu bytes", p->max_line);
    if ((p->has_data && buf_append_char(&p->data, '\n')) || buf_append(&p->data, v, vlen))
        return fail(p, "out of memory");
    p->has_data = 1;
    return p->state;
}

static int ndjson_line(llm_stream_parser_t *p, const char *line, size_t len, llm_delta_fn fn,
                       void *ud)
{
    while (len && (line[0] == ' ' || line[0] == '\t' || line[0] == '\r')) {
        line++;
        len--;
    }
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) len--;
    if (len == 0) return p->state;
    return handle_json(p, line, len, fn, ud);
}

static int process_line(llm_stream_parser_t *p, const char *line, size_t len, llm_delta_fn fn,
                        void *ud)
{
    return p->wire == LLM_WIRE_SSE ? sse_line(p, line, len, fn, ud)
                                   : ndjson_line(p, line, len, fn, ud);
}

/* Offset of the first line terminator in s[0..n), or n. SSE ends lines at
 * CR, LF or CRLF; NDJSON at LF (a CR before it is trimmed as whitespace).
 * A byte loop, not two memchr calls, so many short lines stay linear. */
static size_t find_eol(int wire, const char *s, size_t n)
{
    if (wire != LLM_WIRE_SSE) {
        const char *nl = memchr(s, '\n', n);
        return nl ? (size_t)(nl - s) : n;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r') return i;
    return n;
}

int llm_parser_feed(llm_stream_parser_t *p, const char *buf, size_t len, llm_delta_fn fn, void *ud)
{
    size_t i = 0;
    while (i < len && p->state == LLM_PARSE_MORE) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *s = buf + i;
        size_t rem = len - i;
        size_t k = find_eol(p->wire, s, rem);
        /* The limit applies to the whole line, however it was split. */
        if (p->line.len + k > p->max_line)
            return fail(p, "line longer than %zu bytes", p->max_line);
        if (k == rem) {
            if (buf_append(&p->line, s, k)) return fail(p, "out of memory");
            break;
        }
        if (p->line.len == 0) {
            process_line(p, s, k, fn, ud); /* whole line in this chunk: no copy */
        } else {
            if (buf_append(&p->line, s, k)) return fail(p, "out of memory");
            process_line(p, p->line.data, p->line.len, fn, ud);
            buf_reset(&p->line);
        }
        if (s[k] == '\r') p->after_cr = 1;
        i += k + 1;
    }
    return p->state;
}

int llm_parser_finish(llm_stream_parser_t *p, llm_delta_fn fn, void *ud)
{
    if (p->state != LLM_PARSE_MORE) return p->state;
    if (p->line.len) {
        process_line(p, p->line.data, p->line.len, fn, ud);
        buf_reset(&p->line);
    }
    if (p->state == LLM_PARSE_MORE && p->wire == LLM_WIRE_SSE) sse_dispatch(p, fn, ud);
    return p->state;
}
