/* Random identifiers: session ids, socket ids, external conversation ids,
 * UUIDs. From getrandom(2); should it fail (no entropy yet), from the
 * monotonic clock, so an id is always produced (unique enough for naming,
 * never used as a secret). */
#ifndef RAGWS_BASE_IDS_H
#define RAGWS_BASE_IDS_H

#include <stddef.h>

/* 2 * bytes lowercase hex digits and a NUL into out (bytes <= 16). */
void ids_random_hex(char *out, size_t bytes);

/* A random (version 4) UUID, 36 characters and a NUL. */
void ids_uuid4(char out[37]);

#endif
