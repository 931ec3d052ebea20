/* Uploads streamed to disk, then queued; see rest_upload.h.
 *
 * Writes go to a regular file inline, on the loop: they land in the page
 * cache and do not wait for the disk (no fsync here; the task reads the
 * file back soon), which is acceptable for the loop. */
#include "worker/api/rest_upload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/utf8.h"
#include "protocol/ingest_events.h"
#include "protocol/multipart.h"
#include "protocol/upload.h"
#include "worker/api/rest_rag.h"
#include "worker/net/http.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/svc/ingest.h"

#define UP_MAX_FILES 16 /* file parts of one request */
#define UP_ID_LEN    23 /* "upload_" + 16 hex */
#define NAME_MAX_LEN 255
#define UP_PATH_MAX  (PATH_MAX + 32) /* upload_dir, '/', the id, ".part" */

enum { F_OPEN = 1, F_DONE, F_QUEUED };

typedef struct upload upload_t;

typedef struct up_file {
    upload_t *up;
    char id[UP_ID_LEN + 1];
    char name[NAME_MAX_LEN + 1];
    char ctype[MP_CTYPE_MAX];
    int fd;
    int state; /* F_*: 0 before the file exists */
    uint64_t size;
    int64_t declared; /* Content-Length of a raw body, -1 unknown */
    EVP_MD_CTX *md;
    char sha[65];
    uint64_t started_ms, last_ms;
    int64_t task_id;
} up_file_t;

struct upload {
    conn_t *c; /* NULL once the connection is gone */
    char collection[129];
    char project[129]; /* "" for none */
    char owner[ROUTE_SUB_MAX];
    int has_owner;
    mp_parser_t *mp; /* multipart body; NULL for a raw one */
    up_file_t *cur;  /* the file being written; NULL in a field part */
    size_t n;
    size_t pending; /* submits not answered yet */
    int failed;     /* a submit failed */
    up_file_t files[UP_MAX_FILES];
};

static int file_path(char *out, size_t len, const up_file_t *f, int part)
{
    int n = snprintf(out, len, "%s/%s%s", net->cfg->upload_dir, f->id, part ? ".part" : "");
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Every file of the request that no task owns goes. */
static void remove_files(upload_t *up)
{
    char path[UP_PATH_MAX];
    for (size_t i = 0; i < up->n; i++) {
        up_file_t *f = &up->files[i];
        if (f->state == F_OPEN || f->state == F_DONE) {
            if (f->fd >= 0) close(f->fd);
            f->fd = -1;
            if (file_path(path, sizeof path, f, f->state == F_OPEN) == 0) unlink(path);
            f->state = 0;
        }
    }
}

static void upload_free(upload_t *up)
{
    for (size_t i = 0; i < up->n; i++) {
        if (up->files[i].fd >= 0) close(up->files[i].fd);
        EVP_MD_CTX_free(up->files[i].md);
    }
    free(up->mp);
    free(up);
}

/* Answer (while the client is there), clean up, free. Returns -1. */
static int fail(upload_t *up, int status, const char *code, const char *message)
{
    if (up->c) http_respond_error(up->c, status, code, message);
    remove_files(up);
    upload_free(up);
    return -1;
}

static void publish(const up_file_t *f, char *msg)
{
    if (!msg) return;
    char ch[300];
    net_publish(INGEST_CH_UPLOAD, strlen(INGEST_CH_UPLOAD), msg, strlen(msg));
    int n = ingest_channel(ch, sizeof ch, INGEST_CH_UPLOAD, f->id);
    if (n > 0) net_publish(ch, (size_t)n, msg, strlen(msg));
    free(msg);
}

static void progress(up_file_t *f, uint64_t now, int final)
{
    double secs = (double)(now - f->started_ms) / 1000.0;
    double mbps = (double)f->size / (secs > 0.001 ? secs : 0.001) / 1e6;
    f->last_ms = now;
    publish(f, ingest_upload_progress(f->id, f->name, f->size,
                                      final ? (int64_t)f->size : f->declared, mbps));
}

/* mkdir -p with 0700 for what it creates. */
static int ensure_dir(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char keep = p[i];
        p[i] = 0;
        if (mkdir(p, 0700) < 0 && errno != EEXIST) return -1;
        p[i] = keep;
    }
    return 0;
}

