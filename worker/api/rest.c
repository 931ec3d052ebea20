#include "worker/api/rest.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/gateway.h"
#include "protocol/publish.h"
#include "worker/net/http.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"

static void respond_owned(conn_t *c, int status, char *json)
{
    if (!json) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    http_respond(c, status, "application/json", json, strlen(json), NULL);
    free(json);
}

void rest_health(conn_t *c, const http_request_t *req, const route_params_t *params,
                 const char *body, size_t len)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_respond(c, 200, "application/json", ok, sizeof ok - 1, NULL);
}

/* Ready when every worker of the newest generation listens. */
void rest_ready(conn_t *c, const http_request_t *req, const route_params_t *params,
                const char *body, size_t len)
{
    int ready = 0, starting = 0, db_down = 0;
    uint32_t newest = 0;
    shm_region_t *shm = net->shm;
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE)
    {
        uint32_t g = atomic_load(&shm->slots[i].generation);
        if (g > newest) newest = g;
    }
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE)
    {
        shm_slot_t *s = &shm->slots[i];
        uint32_t st = atomic_load(&s->state);
        if (atomic_load(&s->generation) != newest) continue;
        if (st == SLOT_READY) {
            ready++;
            if (!atomic_load(&s->db_ok)) db_down++;
        } else if (st == SLOT_STARTING) {
            starting++;
        }
    }
    int want = config_worker_count(net->cfg);
    int ok = !net->draining && ready >= want && !db_down;
    respond_owned(c, ok ? 200 : 503, gateway_ready_body(ok, ready, want, db_down, net->draining));
}

void rest_metrics(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len)
{
    size_t n;
    char *text = metrics_render(net->shm, &n);
    http_respond(c, 200, "text/plain; version=0.0.4", text, n, NULL);
    free(text);
}

void rest_broadcast(conn_t *c, const http_request_t *req, const route_params_t *params,
                    const char *body, size_t len)
{
    publish_req_t p;
    const char *code;
    char err[256];
    if (publish_parse(body, len, &p, &code, err, sizeof err) < 0) {
        http_respond_error(c, 400, code, err);
        return;
    }
    int rc = net_publish(p.channel, p.channel_len, p.payload, p.payload_len);
    free(p.payload);
    if (rc < 0) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE",
                           "message too large for the broadcast ring (shm.ring_size / 4)");
        return;
    }
    respond_owned(c, 202, gateway_published_channel(p.channel));
}
