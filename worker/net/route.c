#include "worker/net/route.h"

#include <stdio.h>
#include <string.h>

static const char *const method_names[] = {"GET",    "HEAD",  "POST",   "PUT",
                                           "DELETE", "PATCH", "OPTIONS"};
#define N_METHODS (sizeof method_names / sizeof method_names[0])

unsigned route_method_bit(const char *method, size_t len)
{
    for (unsigned i = 0; i < N_METHODS; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], method, len) == 0)
            return 1u << i;
    return 0;
}

static int dot_segment(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int route_pattern_match(const char *pat, const char *s, size_t n, int prefix,
                        route_params_t *params)
{
    size_t i = 0;
    if (params) params->n = 0;
    while (*pat) {
        if (i == n) return prefix;
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close) return 0; /* a broken pattern matches nothing */
            size_t start = i;
            while (i < n && s[i] != '/') i++;
            if (i == start || (!(prefix && i == n) && dot_segment(s + start, i - start))) return 0;
            if (params && params->n < ROUTE_MAX_PARAMS)
                params->p[params->n++] =
                    (route_param_t){pat + 1, (size_t)(close - pat - 1), s + start, i - start};
            pat = close + 1;
            continue;
        }
        if (*pat++ != s[i++]) return 0;
    }
    return i == n;
}

int route_match(const route_t *t, size_t n, const char *method, size_t mlen, const char *path,
                size_t len, route_params_t *params, route_match_t *m)
{
    unsigned bit = route_method_bit(method, mlen);
    m->route = NULL;
    m->allow = 0;
    for (size_t k = 0; k < n; k++) {
        const route_t *r = &t[k];
        route_params_t tmp;
        if (!route_pattern_match(r->pattern, path, len, 0, &tmp)) continue;
        /* REST routes (buffered or streamed) take their methods only */
        if ((r->kind != ROUTE_HTTP && r->kind != ROUTE_STREAM) || (r->methods & bit)) {
            m->route = r;
            if (params) {
                params->n = tmp.n;
                memcpy(params->p, tmp.p, sizeof tmp.p);
            }
            return ROUTE_FOUND;
        }
        if (!m->route) m->route = r;
        m->allow |= r->methods;
    }
    return m->route ? ROUTE_WRONG_METHOD : ROUTE_NOT_FOUND;
}

int route_param(const route_params_t *ps, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (unsigned i = 0; ps && i < ps->n; i++) {
        const route_param_t *p = &ps->p[i];
        if (p->name_len != nl || memcmp(p->name, name, nl) != 0) continue;
        if (p->len >= outlen) return -1;
        memcpy(out, p->value, p->len);
        out[p->len] = 0;
        return (int)p->len;
    }
    return -1;
}

int route_allow_header(unsigned methods, char *out, size_t outlen)
{
    size_t off = 0;
    int n = snprintf(out, outlen, "Allow:");
    if (n < 0 || (size_t)n >= outlen) return 0;
    off = (size_t)n;
    const char *sep = " ";
    for (unsigned i = 0; i < N_METHODS; i++) {
        if (!(methods & (1u << i))) continue;
        n = snprintf(out + off, outlen - off, "%s%s", sep, method_names[i]);
        if (n < 0 || (size_t)n >= outlen - off) return 0;
        off += (size_t)n;
        sep = ", ";
    }
    n = snprintf(out + off, outlen - off, "\r\n");
    if (n < 0 || (size_t)n >= outlen - off) return 0;
    return (int)(off + (size_t)n);
}
