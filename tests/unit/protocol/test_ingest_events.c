/* protocol/ingest_events.c: every ingestion event parsed back field by
 * field; a text argument that is not UTF-8 gives NULL (nothing sent). */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/ingest_events.h"

#include <ctype.h>
#include <stdlib.h>

#define UID   "upload_0123456789abcdef"
#define FNAME "Résumé été 🚀.pdf"
#define TS    "2024-08-15T10:30:00.123Z"

static int is_null(json_t *v, const char *path) { return json_is_null(jget(v, path)); }

static void test_channel(void)
{
    char buf[300];
    CHECK_EQ_INT(ingest_channel(buf, sizeof buf, INGEST_CH_UPLOAD, UID), 7 + 23);
    CHECK_EQ_STR(buf, "upload:" UID);
    CHECK_EQ_INT(ingest_channel(buf, sizeof buf, INGEST_CH_COLLECTIONS, "docs"), 16);
    CHECK_EQ_STR(buf, "collections:docs");
    CHECK_EQ_INT(ingest_channel(buf, 10, INGEST_CH_UPLOAD, UID), -1); /* does not fit */
    char key[290];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    CHECK_EQ_INT(ingest_channel(buf, sizeof buf, "a", key), -1); /* over 255 bytes */
    key[253] = 0;
    CHECK_EQ_INT(ingest_channel(buf, sizeof buf, "a", key), 255);
}

static void test_upload_started(void)
{
    char *s = ingest_upload_started(UID, FNAME, 2048576, 15);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 2);
    CHECK_EQ_STR(jstr(v, "type"), "upload_started");
    CHECK_EQ_INT(jsize(v, "data"), 4);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.file_size"), 2048576);
    CHECK(jnum(v, "data.estimated_time") == 15);
    json_decref(v);
    free(s);
    s = ingest_upload_started(UID, T_TRICKY, -1, -1); /* chunked: size unknown */
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.filename"), T_TRICKY);
    CHECK(is_null(v, "data.file_size") && is_null(v, "data.estimated_time"));
    json_decref(v);
    free(s);
    CHECK(ingest_upload_started(UID, T_BAD, 1, 1) == NULL);
    CHECK(ingest_upload_started(T_BAD, FNAME, 1, 1) == NULL);
    CHECK(ingest_upload_started(UID, NULL, 1, 1) == NULL);
}

static void test_upload_progress(void)
{
    char *s = ingest_upload_progress(UID, FNAME, 1024000, 3072000, 1.23456);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "upload_progress");
    CHECK_EQ_INT(jsize(v, "data"), 6);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.bytes_uploaded"), 1024000);
    CHECK_EQ_INT(jint(v, "data.total_bytes"), 3072000);
    CHECK(jnum(v, "data.progress") == 0.3333);  /* 4 decimals */
    CHECK(jnum(v, "data.speed_mbps") == 1.235); /* 3 decimals */
    CHECK(has(s, "\"progress\":0.3333,"));
    json_decref(v);
    free(s);
    s = ingest_upload_progress(UID, FNAME, 5000, -1, 0.5); /* chunked */
    v = jparse(s);
    CHECK(is_null(v, "data.total_bytes") && is_null(v, "data.progress"));
    CHECK_EQ_INT(jint(v, "data.bytes_uploaded"), 5000);
    json_decref(v);
    free(s);
    s = ingest_upload_progress(UID, FNAME, 9, 3, 0); /* never over 1 */
    v = jparse(s);
    CHECK(jnum(v, "data.progress") == 1.0);
    json_decref(v);
    free(s);
    CHECK(ingest_upload_progress(UID, T_BAD, 1, 2, 0) == NULL);
}

static void test_processing_progress(void)
{
    char *s = ingest_processing_progress(UID, FNAME, "ocr", 0.123456, "Page 2/5 : reconnaissance");
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "processing_progress");
    CHECK_EQ_INT(jsize(v, "data"), 5);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_STR(jstr(v, "data.stage"), "ocr");
    CHECK(jnum(v, "data.progress") == 0.1235);
    CHECK_EQ_STR(jstr(v, "data.message"), "Page 2/5 : reconnaissance");
    json_decref(v);
    free(s);
    s = ingest_processing_progress(UID, FNAME, "queued", -3, NULL);
    v = jparse(s);
    CHECK(jnum(v, "data.progress") == 0 && is_null(v, "data.message"));
    json_decref(v);
    free(s);
    CHECK(ingest_processing_progress(UID, FNAME, "ocr", 0.5, T_BAD) == NULL);
}

