/* base/buf.c: growth, the limit, consume, take. */
#include "tests/unit/unit.h"
#include "base/buf.h"

#include <stdlib.h>

static void test_append_and_printf(void)
{
    buf_t b = BUF_INIT(0);
    CHECK_EQ_INT(buf_append_str(&b, "héllo"), 0);
    CHECK_EQ_INT(buf_printf(&b, " %d %s", 42, "😀"), 0);
    CHECK_EQ_STR(b.data, "héllo 42 😀");
    CHECK_EQ_INT(b.len, strlen("héllo 42 😀"));
    for (int i = 0; i < 1000; i++) CHECK_EQ_INT(buf_append_char(&b, 'x'), 0);
    CHECK_EQ_INT(b.len, strlen("héllo 42 😀") + 1000);
    CHECK(b.cap > b.len);
    CHECK_EQ_INT(b.data[b.len], 0);
    buf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
}

static void test_limit_refuses_and_keeps(void)
{
    buf_t b = BUF_INIT(8);
    CHECK_EQ_INT(buf_append_str(&b, "12345678"), 0);
    CHECK_EQ_INT(buf_append_char(&b, '9'), -1);
    CHECK_EQ_INT(buf_printf(&b, "%s", "x"), -1);
    CHECK_EQ_STR(b.data, "12345678");
    CHECK_EQ_INT(b.len, 8);
    CHECK(b.cap <= 9);
    buf_free(&b);
    buf_t c = BUF_INIT(4);
    CHECK_EQ_INT(buf_printf(&c, "%s", "12345"), -1);
    CHECK_EQ_INT(c.len, 0);
    CHECK_EQ_INT(buf_reserve(&c, (size_t)-1), -1);
    buf_free(&c);
}

static void test_consume_reset_take(void)
{
    buf_t b = BUF_INIT(0);
    buf_append_str(&b, "GET / HTTP/1.1\r\n\r\nGET /b");
    buf_consume(&b, 18);
    CHECK_EQ_STR(b.data, "GET /b");
    buf_consume(&b, 100);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_STR(b.data, "");
    buf_append_str(&b, "abc");
    buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    buf_append_str(&b, "kept");
    char *s = buf_take(&b);
    CHECK_EQ_STR(s, "kept");
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    free(s);
    char *e = buf_take(&b);
    CHECK_EQ_STR(e, "");
    free(e);
}

int main(void)
{
    RUN(test_append_and_printf);
    RUN(test_limit_refuses_and_keeps);
    RUN(test_consume_reset_take);
    return UNIT_SUMMARY();
}
