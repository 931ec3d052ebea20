#include "worker/net/handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/net/net.h"

#define HANDOFF_MAGIC 0x68616e64u /* "hand" */

typedef struct handoff_hdr {
    uint32_t magic;
    uint32_t len;
} handoff_hdr_t;

static loop_watch_t handoff_watch;
static char *rx_buf;

static void on_handoff(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct iovec iov = {rx_buf, sizeof(handoff_hdr_t) + HANDOFF_MAX_BYTES};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(w->fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) return; /* EAGAIN: all taken */
        int fd = -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        handoff_hdr_t h;
        if (fd < 0 || (size_t)n < sizeof h) {
            if (fd >= 0) close(fd);
            continue;
        }
        memcpy(&h, rx_buf, sizeof h);
        if (h.magic != HANDOFF_MAGIC || h.len != (size_t)n - sizeof h) {
            close(fd);
            continue;
        }
        conn_adopt(fd, rx_buf + sizeof h, h.len);
    }
}

int handoff_listen(void)
{
    rx_buf = malloc(sizeof(handoff_hdr_t) + HANDOFF_MAX_BYTES);
    if (!rx_buf) return -1;
    return loop_watch_add(net->loop, &handoff_watch, net->shm->slots[net->slot_idx].handoff_fd[0],
                          EPOLLIN, on_handoff, NULL);
}

int handoff_send(conn_t *c, int slot)
{
    if (c->in_len > HANDOFF_MAX_BYTES || c->out.len) return -1;
    handoff_hdr_t h = {HANDOFF_MAGIC, c->in_len};
    struct iovec iov[2] = {{&h, sizeof h}, {c->in, c->in_len}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c->watch.fd, sizeof(int));
    if (sendmsg(net->shm->slots[slot].handoff_fd[1], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        log_warn("handing a connection to worker %d failed: %s", slot, strerror(errno));
        return -1;
    }
    stats_add(&net->stats->handoffs, 1);
    c->flags |= CF_HANDED_OVER;
    /* The datagram holds its own reference to the socket: closing ours
     * does not end the TCP connection. */
    conn_close(c, "handed to its session's worker");
    return 0;
}