static void test_chunking_embedding(void)
{
    char *s = ingest_chunking_progress(UID, FNAME, 8, 15);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "chunking_progress");
    CHECK_EQ_INT(jsize(v, "data"), 5);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.chunks_processed"), 8);
    CHECK_EQ_INT(jint(v, "data.total_chunks"), 15);
    CHECK(jnum(v, "data.progress") == 0.5333);
    json_decref(v);
    free(s);
    s = ingest_embedding_progress(UID, FNAME, 10, 15);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "embedding_progress");
    CHECK_EQ_INT(jsize(v, "data"), 5);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.embeddings_generated"), 10);
    CHECK_EQ_INT(jint(v, "data.total_embeddings"), 15);
    CHECK(jnum(v, "data.progress") == 0.6667);
    json_decref(v);
    free(s);
    s = ingest_embedding_progress(UID, FNAME, 0, 0);
    v = jparse(s);
    CHECK(json_is_number(jget(v, "data.progress")) && jnum(v, "data.progress") == 0);
    json_decref(v);
    free(s);
    CHECK(ingest_chunking_progress(T_BAD, FNAME, 1, 2) == NULL);
    CHECK(ingest_embedding_progress(UID, T_BAD, 1, 2) == NULL);
}

static void test_upload_complete(void)
{
    char *s = ingest_upload_complete(UID, FNAME, 456, 12.54321, 15, "success", NULL);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "upload_complete");
    CHECK_EQ_INT(jsize(v, "data"), 7);
    CHECK_EQ_STR(jstr(v, "data.upload_id"), UID);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.document_id"), 456);
    CHECK(jnum(v, "data.total_time") == 12.543);
    CHECK_EQ_INT(jint(v, "data.chunks_created"), 15);
    CHECK_EQ_STR(jstr(v, "data.status"), "success");
    CHECK(is_null(v, "data.error"));
    json_decref(v);
    free(s);
    s = ingest_upload_complete(UID, FNAME, 0, 1, 0, "failed", "pdftotext : délai dépassé ⏱");
    v = jparse(s);
    CHECK(is_null(v, "data.document_id"));
    CHECK_EQ_STR(jstr(v, "data.status"), "failed");
    CHECK_EQ_STR(jstr(v, "data.error"), "pdftotext : délai dépassé ⏱");
    json_decref(v);
    free(s);
    CHECK(ingest_upload_complete(UID, FNAME, 1, 1, 1, "failed", T_BAD) == NULL);
}

static void test_collections(void)
{
    char *s = ingest_document_added("recherche", 789, FNAME, 18, TS);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 3);
    CHECK_EQ_STR(jstr(v, "type"), "document_added");
    CHECK_EQ_STR(jstr(v, "collection"), "recherche");
    CHECK_EQ_INT(jsize(v, "data"), 4);
    CHECK_EQ_INT(jint(v, "data.document_id"), 789);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.chunks_added"), 18);
    CHECK_EQ_STR(jstr(v, "data.timestamp"), TS);
    json_decref(v);
    free(s);
    s = ingest_document_deleted("recherche", 789, FNAME, 18, TS);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "document_deleted");
    CHECK_EQ_STR(jstr(v, "collection"), "recherche");
    CHECK_EQ_INT(jsize(v, "data"), 4);
    CHECK_EQ_INT(jint(v, "data.document_id"), 789);
    CHECK_EQ_STR(jstr(v, "data.filename"), FNAME);
    CHECK_EQ_INT(jint(v, "data.chunks_removed"), 18);
    CHECK_EQ_STR(jstr(v, "data.timestamp"), TS);
    json_decref(v);
    free(s);
    s = ingest_collection_stats("recherche", 51, 768, 127.34567, TS);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "collection_stats");
    CHECK_EQ_STR(jstr(v, "collection"), "recherche");
    CHECK_EQ_INT(jsize(v, "data"), 4);
    CHECK_EQ_INT(jint(v, "data.total_documents"), 51);
    CHECK_EQ_INT(jint(v, "data.total_chunks"), 768);
    CHECK(jnum(v, "data.storage_size_mb") == 127.346);
    CHECK_EQ_STR(jstr(v, "data.last_updated"), TS);
    json_decref(v);
    free(s);
    CHECK(ingest_document_added(T_BAD, 1, FNAME, 1, TS) == NULL);
    CHECK(ingest_document_deleted("c", 1, T_BAD, 1, TS) == NULL);
    CHECK(ingest_collection_stats(T_BAD, 1, 1, 1, TS) == NULL);
}

