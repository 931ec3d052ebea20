#include "io/curl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* One socket libcurl asked us to watch (curl_multi_assign'ed to it). */
typedef struct sock_watch {
    loop_watch_t w;
    curl_socket_t fd;
    struct sock_watch *prev, *next;
} sock_watch_t;

static struct {
    loop_t *loop;
    CURLM *multi;
    void (*after)(void);
    loop_timer_t timer;
    sock_watch_t *watches;
} g;

static void check_multi_info(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(g.multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result; /* m is invalid after remove_handle */
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        curl_xfer_t *x = (curl_xfer_t *)priv;
        curl_multi_remove_handle(g.multi, e);
        if (!x) continue;
        x->in_multi = 0;
        if (x->done) x->done(x, rc);
    }
}

static void after_action(void)
{
    check_multi_info();
    if (g.after) g.after();
}

static void sock_io(loop_t *loop, loop_watch_t *lw, uint32_t events)
{
    (void)loop;
    sock_watch_t *w = lw->data;
    int flags = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(g.multi, w->fd, flags, &running);
    after_action();
}

static void watch_remove(sock_watch_t *w)
{
    loop_watch_del(g.loop, &w->w);
    if (w->prev)
        w->prev->next = w->next;
    else
        g.watches = w->next;
    if (w->next) w->next->prev = w->prev;
    /* An event of the current epoll batch may still point at it. */
    loop_free_later(g.loop, w, free);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    (void)userp;
    sock_watch_t *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) watch_remove(w);
        return 0;
    }
    uint32_t ev = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->fd = fd;
        if (loop_watch_add(g.loop, &w->w, fd, ev, sock_io, w) != 0) {
            log_error("curl: epoll add fd %d: %s", fd, strerror(errno));
            free(w);
            return -1;
        }
        w->next = g.watches;
        if (g.watches) g.watches->prev = w;
        g.watches = w;
        curl_multi_assign(g.multi, fd, w);
    } else if (loop_watch_mod(g.loop, &w->w, ev) != 0) {
        log_error("curl: epoll mod fd %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

static void curl_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    int running;
    curl_multi_socket_action(g.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action();
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    if (timeout_ms < 0)
        loop_timer_stop(g.loop, &g.timer);
    else
        loop_timer_start(g.loop, &g.timer, (uint64_t)timeout_ms, curl_timeout, NULL);
    return 0;
}

int curl_io_init(loop_t *loop, void (*after)(void))
{
    memset(&g, 0, sizeof g);
    g.loop = loop;
    g.after = after;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl: curl_global_init failed");
        return -1;
    }
    g.multi = curl_multi_init();
    if (!g.multi) {
        curl_global_cleanup();
        return -1;
    }
    curl_multi_setopt(g.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(g.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    return 0;
}

int curl_io_active(void) { return g.multi != NULL; }

void curl_io_shutdown(void)
{
    if (!g.multi) return;
    /* Cached connections close here; their watches are ours to free. */
    curl_multi_cleanup(g.multi);
    loop_timer_stop(g.loop, &g.timer);
    while (g.watches) {
        sock_watch_t *w = g.watches;
        g.watches = w->next;
        loop_watch_del(g.loop, &w->w);
        loop_free_later(g.loop, w, free);
    }
    curl_global_cleanup();
    memset(&g, 0, sizeof g);
}

int curl_xfer_open(curl_xfer_t *x, void (*done)(curl_xfer_t *x, CURLcode rc))
{
    x->easy = curl_easy_init();
    if (!x->easy) return -1;
    x->in_multi = 0;
    x->done = done;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    return 0;
}

CURLMcode curl_xfer_start(curl_xfer_t *x)
{
    CURLMcode mc = curl_multi_add_handle(g.multi, x->easy);
    if (mc == CURLM_OK) x->in_multi = 1;
    return mc;
}

void curl_xfer_stop(curl_xfer_t *x)
{
    if (x->easy && x->in_multi) curl_multi_remove_handle(g.multi, x->easy);
    x->in_multi = 0;
}

void curl_xfer_close(curl_xfer_t *x)
{
    if (!x->easy) return;
    curl_xfer_stop(x);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
}

CURLcode curl_xfer_pause(curl_xfer_t *x, int bitmask) { return curl_easy_pause(x->easy, bitmask); }
