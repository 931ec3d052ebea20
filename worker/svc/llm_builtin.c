#include "worker/svc/llm_builtin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "worker/svc/llm_words.h"

/* Crude stem for matching "configure", "configured", "configuration": the
 * lowercase word without a plural 's', cut to 6 bytes. */
typedef struct {
    char s[8];
} stem_t;

static stem_t stem_of(const char *w, size_t len)
{
    stem_t st;
    if (len > 3 && llm_lower(w[len - 1]) == 's' && llm_lower(w[len - 2]) != 's') len--;
    if (len > 6) len = 6;
    for (size_t i = 0; i < len; i++) st.s[i] = llm_lower(w[i]);
    st.s[len] = '\0';
    return st;
}

#define MAX_KEYWORDS 32

typedef struct {
    stem_t k[MAX_KEYWORDS];
    int n;
} keywords_t;

static void keywords_of(const char *q, keywords_t *kw)
{
    size_t n = strlen(q), pos = 0, b, l;
    kw->n = 0;
    while (kw->n < MAX_KEYWORDS && llm_next_word(q, n, &pos, &b, &l)) {
        if (l < 2 || llm_is_stopword(q + b, l)) continue;
        stem_t st = stem_of(q + b, l);
        int dup = 0;
        for (int i = 0; i < kw->n && !dup; i++) dup = strcmp(kw->k[i].s, st.s) == 0;
        if (!dup) kw->k[kw->n++] = st;
    }
}

/* Bit i set when the text holds keyword i. */
static uint32_t keyword_hits(const keywords_t *kw, const char *s, size_t n)
{
    uint32_t mask = 0;
    size_t pos = 0, b, l;
    while (llm_next_word(s, n, &pos, &b, &l)) {
        stem_t st = stem_of(s + b, l);
        for (int i = 0; i < kw->n; i++)
            if (strcmp(kw->k[i].s, st.s) == 0) mask |= 1u << i;
    }
    return mask;
}

static int popcount32(uint32_t v)
{
    int c = 0;
    for (; v; v &= v - 1) c++;
    return c;
}

/* ---- the text being composed ------------------------------------------ */

/* Bounded (BUILTIN_TEXT_MAX); the first append that fails (out of memory
 * or over the bound) marks it failed and the answer is then NULL. */
#define BUILTIN_TEXT_MAX (1u << 20)

typedef struct {
    buf_t b;
    int failed;
} text_t;

#define TEXT_INIT                                                                                  \
    {                                                                                              \
        BUF_INIT(BUILTIN_TEXT_MAX), 0                                                              \
    }

static void sb_add(text_t *t, const char *s, size_t n)
{
    if (!t->failed && buf_append(&t->b, s, n) < 0) t->failed = 1;
}

static void sb_str(text_t *t, const char *s) { sb_add(t, s, strlen(s)); }

/* Appends s[0..n) with every whitespace run made one space (and other
 * control bytes dropped), so the answer splits cleanly into tokens. */
static void sb_add_clean(text_t *b, const char *s, size_t n)
{
    int space = b->b.len == 0 || b->b.data[b->b.len - 1] == ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            if (!space) sb_add(b, " ", 1);
            space = 1;
        } else if (c >= 0x20 && c != 0x7f) {
            sb_add(b, (const char *)&c, 1);
            space = 0;
        }
    }
}

static void sb_trim(text_t *b)
{
    while (b->b.len && b->b.data[b->b.len - 1] == ' ') b->b.data[--b->b.len] = '\0';
}

/* ---- sentences ------------------------------------------------------- */

#define TOP_PASSAGES   3
#define MAX_SENTENCES  64 /* per passage */
#define SENTENCE_WORDS 60 /* longer sentences are cut */

typedef struct {
    int prank; /* rank of its passage (0 = best) */
    int sidx;  /* position in the passage */
    size_t off, len;
    int words;
    int overlap; /* distinct question keywords it holds */
    int chosen;
    int repeat; /* its text is inside another candidate's (overlapping chunks) */
} sentence_t;

