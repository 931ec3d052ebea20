/* /ws/publish (SPEC S8): an admin WebSocket for back-end services that
 * push many events; every text message {"channel","message"} is published
 * into the ring. Silent on success (a producer can stream without waiting),
 * an error message on a bad one. */
#include <stdlib.h>
#include <string.h>

#include "protocol/envelope.h"
#include "protocol/publish.h"
#include "worker/net/route.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/net/ws.h"

static void publish_send_error(conn_t *c, const char *code, const char *message)
{
    ws_send_owned(c, envelope_error(NULL, code, message, NULL, 1));
    stats_add(&net->stats->errors, 1);
}

static void publish_on_text(conn_t *c, const char *msg, size_t len)
{
    publish_req_t req;
    const char *code;
    char err[256];
    if (publish_parse(msg, len, &req, &code, err, sizeof err) < 0) {
        publish_send_error(c, code, err);
        return;
    }
    int rc = net_publish(req.channel, req.channel_len, req.payload, req.payload_len);
    if (rc < 0)
        publish_send_error(c, "VALIDATION_ERROR",
                           "message too large for the broadcast ring (shm.ring_size / 4)");
    free(req.payload);
}

const endpoint_t ep_publish = {
    .path = "/ws/publish",
    .no_rate_limit = 1, /* admin producers stream at high rates */
    .on_text = publish_on_text,
    .send_error = publish_send_error,
};
