/* Unit tests for shm/ring.c: single process behaviour, wrap-around,
 * several producer processes, lapped readers (quiet and concurrent), a
 * writer killed in the middle of a record, and argument bounds.
 *
 * Build with -DRAGWS_RING_TESTING (for ring_publish_test_interrupt). */
#include "shm/ring.h"
#include "tests/unit/unit.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

typedef struct shm_ring {
    void *mem;
    size_t len;
    ring_t *r;
} shm_ring_t;

/* A ring in MAP_SHARED memory, as the master creates it before forking. */
static ring_t *ring_new(size_t data_bytes, shm_ring_t *s)
{
    s->r = NULL;
    s->len = ring_size_for(data_bytes);
    s->mem = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->mem == MAP_FAILED) {
        s->mem = NULL;
        return NULL;
    }
    if (ring_init(s->mem, data_bytes) != 0) return NULL;
    s->r = ring_from_mem(s->mem);
    return s->r;
}

static void ring_free(shm_ring_t *s)
{
    if (s->mem) munmap(s->mem, s->len);
}

static uint64_t mix(uint64_t x) /* splitmix64 */
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static size_t len_for(uint64_t tag, size_t lo, size_t hi)
{
    return lo + (size_t)(mix(tag) % (hi - lo + 1));
}

/* Deterministic bytes from a tag: records with different tags differ. */
static void fill(unsigned char *p, uint64_t tag, size_t n)
{
    uint64_t seed = mix(tag ^ 0x5555);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((seed >> (8 * (i & 7))) + (i >> 3) * 29);
}

static int pattern_ok(const char *p, uint64_t tag, size_t n)
{
    uint64_t seed = mix(tag ^ 0x5555);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] != (unsigned char)((seed >> (8 * (i & 7))) + (i >> 3) * 29))
            return 0;
    return 1;
}

/* Tagged payload: 8 byte tag then the pattern of the tag. */
static void fill_tagged(unsigned char *p, uint64_t tag, size_t n)
{
    memcpy(p, &tag, 8);
    fill(p + 8, tag, n - 8);
}

static int tagged_ok(const ring_entry_t *e, uint64_t *tag)
{
    if (e->payload_len < 8) return 0;
    memcpy(tag, e->payload, 8);
    return pattern_ok(e->payload + 8, *tag, e->payload_len - 8);
}

