/* The listening sockets, opened by the master before any worker is forked
 * and kept across reloads (README, "Reload"): one SO_REUSEPORT socket per
 * worker position (0 .. workers-1). The k-th worker of every generation
 * inherits socket k, so a reload never closes an accept queue with
 * connections in it: the old worker k stops accepting, the new worker k
 * takes over the same queue, while the kernel keeps spreading new
 * connections over the positions.
 *
 * Before the first socket, listener_probe binds the address without
 * SO_REUSEPORT: a port held by another program, or by another ragws, makes
 * it fail with EADDRINUSE and the master exits non-zero before it reports
 * ready (SO_REUSEPORT alone would let a second ragws share the port). */
#ifndef RAGWS_MASTER_LISTENER_H
#define RAGWS_MASTER_LISTENER_H

#include <stddef.h>
#include <stdint.h>

/* 0 if host:port is free, else -1 with "... address already in use" (or
 * the other reason) in err. */
int listener_probe(const char *host, uint16_t port, char *err, size_t errlen);

/* One more SO_REUSEPORT listening socket on host:port (host "" = every
 * address). Returns the non-blocking fd (workers get it through fork) or -1
 * with a message in err. */
int listener_open(const char *host, uint16_t port, char *err, size_t errlen);

#endif
