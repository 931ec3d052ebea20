/* Minimal unit-test support: CHECK records a failure and goes on;
 * UNIT_MAIN prints "N passed, N failed" for the test run summary. */
#ifndef RAGWS_TESTS_UNIT_H
#define RAGWS_TESTS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed, unit_case_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            unit_case_failed = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
                    _a, _b);                                                                       \
            unit_case_failed = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, \
                    #b, _a ? _a : "(null)", _b ? _b : "(null)");                                   \
            unit_case_failed = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define RUN(test)                                                                                  \
    do {                                                                                           \
        unit_case_failed = 0;                                                                      \
        test();                                                                                    \
        if (unit_case_failed) {                                                                    \
            unit_failed++;                                                                         \
            printf("not ok - %s\n", #test);                                                        \
        } else {                                                                                   \
            unit_passed++;                                                                         \
            printf("ok - %s\n", #test);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#define UNIT_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", unit_passed, unit_failed), unit_failed ? 1 : 0)

#endif
