/* Unit tests for worker/llm.c and worker/llm_builtin.c against
 * tests/fake_llm.py (started here as a child, killed at the end). Run from
 * the repository root, or set FAKE_LLM to the script's path.
 *
 * Every wait is bounded: the loop runs until a callback says the case is
 * over, or a guard timer fires. */
#include "tests/unit/unit.h"
#include "base/config.h"
#include "base/log.h"
#include "worker/svc/llm.h"
#include "worker/svc/llm_builtin.h"
#include "base/loop.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static loop_t *L;
static pid_t fake_pid = -1;
static int fake_port;
static ragws_config_t cfg;
static char key_path[64];
static json_t *script;         /* the fake's scripted tokens */
static char script_text[4096]; /* ... concatenated */

static uint64_t ms_now(void) { return loop_clock_ns() / 1000000; }

/* ---- the fake server ----------------------------------------------------- */

static int start_fake(void)
{
    const char *path = getenv("FAKE_LLM") ? getenv("FAKE_LLM") : "tests/fake_llm.py";
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "cannot read %s (run from the repository root or set FAKE_LLM)\n", path);
        return -1;
    }
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fake_pid = fork();
    if (fake_pid < 0) return -1;
    if (fake_pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", path, "0", "--max-life", "300", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* The first line is the port; give it 10 s. */
    char line[32];
    size_t n = 0;
    uint64_t deadline = ms_now() + 10000;
    while (n < sizeof line - 1 && (n == 0 || line[n - 1] != '\n')) {
        uint64_t now = ms_now();
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0) break;
        ssize_t r = read(fds[0], line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fds[0]);
    line[n] = '\0';
    fake_port = atoi(line);
    if (fake_port <= 0) {
        fprintf(stderr, "fake_llm.py did not start (got \"%s\")\n", line);
        return -1;
    }
    return 0;
}

static void stop_fake(void)
{
    if (fake_pid <= 0) return;
    kill(fake_pid, SIGTERM);
    /* Bounded: SIGKILL if it does not go within 3 s. */
    for (int i = 0; i < 300; i++) {
        if (waitpid(fake_pid, NULL, WNOHANG) == fake_pid) {
            fake_pid = -1;
            return;
        }
        usleep(10000);
    }
    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    fake_pid = -1;
}

typedef struct {
    char *p;
    size_t len;
} blob_t;

static size_t blob_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    blob_t *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->p, b->len + n + 1);
    if (!p) return 0;
    memcpy(p + b->len, ptr, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* A blocking request to the fake's control paths (test code may block). */
static json_t *fake_call(const char *method, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fake_port, path);
    CURL *e = curl_easy_init();
    blob_t b = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, blob_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (strcmp(method, "POST") == 0) curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    json_t *j = rc == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return j;
}

static void fake_reset(void) { json_decref(fake_call("POST", "/_reset")); }

/* The log once n requests were seen and all ended (waits at most 5 s). */
static json_t *fake_log(int n)
{
    char path[64];
    snprintf(path, sizeof path, "/_log?wait=%d&timeout=5", n);
    json_t *j = fake_call("GET", path);
    json_t *r = json_incref(json_object_get(j, "requests"));
    json_decref(j);
    return r;
}

/* ---- running the loop ---------------------------------------------------- */

static void guard_fired(loop_t *loop, loop_timer_t *t)
{
    int *expired = t->data;
    *expired = 1;
    loop_stop(loop);
}

/* Runs the loop until *flag or timeout_ms. Returns 1 when *flag was set. */
static int wait_for(const int *flag, uint64_t timeout_ms)
{
    loop_timer_t guard = {0};
    int expired = 0;
    loop_timer_start(L, &guard, timeout_ms, guard_fired, &expired);
    while (!*flag && !expired) loop_run(L);
    loop_timer_stop(L, &guard);
    return *flag;
}

/* Runs the loop for ms, whatever happens. */
static void run_for(uint64_t ms)
{
    int never = 0;
    wait_for(&never, ms);
}

/* ---- a stream under test ------------------------------------------------- */

#define MAX_TOK 4096

typedef struct ctx {
    llm_stream_t *s;
    int started;        /* llm_start has returned */
    int early_callback; /* a callback came from inside llm_start */
    char text[16384];
    size_t len;
    int ntok;
    uint64_t tok_ms[MAX_TOK];
    int empty_token;
    int finished, done, errored;
    int late; /* callbacks after the end or after cancel */
    uint32_t done_tokens;
    char code[64], msg[512];
    uint64_t t0, t_end;
    /* scripted actions */
    int pause_at; /* pause after this many tokens (0: never) */
    uint64_t pause_ms;
    uint64_t paused_at, resumed_at;
    int paused_tokens; /* tokens delivered while paused */
    int cancel_at;     /* cancel after this many tokens (0: never) */
    int cancelled;
    loop_timer_t resume_timer;
} ctx_t;

