/* REST routes of the ingestion queue (SPEC S4.2, S8), all asynchronous
 * (worker/svc/ingest_ops.h), JSON through protocol/ingest_events.h:
 *
 *   GET    /api/tasks[?status=S]      200 {"tasks":[task...]} newest first, at most 200;
 *                                     S: queued|extracting|chunking|indexing|completed|
 *                                     failed|cancelled|active (not finished); else 400
 *   GET    /api/tasks/{id}            200 task + "logs":[{level,message,timestamp}]; 404
 *   POST   /api/tasks/{id}/cancel     200 task (cancelled); 409 TASK_FINISHED; 404
 *   DELETE /api/documents/{id}        200 {"deleted":true,"document_id","chunks_removed"}; 404
 *
 * A bad id (not a positive integer) is 400 VALIDATION_ERROR; storage down
 * is 503 STORAGE_UNAVAILABLE. */
#ifndef RAGWS_WORKER_API_REST_TASKS_H
#define RAGWS_WORKER_API_REST_TASKS_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

void rest_list_tasks(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len);
void rest_get_task(conn_t *c, const http_request_t *req, const route_params_t *params,
                   const char *body, size_t len);
void rest_cancel_task(conn_t *c, const http_request_t *req, const route_params_t *params,
                      const char *body, size_t len);
void rest_delete_document(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len);

#endif
