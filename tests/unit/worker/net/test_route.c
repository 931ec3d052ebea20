/* worker/net/route.c: patterns with {param} segments, parameters, trailing
 * slash, percent-encoding and dot segments (kept literal / refused), method
 * mismatch with the Allow set, WebSocket and raw routes for every method,
 * the prefix mode auth.endpoints uses, and the real table's shape. */
#include "tests/unit/unit.h"
#include "worker/api/routes.h"
#include "worker/net/route.h"

static void h_dummy(conn_t *c, const http_request_t *req, const route_params_t *p, const char *body,
                    size_t len)
{
    (void)c, (void)req, (void)p, (void)body, (void)len;
}

static const endpoint_t ep_x = {.path = "/ws/x"};

static const route_t table[] = {
    {"/ws/x", RM_GET, ROUTE_WS, ROUTE_AUTH_TOKEN, &ep_x, NULL, NULL, "ws", {0}},
    {"/ws/task/{id}", RM_GET, ROUTE_WS, ROUTE_AUTH_TOKEN, &ep_x, NULL, NULL, "task", {0}},
    {"/health", RM_GET | RM_HEAD, ROUTE_HTTP, ROUTE_AUTH_NONE, NULL, h_dummy, NULL, "h", {0}},
    {"/api/c/{name}/documents", RM_GET, ROUTE_HTTP, ROUTE_AUTH_TOKEN, NULL, h_dummy, NULL, "l", {0}},
    {"/api/c/{name}/documents", RM_POST, ROUTE_HTTP, ROUTE_AUTH_ADMIN, NULL, h_dummy, NULL, "a", {0}},
    {"/api/p/{id}/documents/{doc}/status", RM_POST, ROUTE_HTTP, ROUTE_AUTH_ADMIN, NULL, h_dummy,
     NULL, "s", {0}},
};
#define N (sizeof table / sizeof table[0])

static int match(const char *method, const char *path, route_params_t *p, route_match_t *m)
{
    return route_match(table, N, method, strlen(method), path, strlen(path), p, m);
}

