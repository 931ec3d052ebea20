/* `ragws ingest COLLECTION FILE...` (cli/ingest.h): each file through the
 * server's extractors (cli/ingest_extract.h) and chunker, stored by
 * cli/ingest_store.h, with progress on a terminal and a summary. */
#include "cli/ingest.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/chunk.h"
#include "base/loop.h"
#include "base/utf8.h"
#include "cli/db_admin.h"
#include "cli/ingest_extract.h"
#include "cli/ingest_store.h"

#define COLLECTION_MAX_BYTES 200
#define NAME_SHOWN_BYTES     40
#define BAR_WIDTH            24
#define DRAW_EVERY_NS        (100 * 1000000ull) /* a terminal line redrawn 10 times a second */

enum outcome { INDEXED, SKIPPED, FAILED };

/* The run: what the summary counts and what the progress line shows. */
typedef struct run {
    PGconn *conn;
    const char *collection;
    const ragws_config_t *cfg;
    int tty;
    int i, n; /* file i (1-based) of n */
    char shown[NAME_SHOWN_BYTES + 8];
    uint64_t last_draw;
    int drawn; /* a progress line is on the terminal */
    int indexed, skipped, failed;
    unsigned long long pages, chunks;
    char failed_names[1024]; /* for the summary, cut when long */
} run_t;

/* ---- progress on a terminal ---- */

static void clear_line(run_t *r)
{
    if (!r->drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    r->drawn = 0;
}

static void draw(run_t *r, uint32_t done, uint32_t total, const char *message, int force)
{
    if (!r->tty) return;
    uint64_t now = loop_clock_ns();
    if (!force && r->drawn && now - r->last_draw < DRAW_EVERY_NS) return;
    r->last_draw = now;
    char bar[BAR_WIDTH + 1] = "";
    if (total) {
        uint32_t fill = (uint32_t)((uint64_t)BAR_WIDTH * (done > total ? total : done) / total);
        for (uint32_t k = 0; k < BAR_WIDTH; k++) bar[k] = k < fill ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
    }
    fprintf(stderr, "\r\033[K[%d/%d] %s  %s", r->i, r->n, r->shown, message);
    if (total) fprintf(stderr, "  [%s] %u/%u pages", bar, done, total);
    fflush(stderr);
    r->drawn = 1;
}

static void on_progress(void *ud, const char *stage, uint32_t done, uint32_t total,
                        const char *message)
{
    (void)stage;
    draw(ud, done, total, message, done == total);
}

/* ---- one file ---- */

/* SHA-256 (hex) and size of the file's bytes; "FILE: why" on error. */
static int hash_file(const char *path, const ragws_config_t *cfg, char sha[65], uint64_t *size,
                     char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return db_admin_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
        rc = db_admin_fail(err, errlen, "%s: not a regular file", path);
    else if ((uint64_t)st.st_size > cfg->max_upload_bytes)
        rc = db_admin_fail(err, errlen, "%s: too large (%jd bytes, limits.max_upload_bytes is %zu)",
                           path, (intmax_t)st.st_size, cfg->max_upload_bytes);
    EVP_MD_CTX *md = rc == 0 ? EVP_MD_CTX_new() : NULL;
    if (rc == 0 && (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)))
        rc = db_admin_fail(err, errlen, "%s: out of memory", path);
    static unsigned char chunk[64 * 1024];
    size_t got;
    *size = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        *size += got;
        EVP_DigestUpdate(md, chunk, got);
    }
    if (rc == 0 && ferror(f)) rc = db_admin_fail(err, errlen, "%s: read error", path);
    unsigned char d[32];
    unsigned dl = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dl) && dl == 32)
        for (int k = 0; k < 32; k++) snprintf(sha + 2 * k, 3, "%02x", d[k]);
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

static void fail_file(run_t *r, const char *path, const char *err, const ingest_text_t *t)
{
    clear_line(r);
    fprintf(stderr, "ragws ingest: %s\n", err);
    /* The extractor's last warnings (a child's stderr) unless the error says it all. */
    const char *why = strncmp(err, path, strlen(path)) == 0 ? err + strlen(path) + 2 : err;
    for (int k = 0; t && k < t->n_tail; k++)
        if (!strstr(t->tail[k], why)) fprintf(stderr, "ragws ingest:   %s\n", t->tail[k]);
    r->failed++;
    size_t o = strlen(r->failed_names);
    if (o + strlen(path) + 8 < sizeof r->failed_names)
        snprintf(r->failed_names + o, sizeof r->failed_names - o, "%s%s", o ? ", " : "", path);
    else if (o + 8 < sizeof r->failed_names && !strstr(r->failed_names, ", ..."))
        snprintf(r->failed_names + o, sizeof r->failed_names - o, ", ...");
}