/* Splits text into sentences: after '.', '!' or '?' followed by whitespace
 * and then anything but a lowercase letter ("e.g. this" stays whole), and
 * at blank lines. Leading Markdown markers are skipped. */
static int split_sentences(const char *t, size_t n, int prank, sentence_t *out, int max)
{
    int count = 0;
    size_t i = 0;
    while (i < n && count < max) {
        while (i < n && (llm_is_space(t[i]) || t[i] == '#' || t[i] == '>' || t[i] == '*' ||
                         (t[i] == '-' && i + 1 < n && llm_is_space(t[i + 1]))))
            i++;
        if (i >= n) break;
        size_t b = i, e = n;
        for (; i < n; i++) {
            char c = t[i];
            if ((c == '.' || c == '!' || c == '?') && (i + 1 == n || llm_is_space(t[i + 1]))) {
                size_t j = i + 1;
                while (j < n && llm_is_space(t[j])) j++;
                if (j == n || !(t[j] >= 'a' && t[j] <= 'z')) {
                    e = i + 1;
                    i = j;
                    break;
                }
            }
            if (c == '\n') {
                size_t j = i + 1;
                while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r')) j++;
                if (j < n && t[j] == '\n') {
                    e = i;
                    i = j;
                    break;
                }
            }
        }
        while (e > b && llm_is_space(t[e - 1])) e--;
        if (e > b) {
            sentence_t *s = &out[count];
            memset(s, 0, sizeof *s);
            s->prank = prank;
            s->sidx = count;
            s->off = b;
            s->len = e - b;
            size_t pos = 0, wb, wl;
            while (llm_next_word(t + b, e - b, &pos, &wb, &wl)) s->words++;
            count++;
        }
    }
    return count;
}

/* Appends a sentence, cut to SENTENCE_WORDS words, ending in punctuation. */
static void add_sentence(text_t *b, const char *t, const sentence_t *s)
{
    const char *p = t + s->off;
    size_t n = s->len, words = 0, i = 0;
    int cut = 0;
    /* Cut after the SENTENCE_WORDS-th whitespace-separated word. */
    while (i < n) {
        while (i < n && llm_is_space(p[i])) i++;
        if (i >= n) break;
        if (words == SENTENCE_WORDS) {
            n = i;
            cut = 1;
            break;
        }
        while (i < n && !llm_is_space(p[i])) i++;
        words++;
    }
    sb_add_clean(b, p, n);
    sb_trim(b);
    if (cut)
        sb_str(b, " ...");
    else if (b->b.len && !strchr(".!?", b->b.data[b->b.len - 1]))
        sb_str(b, ".");
}

static const char *source_name(const llm_passage_t *p)
{
    return p->source && p->source[0] ? p->source : "untitled";
}

const char *llm_builtin_question(const llm_request_t *req)
{
    if (req->question) return req->question;
    for (size_t i = req->n_messages; i-- > 0;)
        if (req->messages[i].role && strcmp(req->messages[i].role, "user") == 0 &&
            req->messages[i].content)
            return req->messages[i].content;
    return "";
}

/* Orders candidate sentences: most keywords, then better passage, then
 * earlier in the passage. Total, so qsort is deterministic. */
static int by_relevance(const void *a, const void *b)
{
    const sentence_t *x = a, *y = b;
    if (x->overlap != y->overlap) return y->overlap - x->overlap;
    if (x->prank != y->prank) return x->prank - y->prank;
    return x->sidx - y->sidx;
}

static void nothing_found(text_t *b, const char *q)
{
    text_t t = TEXT_INIT;
    sb_add_clean(&t, q, strlen(q));
    size_t n = t.b.len;
    while (n && (t.b.data[n - 1] == '?' || t.b.data[n - 1] == '.' || t.b.data[n - 1] == '!' ||
                 t.b.data[n - 1] == ' '))
        n--;
    while (n > 200 || (n && ((unsigned char)t.b.data[n] & 0xC0) == 0x80)) /* cut at a character */
        n--;
    size_t start = 0;
    while (start < n && t.b.data[start] == ' ') start++;
    if (n > start) {
        sb_str(b, "I found nothing about \"");
        sb_add(b, t.b.data + start, n - start);
        sb_str(b, "\" in the collection.");
    } else {
        sb_str(b, "I found nothing about that in the collection.");
    }
    b->failed |= t.failed;
    buf_free(&t.b);
}