static void test_indexing_progress(void)
{
    char *s = ingest_indexing_progress(42, FNAME, "indexing", 0.75);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 5);
    CHECK_EQ_STR(jstr(v, "type"), "indexing_progress");
    CHECK_EQ_INT(jint(v, "document_id"), 42);
    CHECK_EQ_STR(jstr(v, "filename"), FNAME);
    CHECK_EQ_STR(jstr(v, "stage"), "indexing");
    CHECK(jnum(v, "progress") == 0.75);
    json_decref(v);
    free(s);
    s = ingest_indexing_progress(0, FNAME, "text_extraction", 2);
    v = jparse(s);
    CHECK(is_null(v, "document_id") && jnum(v, "progress") == 1);
    json_decref(v);
    free(s);
    CHECK(ingest_indexing_progress(1, T_BAD, "x", 0) == NULL);
}

static void test_sio(void)
{
    json_t *d = ingest_sio_document_status(7, FNAME, "processing", 33.3333);
    CHECK(d != NULL);
    CHECK_EQ_INT(jsize(d, NULL), 4);
    CHECK_EQ_INT(jint(d, "document_id"), 7);
    CHECK_EQ_STR(jstr(d, "status"), "processing");
    CHECK(jnum(d, "progress") == 33.33);
    CHECK_EQ_STR(jstr(d, "filename"), FNAME);
    json_decref(d);
    d = ingest_sio_document_status(0, FNAME, "completed", 150);
    CHECK(is_null(d, "document_id") && jnum(d, "progress") == 100);
    json_decref(d);
    CHECK(ingest_sio_document_status(1, T_BAD, "failed", 0) == NULL);
    d = ingest_sio_project_update("document_added", 9, FNAME);
    CHECK_EQ_INT(jsize(d, NULL), 2);
    CHECK_EQ_STR(jstr(d, "type"), "document_added");
    json_t *inner = json_object_get(d, "data");
    CHECK_EQ_INT(jint(inner, "document_id"), 9);
    CHECK_EQ_STR(jstr(inner, "filename"), FNAME);
    json_decref(d);
    CHECK(ingest_sio_project_update("document_deleted", 9, T_BAD) == NULL);
}

static ingest_task_view_t sample_task(void)
{
    return (ingest_task_view_t){
        .id = 12,
        .upload_id = UID,
        .filename = FNAME,
        .collection = "recherche",
        .status = "extracting",
        .progress = 0.456789,
        .document_id = 0,
        .content_type = "application/pdf",
        .size_bytes = 2048576,
        .pages = 5,
        .pages_done = 2,
        .chunks = 0,
        .attempts = 1,
        .error = NULL,
        .created_at = 1723717800.123, /* 2024-08-15T10:30:00.123Z */
        .started_at = 1723717801.5,
        .finished_at = 0,
    };
}

static void check_task(json_t *t)
{
    CHECK_EQ_INT(jsize(t, NULL), 18);
    CHECK_EQ_INT(jint(t, "id"), 12);
    CHECK_EQ_INT(jint(t, "task_id"), 12);
    CHECK_EQ_STR(jstr(t, "upload_id"), UID);
    CHECK_EQ_STR(jstr(t, "filename"), FNAME);
    CHECK_EQ_STR(jstr(t, "collection"), "recherche");
    CHECK_EQ_STR(jstr(t, "status"), "extracting");
    CHECK(jnum(t, "progress") == 0.4568);
    CHECK(is_null(t, "document_id"));
    CHECK_EQ_STR(jstr(t, "content_type"), "application/pdf");
    CHECK_EQ_INT(jint(t, "size_bytes"), 2048576);
    CHECK_EQ_INT(jint(t, "pages"), 5);
    CHECK_EQ_INT(jint(t, "pages_done"), 2);
    CHECK_EQ_INT(jint(t, "chunks"), 0);
    CHECK_EQ_INT(jint(t, "attempts"), 1);
    CHECK(is_null(t, "error"));
    CHECK_EQ_STR(jstr(t, "created_at"), "2024-08-15T10:30:00.123Z");
    CHECK_EQ_STR(jstr(t, "started_at"), "2024-08-15T10:30:01.500Z");
    CHECK(is_null(t, "finished_at"));
}