static void chan_for(uint64_t tag, char *out, size_t *len)
{
    *len = (size_t)snprintf(out, 32, "ch.%u", (unsigned)(tag % 7));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes a record takes in the ring (24 byte header, padded to 8). */
static uint64_t pad8(uint64_t v) { return (v + 7) & ~(uint64_t)7; }

/* ------------------------------------------------------------------------
 * 1. Basic
 * --------------------------------------------------------------------- */

static void test_basic(void)
{
    static const char *chans[] = {"news", "chat.room.42", "x",
                                  "a-much-longer-channel-name/with/segments"};
    static const char pays[][16] = {"hello", "", "{\"k\":1}", "bin\0ary\0"};
    static const size_t plens[] = {5, 0, 7, 8};
    shm_ring_t s;
    ring_t *r = ring_new(0, &s);
    ring_reader_t rd, late;
    ring_entry_t e;
    ring_lap_t lap;
    uint64_t seq, prev_ns = 0;
    uint32_t h;
    char *buf;

    CHECK(r != NULL);
    if (!r) return;
    buf = malloc(ring_max_record(r));
    CHECK_EQ_INT(ring_last_seq(r), 0);
    CHECK_EQ_INT(ring_recovered_locks(r), 0);
    CHECK_EQ_INT(ring_seq_channel_hash(r, 1, &h), 0);

    ring_reader_init(r, &rd);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_EMPTY);

    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(
            ring_publish(r, chans[i], strlen(chans[i]), plens[i] ? pays[i] : NULL, plens[i], &seq),
            0);
        CHECK_EQ_INT(seq, i + 1);
    }
    CHECK_EQ_INT(ring_last_seq(r), 4);

    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_OK);
        CHECK_EQ_INT(e.seq, i + 1);
        CHECK_EQ_INT(e.channel_len, strlen(chans[i]));
        CHECK(memcmp(e.channel, chans[i], e.channel_len) == 0);
        CHECK_EQ_INT(e.payload_len, plens[i]);
        CHECK(memcmp(e.payload, pays[i], plens[i]) == 0);
        CHECK(e.publish_ns > 0 && e.publish_ns >= prev_ns);
        prev_ns = e.publish_ns;
        CHECK_EQ_INT(ring_seq_channel_hash(r, e.seq, &h), 1);
        CHECK_EQ_INT(h, ring_channel_hash(chans[i], strlen(chans[i])));
    }
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_EMPTY);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_EMPTY);

    /* A reader that joins now sees only what comes next. */
    ring_reader_init(r, &late);
    CHECK_EQ_INT(ring_read(r, &late, &e, buf, ring_max_record(r), &lap), RING_EMPTY);
    CHECK_EQ_INT(ring_publish(r, "later", 5, "L1", 2, NULL), 0);
    CHECK_EQ_INT(ring_publish(r, "later", 5, "L2", 2, NULL), 0);
    for (int i = 0; i < 2; i++) {
        ring_reader_t *x = i ? &rd : &late;
        CHECK_EQ_INT(ring_read(r, x, &e, buf, ring_max_record(r), &lap), RING_OK);
        CHECK_EQ_INT(e.seq, 5);
        CHECK(e.payload_len == 2 && memcmp(e.payload, "L1", 2) == 0);
        CHECK(e.publish_ns >= prev_ns);
        CHECK_EQ_INT(ring_read(r, x, &e, buf, ring_max_record(r), &lap), RING_OK);
        CHECK_EQ_INT(e.seq, 6);
        CHECK(e.payload_len == 2 && memcmp(e.payload, "L2", 2) == 0);
        CHECK_EQ_INT(ring_read(r, x, &e, buf, ring_max_record(r), &lap), RING_EMPTY);
    }

    /* FNV-1a 32 reference values. */
    CHECK_EQ_INT(ring_channel_hash("", 0), 0x811c9dc5u);
    CHECK_EQ_INT(ring_channel_hash("a", 1), 0xe40c292cu);
    CHECK_EQ_INT(ring_channel_hash("foobar", 6), 0xbf9cf968u);

    free(buf);
    ring_free(&s);
}

/* ------------------------------------------------------------------------
 * 2. Wrap-around
 * --------------------------------------------------------------------- */

typedef struct wrap_state {
    ring_t *r;
    ring_reader_t rd;
    uint64_t seq;    /* last published */
    size_t lens[64]; /* payload length by seq % 64 (read promptly) */
    unsigned char *pay;
    char *buf;
    uint64_t straddles;     /* records crossing the end of the area */
    uint64_t hdr_straddles; /* ... with the header itself split */
} wrap_state_t;

static void wrap_publish(wrap_state_t *w, size_t len)
{
    char ch[32];
    size_t clen;
    uint64_t got = 0;

    w->seq++;
    chan_for(w->seq, ch, &clen);
    fill(w->pay, w->seq, len);
    w->lens[w->seq % 64] = len;
    CHECK_EQ_INT(ring_publish(w->r, ch, clen, w->pay, len, &got), 0);
    CHECK_EQ_INT(got, w->seq);
}

static void wrap_drain(wrap_state_t *w, uint64_t cap)
{
    ring_entry_t e;
    ring_lap_t lap;
    char ch[32];
    size_t clen;

    for (;;) {
        uint64_t pos = w->rd.pos, expect = w->rd.next_seq;
        int rc = ring_read(w->r, &w->rd, &e, w->buf, ring_max_record(w->r), &lap);
        if (rc == RING_EMPTY) break;
        CHECK_EQ_INT(rc, RING_OK);
        if (rc != RING_OK) return;
        CHECK_EQ_INT(e.seq, expect);
        chan_for(e.seq, ch, &clen);
        CHECK(e.channel_len == clen && memcmp(e.channel, ch, clen) == 0);
        CHECK_EQ_INT(e.payload_len, w->lens[e.seq % 64]);
        CHECK(pattern_ok(e.payload, e.seq, e.payload_len));
        if ((pos % cap) + (w->rd.pos - pos) > cap) w->straddles++;
        if ((pos % cap) + 24 > cap) w->hdr_straddles++;
    }
    CHECK_EQ_INT(w->rd.next_seq, w->seq + 1);
}

