/* Connections per peer address, for limits.max_connections_per_ip. */
#ifndef RAGWS_WORKER_IP_TABLE_H
#define RAGWS_WORKER_IP_TABLE_H

#include <netinet/in.h>
#include <stdint.h>

typedef struct ip_table ip_table_t;

ip_table_t *ip_table_new(void);
void ip_table_free(ip_table_t *t);
/* Count one more connection from addr; -1 (and no count) when limit > 0
 * and addr already has `limit`. A limit of 0 disables the table. */
int ip_table_acquire(ip_table_t *t, const struct in6_addr *addr, uint32_t limit);
void ip_table_release(ip_table_t *t, const struct in6_addr *addr);
uint32_t ip_table_count(const ip_table_t *t, const struct in6_addr *addr);

#endif