static void test_task_json(void)
{
    ingest_task_view_t t = sample_task();
    json_t *j = ingest_task_json(&t);
    check_task(j);
    json_decref(j);
    t.upload_id = t.filename = t.collection = t.content_type = NULL;
    t.status = "failed";
    t.error = "tesseract : langue « fra » absente";
    t.document_id = 3;
    t.finished_at = 1723717900;
    j = ingest_task_json(&t);
    CHECK(is_null(j, "upload_id") && is_null(j, "filename") && is_null(j, "collection"));
    CHECK(is_null(j, "content_type"));
    CHECK_EQ_STR(jstr(j, "error"), "tesseract : langue « fra » absente");
    CHECK_EQ_INT(jint(j, "document_id"), 3);
    CHECK_EQ_STR(jstr(j, "finished_at"), "2024-08-15T10:31:40.000Z");
    json_decref(j);
    t.filename = T_BAD;
    CHECK(ingest_task_json(&t) == NULL);
    t.filename = NULL;
    t.status = NULL;
    CHECK(ingest_task_json(&t) == NULL);
}

static void test_task_messages(void)
{
    ingest_task_view_t t[2] = {sample_task(), sample_task()};
    t[1].id = 13;
    t[1].status = "queued";
    char *s = ingest_task_update(&t[0]);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 2);
    CHECK_EQ_STR(jstr(v, "type"), "task_update");
    check_task(jget(v, "task"));
    json_decref(v);
    free(s);
    s = ingest_active_tasks(t, 2);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "active_tasks");
    CHECK_EQ_INT(jsize(v, "tasks"), 2);
    check_task(jget(v, "tasks.0"));
    CHECK_EQ_INT(jint(v, "tasks.1.id"), 13);
    CHECK_EQ_STR(jstr(v, "tasks.1.status"), "queued");
    json_decref(v);
    free(s);
    s = ingest_active_tasks(NULL, 0);
    CHECK_EQ_STR(s, "{\"type\":\"active_tasks\",\"tasks\":[]}");
    free(s);
    t[1].filename = T_BAD;
    CHECK(ingest_active_tasks(t, 2) == NULL);
    CHECK(ingest_task_update(&t[1]) == NULL);

    s = ingest_task_log(12, "warning", "pdftoppm : page 3 illisible 📄", TS);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 5);
    CHECK_EQ_STR(jstr(v, "type"), "task_log");
    CHECK_EQ_INT(jint(v, "task_id"), 12);
    CHECK_EQ_STR(jstr(v, "level"), "warning");
    CHECK_EQ_STR(jstr(v, "message"), "pdftoppm : page 3 illisible 📄");
    CHECK_EQ_STR(jstr(v, "timestamp"), TS);
    json_decref(v);
    free(s);
    s = ingest_task_log(12, "info", "now", NULL); /* NULL timestamp: now */
    v = jparse(s);
    CHECK(jstr(v, "timestamp") && strlen(jstr(v, "timestamp")) == 24);
    json_decref(v);
    free(s);
    CHECK(ingest_task_log(12, "info", T_BAD, TS) == NULL);
}

static const ingest_figures_t FIG = {
    .active_tasks = 2,
    .queued_tasks = 5,
    .completed_tasks = 40,
    .failed_tasks = 3,
    .cancelled_tasks = 1,
    .tasks_per_minute = 6.66666,
    .average_task_seconds = 4.12345,
    .pages_processed = 321,
    .errors = 2,
    .queue_length = 5,
    .workers_busy = 1,
    .max_parallel = 4,
};

