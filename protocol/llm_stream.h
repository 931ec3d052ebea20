/* Incremental parsers for the two streaming wire formats of LLM backends:
 *
 *   LLM_WIRE_SSE     OpenAI-compatible /v1/chat/completions with stream:true:
 *                    Server-Sent Events, "data: {json}" events ending with a
 *                    blank line, choices[0].delta.content, "data: [DONE]".
 *   LLM_WIRE_NDJSON  Ollama /api/chat: one JSON object per line,
 *                    {"message":{"content":".."},"done":false} ... {"done":true}.
 *
 * Pure: no IO, no clock. Feed bytes as they arrive, split anywhere; each
 * non-empty text delta is handed to a callback in order. Either format may
 * carry an error object ({"error":{"message":..}} or {"error":".."}), which
 * ends the stream with LLM_PARSE_ERROR and its message. A line (or SSE event)
 * longer than max_line is an error, so a hostile backend cannot grow memory
 * without bound. Fuzzed by tests/fuzz/fuzz_llm_stream.c. */
#ifndef RAGWS_PROTOCOL_LLM_STREAM_H
#define RAGWS_PROTOCOL_LLM_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum { LLM_WIRE_SSE = 0, LLM_WIRE_NDJSON = 1 };

enum {
    LLM_PARSE_MORE = 0,  /* keep feeding */
    LLM_PARSE_DONE = 1,  /* end marker seen; later input is ignored */
    LLM_PARSE_ERROR = -1 /* llm_parser_error() says why; later input is ignored */
};

#define LLM_STREAM_MAX_LINE ((size_t)1 << 20)

typedef void (*llm_delta_fn)(void *ud, const char *text, size_t len);

typedef struct llm_stream_parser {
    int wire;
    int state; /* LLM_PARSE_* */
    size_t max_line;
    buf_t line;      /* the incomplete line carried between feeds (max: max_line) */
    buf_t data;      /* SSE: data lines of the current event, '\n' joined (max: max_line) */
    int has_data;    /* SSE: a data field was seen (it may be empty) */
    int after_cr;    /* SSE: last byte was CR, so a LF right after belongs to it */
    uint32_t deltas; /* deltas handed out so far */
    char model[128]; /* the first "model" the backend's chunks name, or "" */
    char error[256];
} llm_stream_parser_t;

/* max_line 0 means LLM_STREAM_MAX_LINE. */
void llm_parser_init(llm_stream_parser_t *p, int wire, size_t max_line);
/* Back to the initial state, keeping the buffers (for a retried request). */
void llm_parser_reset(llm_stream_parser_t *p);
void llm_parser_free(llm_stream_parser_t *p);

/* Consumes len bytes; calls fn for every complete delta. Returns the state. */
int llm_parser_feed(llm_stream_parser_t *p, const char *buf, size_t len, llm_delta_fn fn, void *ud);

/* End of input: a last line without its terminator (or an SSE event without
 * its blank line) is still taken. Returns the state: LLM_PARSE_MORE here
 * means the stream ended without its end marker. */
int llm_parser_finish(llm_stream_parser_t *p, llm_delta_fn fn, void *ud);

/* The error message ("" unless the state is LLM_PARSE_ERROR). */
const char *llm_parser_error(const llm_stream_parser_t *p);

/* Best human message from an error body ({"error":{"message":..}},
 * {"error":".."}, {"message":..} or plain text), written into out
 * (control characters replaced, truncated). Returns out. */
char *llm_error_message(const char *body, size_t len, char *out, size_t outlen);

#endif
