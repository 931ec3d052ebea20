/* The per-connection list of running jobs (RAG answers today): start
 * within a limit, unlink when one ends, cancel all when the owner goes.
 * It knows no connection: the owner is an opaque pointer (an endpoint's
 * session) and a job is whatever the list's `cancel` stops.
 *
 * Ownership: the endpoint allocates its per-job record with a job_t
 * embedded in it, and the list holds it from jobs_add until jobs_done or
 * jobs_cancel, which unlink it and hand it back through `release` (the
 * endpoint frees the record there: use container_of-style access, or put
 * the job_t first). The running job (`handle`, e.g. a rag_job_t) belongs
 * to its service; the list only passes it to `cancel`. A job that ended
 * by itself (its service reported completion or error) is given to
 * jobs_done, never cancelled. jobs_t itself lives in the owner's session;
 * jobs_cancel_all before freeing it. Nothing here allocates. */
#ifndef RAGWS_WORKER_SVC_JOBS_H
#define RAGWS_WORKER_SVC_JOBS_H

#include <stdint.h>

typedef struct jobs jobs_t;

typedef struct job {
    struct job *next;
    jobs_t *list; /* set by jobs_add */
    void *handle; /* the service's running job */
} job_t;

struct jobs {
    job_t *head; /* most recent first */
    uint32_t n, max;
    void *owner;
    void (*cancel)(void *handle); /* stop the service's job: no event follows */
    void (*release)(job_t *j);    /* the endpoint frees its record */
};

/* max: at most that many jobs at once (max_inflight_per_connection). */
void jobs_init(jobs_t *l, void *owner, uint32_t max, void (*cancel)(void *handle),
               void (*release)(job_t *j));

/* 1 when another job may start. */
int jobs_room(const jobs_t *l);

/* Links j (running handle) into l: 0, or -1 when l is full (j untouched). */
int jobs_add(jobs_t *l, job_t *j, void *handle);

/* The owner of j's list. */
void *jobs_owner(const job_t *j);

/* j ended by itself (or its handle was already stopped by the caller):
 * unlink and release it. */
void jobs_done(job_t *j);

/* Stop j's job, unlink and release it. */
void jobs_cancel(job_t *j);

/* Stop every job of l (most recent first) and release them; l is empty. */
void jobs_cancel_all(jobs_t *l);

/* The first job for which match(j, key) is non-zero, or NULL. */
job_t *jobs_find(const jobs_t *l, int (*match)(const job_t *j, const void *key), const void *key);

#endif
