#include "worker/svc/svc.h"

static svc_ctx_t the_ctx;
svc_ctx_t *svc = &the_ctx;
