/* libcurl's multi interface on the event loop: one multi handle per
 * process, its sockets watched by the loop (CURLMOPT_SOCKETFUNCTION) and
 * its timeout one loop timer (CURLMOPT_TIMERFUNCTION). Nothing blocks.
 *
 * A transfer is a curl_xfer_t the caller embeds in its own state: the
 * caller sets up the easy handle (curl_xfer_open, then its own
 * curl_easy_setopt calls; CURLOPT_PRIVATE belongs to this module), adds
 * it (curl_xfer_start) and gets `done` once the transfer ended, with
 * libcurl's result; the handle is then out of the multi and may be
 * started again (a retry reuses it). curl_xfer_close removes and frees
 * the easy handle at once (a cancel: the connection closes now, no done).
 *
 * libcurl's own callbacks (write, header ...) run inside
 * curl_multi_socket_action. After every such batch, and after the `done`
 * calls of the batch, `after` (from curl_io_init) runs: a consumer defers
 * its user callbacks to it, so they may call back into libcurl (start,
 * pause, close). Everything runs on the loop given to curl_io_init. */
#ifndef RAGWS_IO_CURL_H
#define RAGWS_IO_CURL_H

#include <curl/curl.h>

#include "base/loop.h"

typedef struct curl_xfer curl_xfer_t;

struct curl_xfer {
    CURL *easy;   /* owned between curl_xfer_open and curl_xfer_close */
    int in_multi; /* started and not yet ended */
    void (*done)(curl_xfer_t *x, CURLcode rc);
};

/* curl_global_init and the multi handle. 0, or -1 (logged). */
int curl_io_init(loop_t *loop, void (*after)(void));
/* 1 once curl_io_init succeeded (until curl_io_shutdown): a second user
 * of the process's multi handle starts it only when nobody did. */
int curl_io_active(void);
/* Closes cached connections and frees the watches; every transfer must
 * have been closed before. */
void curl_io_shutdown(void);

/* A new easy handle for x (done is called when a started transfer ends).
 * 0, or -1 when out of memory. */
int curl_xfer_open(curl_xfer_t *x, void (*done)(curl_xfer_t *x, CURLcode rc));
/* Adds x to the multi handle; on failure returns libcurl's code (x is not
 * started). */
CURLMcode curl_xfer_start(curl_xfer_t *x);
/* Takes x out of the multi handle without `done` (the connection is closed,
 * the easy handle kept for another start). */
void curl_xfer_stop(curl_xfer_t *x);
/* Stop and free the easy handle; x->easy is NULL afterwards. */
void curl_xfer_close(curl_xfer_t *x);
/* curl_easy_pause on a started transfer (CURLPAUSE_RECV, CURLPAUSE_CONT);
 * CURLPAUSE_CONT may call the write callback at once. */
CURLcode curl_xfer_pause(curl_xfer_t *x, int bitmask);

#endif
