/* The listening socket, opened once by the master before any worker is
 * forked and inherited by every generation of workers (README, "Reload").
 *
 * No SO_REUSEPORT: a port held by another program, or by another ragws,
 * makes the bind fail with EADDRINUSE and the master exits non-zero before
 * it reports ready. All workers accept from this one socket (each watches
 * it with EPOLLEXCLUSIVE), so a reload never closes an accept queue with
 * connections in it: the old generation stops watching, the new one takes
 * over the same queue. */
#ifndef RAGWS_MASTER_LISTENER_H
#define RAGWS_MASTER_LISTENER_H

#include <stddef.h>
#include <stdint.h>

/* Bind and listen on host:port (host "" = every address). Returns the
 * non-blocking fd (workers get it through fork) or -1 with a message in err
 * ("... address already in use" when the port is taken). */
int listener_open(const char *host, uint16_t port, char *err, size_t errlen);

#endif