static void ctx_init(ctx_t *c)
{
    memset(c, 0, sizeof *c);
    c->t0 = ms_now();
}

static void resume_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    ctx_t *c = t->data;
    c->resumed_at = ms_now();
    llm_resume(c->s);
}

static void t_token(void *ud, const char *text, size_t len)
{
    ctx_t *c = ud;
    if (!c->started) c->early_callback = 1;
    if (c->finished || c->cancelled) c->late++;
    if (len == 0) c->empty_token = 1;
    if (c->paused_at && !c->resumed_at) c->paused_tokens++;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    if (c->ntok < MAX_TOK) c->tok_ms[c->ntok] = ms_now();
    c->ntok++;
    if (c->pause_at && c->ntok == c->pause_at) {
        c->paused_at = ms_now();
        llm_pause(c->s);
        loop_timer_start(L, &c->resume_timer, c->pause_ms, resume_due, c);
    }
    if (c->cancel_at && c->ntok == c->cancel_at) {
        c->cancelled = 1;
        llm_cancel(c->s); /* from inside its own callback */
        c->t_end = ms_now();
        loop_stop(L);
    }
}

static void t_done(void *ud, uint32_t tokens)
{
    ctx_t *c = ud;
    if (!c->started) c->early_callback = 1;
    if (c->finished || c->cancelled) c->late++;
    c->finished = c->done = 1;
    c->done_tokens = tokens;
    c->t_end = ms_now();
    loop_stop(L);
}

static void t_error(void *ud, const char *code, const char *message)
{
    ctx_t *c = ud;
    if (!c->started) c->early_callback = 1;
    if (c->finished || c->cancelled) c->late++;
    c->finished = c->errored = 1;
    snprintf(c->code, sizeof c->code, "%s", code);
    snprintf(c->msg, sizeof c->msg, "%s", message);
    c->t_end = ms_now();
    loop_stop(L);
}

static const llm_callbacks_t CB = {t_token, t_done, t_error};

static const llm_message_t MSGS[] = {
    {"system", "You answer from the context."},
    {"user", "What is the scripted answer?"},
};

static void start(ctx_t *c, const llm_request_t *req)
{
    c->s = llm_start(req, &CB, c);
    c->started = 1;
}

static llm_request_t http_request(void)
{
    return (llm_request_t){.messages = MSGS,
                           .n_messages = 2,
                           .question = "What is the scripted answer?",
                           .temperature = -1};
}

/* Config for an HTTP backend at the fake, path prefix mode. */
static int use_backend(int backend, const char *mode, uint32_t retries)
{
    config_defaults(&cfg);
    cfg.llm_backend = backend;
    if (mode) snprintf(cfg.llm_url, sizeof cfg.llm_url, "http://127.0.0.1:%d/%s/", fake_port, mode);
    snprintf(cfg.llm_model, sizeof cfg.llm_model, "test-model");
    snprintf(cfg.llm_api_key_file, sizeof cfg.llm_api_key_file, "%s", key_path);
    cfg.llm_connect_timeout_ms = 2000;
    cfg.llm_idle_timeout_ms = 2000;
    cfg.llm_retries = retries;
    cfg.llm_temperature = 0.25;
    cfg.llm_max_tokens = 77;
    cfg.llm_builtin_token_ms = 5;
    fake_reset();
    return llm_init(L, &cfg);
}

/* ---- HTTP backends --------------------------------------------------------- */

static void check_full_answer(const ctx_t *c)
{
    CHECK(c->done && !c->errored);
    CHECK(!c->late && !c->early_callback && !c->empty_token);
    CHECK_EQ_INT(c->ntok, json_array_size(script));
    CHECK_EQ_INT(c->done_tokens, json_array_size(script));
    CHECK_EQ_STR(c->text, script_text);
    if (c->errored) fprintf(stderr, "  error: %s %s\n", c->code, c->msg);
}