/* Publish records so that the next one starts at data offset `target`. */
static void wrap_align_to(wrap_state_t *w, uint64_t cap, uint64_t target)
{
    for (int guard = 0; guard < 64; guard++) {
        uint64_t head = w->rd.pos; /* reader is caught up */
        uint64_t rem = (target - head % cap) & (cap - 1);
        char ch[32];
        size_t clen;

        if (rem == 0) return;
        chan_for(w->seq + 1, ch, &clen);
        if (rem >= pad8(24 + clen) && rem - 24 - clen <= 5 * KIB)
            wrap_publish(w, rem - 24 - clen); /* ends exactly at target */
        else
            wrap_publish(w, 4 * KIB);
        wrap_drain(w, cap);
    }
    CHECK(0 && "could not align");
}

static void test_wrap(void)
{
    shm_ring_t s;
    ring_t *r = ring_new(64 * KIB, &s);
    wrap_state_t w;
    const uint64_t cap = 64 * KIB;

    CHECK(r != NULL);
    if (!r) return;
    CHECK_EQ_INT(ring_size_for(64 * KIB), ring_size_for(1));
    memset(&w, 0, sizeof w);
    w.r = r;
    w.pay = malloc(5 * KIB);
    w.buf = malloc(ring_max_record(r));
    ring_reader_init(r, &w.rd);

    /* Batches of random sized records, read back after each batch: many
     * times around the ring, with every byte checked. */
    for (uint64_t round = 0; round < 800; round++) {
        int batch = 1 + (int)(mix(round) % 8); /* <= 40 KiB: never laps */
        for (int b = 0; b < batch; b++) wrap_publish(&w, len_for(w.seq + 1, 1, 5 * KIB));
        wrap_drain(&w, cap);
    }
    CHECK(w.seq > 3000);
    CHECK(w.straddles > 50);

    /* Headers split across the end at every possible 8 byte boundary. */
    for (uint64_t back = 8; back <= 16; back += 8) {
        wrap_align_to(&w, cap, cap - back);
        wrap_publish(&w, 1);
        wrap_publish(&w, 3000);
        wrap_drain(&w, cap);
    }
    CHECK(w.hdr_straddles >= 2);
    CHECK_EQ_INT(ring_last_seq(r), w.seq);

    free(w.pay);
    free(w.buf);
    ring_free(&s);
}

/* ------------------------------------------------------------------------
 * 3. Several producer processes, one concurrent reader
 * --------------------------------------------------------------------- */

#define NPROD    4
#define PER_PROD 20000

static void producer(ring_t *r, uint32_t id)
{
    unsigned char pay[80];
    char ch[8];
    int clen = snprintf(ch, sizeof ch, "p%u", id);

    for (uint32_t c = 0; c < PER_PROD; c++) {
        uint64_t tag = ((uint64_t)id << 32) | c;
        size_t len = len_for(tag, 8, sizeof pay);
        fill_tagged(pay, tag, len);
        if (ring_publish(r, ch, (size_t)clen, pay, len, NULL) != 0) _exit(1);
    }
    _exit(0);
}

/* Reap whichever of pids[] exited; returns how many are still alive. */
static int reap(pid_t *pids, int n, int block)
{
    int live = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (pids[i] <= 0) continue;
        pid_t p = waitpid(pids[i], &st, block ? 0 : WNOHANG);
        if (p == pids[i]) {
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            pids[i] = 0;
        } else {
            live++;
        }
    }
    return live;
}