static void check_figures(json_t *d)
{
    CHECK_EQ_INT(jsize(d, NULL), 12);
    CHECK_EQ_INT(jint(d, "active_tasks"), 2);
    CHECK_EQ_INT(jint(d, "queued_tasks"), 5);
    CHECK_EQ_INT(jint(d, "completed_tasks"), 40);
    CHECK_EQ_INT(jint(d, "failed_tasks"), 3);
    CHECK_EQ_INT(jint(d, "cancelled_tasks"), 1);
    CHECK(jnum(d, "tasks_per_minute") == 6.667);
    CHECK(jnum(d, "average_task_seconds") == 4.123);
    CHECK_EQ_INT(jint(d, "pages_processed"), 321);
    CHECK_EQ_INT(jint(d, "errors"), 2);
    CHECK_EQ_INT(jint(d, "queue_length"), 5);
    CHECK_EQ_INT(jint(d, "workers_busy"), 1);
    CHECK_EQ_INT(jint(d, "max_parallel"), 4);
}

static void test_dashboard(void)
{
    char *s = ingest_dashboard_update(TS, &FIG);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, NULL), 3);
    CHECK_EQ_STR(jstr(v, "type"), "dashboard_update");
    CHECK_EQ_STR(jstr(v, "timestamp"), TS);
    check_figures(jget(v, "data"));
    json_decref(v);
    free(s);
    s = ingest_metrics(TS, &FIG);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "metrics");
    CHECK_EQ_STR(jstr(v, "timestamp"), TS);
    check_figures(jget(v, "data"));
    json_decref(v);
    free(s);
    CHECK(ingest_metrics(TS, NULL) == NULL);

    s = ingest_notification(TS, "warning", "threshold_exceeded", "File d’attente : 12 > 10", 0);
    CHECK(jwire_ok(s));
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "notification");
    CHECK_EQ_STR(jstr(v, "timestamp"), TS);
    CHECK_EQ_INT(jsize(v, "data"), 4);
    CHECK_EQ_STR(jstr(v, "data.level"), "warning");
    CHECK_EQ_STR(jstr(v, "data.event"), "threshold_exceeded");
    CHECK_EQ_STR(jstr(v, "data.message"), "File d’attente : 12 > 10");
    CHECK(is_null(v, "data.task_id"));
    json_decref(v);
    free(s);
    s = ingest_notification(TS, "info", "task_completed", FNAME, 12);
    v = jparse(s);
    CHECK_EQ_INT(jint(v, "data.task_id"), 12);
    json_decref(v);
    free(s);
    CHECK(ingest_notification(TS, "error", "task_failed", T_BAD, 1) == NULL);
}

static void test_control(void)
{
    char op[16];
    int64_t id = -1;
    char *s = ingest_control("cancel", 77);
    CHECK_EQ_STR(s, "{\"op\":\"cancel\",\"task_id\":77}");
    CHECK_EQ_INT(ingest_control_parse(s, strlen(s), op, sizeof op, &id), 0);
    CHECK_EQ_STR(op, "cancel");
    CHECK_EQ_INT(id, 77);
    free(s);
    s = ingest_control("wake", 0);
    CHECK_EQ_STR(s, "{\"op\":\"wake\"}");
    CHECK_EQ_INT(ingest_control_parse(s, strlen(s), op, sizeof op, &id), 0);
    CHECK_EQ_STR(op, "wake");
    CHECK_EQ_INT(id, 0);
    free(s);
    CHECK(ingest_control("cancel", 0) == NULL);
    CHECK(ingest_control("explode", 1) == NULL);
    static const char *bad[] = {
        "",
        "{",
        "[]",
        "{\"op\":\"cancel\"}",
        "{\"op\":\"cancel\",\"task_id\":-1}",
        "{\"op\":\"cancel\",\"task_id\":\"1\"}",
        "{\"op\":\"reboot\"}",
        "{\"op\":1}",
        "{\"op\":\"wake\",\"op\":\"wake\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(ingest_control_parse(bad[i], strlen(bad[i]), op, sizeof op, &id), -1);
    CHECK_EQ_INT(ingest_control_parse("{\"op\":\"cancel\",\"task_id\":5}", 27, op, 4, &id), -1);
}

int main(void)
{
    RUN(test_channel);
    RUN(test_upload_started);
    RUN(test_upload_progress);
    RUN(test_processing_progress);
    RUN(test_chunking_embedding);
    RUN(test_upload_complete);
    RUN(test_collections);
    RUN(test_indexing_progress);
    RUN(test_sio);
    RUN(test_task_json);
    RUN(test_task_messages);
    RUN(test_dashboard);
    RUN(test_control);
    return UNIT_SUMMARY();
}
