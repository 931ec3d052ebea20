/* Path -> WebSocket endpoint. REST routes are in worker/rest.c. */
#include <string.h>

#include "worker/net/route.h"

extern const endpoint_t ep_apiv1, ep_monitor, ep_publish, ep_query, ep_chat;

static const endpoint_t *const endpoints[] = {
    &ep_apiv1, &ep_monitor, &ep_publish, &ep_query, &ep_chat,
};

const endpoint_t *endpoint_at(size_t i)
{
    return i < sizeof endpoints / sizeof endpoints[0] ? endpoints[i] : NULL;
}

const endpoint_t *endpoint_find(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        const char *p = endpoints[i]->path;
        if (strlen(p) == len && memcmp(p, path, len) == 0) return endpoints[i];
    }
    return NULL;
}
