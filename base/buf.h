/* One growable byte buffer, bounded: the only hand-made growable buffer
 * of the project (use it instead of writing another realloc loop).
 *
 * A buf_t owns `data` (heap, NUL-terminated after every append so it can
 * be used as a C string) until buf_free or buf_take. Growth doubles the
 * capacity and never goes past `max` bytes of content: an append that
 * would is refused (-1) and leaves the buffer unchanged, as does an
 * allocation failure. A zeroed buf_t is an empty buffer with no limit
 * (max 0 = SIZE_MAX / 2); give a real limit wherever outside input fills it. */
#ifndef RAGWS_BASE_BUF_H
#define RAGWS_BASE_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* content limit in bytes; 0: none */
} buf_t;

#define BUF_INIT(limit)                                                                            \
    {                                                                                              \
        .data = NULL, .len = 0, .cap = 0, .max = (limit)                                           \
    }

/* Room for `more` bytes after len (plus the NUL). 0, or -1 (over max, ENOMEM). */
int buf_reserve(buf_t *b, size_t more);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_append_str(buf_t *b, const char *s);
int buf_append_char(buf_t *b, char ch);
/* printf into the buffer; -1 (buffer unchanged) when it does not fit max. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (n > len drops all). */
void buf_consume(buf_t *b, size_t n);
/* Empty it, keeping the memory. */
void buf_reset(buf_t *b);
/* Free the memory; the buffer is empty and reusable (max kept). */
void buf_free(buf_t *b);
/* The content as a malloc'd NUL-terminated string (never NULL unless out of
 * memory); the buffer is left empty. The caller frees it. */
char *buf_take(buf_t *b);

#endif