static void test_producers(void)
{
    shm_ring_t s;
    ring_t *r = ring_new(8 * 1024 * KIB, &s); /* 80k records < 8 MiB: no lap */
    ring_reader_t rd;
    ring_entry_t e;
    ring_lap_t lap;
    pid_t pids[NPROD];
    uint32_t next[NPROD] = {0};
    uint64_t expect = 1, total = (uint64_t)NPROD * PER_PROD, bad = 0, laps = 0;
    char *buf;
    double deadline = now_s() + 30;

    CHECK(r != NULL);
    if (!r) return;
    buf = malloc(ring_max_record(r));
    ring_reader_init(r, &rd);
    for (uint32_t i = 0; i < NPROD; i++) {
        pids[i] = fork();
        if (pids[i] == 0) producer(r, i);
        CHECK(pids[i] > 0);
    }

    /* Read while they publish. The loop ends when every producer has
     * exited and the ring is drained (or on the safety deadline). */
    int live = NPROD;
    while (now_s() < deadline) {
        int rc = ring_read(r, &rd, &e, buf, ring_max_record(r), &lap);
        if (rc == RING_OK) {
            uint64_t tag;
            char ch[8];
            if (e.seq != expect || !tagged_ok(&e, &tag) || (tag >> 32) >= NPROD) {
                bad++;
                expect = e.seq + 1;
                continue;
            }
            uint32_t id = (uint32_t)(tag >> 32), c = (uint32_t)tag;
            int clen = snprintf(ch, sizeof ch, "p%u", id);
            uint32_t h = 0;
            if (c != next[id] || e.payload_len != len_for(tag, 8, 80) ||
                e.channel_len != (uint32_t)clen || memcmp(e.channel, ch, (size_t)clen) != 0 ||
                ring_seq_channel_hash(r, e.seq, &h) != 1 ||
                h != ring_channel_hash(ch, (size_t)clen))
                bad++;
            next[id] = c + 1;
            expect++;
        } else if (rc == RING_LAPPED) {
            laps++;
            expect = lap.to_seq;
        } else if (live > 0) {
            live = reap(pids, NPROD, 0);
            sched_yield();
        } else {
            break;
        }
    }
    reap(pids, NPROD, 1);

    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(laps, 0);
    CHECK_EQ_INT(expect, total + 1);
    CHECK_EQ_INT(ring_last_seq(r), total);
    for (int i = 0; i < NPROD; i++) CHECK_EQ_INT(next[i], PER_PROD);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_EMPTY);

    free(buf);
    ring_free(&s);
}

/* ------------------------------------------------------------------------
 * 4. Lapped readers
 * --------------------------------------------------------------------- */

static void test_lapped(void)
{
    enum { N = 3000 };
    const uint64_t cap = 64 * KIB;
    shm_ring_t s;
    ring_t *r = ring_new(64 * KIB, &s);
    ring_reader_t rd;
    ring_entry_t e;
    ring_lap_t lap;
    static uint64_t off[N + 2]; /* off[seq] = start, off[N+1] = head */
    unsigned char pay[2048];
    char *buf, ch[32];
    size_t clen;
    uint64_t oldest = 0;
    uint32_t h;

    CHECK(r != NULL);
    if (!r) return;
    buf = malloc(ring_max_record(r));
    ring_reader_init(r, &rd);

    off[1] = 0;
    for (uint64_t seq = 1; seq <= N; seq++) {
        size_t len = len_for(seq, 200, 2000);
        chan_for(seq, ch, &clen);
        fill_tagged(pay, seq, len);
        CHECK_EQ_INT(ring_publish(r, ch, clen, pay, len, NULL), 0);
        off[seq + 1] = off[seq] + pad8(24 + clen + len);
    }
    /* The oldest intact record: first start at or after head - capacity. */
    for (uint64_t seq = 1; seq <= N && !oldest; seq++)
        if (off[seq] >= off[N + 1] - cap) oldest = seq;
    CHECK(oldest > N - 100);

    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_LAPPED);
    CHECK_EQ_INT(lap.from_seq, 1);
    CHECK_EQ_INT(lap.to_seq, oldest);
    for (uint64_t seq = oldest; seq <= N; seq++) {
        uint64_t tag;
        int rc = ring_read(r, &rd, &e, buf, ring_max_record(r), &lap);
        CHECK_EQ_INT(rc, RING_OK);
        if (rc != RING_OK) break;
        CHECK_EQ_INT(e.seq, seq);
        CHECK(tagged_ok(&e, &tag) && tag == seq && e.payload_len == len_for(seq, 200, 2000));
        chan_for(seq, ch, &clen);
        CHECK(e.channel_len == clen && memcmp(e.channel, ch, clen) == 0);
    }
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_EMPTY);

    /* Side index: 64 KiB ring -> 1024 entries, the last 1024 seqs known. */
    int known = 0, wrong = 0;
    for (uint64_t seq = 1; seq <= N; seq++) {
        int got = ring_seq_channel_hash(r, seq, &h);
        if (got != (seq > N - 1024)) wrong++;
        if (got) {
            known++;
            chan_for(seq, ch, &clen);
            if (h != ring_channel_hash(ch, clen)) wrong++;
        }
    }
    CHECK_EQ_INT(known, 1024);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(ring_seq_channel_hash(r, 0, &h), 0);
    CHECK_EQ_INT(ring_seq_channel_hash(r, N + 1, &h), 0);

    free(buf);
    ring_free(&s);
}