/* s's words, one space apart, ASCII lowercased: how repeats are compared. */
static char *normalized(const char *t, const sentence_t *s)
{
    text_t b = TEXT_INIT;
    sb_add_clean(&b, t + s->off, s->len);
    sb_trim(&b);
    for (size_t i = 0; i < b.b.len; i++) b.b.data[i] = llm_lower(b.b.data[i]);
    if (b.failed) {
        buf_free(&b.b);
        return NULL;
    }
    return buf_take(&b.b);
}

/* Overlapping chunks (rag.chunk_overlap) hold the same sentences, whole or
 * cut at the chunk's start or end: a candidate whose text lies inside
 * another one's is marked a repeat and never picked (of two equal ones,
 * the later in relevance order). cand is sorted. Returns -1 when out of
 * memory. */
static int mark_repeats(const llm_request_t *req, const size_t *top, sentence_t *cand, int n)
{
    char **norm = calloc((size_t)n, sizeof *norm);
    if (!norm) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (!(norm[i] = normalized(req->passages[top[cand[i].prank]].text, &cand[i]))) rc = -1;
    for (int i = 0; i < n && rc == 0; i++)
        for (int j = 0; j < n && !cand[i].repeat; j++) {
            if (j == i || cand[j].repeat || !strstr(norm[j], norm[i])) continue;
            if (strlen(norm[j]) > strlen(norm[i]) || j < i) cand[i].repeat = 1;
        }
    for (int i = 0; i < n; i++) free(norm[i]);
    free(norm);
    return rc;
}

/* Keeps the first max_tokens space-separated words. */
static void truncate_words(text_t *t, uint32_t max_tokens)
{
    uint32_t words = 0;
    for (size_t i = 0; i < t->b.len; i++) {
        if (t->b.data[i] == ' ' && ++words == max_tokens) {
            t->b.len = i;
            t->b.data[i] = '\0';
            return;
        }
    }
}

/* The answer cut to max_tokens words, or NULL when composing it failed. */
static char *finish_text(text_t *t, uint32_t max_tokens)
{
    truncate_words(t, max_tokens);
    if (t->failed) {
        buf_free(&t->b);
        return NULL;
    }
    return buf_take(&t->b);
}

/* The top passages by score (indexes into req->passages); ties keep their
 * given order; passages without text are skipped. Returns the count. */
static int top_passages(const llm_request_t *req, size_t top[TOP_PASSAGES])
{
    int ntop = 0;
    for (size_t i = 0; i < req->n_passages; i++) {
        const llm_passage_t *p = &req->passages[i];
        if (!p->text || !p->text[0]) continue;
        int at = ntop;
        while (at > 0 && req->passages[top[at - 1]].score < p->score) at--;
        if (at >= TOP_PASSAGES) continue;
        if (ntop < TOP_PASSAGES) ntop++;
        memmove(&top[at + 1], &top[at], (size_t)(ntop - 1 - at) * sizeof top[0]);
        top[at] = i;
    }
    return ntop;
}

/* The sentences of the top passages, each with the number of distinct
 * question keywords it holds; cand has TOP_PASSAGES * MAX_SENTENCES room. */
static int candidates(const llm_request_t *req, const char *q, const size_t *top, int ntop,
                      sentence_t *cand)
{
    int ncand = 0;
    keywords_t kw;
    keywords_of(q, &kw);
    for (int r = 0; r < ntop; r++) {
        const char *t = req->passages[top[r]].text;
        int n = split_sentences(t, strlen(t), r, cand + ncand, MAX_SENTENCES);
        for (int k = 0; k < n; k++) {
            sentence_t *s = &cand[ncand + k];
            s->overlap = popcount32(keyword_hits(&kw, t + s->off, s->len));
        }
        ncand += n;
    }
    return ncand;
}

