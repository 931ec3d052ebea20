#include "worker/net/ip_table.h"

#include <stdlib.h>
#include <string.h>

#define IP_BUCKETS 4096

typedef struct ip_entry {
    struct in6_addr addr;
    uint32_t count;
    struct ip_entry *next;
} ip_entry_t;

struct ip_table {
    ip_entry_t *buckets[IP_BUCKETS];
    int enabled;
};

ip_table_t *ip_table_new(void) { return calloc(1, sizeof(ip_table_t)); }

void ip_table_free(ip_table_t *t)
{
    if (!t) return;
    for (int i = 0; i < IP_BUCKETS; i++) {
        ip_entry_t *e = t->buckets[i];
        while (e) {
            ip_entry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(t);
}

static uint32_t ip_hash(const struct in6_addr *a)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++) h = (h ^ a->s6_addr[i]) * 16777619u;
    return h % IP_BUCKETS;
}

static ip_entry_t **find(ip_table_t *t, const struct in6_addr *a)
{
    ip_entry_t **pp = &t->buckets[ip_hash(a)];
    while (*pp && memcmp(&(*pp)->addr, a, sizeof *a) != 0) pp = &(*pp)->next;
    return pp;
}

int ip_table_acquire(ip_table_t *t, const struct in6_addr *addr, uint32_t limit)
{
    if (!limit) return 0;
    t->enabled = 1;
    ip_entry_t **pp = find(t, addr);
    if (!*pp) {
        ip_entry_t *e = calloc(1, sizeof *e);
        if (!e) return -1;
        e->addr = *addr;
        *pp = e;
    }
    if ((*pp)->count >= limit) return -1;
    (*pp)->count++;
    return 0;
}

void ip_table_release(ip_table_t *t, const struct in6_addr *addr)
{
    if (!t->enabled) return;
    ip_entry_t **pp = find(t, addr);
    if (!*pp) return;
    if (--(*pp)->count == 0) {
        ip_entry_t *e = *pp;
        *pp = e->next;
        free(e);
    }
}

uint32_t ip_table_count(const ip_table_t *t, const struct in6_addr *addr)
{
    ip_entry_t **pp = find((ip_table_t *)t, addr);
    return *pp ? (*pp)->count : 0;
}
