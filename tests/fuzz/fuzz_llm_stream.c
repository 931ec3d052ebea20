/* libFuzzer target for protocol/llm_stream.c. Input: one byte choosing the
 * wire format and line limit, one byte seeding the split points, then the
 * stream. Checks that the parser never crashes or leaks, never hands out an
 * empty delta, keeps its buffers within the line limit, and that splitting
 * the input differently never changes the result. Any violation aborts.
 *
 * The parser source is included (the Makefile links no library sources
 * for this target), so the build needs nothing but this file. */
#include "protocol/llm_stream.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

/* A running digest of the deltas: order, boundaries and bytes. */
typedef struct {
    uint64_t hash;
    uint32_t count;
    size_t bytes;
} digest_t;

static void on_delta(void *ud, const char *text, size_t len)
{
    digest_t *d = ud;
    REQUIRE(text != NULL && len > 0);
    d->count++;
    d->bytes += len;
    d->hash = (d->hash ^ len) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        d->hash = (d->hash ^ (unsigned char)text[i]) * 1099511628211ull;
    d->hash = (d->hash ^ 0xff) * 1099511628211ull;
}

typedef struct {
    int state;
    digest_t d;
    char error[256];
} outcome_t;

/* Feeds buf cut into pieces of 1..max_piece bytes chosen by seed (0: whole). */
static void parse(int wire, size_t max_line, const uint8_t *buf, size_t n, unsigned seed,
                  size_t max_piece, outcome_t *o)
{
    llm_stream_parser_t p;
    llm_parser_init(&p, wire, max_line);
    memset(o, 0, sizeof *o);
    o->d.hash = 1469598103934665603ull;
    size_t at = 0;
    while (at < n) {
        size_t piece = n - at;
        if (max_piece) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 16) % max_piece;
            if (want < piece) piece = want;
        }
        /* A copy of exactly the piece, so ASan catches reads past it. */
        char *copy = malloc(piece);
        REQUIRE(copy != NULL);
        memcpy(copy, buf + at, piece);
        int st = llm_parser_feed(&p, copy, piece, on_delta, &o->d);
        free(copy);
        REQUIRE(st == LLM_PARSE_MORE || st == LLM_PARSE_DONE || st == LLM_PARSE_ERROR);
        REQUIRE(st == p.state);
        /* The carried line never exceeds the limit; buffers stay near it. */
        REQUIRE(p.line.len <= p.max_line && p.data.len <= p.max_line);
        REQUIRE(p.line.cap <= 2 * p.max_line + 512 && p.data.cap <= 2 * p.max_line + 512);
        at += piece;
    }
    o->state = llm_parser_finish(&p, on_delta, &o->d);
    REQUIRE(p.deltas == o->d.count);
    const char *err = llm_parser_error(&p);
    REQUIRE((o->state == LLM_PARSE_ERROR) == (err[0] != '\0'));
    REQUIRE(strlen(err) < sizeof p.error);
    snprintf(o->error, sizeof o->error, "%s", err);
    llm_parser_free(&p);
}

static int same(const outcome_t *a, const outcome_t *b)
{
    return a->state == b->state && a->d.hash == b->d.hash && a->d.count == b->d.count &&
           a->d.bytes == b->d.bytes && strcmp(a->error, b->error) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {16, 64, 4096, 0};
    if (size < 2) return 0;
    int wire = data[0] & 1;
    size_t max_line = limits[(data[0] >> 1) & 3];
    unsigned seed = data[1];
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    outcome_t whole, split;
    parse(wire, max_line, in, n, 0, 0, &whole);
    REQUIRE(whole.d.bytes <= n);

    parse(wire, max_line, in, n, seed, 1 + (seed & 63), &split);
    REQUIRE(same(&whole, &split));
    if (n <= 2048) {
        parse(wire, max_line, in, n, seed, 1, &split); /* byte by byte */
        REQUIRE(same(&whole, &split));
    }

    /* The error-body helper takes anything too. */
    char msg[64];
    llm_error_message((const char *)in, n, msg, sizeof msg);
    REQUIRE(strlen(msg) < sizeof msg);
    for (size_t i = 0; msg[i]; i++) REQUIRE((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
    return 0;
}
