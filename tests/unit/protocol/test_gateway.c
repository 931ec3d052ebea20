/* protocol/gateway.c: exact bytes of every encoder, escaping of outside
 * text, non-ASCII kept, invalid UTF-8 replaced. */
#include <stdlib.h>

#include "protocol/gateway.h"
#include "tests/unit/unit.h"

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        char *_s = (call);                                                                         \
        CHECK_EQ_STR(_s, want);                                                                    \
        free(_s);                                                                                  \
    } while (0)

static void test_error_body(void)
{
    EXPECT(gateway_error_body("NOT_FOUND", "no such endpoint"),
           "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such endpoint\"}}");
    EXPECT(gateway_error_body("VALIDATION_ERROR", "a \"quoted\" \\ back\nline"),
           "{\"error\":{\"code\":\"VALIDATION_ERROR\",\"message\":"
           "\"a \\\"quoted\\\" \\\\ back\\nline\"}}");
    EXPECT(gateway_error_body("X", "caf\xc3\xa9 \xe2\x82\xac"),
           "{\"error\":{\"code\":\"X\",\"message\":\"caf\xc3\xa9 \xe2\x82\xac\"}}");
    EXPECT(gateway_error_body("X", "bad \xff byte"),
           "{\"error\":{\"code\":\"X\",\"message\":\"bad ? byte\"}}");
    EXPECT(gateway_error_body(NULL, NULL),
           "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"\"}}");
}

static void test_ready_body(void)
{
    EXPECT(gateway_ready_body(1, 2, 2, 0, 0),
           "{\"status\":\"ready\",\"workers_ready\":2,\"workers_expected\":2,"
           "\"database\":\"up\",\"draining\":false}");
    EXPECT(gateway_ready_body(0, 1, 2, 1, 1),
           "{\"status\":\"not_ready\",\"workers_ready\":1,\"workers_expected\":2,"
           "\"database\":\"down\",\"draining\":true}");
}

static void test_published(void)
{
    EXPECT(gateway_published_channel("news"), "{\"status\":\"published\",\"channel\":\"news\"}");
    EXPECT(gateway_published_channel("a\"b"), "{\"status\":\"published\",\"channel\":\"a\\\"b\"}");
    EXPECT(gateway_published_room("p1", "document_status"),
           "{\"status\":\"published\",\"room\":\"project_p1\",\"event\":\"document_status\"}");
    EXPECT(gateway_published_room("p1", "\xc3\xa9t\xc3\xa9"),
           "{\"status\":\"published\",\"room\":\"project_p1\",\"event\":\"\xc3\xa9t\xc3\xa9\"}");
}

static void test_resync(void)
{
    EXPECT(gateway_resync("news", 7), "{\"type\":\"resync\",\"channel\":\"news\",\"missed\":7}");
    EXPECT(gateway_resync("x\\y", 18446744073709551ull),
           "{\"type\":\"resync\",\"channel\":\"x\\\\y\",\"missed\":18446744073709551}");
}

static void test_auth_error(void)
{
    EXPECT(gateway_auth_error("token expired"),
           "{\"type\":\"auth_error\",\"data\":{\"code\":\"INVALID_TOKEN\",\"message\":"
           "\"Authentication failed: token expired\",\"action\":\"reconnect_with_valid_token\"}}");
    EXPECT(gateway_auth_error(NULL),
           "{\"type\":\"auth_error\",\"data\":{\"code\":\"INVALID_TOKEN\",\"message\":"
           "\"Authentication failed: invalid token\",\"action\":"
           "\"reconnect_with_valid_token\"}}");
    EXPECT(gateway_auth_error("\xe2\x9c\x97 \xfe"),
           "{\"type\":\"auth_error\",\"data\":{\"code\":\"INVALID_TOKEN\",\"message\":"
           "\"Authentication failed: \xe2\x9c\x97 ?\",\"action\":\"reconnect_with_valid_token\"}}");
}

int main(void)
{
    RUN(test_error_body);
    RUN(test_ready_body);
    RUN(test_published);
    RUN(test_resync);
    RUN(test_auth_error);
    return UNIT_SUMMARY();
}
