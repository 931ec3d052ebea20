#include "master/listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

/* A bound socket (listening unless probe); reuseport joins the group. */
static int bind_socket(const char *host, uint16_t port, int reuseport, int probe, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ports[8];
    snprintf(ports, sizeof ports, "%u", port);
    int rc = getaddrinfo(host && host[0] ? host : NULL, ports, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s:%s: %s", host, ports, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        /* Restart while old connections sit in TIME_WAIT; unlike SO_REUSEPORT
         * this never lets a second listener share the port. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* The workers' sockets share the port; the probe must not. */
        if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        /* Inherited by every accepted socket: frames go out at once. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (ai->ai_family == AF_INET6) {
            int zero = 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        (!probe && listen(fd, LISTEN_BACKLOG) < 0)) {
        int e = errno;
        snprintf(err, errlen, "listen %s:%s: bind() failed (%d: %s)", host, ports, e,
                 e == EADDRINUSE ? "address already in use" : strerror(e));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int listener_probe(const char *host, uint16_t port, char *err, size_t errlen)
{
    int fd = bind_socket(host, port, 0, 1, err, errlen);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int listener_open(const char *host, uint16_t port, char *err, size_t errlen)
{
    return bind_socket(host, port, 1, 0, err, errlen);
}