/* Picks up to 4 sentences of the sorted candidates into picked (indexes);
 * returns how many. */
static int pick_sentences(sentence_t *cand, int ncand, int ntop, int picked[4])
{
    /* Up to 4 sentences sharing words with the question (a title or a
     * fragment of one or two words says too little)... */
    int npicked = 0;
    for (int i = 0; i < ncand && npicked < 4; i++)
        if (!cand[i].repeat && cand[i].overlap > 0 && cand[i].words >= 3) {
            cand[i].chosen = 1;
            picked[npicked++] = i;
        }
    /* ...at least 2, filling in with the passages' opening sentences... */
    for (int pass = 0; pass < 2 && npicked < 2; pass++) {
        for (int r = 0; r < ntop && npicked < 2; r++)
            for (int i = 0; i < ncand && npicked < 2; i++)
                if (!cand[i].chosen && !cand[i].repeat && cand[i].prank == r &&
                    (pass == 1 || (cand[i].sidx == 0 && cand[i].words >= 3))) {
                    cand[i].chosen = 1;
                    picked[npicked++] = i;
                    break;
                }
    }
    /* ...and always one from the best passage. */
    int has_best = 0;
    for (int i = 0; i < npicked; i++) has_best |= cand[picked[i]].prank == 0;
    if (!has_best) {
        int best = -1;
        for (int i = 0; i < ncand && best < 0; i++)
            if (cand[i].prank == 0 && !cand[i].repeat)
                best = i; /* sorted: the first is its most relevant */
        if (best >= 0) {
            if (npicked < 4) npicked++;
            picked[npicked - 1] = best;
        }
    }
    return npicked;
}

/* "The most relevant source is X." then each picked sentence and its [source]. */
static void compose(text_t *out, const llm_request_t *req, const size_t *top,
                    const sentence_t *cand, const int *picked, int npicked)
{
    const llm_passage_t *bestp = &req->passages[top[0]];
    sb_str(out, "The most relevant source is ");
    sb_add_clean(out, source_name(bestp), strlen(source_name(bestp)));
    sb_str(out, ".");
    for (int i = 0; i < npicked; i++) {
        const sentence_t *s = &cand[picked[i]];
        const llm_passage_t *p = &req->passages[top[s->prank]];
        sb_str(out, " ");
        add_sentence(out, p->text, s);
        sb_str(out, " [");
        sb_add_clean(out, source_name(p), strlen(source_name(p)));
        sb_str(out, "]");
    }
}

char *llm_builtin_answer(const llm_request_t *req, uint32_t max_tokens)
{
    const char *q = llm_builtin_question(req);
    text_t out = TEXT_INIT;
    if (max_tokens == 0) max_tokens = 1;
    size_t top[TOP_PASSAGES];
    int ntop = top_passages(req, top);
    sentence_t *cand = NULL;
    int ncand = 0;
    if (ntop) {
        cand = malloc(sizeof *cand * TOP_PASSAGES * MAX_SENTENCES);
        if (!cand) return NULL;
        ncand = candidates(req, q, top, ntop, cand);
    }
    if (ncand == 0) {
        nothing_found(&out, q);
        free(cand);
        return finish_text(&out, max_tokens);
    }
    qsort(cand, (size_t)ncand, sizeof *cand, by_relevance);
    if (mark_repeats(req, top, cand, ncand) < 0) {
        free(cand);
        return NULL;
    }
    int picked[4];
    int npicked = pick_sentences(cand, ncand, ntop, picked);
    compose(&out, req, top, cand, picked, npicked);
    free(cand);
    return finish_text(&out, max_tokens);
}

size_t llm_builtin_token_len(const char *text, size_t len, size_t pos)
{
    size_t i = pos;
    while (i < len && text[i] != ' ') i++;
    while (i < len && text[i] == ' ') i++;
    return i - pos;
}
