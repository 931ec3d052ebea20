/* /ws/active-tasks and /ws/task/{task_id} (SPEC S4.2, seed 000): a state
 * read from the tasks table on connect, then the task_update (and
 * task_log) events of INGEST_CH_TASKS or "task:<id>".
 *
 * No update is lost and none overtakes the state: the connection is
 * subscribed before the query is sent, through a hook that holds what
 * arrives meanwhile (at most HOLD_MAX messages, the oldest dropped first);
 * when the answer comes the state is sent, then the held messages in order,
 * then the connection itself takes the channel over (and a resync, as any
 * subscriber gets, when a lapped ring lost some meanwhile). A held update
 * may be older than the state it follows (published before the query read
 * it): the next event of that task corrects it. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gateway.h"
#include "protocol/ingest_events.h"
#include "protocol/json_msg.h"
#include "worker/api/ws_watch.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/net/route.h"
#include "worker/net/ws.h"
#include "worker/svc/ingest.h"

#define HOLD_MAX         256
#define ACTIVE_TASKS_MAX 500 /* the snapshot's tasks, oldest first */
#define TASK_LOG_LINES   50  /* the last log lines /ws/task/{id} starts with */

typedef struct held {
    struct held *next;
    size_t len;
    char data[];
} held_t;

typedef struct watch {
    conn_t *c;
    pubsub_hook_t hook; /* hold_deliver finds the watch from it (offsetof) */
    held_t *head, *tail;
    unsigned n;
    uint64_t missed;   /* records a lapped ring lost while holding */
    ingest_req_t *req; /* the pending query, NULL once answered */
    char channel[64];
} watch_t;

static void held_drop_first(watch_t *w)
{
    held_t *h = w->head;
    w->head = h->next;
    if (!w->head) w->tail = NULL;
    w->n--;
    free(h);
}

static void hold_deliver(pubsub_hook_t *hk, outbuf_t *frame, const char *payload, size_t len)
{
    (void)frame;
    watch_t *w = (watch_t *)((char *)hk - offsetof(watch_t, hook));
    held_t *h = malloc(sizeof *h + len);
    if (!h) return;
    memcpy(h->data, payload, len);
    h->len = len;
    h->next = NULL;
    if (w->n == HOLD_MAX) held_drop_first(w);
    if (w->tail)
        w->tail->next = h;
    else
        w->head = h;
    w->tail = h;
    w->n++;
}

/* Told to the client after the held messages, as a subscriber would be. */
static void hold_resync(pubsub_hook_t *hk, const char *channel, uint64_t missed)
{
    (void)channel;
    watch_t *w = (watch_t *)((char *)hk - offsetof(watch_t, hook));
    w->missed += missed;
}

static watch_t *watch_new(conn_t *c, const char *channel)
{
    watch_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->c = c;
    w->hook.deliver = hold_deliver;
    w->hook.resync = hold_resync;
    snprintf(w->channel, sizeof w->channel, "%s", channel);
    if (pubsub_hook_subscribe(&w->hook, w->channel, strlen(w->channel)) < 0) {
        free(w);
        return NULL;
    }
    c->ep_data = w;
    return w;
}

/* The state was sent (or could not be read): the held messages, then the
 * connection subscribes itself. No delivery can come in between. */
static void watch_release(watch_t *w)
{
    conn_t *c = w->c;
    while (w->head && c->state == CONN_WS) {
        ws_send_text(c, w->head->data, w->head->len);
        held_drop_first(w);
    }
    while (w->head) held_drop_first(w);
    if (w->missed && c->state == CONN_WS) ws_send_owned(c, gateway_resync(w->channel, w->missed));
    w->missed = 0;
    pubsub_hook_unsubscribe(&w->hook);
    if (c->state == CONN_WS && pubsub_subscribe(c, w->channel, strlen(w->channel)) < 0)
        ws_close(c, 1011, "out of memory");
}

static void watch_on_close(conn_t *c)
{
    watch_t *w = c->ep_data;
    if (!w) return;
    if (w->req) ingest_req_detach(w->req);
    while (w->head) held_drop_first(w);
    pubsub_hook_unsubscribe(&w->hook);
    free(w);
    c->ep_data = NULL;
}

static void storage_error(watch_t *w, const char *error)
{
    char m[300];
    utf8_snprintf(m, sizeof m, "the tasks could not be read: %s", error ? error : "unavailable");
    watch_send_error(w->c, "STORAGE_UNAVAILABLE", m);
}

/* ---- /ws/active-tasks ---- */

static void active_done(void *ud, const ingest_task_view_t *tasks, size_t n, const char *error)
{
    watch_t *w = ud;
    w->req = NULL;
    if (!tasks)
        storage_error(w, error);
    else
        ws_send_owned(w->c, ingest_active_tasks(tasks, n));
    if (w->c->state == CONN_WS) watch_release(w);
}

static void active_on_open(conn_t *c, void *open_arg)
{
    (void)open_arg;
    watch_t *w = watch_new(c, INGEST_CH_TASKS);
    if (!w) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    w->req = ingest_list_active(ACTIVE_TASKS_MAX, active_done, w);
    if (!w->req) {
        storage_error(w, NULL);
        watch_release(w);
    }
}

/* ---- /ws/task/{task_id} ---- */

/* A positive decimal task id without sign or leading zero, else 0. */
static int64_t parse_task_id(const void *open_arg)
{
    const ws_route_open_t *o = open_arg;
    char s[24];
    int n = o ? route_param(&o->params, "task_id", s, sizeof s) : -1;
    if (n <= 0 || n > 18 || s[0] == '0') return 0;
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static void task_done(void *ud, const ingest_task_view_t *task, const ingest_log_view_t *logs,
                      size_t nlogs, const char *error)
{
    watch_t *w = ud;
    w->req = NULL;
    if (!task && !error) {
        ws_close(w->c, 4404, "unknown task");
        return;
    }
    if (!task) {
        storage_error(w, error);
    } else {
        ws_send_owned(w->c, ingest_task_update(task));
        for (size_t i = 0; i < nlogs && w->c->state == CONN_WS; i++)
            ws_send_owned(
                w->c, ingest_task_log(task->id, logs[i].level, logs[i].message, logs[i].timestamp));
    }
    if (w->c->state == CONN_WS) watch_release(w);
}

static void task_on_open(conn_t *c, void *open_arg)
{
    int64_t id = parse_task_id(open_arg);
    if (id <= 0) {
        ws_close(c, 4404, "unknown task");
        return;
    }
    char chan[64];
    snprintf(chan, sizeof chan, INGEST_CH_TASK_PREFIX "%lld", (long long)id);
    watch_t *w = watch_new(c, chan);
    if (!w) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    w->req = ingest_lookup(id, TASK_LOG_LINES, task_done, w);
    if (!w->req) {
        storage_error(w, NULL);
        watch_release(w);
    }
}

const endpoint_t ep_active_tasks = {
    .path = "/ws/active-tasks",
    .on_open = active_on_open,
    .on_text = watch_on_text,
    .on_close = watch_on_close,
    .send_error = watch_send_error,
};

const endpoint_t ep_task = {
    .path = "/ws/task/{task_id}",
    .on_open = task_on_open,
    .on_text = watch_on_text,
    .on_close = watch_on_close,
    .send_error = watch_send_error,
};
