/* The real route table (worker/api/routes.c) documents itself: every route
 * has an operation id and schemas that exist (openapi_document fails
 * otherwise), every route and method is in the document, and the docs
 * page's assets are embedded. */
#include "worker/api/rest_docs.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "worker/api/routes.h"

static void test_table_generates(void)
{
    char err[256] = "";
    char *s = rest_openapi_generate(api_routes, api_n_routes, err, sizeof err);
    if (!s) fprintf(stderr, "# openapi: %s\n", err);
    CHECK(s != NULL);
    if (!s) return;
    json_t *doc = json_loads(s, 0, NULL);
    free(s);
    CHECK(doc != NULL);
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < api_n_routes; i++) {
        const route_t *r = &api_routes[i];
        json_t *item = json_object_get(paths, r->pattern);
        CHECK(item != NULL);
        if (r->methods & RM_GET) CHECK(json_object_get(item, "get") != NULL);
        if (r->methods & RM_POST) CHECK(json_object_get(item, "post") != NULL);
        if (r->methods & RM_DELETE) CHECK(json_object_get(item, "delete") != NULL);
        if (r->kind == ROUTE_WS)
            CHECK(json_object_get(json_object_get(json_object_get(item, "get"), "responses"),
                                  "101") != NULL);
    }
    json_decref(doc);
}

static void test_assets(void)
{
    const char *want[] = {"index.html", "docs-init.js", "swagger-ui-bundle.js", "swagger-ui.css"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const docs_asset_t *a = NULL;
        for (size_t j = 0; j < docs_n_assets; j++)
            if (strcmp(docs_assets[j].name, want[i]) == 0) a = &docs_assets[j];
        CHECK(a != NULL);
        if (a) CHECK(a->len > 100 && strlen(a->data) == a->len);
    }
}

int main(void)
{
    RUN(test_table_generates);
    RUN(test_assets);
    return UNIT_SUMMARY();
}