/* The client's file name, basename only: valid UTF-8, no control
 * characters (C0, DEL, C1), 1..255 bytes, not "." or "..". */
static int clean_name(const char *in, size_t len, char out[NAME_MAX_LEN + 1])
{
    const char *s = in;
    for (size_t i = 0; i < len; i++)
        if (in[i] == '/' || in[i] == '\\') s = in + i + 1;
    size_t n = (size_t)(in + len - s);
    if (n == 0 || n > NAME_MAX_LEN || !utf8_valid(s, n, NULL)) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return -1;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f) return -1;
    }
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

/* A new file of the request: <upload_dir>/<id>.part, the hash started,
 * upload_started sent. -1 when it failed (answered, freed). */
static int open_file(upload_t *up, const char *name, const char *ctype, int64_t declared)
{
    if (up->n == UP_MAX_FILES) return fail(up, 400, "VALIDATION_ERROR", "too many files");
    up_file_t *f = &up->files[up->n++];
    f->up = up;
    f->fd = -1;
    f->declared = declared;
    memcpy(f->id, "upload_", 7);
    ids_random_hex(f->id + 7, 8);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->ctype, sizeof f->ctype, "%s", ctype ? ctype : "");
    char path[UP_PATH_MAX];
    if (file_path(path, sizeof path, f, 1) < 0)
        return fail(up, 503, "STORAGE_UNAVAILABLE", "ingest.upload_dir is too long");
    f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        log_warn("upload: cannot create %s: %s", path, strerror(errno));
        return fail(up, 503, "STORAGE_UNAVAILABLE", "cannot store the upload");
    }
    f->state = F_OPEN;
    f->md = EVP_MD_CTX_new();
    if (!f->md || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
        return fail(up, 500, "INTERNAL_ERROR", "out of memory");
    f->started_ms = f->last_ms = loop_now_ms(net->loop);
    up->cur = f;
    publish(f, ingest_upload_started(f->id, f->name, declared, -1));
    return 0;
}

/* Data of the current file: limit, hash, disk, progress. */
static int write_span(upload_t *up, const char *p, size_t n)
{
    up_file_t *f = up->cur;
    if (!f) return 0; /* a form field: ignored */
    if (f->size + n > net->cfg->max_upload_bytes)
        return fail(up, 413, "PAYLOAD_TOO_LARGE", "file over limits.max_upload_bytes");
    if (EVP_DigestUpdate(f->md, p, n) != 1) return fail(up, 500, "INTERNAL_ERROR", "hash failed");
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            log_warn("upload %s: write failed: %s", f->id, strerror(errno));
            return fail(up, 503, "STORAGE_UNAVAILABLE", "cannot store the upload");
        }
        p += w;
        n -= (size_t)w;
        f->size += (uint64_t)w;
        stats_add(&net->stats->upload_bytes, (uint64_t)w);
    }
    uint64_t now = loop_now_ms(net->loop);
    if (now - f->last_ms >= net->cfg->ingest_progress_ms) progress(f, now, 0);
    return 0;
}

/* The current file is complete: hash out, closed, renamed, last progress. */
static int finish_file(upload_t *up)
{
    up_file_t *f = up->cur;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(f->md, md, &mdlen) != 1 || mdlen != 32)
        return fail(up, 500, "INTERNAL_ERROR", "hash failed");
    for (unsigned i = 0; i < mdlen; i++) snprintf(f->sha + 2 * i, 3, "%02x", md[i]);
    char from[UP_PATH_MAX], to[UP_PATH_MAX];
    int bad = close(f->fd) < 0;
    f->fd = -1;
    if (bad || file_path(from, sizeof from, f, 1) < 0 || file_path(to, sizeof to, f, 0) < 0 ||
        rename(from, to) < 0)
        return fail(up, 503, "STORAGE_UNAVAILABLE", "cannot store the upload");
    f->state = F_DONE;
    progress(f, loop_now_ms(net->loop), 1);
    up->cur = NULL;
    return 0;
}

