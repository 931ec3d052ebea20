#include "base/ids.h"

#include <stdio.h>
#include <sys/random.h>

#include "base/loop.h"

static void random_bytes(unsigned char *b, size_t n)
{
    if (getrandom(b, n, 0) == (ssize_t)n) return;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(loop_clock_ns() >> (8 * (i % 8)));
}

void ids_random_hex(char *out, size_t bytes)
{
    unsigned char b[16];
    if (bytes > sizeof b) bytes = sizeof b;
    random_bytes(b, bytes);
    for (size_t i = 0; i < bytes; i++) sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * bytes] = 0;
}

void ids_uuid4(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
