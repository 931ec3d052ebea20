/* Admin REST calls that emit into Socket.IO project rooms (seed 002). */
#ifndef RAGWS_WORKER_REST_PROJECTS_H
#define RAGWS_WORKER_REST_PROJECTS_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"

/* Returns 1 when the path was one of ours (answered). */
int rest_projects_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t len);

#endif