static void stream_once(int backend, const char *mode)
{
    CHECK_EQ_INT(use_backend(backend, mode, 0), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(c.s != NULL);
    CHECK(wait_for(&c.finished, 10000));
    check_full_answer(&c);
    CHECK_EQ_INT(llm_active_streams(), 0);

    /* What the backend was sent. */
    json_t *log = fake_log(1);
    CHECK_EQ_INT(json_array_size(log), 1);
    json_t *r = json_array_get(log, 0);
    json_t *body = json_object_get(r, "body");
    CHECK(json_is_true(json_object_get(r, "completed")));
    CHECK(json_is_false(json_object_get(r, "disconnected")));
    CHECK_EQ_STR(json_string_value(json_object_get(r, "authorization")), "Bearer test-key-123");
    CHECK_EQ_STR(json_string_value(json_object_get(body, "model")), "test-model");
    CHECK(json_is_true(json_object_get(body, "stream")));
    json_t *msgs = json_object_get(body, "messages");
    CHECK_EQ_INT(json_array_size(msgs), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                 "What is the scripted answer?");
    json_t *opts = backend == LLM_OPENAI ? body : json_object_get(body, "options");
    CHECK(json_number_value(json_object_get(opts, "temperature")) == 0.25);
    CHECK_EQ_INT(json_integer_value(
                     json_object_get(opts, backend == LLM_OPENAI ? "max_tokens" : "num_predict")),
                 77);
    char want[128];
    snprintf(want, sizeof want, "/%s%s", mode,
             backend == LLM_OPENAI ? "/v1/chat/completions" : "/api/chat");
    CHECK_EQ_STR(json_string_value(json_object_get(r, "path")), want);
    json_decref(log);
    llm_shutdown();
}

static void test_openai_stream(void) { stream_once(LLM_OPENAI, "ok/d20"); }
static void test_ollama_stream(void) { stream_once(LLM_OLLAMA, "ok/d20"); }
static void test_openai_crlf_split(void) { stream_once(LLM_OPENAI, "crlf/d5"); }
static void test_ollama_crlf_split(void) { stream_once(LLM_OLLAMA, "crlf/d5"); }

/* Request overrides: model, temperature, max_tokens; no messages means one
 * user message with the question. */
static void test_request_overrides(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d1", 0), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = {.question = "Just the question",
                         .model = "other-model",
                         .temperature = 1.5,
                         .max_tokens = 9};
    start(&c, &req);
    CHECK(wait_for(&c.finished, 10000));
    CHECK(c.done);
    json_t *log = fake_log(1);
    json_t *body = json_object_get(json_array_get(log, 0), "body");
    CHECK_EQ_STR(json_string_value(json_object_get(body, "model")), "other-model");
    CHECK(json_number_value(json_object_get(body, "temperature")) == 1.5);
    CHECK_EQ_INT(json_integer_value(json_object_get(body, "max_tokens")), 9);
    json_t *msgs = json_object_get(body, "messages");
    CHECK_EQ_INT(json_array_size(msgs), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "user");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                 "Just the question");
    json_decref(log);
    llm_shutdown();
}

/* Several streams at once share the multi handle and the loop. */
static void test_concurrent_streams(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d10", 0), 0);
    enum { N = 6 };
    static ctx_t c[N];
    llm_request_t req = http_request();
    for (int i = 0; i < N; i++) {
        ctx_init(&c[i]);
        start(&c[i], &req);
    }
    CHECK_EQ_INT(llm_active_streams(), N);
    uint64_t deadline = ms_now() + 10000;
    for (int i = 0; i < N; i++) {
        uint64_t now = ms_now();
        wait_for(&c[i].finished, deadline > now ? deadline - now : 1);
        check_full_answer(&c[i]);
    }
    CHECK_EQ_INT(llm_active_streams(), 0);
    llm_shutdown();
}

static void check_pause(const ctx_t *c, uint64_t pause_ms)
{
    CHECK(c->paused_at && c->resumed_at);
    CHECK(c->resumed_at - c->paused_at >= pause_ms);
    CHECK_EQ_INT(c->paused_tokens, 0);
    for (int i = 0; i < c->ntok && i < MAX_TOK; i++)
        if (c->tok_ms[i] > c->paused_at && c->tok_ms[i] < c->resumed_at) {
            fprintf(stderr, "  token %d delivered during the pause\n", i);
            CHECK(0);
        }
}

static void pause_resume(int backend)
{
    CHECK_EQ_INT(use_backend(backend, "ok/d50", 0), 0);
    ctx_t c;
    ctx_init(&c);
    c.pause_at = 3;
    c.pause_ms = 300;
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.finished, 15000));
    check_full_answer(&c);
    check_pause(&c, 300);
    json_t *log = fake_log(1);
    CHECK_EQ_INT(json_array_size(log), 1); /* no retry, no second request */
    json_decref(log);
    llm_shutdown();
}

static void test_openai_pause_resume(void) { pause_resume(LLM_OPENAI); }
static void test_ollama_pause_resume(void) { pause_resume(LLM_OLLAMA); }

