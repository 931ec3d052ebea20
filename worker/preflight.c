#include "worker/preflight.h"

#include "worker/api/routes.h"
#include "worker/svc/auth.h"
#include "worker/svc/webhook.h"

int worker_preflight(const ragws_config_t *cfg, char *err, size_t errlen)
{
    /* The workers refuse the same at start: keys, auth.algorithms, and
     * auth.endpoints entries that name no served route,
     * an unusable webhook.secret_file. */
    int rc = auth_init(cfg, err, errlen);
    auth_shutdown();
    if (rc < 0 || webhook_check_config(cfg, err, errlen) < 0) return -1;
    return routes_check_config(cfg, err, errlen) < 0 ? -1 : 0;
}
