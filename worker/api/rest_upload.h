/* POST /api/collections/{name}/documents: documents uploaded into a
 * collection, streamed to disk as they arrive (a ROUTE_STREAM route:
 * worker/net/http.h http_body_stream), then queued as ingestion tasks
 * (worker/svc/ingest.h).
 *
 * Body: raw (the file itself; ?filename= names it, Content-Type is its
 * declared type) or multipart/form-data with one or more file parts
 * (parts without a filename are ignored). Content-Length or chunked.
 * ?project_id= names a Socket.IO project for document_status.
 *
 * Each file goes to <ingest.upload_dir>/<upload_id>.part (the directory
 * made 0700 when missing, the file O_EXCL 0600), hashed (SHA-256) on the
 * way, and is renamed <upload_id> once complete; from ingest_submit's
 * success on, the task owns it. Any failure (413 over
 * limits.max_upload_bytes per file, 400 bad body or file name, the client
 * going away, a submit failing: 503) removes every file of the request
 * not owned by a task. Events: upload_started and upload_progress
 * (protocol/ingest_events.h) on INGEST_CH_UPLOAD and "upload:<id>".
 *
 * Answer: 202 {"upload_id","task_id","filename","uploads":[...]}
 * (protocol/upload.h). */
#ifndef RAGWS_WORKER_API_REST_UPLOAD_H
#define RAGWS_WORKER_API_REST_UPLOAD_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

void rest_upload(conn_t *c, const http_request_t *req, const route_params_t *params,
                 const char *body, size_t len);

#endif
