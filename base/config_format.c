/* Value formatting of the key table (config dump, range messages):
 * numbers in the units the file uses (see config_internal.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/config_internal.h"

void config_format_size(double bytes, char *buf, size_t n)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {
        {GiB, "GiB"},
        {MiB, "MiB"},
        {KiB, "KiB"},
    };
    uint64_t b = (uint64_t)bytes;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t u = (uint64_t)units[i].unit;
        if (b >= u && b % u == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(b / u), units[i].suffix);
            return;
        }
    }
    snprintf(buf, n, "%llu", (unsigned long long)b);
}

void config_format_duration(double ms, char *buf, size_t n)
{
    uint64_t v = (uint64_t)ms;
    if (v && v % (uint64_t)HOUR_MS == 0)
        snprintf(buf, n, "%lluh", (unsigned long long)(v / (uint64_t)HOUR_MS));
    else if (v && v % 60000 == 0)
        snprintf(buf, n, "%llum", (unsigned long long)(v / 60000));
    else if (v && v % 1000 == 0)
        snprintf(buf, n, "%llus", (unsigned long long)(v / 1000));
    else
        snprintf(buf, n, "%llums", (unsigned long long)v);
}

/* Reads back as the same double; 15 digits keeps 0.1 as "0.1". */
void config_format_double(double d, char *buf, size_t n)
{
    snprintf(buf, n, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, n, "%.17g", d);
}

void config_format_number(const struct key_def *k, double v, char *buf, size_t n)
{
    switch (k->kind) {
    case K_SIZE: config_format_size(v, buf, n); break;
    case K_DURATION: config_format_duration(v, buf, n); break;
    case K_DOUBLE: config_format_double(v, buf, n); break;
    default: snprintf(buf, n, "%.0f", v); break;
    }
}
