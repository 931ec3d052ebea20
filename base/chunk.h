/* Text chunking for retrieval: where to cut a document into passages.
 *
 * Pure: no allocation, no I/O; works on UTF-8 bytes and returns spans into
 * the caller's text. Used by ingestion (`ragws ingest`) and its unit tests.
 */
#ifndef RAGWS_BASE_CHUNK_H
#define RAGWS_BASE_CHUNK_H

#include <stddef.h>

/* One chunk: bytes [start, start + len) of the text. */
typedef struct chunk_span {
    size_t start;
    size_t len;
} chunk_span_t;

/* Splits text into chunks of at most `target` characters (UTF-8 code
 * points), each cut preferably at a paragraph break (blank line), else
 * after a sentence end, else at whitespace, else anywhere between two
 * characters; a cut is looked for in the second half of the chunk so
 * chunks stay near `target`. Consecutive chunks share about `overlap`
 * characters (at most half a chunk, so chunking always moves forward),
 * starting at a word boundary. A form feed (page break) always ends a
 * chunk and is never overlapped, so each chunk lies on one page. Spans never start or end inside a
 * UTF-8 sequence and exclude whitespace at their edges; blank text gives
 * no chunk. Writes at most max spans to out (out may be NULL when max is
 * 0) and returns how many the whole text needs, like snprintf. */
size_t chunk_text(const char *text, size_t len, size_t target, size_t overlap, chunk_span_t *out,
                  size_t max);

#endif
