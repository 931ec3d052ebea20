/* /ws/upload, /ws/collections (SPEC S4.7, S4.9), /ws/dashboard and
 * /ws/metrics (S4.2): subscribers of the channels of
 * protocol/ingest_events.h. ?upload_id= and ?collection= narrow the first
 * two to one filtered channel. The dashboard figures are computed by the
 * master (master/dashboard.c): on connect a client gets the latest ones
 * from the shm snapshot area, then every publication. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/envelope.h"
#include "protocol/ingest_events.h"
#include "protocol/json_msg.h"
#include "worker/api/ws_watch.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/net/route.h"
#include "worker/net/ws.h"

/* Longest filter value: upload ids are 23 bytes, collection names at most
 * 128 (the REST routes' segment limit). */
#define FILTER_MAX 128

void watch_send_error(conn_t *c, const char *code, const char *message)
{
    ws_send_owned(c, envelope_error(NULL, code, message, NULL, 1));
    stats_add(&net->stats->errors, 1);
}

void watch_on_text(conn_t *c, const char *msg, size_t len)
{
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(msg, len, &code, err, sizeof err);
    if (!v) {
        watch_send_error(c, code, err);
        return;
    }
    const char *type = json_msg_type(v, err, sizeof err);
    if (!type) {
        watch_send_error(c, ERR_VALIDATION, err);
    } else if (strcmp(type, "ping") == 0) {
        static const char pong[] = "{\"type\":\"pong\"}";
        ws_send_text(c, pong, sizeof pong - 1);
    } else {
        char m[256];
        utf8_snprintf(
            m, sizeof m,
            "unknown message type \"%.*s\" (this endpoint only streams events; it answers ping)",
            QUOTE(type));
        watch_send_error(c, ERR_UNKNOWN_TYPE, m);
    }
    json_decref(v);
}

/* Subscribe to base, or to "base:<value>" when the query names param. A
 * value that cannot name anything (empty, over FILTER_MAX bytes, bad
 * percent-encoding, not UTF-8, a NUL) is refused like a bad token at the
 * handshake: the error message says why, then close 1008. */
static void subscribe_filtered(conn_t *c, const void *open_arg, const char *base, const char *param)
{
    const ws_route_open_t *o = open_arg;
    char value[FILTER_MAX + 1], chan[256];
    const char *name = base;
    if (o && http_query_has(&o->req, param)) {
        int n = http_query_param(&o->req, param, value, sizeof value);
        int ok = n > 0 && (size_t)n == strlen(value) && utf8_valid(value, (size_t)n, NULL) &&
                 ingest_channel(chan, sizeof chan, base, value) > 0;
        if (!ok) {
            char m[200];
            snprintf(m, sizeof m,
                     "?%s= must be 1 to %d bytes of UTF-8 text (percent-encoded in the URL)", param,
                     FILTER_MAX);
            watch_send_error(c, ERR_VALIDATION, m);
            ws_close(c, 1008, "invalid query parameter");
            return;
        }
        name = chan;
    }
    if (pubsub_subscribe(c, name, strlen(name)) < 0) ws_close(c, 1011, "out of memory");
}

static void upload_on_open(conn_t *c, void *open_arg)
{
    subscribe_filtered(c, open_arg, INGEST_CH_UPLOAD, "upload_id");
}

static void collections_on_open(conn_t *c, void *open_arg)
{
    subscribe_filtered(c, open_arg, INGEST_CH_COLLECTIONS, "collection");
}

/* The latest figures the master stored (it stores them before the first
 * worker starts, so there always are some). */
static void send_snapshot(conn_t *c, int kind)
{
    char buf[SHM_SNAPSHOT_MAX];
    int n = shm_snapshot_get(net->shm, kind, buf, sizeof buf);
    if (n > 0) ws_send_text(c, buf, (size_t)n);
}

static void dashboard_on_open(conn_t *c, void *open_arg)
{
    (void)open_arg;
    send_snapshot(c, SHM_SNAP_DASHBOARD);
}

static void metrics_on_open(conn_t *c, void *open_arg)
{
    (void)open_arg;
    send_snapshot(c, SHM_SNAP_METRICS);
}

const endpoint_t ep_upload = {
    .path = "/ws/upload",
    .on_open = upload_on_open,
    .on_text = watch_on_text,
    .send_error = watch_send_error,
};

const endpoint_t ep_collections = {
    .path = "/ws/collections",
    .on_open = collections_on_open,
    .on_text = watch_on_text,
    .send_error = watch_send_error,
};

const endpoint_t ep_dashboard = {
    .path = "/ws/dashboard",
    .channel = INGEST_CH_DASHBOARD,
    .on_open = dashboard_on_open,
    .on_text = watch_on_text,
    .send_error = watch_send_error,
};

const endpoint_t ep_metrics = {
    .path = "/ws/metrics",
    .channel = INGEST_CH_METRICS,
    .on_open = metrics_on_open,
    .on_text = watch_on_text,
    .send_error = watch_send_error,
};