/* Pause longer than the idle timeout: silence while paused is not idle. */
static void test_pause_longer_than_idle(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d10", 0), 0);
    llm_shutdown();
    cfg.llm_idle_timeout_ms = 200;
    CHECK_EQ_INT(llm_init(L, &cfg), 0);
    ctx_t c;
    ctx_init(&c);
    c.pause_at = 2;
    c.pause_ms = 600;
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.finished, 15000));
    check_full_answer(&c);
    check_pause(&c, 600);
    llm_shutdown();
}

static void cancel_mid_stream(int backend)
{
    CHECK_EQ_INT(use_backend(backend, "ok/d50", 0), 0);
    ctx_t c;
    ctx_init(&c);
    c.cancel_at = 3;
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.cancelled, 10000));
    CHECK_EQ_INT(llm_active_streams(), 0);
    run_for(300); /* anything more would show up as late */
    CHECK_EQ_INT(c.late, 0);
    CHECK_EQ_INT(c.ntok, 3);
    CHECK(!c.finished);
    json_t *log = fake_log(1);
    json_t *r = json_array_get(log, 0);
    CHECK(json_is_true(json_object_get(r, "disconnected")));
    CHECK(json_is_false(json_object_get(r, "completed")));
    CHECK(json_integer_value(json_object_get(r, "tokens_sent")) <
          (json_int_t)json_array_size(script));
    json_decref(log);
    llm_shutdown();
}

static void test_openai_cancel(void) { cancel_mid_stream(LLM_OPENAI); }
static void test_ollama_cancel(void) { cancel_mid_stream(LLM_OLLAMA); }

/* Cancelled from outside a callback, while paused. */
static void test_cancel_while_paused(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d50", 0), 0);
    ctx_t c;
    ctx_init(&c);
    c.pause_at = 2;
    c.pause_ms = 100000; /* never resumes */
    llm_request_t req = http_request();
    start(&c, &req);
    uint64_t deadline = ms_now() + 5000;
    while (c.ntok < 2 && ms_now() < deadline) run_for(20);
    CHECK_EQ_INT(c.ntok, 2);
    loop_timer_stop(L, &c.resume_timer);
    llm_cancel(c.s);
    c.cancelled = 1;
    run_for(200);
    CHECK_EQ_INT(c.late, 0);
    json_t *log = fake_log(1);
    CHECK(json_is_true(json_object_get(json_array_get(log, 0), "disconnected")));
    json_decref(log);
    CHECK_EQ_INT(llm_active_streams(), 0);
    llm_shutdown();
}

/* Cancelled right after llm_start: no callback, ever. */
static void test_cancel_before_start(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d10", 0), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = http_request();
    start(&c, &req);
    llm_cancel(c.s);
    c.cancelled = 1;
    run_for(200);
    CHECK_EQ_INT(c.late, 0);
    CHECK_EQ_INT(c.ntok, 0);
    CHECK_EQ_INT(llm_active_streams(), 0);
    llm_shutdown();
}

static void test_http_500_retries(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "error500", 2), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.finished, 10000));
    CHECK(c.errored && !c.done && !c.early_callback);
    CHECK_EQ_STR(c.code, "LLM_UNAVAILABLE");
    CHECK(strstr(c.msg, "500") != NULL);
    CHECK(strstr(c.msg, "fake backend failure") != NULL);
    CHECK_EQ_INT(c.ntok, 0);
    /* Backoff 100 + 200 ms between the three attempts. */
    CHECK(c.t_end - c.t0 >= 300);
    json_t *log = fake_log(3);
    CHECK_EQ_INT(json_array_size(log), 1 + 2);
    json_decref(log);
    llm_shutdown();

    /* Ollama, no retries: one request. */
    CHECK_EQ_INT(use_backend(LLM_OLLAMA, "error500", 0), 0);
    ctx_init(&c);
    start(&c, &req);
    CHECK(wait_for(&c.finished, 10000));
    CHECK(c.errored);
    log = fake_log(1);
    CHECK_EQ_INT(json_array_size(log), 1);
    json_decref(log);
    llm_shutdown();
}

/* A port nobody listens on: bound, then closed. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void test_connection_refused(void)
{
    int port = dead_port();
    CHECK(port > 0);
    CHECK_EQ_INT(use_backend(LLM_OLLAMA, NULL, 1), 0);
    llm_shutdown();
    snprintf(cfg.llm_url, sizeof cfg.llm_url, "http://127.0.0.1:%d", port);
    cfg.llm_connect_timeout_ms = 1000;
    CHECK_EQ_INT(llm_init(L, &cfg), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.finished, 5000));
    CHECK(c.errored && !c.early_callback);
    CHECK_EQ_STR(c.code, "LLM_UNAVAILABLE");
    CHECK(strstr(c.msg, "127.0.0.1") != NULL);
    CHECK(c.t_end - c.t0 < 1000); /* within the connect timeout, retry included */
    llm_shutdown();
}

