#include "worker/svc/jobs.h"

#include <stddef.h>

void jobs_init(jobs_t *l, void *owner, uint32_t max, void (*cancel)(void *handle),
               void (*release)(job_t *j))
{
    *l = (jobs_t){.owner = owner, .max = max, .cancel = cancel, .release = release};
}

int jobs_room(const jobs_t *l) { return l->n < l->max; }

int jobs_add(jobs_t *l, job_t *j, void *handle)
{
    if (!jobs_room(l)) return -1;
    j->list = l;
    j->handle = handle;
    j->next = l->head;
    l->head = j;
    l->n++;
    return 0;
}

void *jobs_owner(const job_t *j) { return j->list ? j->list->owner : NULL; }

static void unlink_job(job_t *j)
{
    jobs_t *l = j->list;
    job_t **pp = &l->head;
    while (*pp && *pp != j) pp = &(*pp)->next;
    if (*pp) {
        *pp = j->next;
        l->n--;
    }
    j->next = NULL;
}

void jobs_done(job_t *j)
{
    jobs_t *l = j->list;
    unlink_job(j);
    if (l->release) l->release(j);
}

void jobs_cancel(job_t *j)
{
    jobs_t *l = j->list;
    if (l->cancel) l->cancel(j->handle);
    unlink_job(j);
    if (l->release) l->release(j);
}

void jobs_cancel_all(jobs_t *l)
{
    while (l->head) jobs_cancel(l->head);
}

job_t *jobs_find(const jobs_t *l, int (*match)(const job_t *j, const void *key), const void *key)
{
    for (job_t *j = l->head; j; j = j->next)
        if (match(j, key)) return j;
    return NULL;
}