/* A producer process hammers a 64 KiB ring with n records of lo..hi bytes
 * while we read. A sleepy reader is lapped now and then; a busy one (with
 * big records) is lapped all the time and mostly reads the record at tail,
 * the very one the producer overwrites next, which exercises torn copies.
 * Either way: never a corrupt record, and every gap reported exactly. */
static void lapped_run(uint64_t n, size_t lo, size_t hi, int sleepy)
{
    shm_ring_t s;
    ring_t *r = ring_new(64 * KIB, &s);
    ring_reader_t rd;
    ring_entry_t e;
    ring_lap_t lap;
    uint64_t expect = 1, ok = 0, laps = 0, bad = 0, lost = 0;
    char *buf;
    pid_t pid;
    double deadline = now_s() + 30;

    CHECK(r != NULL);
    if (!r) return;
    buf = malloc(ring_max_record(r));
    ring_reader_init(r, &rd);

    pid = fork();
    if (pid == 0) {
        unsigned char *pay = malloc(hi);
        for (uint64_t seq = 1; seq <= n; seq++) {
            size_t len = len_for(seq, lo, hi);
            fill_tagged(pay, seq, len);
            if (ring_publish(r, "c", 1, pay, len, NULL) != 0) _exit(1);
        }
        _exit(0);
    }
    CHECK(pid > 0);

    int live = 1;
    while (now_s() < deadline) {
        int rc = ring_read(r, &rd, &e, buf, ring_max_record(r), &lap);
        if (rc == RING_OK) {
            uint64_t tag;
            if (e.seq != expect || !tagged_ok(&e, &tag) || tag != e.seq ||
                e.payload_len != len_for(tag, lo, hi) || e.channel_len != 1 || e.channel[0] != 'c')
                bad++;
            expect = e.seq + 1;
            /* Deliberately slow, so that the producer laps us: this is
             * not waiting for anything. The busy reader checks the bytes
             * three times, which makes it slower than the producer. */
            if (++ok % 64 == 0 && sleepy) {
                struct timespec ts = {0, 200 * 1000};
                nanosleep(&ts, NULL);
            } else if (!sleepy) {
                bad += !tagged_ok(&e, &tag) + !tagged_ok(&e, &tag);
            }
        } else if (rc == RING_LAPPED) {
            laps++;
            if (lap.from_seq != expect || lap.to_seq <= lap.from_seq) bad++;
            lost += lap.to_seq - lap.from_seq;
            expect = lap.to_seq;
        } else if (live) {
            live = reap(&pid, 1, 0);
            sched_yield();
        } else {
            break;
        }
    }
    if (live) reap(&pid, 1, 1);

    CHECK_EQ_INT(bad, 0);
    CHECK(laps > 0);
    CHECK(ok > 0);
    CHECK_EQ_INT(expect, n + 1);
    CHECK_EQ_INT(ok + lost, n); /* every record read or reported lost */
    CHECK_EQ_INT(ring_last_seq(r), n);

    free(buf);
    ring_free(&s);
}

static void test_lapped_concurrent(void)
{
    lapped_run(100000, 16, 1600, 1);
    lapped_run(20000, 8, 16 * KIB - 64, 0);
}

/* ------------------------------------------------------------------------
 * 5. Writer killed in the middle of a record
 * --------------------------------------------------------------------- */