static void stall(uint32_t retries)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "stall", retries), 0);
    llm_shutdown();
    cfg.llm_idle_timeout_ms = 300;
    CHECK_EQ_INT(llm_init(L, &cfg), 0);
    ctx_t c;
    ctx_init(&c);
    llm_request_t req = http_request();
    start(&c, &req);
    CHECK(wait_for(&c.finished, 5000));
    CHECK(c.errored);
    CHECK_EQ_STR(c.code, "LLM_UNAVAILABLE");
    CHECK(strstr(c.msg, "300 ms") != NULL);
    /* Each attempt waits 300 ms; retry k waits 100*k ms first. */
    uint64_t want = 300 * (1 + retries) + 100 * retries * (retries + 1) / 2;
    uint64_t took = c.t_end - c.t0;
    if (took < want || took > want + 400)
        fprintf(stderr, "  stall with %u retries took %llu ms, want %llu\n", retries,
                (unsigned long long)took, (unsigned long long)want);
    CHECK(took >= want && took <= want + 400);
    json_t *log = fake_log((int)(1 + retries));
    CHECK_EQ_INT(json_array_size(log), 1 + retries);
    for (size_t i = 0; i < json_array_size(log); i++)
        CHECK(json_is_true(json_object_get(json_array_get(log, i), "disconnected")));
    json_decref(log);
    llm_shutdown();
}

static void test_stall_idle_timeout(void) { stall(0); }
static void test_stall_retried(void) { stall(1); }

/* Errors after tokens were delivered: reported, never retried. */
static void test_error_after_tokens(void)
{
    static const char *const modes[] = {"inerror/d5", "drop/d5"};
    for (int backend = LLM_OPENAI; backend <= LLM_OLLAMA; backend++)
        for (int m = 0; m < 2; m++) {
            CHECK_EQ_INT(use_backend(backend, modes[m], 2), 0);
            ctx_t c;
            ctx_init(&c);
            llm_request_t req = http_request();
            start(&c, &req);
            CHECK(wait_for(&c.finished, 5000));
            CHECK(c.errored && !c.done);
            CHECK_EQ_STR(c.code, "LLM_UNAVAILABLE");
            CHECK_EQ_INT(c.ntok, m == 0 ? 2 : 3);
            if (m == 0)
                CHECK(strstr(c.msg, "fake in-stream failure") != NULL);
            else
                CHECK(strstr(c.msg, "before it finished") != NULL);
            json_t *log = fake_log(1);
            CHECK_EQ_INT(json_array_size(log), 1);
            json_decref(log);
            llm_shutdown();
        }
}

typedef struct {
    int finished;
    char *text;
    char error[512];
    int early;
    int started;
} complete_t;

static void on_complete(void *ud, const char *text, const char *error)
{
    complete_t *c = ud;
    c->early = !c->started;
    c->finished = 1;
    if (text) c->text = strdup(text);
    if (error) snprintf(c->error, sizeof c->error, "%s", error);
    loop_stop(L);
}

static void test_complete(void)
{
    CHECK_EQ_INT(use_backend(LLM_OLLAMA, "ok/d1", 0), 0);
    complete_t c = {0};
    llm_request_t req = http_request();
    CHECK(llm_complete(&req, on_complete, &c) != NULL);
    c.started = 1;
    CHECK(wait_for(&c.finished, 10000));
    CHECK(!c.early);
    CHECK_EQ_STR(c.text, script_text);
    free(c.text);
    llm_shutdown();

    CHECK_EQ_INT(use_backend(LLM_OPENAI, "error500", 0), 0);
    memset(&c, 0, sizeof c);
    CHECK(llm_complete(&req, on_complete, &c) != NULL);
    c.started = 1;
    CHECK(wait_for(&c.finished, 10000));
    CHECK(c.text == NULL && strstr(c.error, "500") != NULL);
    llm_shutdown();
}

/* ---- builtin ------------------------------------------------------------- */

