/* Error texts into a caller's buffer: the convention of every function that
 * reports "why" through (char *err, size_t errlen). */
#ifndef RAGWS_BASE_ERR_H
#define RAGWS_BASE_ERR_H

#include <stddef.h>

/* printf into err (when err and errlen are set); always returns -1, so a
 * failing function can `return err_set(err, errlen, "...", ...);`. */
int err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