static int part_begin(upload_t *up)
{
    const mp_part_t *part = &up->mp->part;
    up->cur = NULL;
    if (!part->has_filename) return 0;
    char name[NAME_MAX_LEN + 1];
    if (clean_name(part->filename, part->filename_len, name) < 0)
        return fail(up, 400, "VALIDATION_ERROR", "bad file name");
    return open_file(up, name, part->content_type[0] ? part->content_type : NULL, -1);
}

static int multipart_data(upload_t *up, const char *p, size_t n)
{
    while (n) {
        size_t used, dlen;
        const char *d;
        int rc = mp_feed(up->mp, p, n, &used, &d, &dlen);
        p += used;
        n -= used;
        if (rc == MP_ERROR) return fail(up, 400, "VALIDATION_ERROR", up->mp->error);
        if (rc == MP_PART_BEGIN && part_begin(up) < 0) return -1;
        if (rc == MP_DATA && write_span(up, d, dlen) < 0) return -1;
        if (rc == MP_PART_END && up->cur && finish_file(up) < 0) return -1;
        if (rc == MP_NEED) break;
    }
    return 0;
}

static int on_data(conn_t *c, void *ud, const char *p, size_t n)
{
    upload_t *up = ud;
    return up->mp ? multipart_data(up, p, n) : write_span(up, p, n);
}

/* Every submit answered: 202 or 503, then the files no task took go. */
static void answer(upload_t *up)
{
    conn_t *c = up->c;
    if (c) {
        upload_accepted_t acc[UP_MAX_FILES];
        for (size_t i = 0; i < up->n; i++)
            acc[i] = (upload_accepted_t){up->files[i].id, up->files[i].task_id, up->files[i].name};
        char *s = up->failed ? NULL : upload_accepted_json(acc, up->n);
        if (s)
            http_respond(c, 202, "application/json", s, strlen(s), NULL);
        else
            http_respond_error(c, 503, "STORAGE_UNAVAILABLE",
                               "PostgreSQL is unavailable; the upload was not stored, retry "
                               "shortly");
        free(s);
        http_end_async(c);
    }
    remove_files(up);
    upload_free(up);
}

static void on_submitted(void *ud, int64_t task_id, const char *code, const char *message)
{
    up_file_t *f = ud;
    upload_t *up = f->up;
    if (task_id > 0) {
        f->task_id = task_id;
        f->state = F_QUEUED;
    } else {
        up->failed = 1;
        log_warn("upload %s: not queued: %s %s", f->id, code ? code : "", message ? message : "");
    }
    if (--up->pending == 0) answer(up);
}

/* The client went away while the submits were out: their answers still
 * come (the upload is freed then, and the files no task took removed). */
static void on_conn_gone(conn_t *c, void *data)
{
    upload_t *up = data;
    up->c = NULL;
}