static const llm_passage_t PASSAGES[] = {
    {"faq.md",
     "Workers are forked by the master process. Each worker runs its own "
     "event loop with epoll.",
     0.41},
    {"config-guide.md",
     "# Configuration\n\nThe listen port is set with the listen key "
     "in ragws.conf. The default port is 8000. Logging goes to "
     "stderr.\n\nTLS is terminated by a reverse proxy.",
     0.93},
    {"ops.md",
     "To change the port, edit ragws.conf and reload the service. The reload "
     "keeps connections open.",
     0.72},
    {"misc.md", "Unrelated text about gardening. Tomatoes like sun.", 0.05},
};

static llm_request_t builtin_request(uint32_t max_tokens)
{
    return (llm_request_t){.question = "Which port does ragws listen on by default?",
                           .passages = PASSAGES,
                           .n_passages = 4,
                           .temperature = -1,
                           .max_tokens = max_tokens};
}

static int use_builtin(uint32_t token_ms)
{
    config_defaults(&cfg);
    cfg.llm_backend = LLM_BUILTIN;
    cfg.llm_builtin_token_ms = token_ms;
    cfg.llm_max_tokens = 512;
    return llm_init(L, &cfg);
}

static void builtin_run(const llm_request_t *req, ctx_t *c)
{
    ctx_init(c);
    start(c, req);
    CHECK(c->s != NULL);
    CHECK(wait_for(&c->finished, 10000));
    CHECK(c->done && !c->late && !c->early_callback && !c->empty_token);
    CHECK_EQ_INT(c->done_tokens, c->ntok);
}

static void test_builtin_answer(void)
{
    CHECK_EQ_INT(use_builtin(1), 0);
    static ctx_t a, b;
    llm_request_t req = builtin_request(0);
    builtin_run(&req, &a);
    builtin_run(&req, &b);
    CHECK_EQ_STR(a.text, b.text); /* deterministic */
    CHECK_EQ_INT(a.ntok, b.ntok);
    char *direct = llm_builtin_answer(&req, 512);
    CHECK_EQ_STR(a.text, direct);
    free(direct);
    /* Names the best source, quotes its most relevant sentence with it. */
    CHECK(strncmp(a.text, "The most relevant source is config-guide.md.", 44) == 0);
    CHECK(strstr(a.text, "The default port is 8000. [config-guide.md]") != NULL);
    CHECK(strstr(a.text, "[ops.md]") != NULL);
    CHECK(strstr(a.text, "Tomatoes") == NULL);
    CHECK(strstr(a.text, "  ") == NULL);
    /* Tokens are words with their following space. */
    int words = 1;
    for (size_t i = 0; i < a.len; i++) words += a.text[i] == ' ';
    CHECK_EQ_INT(a.ntok, words);
    printf("# builtin: %s\n", a.text);

    /* Passage order does not matter, only scores. */
    llm_passage_t shuffled[4] = {PASSAGES[3], PASSAGES[2], PASSAGES[1], PASSAGES[0]};
    llm_request_t req2 = req;
    req2.passages = shuffled;
    char *again = llm_builtin_answer(&req2, 512);
    CHECK_EQ_STR(again, a.text);
    free(again);
    llm_shutdown();
}

static void test_builtin_max_tokens(void)
{
    CHECK_EQ_INT(use_builtin(1), 0);
    ctx_t c;
    llm_request_t req = builtin_request(10);
    builtin_run(&req, &c);
    CHECK_EQ_INT(c.ntok, 10);
    CHECK_EQ_INT(c.done_tokens, 10);
    CHECK(c.len > 0 && c.text[c.len - 1] != ' ');
    llm_shutdown();

    /* The config default applies when the request says 0. */
    config_defaults(&cfg);
    cfg.llm_builtin_token_ms = 1;
    cfg.llm_max_tokens = 7;
    CHECK_EQ_INT(llm_init(L, &cfg), 0);
    req = builtin_request(0);
    builtin_run(&req, &c);
    CHECK_EQ_INT(c.ntok, 7);
    llm_shutdown();
}

static void test_builtin_nothing_found(void)
{
    CHECK_EQ_INT(use_builtin(1), 0);
    ctx_t c;
    llm_request_t req = {.question = "  How do I tune the flux capacitor? ", .temperature = -1};
    builtin_run(&req, &c);
    CHECK_EQ_STR(c.text,
                 "I found nothing about \"How do I tune the flux capacitor\" in the collection.");
    /* Passages without text count as none. */
    llm_passage_t empty = {"x.md", "", 1.0};
    req.passages = &empty;
    req.n_passages = 1;
    builtin_run(&req, &c);
    CHECK(strncmp(c.text, "I found nothing about", 21) == 0);
    llm_shutdown();
}