static void die_now(void) { raise(SIGKILL); }

/* Fork a writer that takes the lock, writes half of a big record and is
 * killed. Returns 1 if it died of SIGKILL. */
static int killed_writer(ring_t *r)
{
    static unsigned char junk[8000];
    int st;
    pid_t pid = fork();

    if (pid == 0) {
        memset(junk, 0xAB, sizeof junk);
        ring_publish_test_interrupt(r, "dead", 4, junk, sizeof junk, die_now);
        _exit(3); /* not reached */
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static void test_killed_writer(void)
{
    shm_ring_t s, s2;
    ring_t *r = ring_new(64 * KIB, &s);
    ring_reader_t rd, rd2;
    ring_entry_t e;
    ring_lap_t lap;
    unsigned char pay[12000];
    uint64_t seq = 0, tag;
    char *buf;
    /* Smaller, then larger, than the dead writer's 8000 bytes. */
    static const size_t after[] = {100, 11000, 50, 3000};

    CHECK(r != NULL);
    if (!r) return;
    buf = malloc(ring_max_record(r));
    ring_reader_init(r, &rd);
    fill_tagged(pay, 1, 300);
    CHECK_EQ_INT(ring_publish(r, "before", 6, pay, 300, &seq), 0);
    CHECK_EQ_INT(seq, 1);
    ring_reader_init(r, &rd2); /* sits exactly where the dead record is */

    CHECK(killed_writer(r));
    CHECK_EQ_INT(ring_last_seq(r), 1);
    CHECK_EQ_INT(ring_read(r, &rd2, &e, buf, ring_max_record(r), &lap), RING_EMPTY);

    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        fill_tagged(pay, 2 + i, after[i]);
        CHECK_EQ_INT(ring_publish(r, "after", 5, pay, after[i], &seq), 0);
        CHECK_EQ_INT(seq, 2 + i);
        CHECK_EQ_INT(ring_recovered_locks(r), 1);
    }

    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, ring_max_record(r), &lap), RING_OK);
    CHECK_EQ_INT(e.seq, 1);
    for (int pass = 0; pass < 2; pass++) {
        ring_reader_t *x = pass ? &rd2 : &rd;
        for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
            CHECK_EQ_INT(ring_read(r, x, &e, buf, ring_max_record(r), &lap), RING_OK);
            CHECK_EQ_INT(e.seq, 2 + i);
            CHECK(e.channel_len == 5 && memcmp(e.channel, "after", 5) == 0);
            CHECK(e.payload_len == after[i] && tagged_ok(&e, &tag) && tag == 2 + i);
        }
        CHECK_EQ_INT(ring_read(r, x, &e, buf, ring_max_record(r), &lap), RING_EMPTY);
    }
    uint32_t h;
    CHECK_EQ_INT(ring_seq_channel_hash(r, 2, &h), 1);
    CHECK_EQ_INT(h, ring_channel_hash("after", 5));

    /* The lock can also be recovered by a reader joining first. */
    ring_t *r2 = ring_new(64 * KIB, &s2);
    CHECK(r2 != NULL);
    if (r2) {
        CHECK(killed_writer(r2));
        ring_reader_init(r2, &rd);
        CHECK_EQ_INT(ring_recovered_locks(r2), 1);
        CHECK_EQ_INT(ring_publish(r2, "x", 1, "ok", 2, &seq), 0);
        CHECK_EQ_INT(seq, 1);
        CHECK_EQ_INT(ring_read(r2, &rd, &e, buf, ring_max_record(r2), &lap), RING_OK);
        CHECK(e.seq == 1 && e.payload_len == 2 && memcmp(e.payload, "ok", 2) == 0);
        CHECK_EQ_INT(ring_recovered_locks(r2), 1);
        ring_free(&s2);
    }

    free(buf);
    ring_free(&s);
}

/* ------------------------------------------------------------------------
 * 6. Bounds and bad input
 * --------------------------------------------------------------------- */

