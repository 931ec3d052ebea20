#include "worker/preflight.h"

#include "worker/svc/auth.h"

int worker_preflight(const ragws_config_t *cfg, char *err, size_t errlen)
{
    int rc = auth_init(cfg, err, errlen);
    auth_shutdown();
    return rc < 0 ? -1 : 0;
}