static void test_builtin_pause_resume(void)
{
    CHECK_EQ_INT(use_builtin(10), 0);
    ctx_t plain, c;
    llm_request_t req = builtin_request(40);
    builtin_run(&req, &plain);
    ctx_init(&c);
    c.pause_at = 2;
    c.pause_ms = 300;
    start(&c, &req);
    CHECK(wait_for(&c.finished, 10000));
    CHECK(c.done);
    CHECK_EQ_STR(c.text, plain.text);
    CHECK_EQ_INT(c.ntok, plain.ntok);
    check_pause(&c, 300);
    /* Paced: about token_ms per token, plus the pause. */
    CHECK(c.t_end - c.t0 >= 300 + 10 * (uint64_t)(c.ntok - 1));
    llm_shutdown();
}

static void test_builtin_cancel(void)
{
    CHECK_EQ_INT(use_builtin(5), 0);
    ctx_t c;
    ctx_init(&c);
    c.cancel_at = 4;
    llm_request_t req = builtin_request(0);
    start(&c, &req);
    CHECK(wait_for(&c.cancelled, 5000));
    run_for(100);
    CHECK_EQ_INT(c.ntok, 4);
    CHECK_EQ_INT(c.late, 0);
    CHECK_EQ_INT(llm_active_streams(), 0);
    llm_shutdown();
}

static void test_builtin_complete(void)
{
    CHECK_EQ_INT(use_builtin(50), 0);
    complete_t c = {0};
    llm_request_t req = builtin_request(0);
    uint64_t t0 = ms_now();
    CHECK(llm_complete(&req, on_complete, &c) != NULL);
    c.started = 1;
    CHECK(wait_for(&c.finished, 5000));
    CHECK(!c.early);
    CHECK(ms_now() - t0 < 50); /* not paced */
    char *direct = llm_builtin_answer(&req, 512);
    CHECK_EQ_STR(c.text, direct);
    free(direct);
    free(c.text);
    llm_shutdown();
}

/* Shutdown with streams running: no callbacks, nothing leaked. */
static void test_shutdown_with_streams(void)
{
    CHECK_EQ_INT(use_backend(LLM_OPENAI, "ok/d50", 0), 0);
    ctx_t a, b;
    ctx_init(&a);
    ctx_init(&b);
    llm_request_t req = http_request();
    start(&a, &req);
    start(&b, &req);
    run_for(150);
    a.cancelled = b.cancelled = 1;
    llm_shutdown();
    run_for(50);
    CHECK_EQ_INT(a.late + b.late, 0);
    CHECK(llm_start(&req, &CB, &a) == NULL); /* not initialised any more */
}

/* ---- rules --------------------------------------------------------------- */

static int has_entity(char ents[][128], size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(ents[i], want) == 0) return 1;
    return 0;
}

static void test_rules_analyze(void)
{
    static const struct {
        const char *q, *intent;
    } cases[] = {
        {"What is PostgreSQL?", "definition"},
        {"Define eventual consistency", "definition"},
        {"Which port does ragws listen on by default?", "factual"},
        {"Who maintains libcurl?", "factual"},
        {"When was the index rebuilt?", "factual"},
        {"Where are the logs written?", "factual"},
        {"How do I configure TLS in Nginx?", "procedural"},
        {"How many workers does ragws start?", "factual"},
        {"Why does the worker restart after a crash?", "causal"},
        {"Compare Redis and Memcached", "comparison"},
        {"What is the difference between TCP and UDP?", "comparison"},
        {"PostgreSQL vs MySQL for analytics", "comparison"},
        {"Tomatoes need sun.", "other"},
        {"", "other"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char intent[32];
        char ents[5][128];
        size_t n = 99;
        llm_rules_analyze(cases[i].q, intent, sizeof intent, ents, 5, &n);
        if (strcmp(intent, cases[i].intent) != 0)
            fprintf(stderr, "  \"%s\": intent %s, want %s\n", cases[i].q, intent, cases[i].intent);
        CHECK_EQ_STR(intent, cases[i].intent);
        CHECK(n <= 5);
    }

    char intent[32];
    char ents[8][128];
    size_t n;
    llm_rules_analyze("How do I configure PostgreSQL replication on Kubernetes with pg_basebackup?",
                      intent, sizeof intent, ents, 8, &n);
    CHECK(n >= 3 && n <= 5);
    CHECK(has_entity(ents, n, "PostgreSQL"));
    CHECK(has_entity(ents, n, "Kubernetes"));
    CHECK(has_entity(ents, n, "replication"));
    CHECK(has_entity(ents, n, "pg_basebackup"));
    CHECK(!has_entity(ents, n, "How") && !has_entity(ents, n, "with"));

    /* Phrases stay together; duplicates (any case) count once. */
    llm_rules_analyze("Does Apache Kafka beat apache kafka or Kafka Streams?", intent,
                      sizeof intent, ents, 8, &n);
    CHECK(has_entity(ents, n, "Apache Kafka"));
    CHECK(has_entity(ents, n, "Kafka Streams"));
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) CHECK(strcasecmp(ents[i], ents[j]) != 0);

    /* max_entities is respected. */
    llm_rules_analyze("Alpha Beta Gamma delta epsilon zeta theta iota kappa", intent, sizeof intent,
                      ents, 2, &n);
    CHECK_EQ_INT(n, 2);
    llm_rules_analyze(NULL, intent, sizeof intent, ents, 5, &n);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(intent, "other");
}