static void test_bounds(void)
{
    shm_ring_t s;
    ring_t *r = ring_new(64 * KIB, &s);
    ring_reader_t rd;
    ring_entry_t e;
    ring_lap_t lap;
    char chan[300];
    unsigned char *pay;
    char *buf;
    size_t max;
    uint64_t seq;

    CHECK(r != NULL);
    if (!r) return;
    max = ring_max_record(r);
    CHECK_EQ_INT(max, 64 * KIB / 4 - 24);
    pay = calloc(1, max + 1);
    buf = malloc(max);
    memset(chan, 'c', sizeof chan);
    ring_reader_init(r, &rd);

    CHECK_EQ_INT(ring_publish(r, chan, 0, "x", 1, NULL), -EINVAL);
    CHECK_EQ_INT(ring_publish(r, chan, 256, "x", 1, NULL), -EINVAL);
    CHECK_EQ_INT(ring_publish(r, NULL, 1, "x", 1, NULL), -EINVAL);
    CHECK_EQ_INT(ring_publish(r, chan, 1, NULL, 1, NULL), -EINVAL);
    CHECK_EQ_INT(ring_publish(r, chan, 1, pay, max, NULL), -E2BIG);
    CHECK_EQ_INT(ring_publish(r, chan, 255, pay, max - 254, NULL), -E2BIG);
    CHECK_EQ_INT(ring_publish(r, chan, 1, pay, SIZE_MAX, NULL), -E2BIG);
    CHECK_EQ_INT(ring_last_seq(r), 0);

    /* The largest record fits, with the longest channel. */
    fill(pay, 7, max - 255);
    CHECK_EQ_INT(ring_publish(r, chan, 255, pay, max - 255, &seq), 0);
    CHECK_EQ_INT(seq, 1);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, max, &lap), RING_OK);
    CHECK(e.channel_len == 255 && e.payload_len == max - 255);
    CHECK(pattern_ok(e.payload, 7, e.payload_len));

    /* A buffer too small for a record: it is skipped and reported lost. */
    CHECK_EQ_INT(ring_publish(r, "big", 3, pay, 1000, NULL), 0);
    CHECK_EQ_INT(ring_publish(r, "small", 5, "s", 1, NULL), 0);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, 100, &lap), RING_LAPPED);
    CHECK(lap.from_seq == 2 && lap.to_seq == 3);
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, 100, &lap), RING_OK);
    CHECK(e.seq == 3 && e.payload_len == 1 && e.payload[0] == 's');

    /* Garbage reader positions never read out of bounds (ASan watches)
     * and never return a record that is not the one expected. */
    for (uint64_t i = 4; i < 60; i++) {
        fill_tagged(pay, i, len_for(i, 8, 3000));
        CHECK_EQ_INT(ring_publish(r, "g", 1, pay, len_for(i, 8, 3000), NULL), 0);
    }
    ring_reader_init(r, &rd);
    uint64_t head = rd.pos;
    int odd = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        ring_reader_t g = {mix(i) % (head + 64), mix(i + 99) % 70};
        uint64_t want = g.next_seq, tag;
        int rc = ring_read(r, &g, &e, buf, max, &lap);
        if (rc == RING_OK)
            odd += !(e.seq == want && tagged_ok(&e, &tag) && tag == want);
        else if (rc == RING_LAPPED)
            odd += !(g.pos < head && lap.to_seq == g.next_seq);
        else
            odd += g.pos != head;
    }
    CHECK_EQ_INT(odd, 0);

    /* Sizes: a power of two, at least 64 KiB; bad memory refused. */
    CHECK(ring_size_for(0) == ring_size_for(64 * KIB));
    CHECK(ring_size_for(64 * KIB + 1) == ring_size_for(128 * KIB));
    CHECK(ring_size_for(128 * KIB) > ring_size_for(64 * KIB) + 64 * KIB);
    CHECK_EQ_INT(ring_init((char *)s.mem + 1, 64 * KIB), -EINVAL);
    CHECK_EQ_INT(ring_init(NULL, 64 * KIB), -EINVAL);

    free(pay);
    free(buf);
    ring_free(&s);
}

int main(void)
{
    RUN(test_basic);
    RUN(test_wrap);
    RUN(test_producers);
    RUN(test_lapped);
    RUN(test_lapped_concurrent);
    RUN(test_killed_writer);
    RUN(test_bounds);
    return UNIT_SUMMARY();
}
