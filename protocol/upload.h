/* The answer of an accepted upload (POST /api/collections/{name}/documents,
 * 202): {"upload_id","task_id","filename","uploads":[{"upload_id",
 * "task_id","filename"},...]}, the top level naming the first file.
 * Returns a malloc'd NUL-terminated text (caller frees), NULL when out of
 * memory or n is 0. File names go through json_msg_text (valid UTF-8). */
#ifndef RAGWS_PROTOCOL_UPLOAD_H
#define RAGWS_PROTOCOL_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct upload_accepted {
    const char *upload_id;
    int64_t task_id;
    const char *filename;
} upload_accepted_t;

char *upload_accepted_json(const upload_accepted_t *files, size_t n);

#endif
