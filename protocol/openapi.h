/* The OpenAPI 3.1 document of the gateway (GET /openapi.json, SPEC S8),
 * generated from a route list. This layer knows nothing of the transport:
 * worker/api turns its route table (worker/net/route.h, whose route_t
 * embeds an openapi_doc_t per route) into openapi_route_t items and calls
 * openapi_document. The component schemas (every request and response
 * body, the Error object, seed 003's models) are openapi_schemas.c's.
 *
 * Declarative route documentation, written in the route table:
 *   op_id      operationId (unique; a route with several methods gets the
 *              method appended for the others: "health", "healthHead")
 *   tag        one tag grouping operations in renderers
 *   request    component schema of the JSON body, NULL for none;
 *              "@upload": a raw file body or multipart/form-data
 *   responses  "200 Health, 503 Ready, 404": comma-separated statuses,
 *              each with the component schema of its JSON body; a bare
 *              status means the Error object ({"error":{code,message}}),
 *              except 101 and 204 (no body). Instead of a schema, "@text",
 *              "@html", "@json" name a text/plain, text/html or any JSON
 *              object body, "@asset" a script or a style sheet. The
 *              answers every route of a kind shares (401 on user routes,
 *              403/415 on admin ones, 405, 413 and 400 on bodies) are
 *              added by the generator: list only the handler's own.
 *   params     {in, name, type, description} items ended by {NULL}, or
 *              NULL: query parameters, and descriptions of the pattern's
 *              {path} parameters (any not listed is documented as a string).
 *
 * Lifetimes: everything here is static text owned by the caller; the
 * returned document is the caller's (free). */
#ifndef RAGWS_PROTOCOL_OPENAPI_H
#define RAGWS_PROTOCOL_OPENAPI_H

#include <stddef.h>

#include <jansson.h>

typedef struct openapi_param {
    const char *in; /* "query" or "path" */
    const char *name;
    const char *type; /* JSON Schema type: string, integer, boolean */
    const char *description;
} openapi_param_t;

typedef struct openapi_doc {
    const char *op_id;
    const char *tag;
    const char *request;
    const char *responses;
    const openapi_param_t *params;
} openapi_doc_t;

enum openapi_kind { OPENAPI_HTTP = 0, OPENAPI_WS, OPENAPI_RAW };
enum openapi_auth { OPENAPI_AUTH_NONE = 0, OPENAPI_AUTH_TOKEN, OPENAPI_AUTH_ADMIN };

#define OPENAPI_MAX_METHODS 8

typedef struct openapi_route {
    const char *pattern;                      /* "/api/tasks/{id}" */
    const char *methods[OPENAPI_MAX_METHODS]; /* lower case, NULL-ended */
    int kind;                                 /* OPENAPI_* */
    int auth;                                 /* OPENAPI_AUTH_* */
    const char *summary;                      /* one line */
    const openapi_doc_t *doc;
} openapi_route_t;

/* The component schemas, a new object (caller owns the reference). */
json_t *openapi_schemas(void);

/* The whole document as JSON text (caller frees), or NULL with err set:
 * a route without an operation id, an unknown schema name, a malformed
 * responses list, a duplicate operationId. version: info.version. */
char *openapi_document(const openapi_route_t *routes, size_t n, const char *version, char *err,
                       size_t errlen);

#endif