static void submit_all(upload_t *up, const http_request_t *req)
{
    if (!http_begin_async(up->c, req, on_conn_gone, up)) {
        fail(up, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    up->pending = 1; /* held until every submit went out */
    char path[UP_PATH_MAX];
    for (size_t i = 0; i < up->n; i++) {
        up_file_t *f = &up->files[i];
        file_path(path, sizeof path, f, 0);
        ingest_upload_t u = {
            .upload_id = f->id,
            .collection = up->collection,
            .filename = f->name,
            .content_type = f->ctype[0] ? f->ctype : NULL,
            .path = path,
            .size_bytes = f->size,
            .sha256_hex = f->sha,
            .project_id = up->project[0] ? up->project : NULL,
            .owner = up->has_owner ? up->owner : NULL,
        };
        up->pending++;
        if (!ingest_submit(&u, on_submitted, f)) {
            up->pending--;
            up->failed = 1;
        }
    }
    if (--up->pending == 0) answer(up);
}

static void on_end(conn_t *c, const http_request_t *req, void *ud)
{
    upload_t *up = ud;
    if (up->mp) {
        if (mp_finish(up->mp) < 0) {
            fail(up, 400, "VALIDATION_ERROR", up->mp->error);
            return;
        }
        if (up->n == 0) {
            fail(up, 400, "VALIDATION_ERROR", "no file part in the multipart body");
            return;
        }
    } else if (finish_file(up) < 0) {
        return;
    }
    submit_all(up, req);
}

static void on_abort(conn_t *c, void *ud, const char *why)
{
    upload_t *up = ud;
    log_debug("upload aborted: %s", why);
    up->c = NULL;
    fail(up, 0, NULL, NULL);
}

static const http_body_ops_t upload_ops = {on_data, on_end, on_abort};

/* A raw body: ?filename= names it, Content-Length (if any) bounds it. */
static int raw_begin(upload_t *up, const http_request_t *req, const http_header_t *ct)
{
    char q[1024], name[NAME_MAX_LEN + 1], ctype[MP_CTYPE_MAX];
    int n = http_query_param(req, "filename", q, sizeof q);
    if (n < 0) return fail(up, 400, "VALIDATION_ERROR", "?filename= is required for a raw body");
    if (clean_name(q, (size_t)n, name) < 0)
        return fail(up, 400, "VALIDATION_ERROR", "bad file name");
    if (req->has_content_length && req->content_length > net->cfg->max_upload_bytes)
        return fail(up, 413, "PAYLOAD_TOO_LARGE", "file over limits.max_upload_bytes");
    ctype[0] = 0;
    if (ct && ct->value_len < sizeof ctype) {
        memcpy(ctype, ct->value, ct->value_len);
        ctype[ct->value_len] = 0;
    }
    return open_file(up, name, ctype[0] ? ctype : NULL,
                     req->chunked ? -1 : (int64_t)req->content_length);
}

static int upload_begin(upload_t *up, const http_request_t *req, const route_params_t *params)
{
    int n = http_query_param(req, "project_id", up->project, sizeof up->project);
    if (req->query && n == 0) return fail(up, 400, "VALIDATION_ERROR", "empty project_id");
    if (n < 0) up->project[0] = 0;
    if (params->owner) {
        snprintf(up->owner, sizeof up->owner, "%s", params->owner);
        up->has_owner = 1;
    }
    if (ensure_dir(net->cfg->upload_dir) < 0) {
        log_warn("upload: cannot create %s: %s", net->cfg->upload_dir, strerror(errno));
        return fail(up, 503, "STORAGE_UNAVAILABLE", "cannot store the upload");
    }
    const http_header_t *ct = http_find_header(req, "Content-Type");
    if (!ct || ct->value_len < 10 || strncasecmp(ct->value, "multipart/", 10) != 0)
        return raw_begin(up, req, ct);
    char boundary[MP_BOUNDARY_MAX + 1];
    if (mp_boundary(ct->value, ct->value_len, boundary) < 0)
        return fail(up, 400, "VALIDATION_ERROR", "multipart/form-data with a boundary expected");
    up->mp = malloc(sizeof *up->mp);
    if (!up->mp || mp_init(up->mp, boundary) < 0)
        return fail(up, 500, "INTERNAL_ERROR", "out of memory");
    return 0;
}

void rest_upload(conn_t *c, const http_request_t *req, const route_params_t *params,
                 const char *body, size_t len)
{
    char seg[129];
    if (!rest_segment_param(c, params, "name", seg, "bad collection name")) return;
    upload_t *up = calloc(1, sizeof *up);
    if (!up) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    up->c = c;
    memcpy(up->collection, seg, sizeof seg);
    if (upload_begin(up, req, params) == 0) http_body_stream(c, &upload_ops, up);
}