static void check_follow_ups(const char *q, const char *answer, const char *must)
{
    char out[3][256];
    CHECK_EQ_INT(llm_rules_follow_ups(q, answer, out), 3);
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(out[i]);
        CHECK(l > 1 && out[i][l - 1] == '?');
        for (int j = i + 1; j < 3; j++) CHECK(strcmp(out[i], out[j]) != 0);
        printf("# follow-up: %s\n", out[i]);
    }
    if (must) {
        int found = 0;
        for (int i = 0; i < 3; i++) found |= strstr(out[i], must) != NULL;
        CHECK(found);
    }
}

static void test_rules_follow_ups(void)
{
    check_follow_ups("How do I configure PostgreSQL replication?", NULL, "PostgreSQL");
    check_follow_ups("What is the difference between TCP and UDP?", NULL, "UDP");
    check_follow_ups("Why does Redis evict keys?", "", "Redis");
    check_follow_ups("What is sharding?", "Sharding splits data across Citus nodes.", "sharding");
    check_follow_ups("?", NULL, NULL);
    check_follow_ups(NULL, NULL, NULL);
    /* Very long entities still fit, with the '?'. */
    char q[600];
    memset(q, 'x', sizeof q - 1);
    q[sizeof q - 1] = '\0';
    check_follow_ups(q, q, NULL);
    /* Different questions, different follow-ups. */
    char a[3][256], b[3][256];
    llm_rules_follow_ups("How is Nginx tuned?", NULL, a);
    llm_rules_follow_ups("How is HAProxy tuned?", NULL, b);
    CHECK(strcmp(a[0], b[0]) != 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_setup(0, LOG_ERROR, "test_llm"); /* the failures provoked here log warnings */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    L = loop_new();
    snprintf(key_path, sizeof key_path, "/tmp/test_llm_key.%d", (int)getpid());
    FILE *kf = fopen(key_path, "w");
    if (kf) {
        fputs("  test-key-123 \nsecond line ignored\n", kf);
        fclose(kf);
    }

    /* Offline parts first: they need no server. */
    RUN(test_rules_analyze);
    RUN(test_rules_follow_ups);
    RUN(test_builtin_answer);
    RUN(test_builtin_max_tokens);
    RUN(test_builtin_nothing_found);
    RUN(test_builtin_pause_resume);
    RUN(test_builtin_cancel);
    RUN(test_builtin_complete);

    if (start_fake() != 0) {
        unit_failed++;
        printf("not ok - start tests/fake_llm.py\n");
    } else {
        script = fake_call("GET", "/_script");
        for (size_t i = 0; i < json_array_size(script); i++)
            strncat(script_text, json_string_value(json_array_get(script, i)),
                    sizeof script_text - strlen(script_text) - 1);
        if (json_array_size(script) < 10) {
            unit_failed++;
            printf("not ok - fake_llm.py /_script\n");
        } else {
            RUN(test_openai_stream);
            RUN(test_ollama_stream);
            RUN(test_openai_crlf_split);
            RUN(test_ollama_crlf_split);
            RUN(test_request_overrides);
            RUN(test_concurrent_streams);
            RUN(test_openai_pause_resume);
            RUN(test_ollama_pause_resume);
            RUN(test_pause_longer_than_idle);
            RUN(test_openai_cancel);
            RUN(test_ollama_cancel);
            RUN(test_cancel_while_paused);
            RUN(test_cancel_before_start);
            RUN(test_http_500_retries);
            RUN(test_connection_refused);
            RUN(test_stall_idle_timeout);
            RUN(test_stall_retried);
            RUN(test_error_after_tokens);
            RUN(test_complete);
            RUN(test_shutdown_with_streams);
        }
        json_decref(script);
    }

    llm_shutdown();
    stop_fake();
    unlink(key_path);
    loop_free(L);
    curl_global_cleanup();
    return UNIT_SUMMARY();
}
