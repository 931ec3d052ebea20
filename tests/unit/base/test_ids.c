/* base/ids.c: shapes of the random ids, and that two differ. */
#include "tests/unit/unit.h"
#include "base/ids.h"

#include <ctype.h>

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return s[n] == 0;
}

static void test_random_hex(void)
{
    char a[33], b[33];
    ids_random_hex(a, 16);
    ids_random_hex(b, 16);
    CHECK(all_hex(a, 32));
    CHECK(strcmp(a, b) != 0);
    char c[8] = "xxxxxxx";
    ids_random_hex(c, 2);
    CHECK(all_hex(c, 4));
}

static void test_uuid4(void)
{
    char u[37], v[37];
    ids_uuid4(u);
    ids_uuid4(v);
    CHECK_EQ_INT(strlen(u), 36);
    CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    CHECK(u[14] == '4');
    CHECK(strchr("89ab", u[19]) != NULL);
    CHECK(strcmp(u, v) != 0);
}

int main(void)
{
    RUN(test_random_hex);
    RUN(test_uuid4);
    return UNIT_SUMMARY();
}