/* Chunks the text and stores it; prints the file's line. */
static enum outcome store_text(run_t *r, ingest_doc_t *d, const ingest_text_t *t, char *err,
                               size_t errlen)
{
    const ragws_config_t *cfg = r->cfg;
    size_t n = chunk_text(d->text, t->text.len, cfg->chunk_chars, cfg->chunk_overlap, NULL, 0);
    if (n == 0) {
        int textual = t->type == EXTRACT_TEXT || t->type == EXTRACT_MARKDOWN;
        db_admin_fail(err, errlen, "%s: no text to index (%s)", d->path,
                      textual ? "the file is empty or blank" : "no text found in it");
        return FAILED;
    }
    chunk_span_t *spans = calloc(n, sizeof *spans);
    if (!spans) {
        db_admin_fail(err, errlen, "%s: out of memory", d->path);
        return FAILED;
    }
    chunk_text(d->text, t->text.len, cfg->chunk_chars, cfg->chunk_overlap, spans, n);
    d->spans = spans;
    d->n = n;
    char doc_id[24], replaced[128] = "";
    int rc = ingest_store(r->conn, d, doc_id, replaced, sizeof replaced, err, errlen);
    free(spans);
    if (rc < 0) return FAILED;
    clear_line(r);
    if (rc == 1) {
        printf("unchanged %s in %s: already document %s, skipped\n", d->path, d->collection,
               doc_id);
        fflush(stdout);
        return SKIPPED;
    }
    printf("ingested %s into %s: document %s, %zu chunk%s, %u page%s%s%s%s\n", d->path,
           d->collection, doc_id, n, n == 1 ? "" : "s", d->pages, d->pages == 1 ? "" : "s",
           replaced[0] ? " (replaces document " : "", replaced, replaced[0] ? ")" : "");
    fflush(stdout);
    r->pages += d->pages;
    r->chunks += n;
    return INDEXED;
}

/* 0, or 1 when interrupted. */
static int ingest_one(run_t *r, const char *path)
{
    char err[2048], sha[65] = "", abs[PATH_MAX], doc_id[24];
    const char *slash = strrchr(path, '/');
    ingest_doc_t d = {.collection = r->collection,
                      .path = path,
                      .abs = realpath(path, abs) ? abs : path,
                      .filename = slash ? slash + 1 : path,
                      .sha = sha,
                      .chunk_chars = r->cfg->chunk_chars,
                      .chunk_overlap = r->cfg->chunk_overlap};
    size_t shown = utf8_prefix(d.filename, strlen(d.filename), NAME_SHOWN_BYTES);
    snprintf(r->shown, sizeof r->shown, "%.*s%s", (int)shown, d.filename,
             d.filename[shown] ? "..." : "");
    draw(r, 0, 0, "reading", 1);
    if (hash_file(path, r->cfg, sha, &d.size, err, sizeof err) < 0) {
        fail_file(r, path, err, NULL);
        return 0;
    }
    int found = ingest_store_find(r->conn, &d, doc_id, err, sizeof err);
    if (found != 0) {
        if (found < 0) {
            fail_file(r, path, err, NULL);
            return 0;
        }
        clear_line(r); /* nothing to extract: the content is there */
        printf("unchanged %s in %s: already document %s, skipped\n", path, r->collection, doc_id);
        fflush(stdout);
        r->skipped++;
        return 0;
    }
    ingest_text_t t;
    char xerr[1024];
    int rc = ingest_extract(path, &t, on_progress, r, xerr, sizeof xerr);
    enum outcome o = FAILED;
    if (rc == 1) {
        ingest_text_free(&t);
        return 1;
    }
    if (rc < 0) {
        utf8_snprintf(err, sizeof err, "%s: %s", path, xerr);
    } else {
        d.text = t.text.data ? t.text.data : "";
        d.pages = t.pages;
        d.content_type = extract_type_mime(t.type);
        d.paged = t.type != EXTRACT_MARKDOWN && t.type != EXTRACT_HTML;
        o = store_text(r, &d, &t, err, sizeof err);
    }
    if (o == FAILED) fail_file(r, path, err, &t);
    if (o == SKIPPED) r->skipped++;
    if (o == INDEXED) r->indexed++;
    ingest_text_free(&t);
    return 0;
}

/* ---- the run ---- */

static void summary(run_t *r, double secs, int interrupted)
{
    clear_line(r);
    fprintf(stderr,
            "ragws ingest: %d file%s%s: %d indexed, %d skipped, %d failed; %llu page%s, %llu "
            "chunk%s in %.1f s\n",
            r->n, r->n == 1 ? "" : "s", interrupted ? " (interrupted)" : "", r->indexed, r->skipped,
            r->failed, r->pages, r->pages == 1 ? "" : "s", r->chunks, r->chunks == 1 ? "" : "s",
            secs);
    if (r->failed && r->n > 1)
        fprintf(stderr, "ragws ingest: %d of %d files failed: %s\n", r->failed, r->n,
                r->failed_names);
}

int db_ingest_files(PGconn *conn, const char *collection, char *const *files, int n_files,
                    const ragws_config_t *cfg)
{
    size_t clen = strlen(collection);
    if (clen == 0 || clen > COLLECTION_MAX_BYTES || !utf8_valid(collection, clen, NULL)) {
        fprintf(stderr, "ragws ingest: bad collection name \"%s\" (1..%d bytes of UTF-8 text)\n",
                collection, COLLECTION_MAX_BYTES);
        return 1;
    }
    char err[512];
    if (ingest_extract_init(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "ragws ingest: %s\n", err);
        return 1;
    }
    run_t r = {.conn = conn, .collection = collection, .cfg = cfg, .tty = isatty(2), .n = n_files};
    uint64_t t0 = loop_clock_ns();
    int interrupted = 0;
    for (int i = 0; i < n_files && !interrupted; i++) {
        r.i = i + 1;
        if (PQstatus(conn) != CONNECTION_OK) PQreset(conn);
        interrupted = ingest_one(&r, files[i]);
    }
    summary(&r, (double)(loop_clock_ns() - t0) / 1e9, interrupted);
    ingest_extract_shutdown();
    if (interrupted) return 130;
    return r.failed ? 1 : 0;
}