static void test_literal_and_methods(void)
{
    route_params_t p;
    route_match_t m;
    CHECK_EQ_INT(match("GET", "/health", &p, &m), ROUTE_FOUND);
    CHECK(m.route == &table[2]);
    CHECK_EQ_INT(p.n, 0);
    CHECK_EQ_INT(match("HEAD", "/health", &p, &m), ROUTE_FOUND);
    CHECK_EQ_INT(match("POST", "/health", &p, &m), ROUTE_WRONG_METHOD);
    CHECK(m.route == &table[2]);
    CHECK_EQ_INT(m.allow, RM_GET | RM_HEAD);
    char allow[64];
    CHECK_EQ_INT(route_allow_header(m.allow, allow, sizeof allow), 18);
    CHECK_EQ_STR(allow, "Allow: GET, HEAD\r\n");
    CHECK_EQ_INT(match("BREW", "/health", &p, &m), ROUTE_WRONG_METHOD); /* unknown method */
    CHECK_EQ_INT(match("GET", "/healt", &p, &m), ROUTE_NOT_FOUND);
    CHECK(m.route == NULL);
    CHECK_EQ_INT(match("GET", "/healthz", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("get", "/health", &p, &m), ROUTE_WRONG_METHOD); /* case-sensitive */
}

static void test_params(void)
{
    route_params_t p;
    route_match_t m;
    char v[16];
    CHECK_EQ_INT(match("GET", "/ws/task/42", &p, &m), ROUTE_FOUND);
    CHECK(m.route == &table[1]);
    CHECK_EQ_INT(p.n, 1);
    CHECK_EQ_INT(route_param(&p, "id", v, sizeof v), 2);
    CHECK_EQ_STR(v, "42");
    CHECK_EQ_INT(route_param(&p, "nope", v, sizeof v), -1);

    CHECK_EQ_INT(match("POST", "/api/p/p1/documents/d-9/status", &p, &m), ROUTE_FOUND);
    CHECK_EQ_INT(p.n, 2);
    CHECK_EQ_INT(route_param(&p, "id", v, sizeof v), 2);
    CHECK_EQ_STR(v, "p1");
    CHECK_EQ_INT(route_param(&p, "doc", v, sizeof v), 3);
    CHECK_EQ_STR(v, "d-9");
    /* too long for the caller's buffer: refused, never cut */
    CHECK_EQ_INT(match("GET", "/ws/task/0123456789abcdef", &p, &m), ROUTE_FOUND);
    CHECK_EQ_INT(route_param(&p, "id", v, sizeof v), -1);

    /* one segment only, never empty */
    CHECK_EQ_INT(match("GET", "/ws/task/", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/ws/task/a/b", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("POST", "/api/p/p1/documents/a/b/status", &p, &m), ROUTE_NOT_FOUND);
}

static void test_same_path_two_methods(void)
{
    route_params_t p;
    route_match_t m;
    CHECK_EQ_INT(match("GET", "/api/c/docs/documents", &p, &m), ROUTE_FOUND);
    CHECK(m.route == &table[3]);
    CHECK_EQ_INT(match("POST", "/api/c/docs/documents", &p, &m), ROUTE_FOUND);
    CHECK(m.route == &table[4]);
    char v[16];
    CHECK_EQ_INT(route_param(&p, "name", v, sizeof v), 4);
    CHECK_EQ_STR(v, "docs");
    CHECK_EQ_INT(match("DELETE", "/api/c/docs/documents", &p, &m), ROUTE_WRONG_METHOD);
    CHECK_EQ_INT(m.allow, RM_GET | RM_POST);
    CHECK(m.route == &table[3]);
    char allow[64];
    route_allow_header(m.allow, allow, sizeof allow);
    CHECK_EQ_STR(allow, "Allow: GET, POST\r\n");
}

static void test_trailing_slash_percent_dots(void)
{
    route_params_t p;
    route_match_t m;
    char v[16];
    /* a trailing slash is another path */
    CHECK_EQ_INT(match("GET", "/health/", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/ws/x/", &p, &m), ROUTE_NOT_FOUND);
    /* nothing is percent-decoded: literal text does not match an encoding,
     * a parameter keeps it (the handler refuses '%') and %2F never splits */
    CHECK_EQ_INT(match("GET", "/healt%68", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/ws/task/a%2Fb", &p, &m), ROUTE_FOUND);
    CHECK_EQ_INT(route_param(&p, "id", v, sizeof v), 5);
    CHECK_EQ_STR(v, "a%2Fb");
    /* dot segments are refused as parameters */
    CHECK_EQ_INT(match("GET", "/ws/task/..", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/ws/task/.", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/api/c/../documents", &p, &m), ROUTE_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/ws/task/...", &p, &m), ROUTE_FOUND); /* a name */
    CHECK_EQ_INT(match("GET", "/ws/task/.x", &p, &m), ROUTE_FOUND);
}

static void test_ws_and_raw_take_every_method(void)
{
    static const route_t t[] = {
        {"/ws/x", RM_GET, ROUTE_WS, ROUTE_AUTH_NONE, &ep_x, NULL, NULL, "ws", {0}},
        {"/raw/", RM_GET, ROUTE_RAW, ROUTE_AUTH_NONE, NULL, NULL, NULL, "raw", {0}},
    };
    route_match_t m;
    CHECK_EQ_INT(route_match(t, 2, "POST", 4, "/ws/x", 5, NULL, &m), ROUTE_FOUND);
    CHECK_EQ_INT(route_match(t, 2, "OPTIONS", 7, "/raw/", 5, NULL, &m), ROUTE_FOUND);
    CHECK(m.route == &t[1]);
    CHECK_EQ_INT(route_match(t, 2, "GET", 3, "/raw", 4, NULL, &m), ROUTE_NOT_FOUND);
    /* the length is honoured: a path inside a longer buffer */
    CHECK_EQ_INT(route_match(t, 2, "GET", 3, "/ws/x?a=1", 5, NULL, &m), ROUTE_FOUND);
}

static void test_prefix_mode(void)
{
    CHECK(route_pattern_match("/api/c/{name}/documents", "/api/c/", 7, 1, NULL));
    CHECK(route_pattern_match("/api/c/{name}/documents", "/api/c/x/doc", 12, 1, NULL));
    CHECK(!route_pattern_match("/api/c/{name}/documents", "/api/d", 6, 1, NULL));
    CHECK(!route_pattern_match("/api/c/{name}/documents", "/api/c/x/doc", 12, 0, NULL));
    CHECK(route_pattern_match("/health", "", 0, 1, NULL));
    CHECK(!route_pattern_match("/broken/{x", "/broken/a", 9, 0, NULL));
}

static void test_method_bits(void)
{
    CHECK_EQ_INT(route_method_bit("GET", 3), RM_GET);
    CHECK_EQ_INT(route_method_bit("OPTIONS", 7), RM_OPTIONS);
    CHECK_EQ_INT(route_method_bit("GETX", 3), RM_GET);
    CHECK_EQ_INT(route_method_bit("GETX", 4), 0);
    char allow[8];
    CHECK_EQ_INT(route_allow_header(RM_GET | RM_POST, allow, sizeof allow), 0); /* too small */
}

/* The worker's table: every route has a pattern, a summary and the
 * handler its kind calls; every WebSocket and REST path of SPEC S8 is in. */
static void test_api_table(void)
{
    for (size_t i = 0; i < api_n_routes; i++) {
        const route_t *r = &api_routes[i];
        CHECK(r->pattern && r->pattern[0] == '/');
        CHECK(r->summary && r->summary[0]);
        CHECK(r->kind != ROUTE_WS || r->ws);
        CHECK(r->kind != ROUTE_HTTP || (r->http && r->methods));
        CHECK(r->kind != ROUTE_RAW || r->raw);
        CHECK(r->kind != ROUTE_STREAM || (r->http && r->methods));
    }
    static const char *const paths[] = {"/api/v1/ws",
                                        "/ws/monitor",
                                        "/ws/publish",
                                        "/ws/query",
                                        "/chat/ws",
                                        "/socket.io/",
                                        "/socket.io",
                                        "/health",
                                        "/ready",
                                        "/metrics",
                                        "/api/query",
                                        "/api/collections",
                                        "/api/collections/docs",
                                        "/api/conversations/7/messages",
                                        "/api/broadcast",
                                        "/api/projects/p/broadcast",
                                        "/api/projects/p/updates",
                                        "/api/projects/p/documents/d/status"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        route_match_t m;
        int rc =
            route_match(api_routes, api_n_routes, "GET", 3, paths[i], strlen(paths[i]), NULL, &m);
        CHECK(rc != ROUTE_NOT_FOUND);
        if (rc == ROUTE_NOT_FOUND) fprintf(stderr, "    missing %s\n", paths[i]);
    }
    route_match_t m;
    CHECK_EQ_INT(route_match(api_routes, api_n_routes, "GET", 3, "/ws/publish", 11, NULL, &m),
                 ROUTE_FOUND);
    CHECK_EQ_INT(m.route->auth, ROUTE_AUTH_ADMIN);
    CHECK_EQ_INT(route_match(api_routes, api_n_routes, "GET", 3, "/metrics", 8, NULL, &m),
                 ROUTE_FOUND);
    CHECK_EQ_INT(m.route->auth, ROUTE_AUTH_NONE);
    /* The upload route streams its body and takes POST only. */
    static const char up[] = "/api/collections/docs/documents";
    CHECK_EQ_INT(route_match(api_routes, api_n_routes, "POST", 4, up, sizeof up - 1, NULL, &m),
                 ROUTE_FOUND);
    CHECK_EQ_INT(m.route->kind, ROUTE_STREAM);
    CHECK_EQ_INT(m.route->auth, ROUTE_AUTH_TOKEN);
    CHECK_EQ_INT(route_match(api_routes, api_n_routes, "GET", 3, up, sizeof up - 1, NULL, &m),
                 ROUTE_WRONG_METHOD);
    CHECK_EQ_INT(m.allow, RM_POST);
}

int main(void)
{
    RUN(test_literal_and_methods);
    RUN(test_params);
    RUN(test_same_path_two_methods);
    RUN(test_trailing_slash_percent_dots);
    RUN(test_ws_and_raw_take_every_method);
    RUN(test_prefix_mode);
    RUN(test_method_bits);
    RUN(test_api_table);
    return UNIT_SUMMARY();
}
