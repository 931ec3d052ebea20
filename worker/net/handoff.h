/* Handing a client socket to another worker (SCM_RIGHTS over a datagram
 * socket pair per worker slot, created by the master before forking).
 *
 * With SO_REUSEPORT, consecutive HTTP requests of one Socket.IO
 * long-polling session land on any worker; the session lives in one. The
 * worker that received the request passes the socket and the bytes it
 * already read to the owner, which carries on as if it had accepted the
 * connection itself. No sticky sessions, no proxying of bytes. */
#ifndef RAGWS_WORKER_HANDOFF_H
#define RAGWS_WORKER_HANDOFF_H

#include "worker/net/conn.h"

/* Largest request (head + body + pipelined bytes) that can be handed over. */
#define HANDOFF_MAX_BYTES (2 * 1024 * 1024)

/* Start receiving sockets on this worker's slot. */
int handoff_listen(void);

/* Send c's socket and unparsed input to the worker in `slot`; on success c
 * is released here (its socket lives on in the other worker). */
int handoff_send(conn_t *c, int slot);

#endif
