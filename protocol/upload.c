/* 202 answer of an upload; see upload.h. */
#include "protocol/upload.h"

#include <jansson.h>

#include "protocol/json_msg.h"

static json_t *one(const upload_accepted_t *f)
{
    return json_pack("{s:s, s:I, s:o}", "upload_id", f->upload_id, "task_id",
                     (json_int_t)f->task_id, "filename", json_msg_text(f->filename));
}

char *upload_accepted_json(const upload_accepted_t *files, size_t n)
{
    if (n == 0) return NULL;
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, one(&files[i])) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *top = list ? one(&files[0]) : NULL;
    if (!top) {
        json_decref(list);
        return NULL;
    }
    if (json_object_set_new(top, "uploads", list) < 0) { /* list taken either way */
        json_decref(top);
        return NULL;
    }
    return json_msg_dump_free(top);
}
