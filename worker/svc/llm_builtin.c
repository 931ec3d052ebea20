#include "worker/svc/llm_builtin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"

/* ---- words ---------------------------------------------------------- */

/* Bytes of a word: ASCII letters and digits, '_', and any UTF-8 byte (so
 * "Grüße" stays one word). */
static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static char lower(char c) { return is_upper((unsigned char)c) ? (char)(c - 'A' + 'a') : c; }

/* Next word of s[0..n) at or after *pos: a run of word bytes, joined across
 * single '.', '-', '\'' or '/' between word bytes ("ragws.conf",
 * "read-only", "don't"). Returns 0 at the end. */
static int next_word(const char *s, size_t n, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    while (i < n && !word_byte((unsigned char)s[i])) i++;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    size_t b = i;
    for (;;) {
        while (i < n && word_byte((unsigned char)s[i])) i++;
        if (i + 1 < n && (s[i] == '.' || s[i] == '-' || s[i] == '\'' || s[i] == '/') &&
            word_byte((unsigned char)s[i + 1]))
            i++;
        else
            break;
    }
    *start = b;
    *len = i - b;
    *pos = i;
    return 1;
}

/* Common English words plus question and instruction words: never
 * keywords, entities or follow-up subjects. */
static const char *const STOPWORDS[] = {
    "a",          "about",    "above",     "after",      "again",       "against", "all",
    "also",       "am",       "an",        "and",        "any",         "are",     "as",
    "at",         "be",       "because",   "been",       "before",      "being",   "below",
    "between",    "both",     "but",       "by",         "can",         "could",   "define",
    "definition", "describe", "did",       "difference", "differences", "do",      "does",
    "doing",      "done",     "down",      "during",     "each",        "e.g",     "either",
    "else",       "etc",      "ever",      "every",      "explain",     "few",     "for",
    "from",       "further",  "get",       "gets",       "give",        "had",     "has",
    "have",       "having",   "he",        "her",        "here",        "hers",    "him",
    "his",        "how",      "i",         "i.e",        "if",          "in",      "into",
    "is",         "it",       "its",       "it's",       "itself",      "just",    "list",
    "many",       "me",       "mean",      "meaning",    "means",       "more",    "most",
    "much",       "must",     "my",        "no",         "nor",         "not",     "now",
    "of",         "off",      "on",        "once",       "one",         "only",    "or",
    "other",      "our",      "out",       "over",       "own",         "please",  "same",
    "shall",      "she",      "should",    "show",       "so",          "some",    "such",
    "tell",       "than",     "that",      "the",        "their",       "them",    "then",
    "there",      "these",    "they",      "thing",      "things",      "this",    "those",
    "through",    "to",       "too",       "under",      "until",       "up",      "use",
    "used",       "uses",     "using",     "very",       "versus",      "vs",      "want",
    "was",        "way",      "we",        "were",       "what",        "what's",  "when",
    "where",      "which",    "while",     "who",        "whom",        "whose",   "why",
    "will",       "with",     "work",      "works",      "would",       "you",     "your",
    "compare",    "compared", "comparing", "comparison",
};

static int word_eq(const char *w, size_t len, const char *lit)
{
    size_t i = 0;
    for (; i < len && lit[i]; i++)
        if (lower(w[i]) != lit[i]) return 0;
    return i == len && lit[i] == '\0';
}

static int is_stopword(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof STOPWORDS / sizeof STOPWORDS[0]; i++)
        if (word_eq(w, len, STOPWORDS[i])) return 1;
    return 0;
}

/* Crude stem for matching "configure", "configured", "configuration": the
 * lowercase word without a plural 's', cut to 6 bytes. */
typedef struct {
    char s[8];
} stem_t;

static stem_t stem_of(const char *w, size_t len)
{
    stem_t st;
    if (len > 3 && lower(w[len - 1]) == 's' && lower(w[len - 2]) != 's') len--;
    if (len > 6) len = 6;
    for (size_t i = 0; i < len; i++) st.s[i] = lower(w[i]);
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
    while (kw->n < MAX_KEYWORDS && next_word(q, n, &pos, &b, &l)) {
        if (l < 2 || is_stopword(q + b, l)) continue;
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
    while (next_word(s, n, &pos, &b, &l)) {
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

/* ---- a growing string ------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n + 1) c *= 2;
        char *p = realloc(b->p, c);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Appends s[0..n) with every whitespace run made one space (and other
 * control bytes dropped), so the answer splits cleanly into tokens. */
static void sb_add_clean(sbuf_t *b, const char *s, size_t n)
{
    int space = b->len == 0 || b->p[b->len - 1] == ' ';
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

static void sb_trim(sbuf_t *b)
{
    while (b->len && b->p[b->len - 1] == ' ') b->p[--b->len] = '\0';
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

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Splits text into sentences: after '.', '!' or '?' followed by whitespace
 * and then anything but a lowercase letter ("e.g. this" stays whole), and
 * at blank lines. Leading Markdown markers are skipped. */
static int split_sentences(const char *t, size_t n, int prank, sentence_t *out, int max)
{
    int count = 0;
    size_t i = 0;
    while (i < n && count < max) {
        while (i < n && (is_space(t[i]) || t[i] == '#' || t[i] == '>' || t[i] == '*' ||
                         (t[i] == '-' && i + 1 < n && is_space(t[i + 1]))))
            i++;
        if (i >= n) break;
        size_t b = i, e = n;
        for (; i < n; i++) {
            char c = t[i];
            if ((c == '.' || c == '!' || c == '?') && (i + 1 == n || is_space(t[i + 1]))) {
                size_t j = i + 1;
                while (j < n && is_space(t[j])) j++;
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
        while (e > b && is_space(t[e - 1])) e--;
        if (e > b) {
            sentence_t *s = &out[count];
            memset(s, 0, sizeof *s);
            s->prank = prank;
            s->sidx = count;
            s->off = b;
            s->len = e - b;
            size_t pos = 0, wb, wl;
            while (next_word(t + b, e - b, &pos, &wb, &wl)) s->words++;
            count++;
        }
    }
    return count;
}

/* Appends a sentence, cut to SENTENCE_WORDS words, ending in punctuation. */
static void add_sentence(sbuf_t *b, const char *t, const sentence_t *s)
{
    const char *p = t + s->off;
    size_t n = s->len, words = 0, i = 0;
    int cut = 0;
    /* Cut after the SENTENCE_WORDS-th whitespace-separated word. */
    while (i < n) {
        while (i < n && is_space(p[i])) i++;
        if (i >= n) break;
        if (words == SENTENCE_WORDS) {
            n = i;
            cut = 1;
            break;
        }
        while (i < n && !is_space(p[i])) i++;
        words++;
    }
    sb_add_clean(b, p, n);
    sb_trim(b);
    if (cut)
        sb_str(b, " ...");
    else if (b->len && !strchr(".!?", b->p[b->len - 1]))
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

static void nothing_found(sbuf_t *b, const char *q)
{
    sbuf_t t = {0};
    sb_add_clean(&t, q, strlen(q));
    size_t n = t.len;
    while (n && (t.p[n - 1] == '?' || t.p[n - 1] == '.' || t.p[n - 1] == '!' || t.p[n - 1] == ' '))
        n--;
    while (n > 200 || (n && ((unsigned char)t.p[n] & 0xC0) == 0x80)) /* cut at a character */
        n--;
    size_t start = 0;
    while (start < n && t.p[start] == ' ') start++;
    if (n > start) {
        sb_str(b, "I found nothing about \"");
        sb_add(b, t.p + start, n - start);
        sb_str(b, "\" in the collection.");
    } else {
        sb_str(b, "I found nothing about that in the collection.");
    }
    b->oom |= t.oom;
    free(t.p);
}

/* s's words, one space apart, ASCII lowercased: how repeats are compared. */
static char *normalized(const char *t, const sentence_t *s)
{
    sbuf_t b = {0};
    sb_add_clean(&b, t + s->off, s->len);
    sb_trim(&b);
    for (size_t i = 0; i < b.len; i++) b.p[i] = lower(b.p[i]);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
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
static void truncate_words(sbuf_t *b, uint32_t max_tokens)
{
    uint32_t words = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->p[i] == ' ' && ++words == max_tokens) {
            b->len = i;
            b->p[i] = '\0';
            return;
        }
    }
}

char *llm_builtin_answer(const llm_request_t *req, uint32_t max_tokens)
{
    const char *q = llm_builtin_question(req);
    sbuf_t out = {0};
    if (max_tokens == 0) max_tokens = 1;

    /* The top passages by score; ties keep their given order. */
    size_t top[TOP_PASSAGES];
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

    sentence_t *cand = NULL;
    int ncand = 0;
    if (ntop) {
        cand = malloc(sizeof *cand * TOP_PASSAGES * MAX_SENTENCES);
        if (!cand) return NULL;
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
    }
    if (ncand == 0) {
        nothing_found(&out, q);
        free(cand);
        truncate_words(&out, max_tokens);
        return out.oom ? (free(out.p), NULL) : out.p;
    }

    /* Pick up to 4 sentences sharing words with the question (a title or a
     * fragment of one or two words says too little)... */
    qsort(cand, (size_t)ncand, sizeof *cand, by_relevance);
    if (mark_repeats(req, top, cand, ncand) < 0) {
        free(cand);
        free(out.p);
        return NULL;
    }
    int picked[4], npicked = 0;
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

    const llm_passage_t *bestp = &req->passages[top[0]];
    sb_str(&out, "The most relevant source is ");
    sb_add_clean(&out, source_name(bestp), strlen(source_name(bestp)));
    sb_str(&out, ".");
    for (int i = 0; i < npicked; i++) {
        const sentence_t *s = &cand[picked[i]];
        const llm_passage_t *p = &req->passages[top[s->prank]];
        sb_str(&out, " ");
        add_sentence(&out, p->text, s);
        sb_str(&out, " [");
        sb_add_clean(&out, source_name(p), strlen(source_name(p)));
        sb_str(&out, "]");
    }
    free(cand);
    truncate_words(&out, max_tokens);
    if (out.oom) {
        free(out.p);
        return NULL;
    }
    return out.p;
}

size_t llm_builtin_token_len(const char *text, size_t len, size_t pos)
{
    size_t i = pos;
    while (i < len && text[i] != ' ') i++;
    while (i < len && text[i] == ' ') i++;
    return i - pos;
}

/* ---- rules: intent and entities -------------------------------------- */

typedef struct {
    size_t b, l;
} span_t;

#define MAX_WORDS 256

static int in_list(const char *w, size_t l, const char *const *list)
{
    for (; *list; list++)
        if (word_eq(w, l, *list)) return 1;
    return 0;
}

static const char *intent_of(const char *q, const span_t *w, int n)
{
    static const char *const cmp[] = {"compare",    "compared",    "comparing", "comparison",
                                      "difference", "differences", "differ",    "differs",
                                      "vs",         "versus",      NULL};
    static const char *const wh[] = {
        "what", "which", "who", "whom", "whose", "when",  "where", "what's", "is",  "are",  "was",
        "were", "does",  "do",  "did",  "can",   "could", "will",  "should", "has", "have", NULL};
    static const char *const how_fact[] = {"many", "much", "long",  "often", "big",
                                           "old",  "far",  "large", "fast",  NULL};
    static const char *const articles[] = {"a", "an", "the", NULL};
    if (n == 0) return "other";
    for (int i = 0; i < n; i++)
        if (in_list(q + w[i].b, w[i].l, cmp)) return "comparison";
    const char *w0 = q + w[0].b;
    size_t l0 = w[0].l;
    if (word_eq(w0, l0, "define") || word_eq(w0, l0, "definition") ||
        (n >= 3 && word_eq(w0, l0, "meaning") && word_eq(q + w[1].b, w[1].l, "of")))
        return "definition";
    /* "what is X" / "what are (the) X": a definition when X is short. */
    if ((word_eq(w0, l0, "what") && n >= 3 &&
         (word_eq(q + w[1].b, w[1].l, "is") || word_eq(q + w[1].b, w[1].l, "are"))) ||
        (word_eq(w0, l0, "what's") && n >= 2)) {
        int first = word_eq(w0, l0, "what's") ? 1 : 2;
        if (first < n && in_list(q + w[first].b, w[first].l, articles)) first++;
        if (n - first >= 1 && n - first <= 3) return "definition";
    }
    if (word_eq(w0, l0, "why")) return "causal";
    for (int i = 0; i < n; i++)
        if (word_eq(q + w[i].b, w[i].l, "cause") || word_eq(q + w[i].b, w[i].l, "causes") ||
            word_eq(q + w[i].b, w[i].l, "reason"))
            return "causal";
    if (word_eq(w0, l0, "how"))
        return n >= 2 && in_list(q + w[1].b, w[1].l, how_fact) ? "factual" : "procedural";
    if (in_list(w0, l0, wh)) return "factual";
    return "other";
}

/* Capitalised: inner capitals ("WebSocket", "TCP"), or a leading capital
 * not at the start of a sentence. */
static int capitalised(const char *q, span_t w)
{
    const char *s = q + w.b;
    for (size_t i = 1; i < w.l; i++)
        if (is_upper((unsigned char)s[i])) return 1;
    if (!is_upper((unsigned char)s[0])) return 0;
    size_t i = w.b;
    while (i > 0 && is_space(q[i - 1])) i--;
    return !(i == 0 || q[i - 1] == '.' || q[i - 1] == '!' || q[i - 1] == '?' || q[i - 1] == ':' ||
             q[i - 1] == '"');
}

/* Common verbs: fine as search keywords, poor as the subject of a
 * follow-up question ("How does Redis relate to evict?"). */
static const char *const VERBS[] = {
    "add",    "avoid",   "build",   "change",    "configure", "configured", "connect",   "create",
    "delete", "deploy",  "disable", "enable",    "evict",     "find",       "fix",       "handle",
    "happen", "happens", "help",    "implement", "improve",   "install",    "installed", "keep",
    "know",   "look",    "make",    "manage",    "need",      "needs",      "perform",   "prevent",
    "read",   "receive", "remove",  "restart",   "run",       "running",    "runs",      "send",
    "set",    "setup",   "start",   "stop",      "tune",      "tuned",      "update",    "upgrade",
    "write",  NULL,
};

static int significant(const char *w, size_t l)
{
    if (in_list(w, l, VERBS)) return 0;
    if (l >= 4) return 1;
    for (size_t i = 0; i < l; i++)
        if ((w[i] >= '0' && w[i] <= '9') || w[i] == '_' || w[i] == '.') return 1;
    return 0;
}

/* Case-insensitive: does hay hold needle as whole words? */
static int holds_words(const char *hay, const char *needle)
{
    size_t n = strlen(needle), h = strlen(hay);
    for (size_t i = 0; n && i + n <= h; i++) {
        if (i > 0 && word_byte((unsigned char)hay[i - 1])) continue;
        if (i + n < h && word_byte((unsigned char)hay[i + n])) continue;
        if (strncasecmp(hay + i, needle, n) == 0) return 1;
    }
    return 0;
}

static void add_entity(char entities[][128], size_t *count, size_t max, const char *s, size_t l)
{
    if (*count >= max || l == 0) return;
    char e[128];
    if (l > sizeof e - 1) {
        l = sizeof e - 1;
        while (l > 0 && ((unsigned char)s[l] & 0xC0) == 0x80) l--;
    }
    memcpy(e, s, l);
    e[l] = '\0';
    for (size_t i = 0; i < *count; i++)
        if (strcasecmp(entities[i], e) == 0 || holds_words(entities[i], e)) return;
    memcpy(entities[(*count)++], e, l + 1);
}

static int split_words(const char *q, span_t *w, int max)
{
    size_t n = strlen(q), pos = 0, b, l;
    int count = 0;
    while (count < max && next_word(q, n, &pos, &b, &l)) w[count++] = (span_t){b, l};
    return count;
}

static void entities_of(const char *q, const span_t *w, int n, char entities[][128], size_t max,
                        size_t *count)
{
    /* Capitalised phrases: runs of capitalised words joined by one space. */
    for (int i = 0; i < n && *count < max;) {
        if (!capitalised(q, w[i]) || is_stopword(q + w[i].b, w[i].l)) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < n && j - i < 4 && w[j].b == w[j - 1].b + w[j - 1].l + 1 &&
               q[w[j].b - 1] == ' ' && capitalised(q, w[j]) && !is_stopword(q + w[j].b, w[j].l))
            j++;
        add_entity(entities, count, max, q + w[i].b, w[j - 1].b + w[j - 1].l - w[i].b);
        i = j;
    }
    /* Then significant terms, in question order. */
    for (int i = 0; i < n && *count < max; i++)
        if (!is_stopword(q + w[i].b, w[i].l) && significant(q + w[i].b, w[i].l))
            add_entity(entities, count, max, q + w[i].b, w[i].l);
}

void llm_rules_analyze(const char *question, char *intent, size_t ilen, char entities[][128],
                       size_t max_entities, size_t *n_entities)
{
    const char *q = question ? question : "";
    span_t *w = malloc(sizeof *w * MAX_WORDS);
    int n = w ? split_words(q, w, MAX_WORDS) : 0;
    if (intent && ilen) snprintf(intent, ilen, "%s", intent_of(q, w, n));
    size_t count = 0;
    if (entities) entities_of(q, w, n, entities, max_entities < 5 ? max_entities : 5, &count);
    if (n_entities) *n_entities = count;
    free(w);
}

/* ---- rules: follow-up questions --------------------------------------- */

/* Templates by intent; %1/%2 are the first two entities. The third needs
 * two entities; with one, "alone" is used instead. */
typedef struct {
    const char *intent;
    const char *t[3];
    const char *alone;
} templates_t;

static const templates_t TEMPLATES[] = {
    {"procedural",
     {"What are the prerequisites for %1?", "How do I troubleshoot %1?",
      "How does %1 relate to %2?"},
     "What are common mistakes with %1?"},
    {"causal",
     {"How can problems with %1 be prevented?", "What are the effects of %1?",
      "How does %1 relate to %2?"},
     "What are common problems with %1?"},
    {"comparison",
     {"When should I choose %1 over %2?", "What are the limits of %1?", "How is %1 configured?"},
     "What are alternatives to %1?"},
    {NULL,
     {"How is %1 configured?", "What are the limits of %1?", "How does %1 relate to %2?"},
     "What are common problems with %1?"},
};

/* Expands a template; entities are cut to 100 bytes so the result fits. */
static void expand(char out[256], const char *t, const char *e1, const char *e2)
{
    size_t o = 0;
    for (; *t && o < 255; t++) {
        if (t[0] == '%' && (t[1] == '1' || t[1] == '2')) {
            const char *e = t[1] == '1' ? e1 : e2;
            size_t l = strlen(e);
            if (l > 100) {
                l = 100;
                while (l > 0 && ((unsigned char)e[l] & 0xC0) == 0x80) l--;
            }
            if (o + l > 255) l = utf8_prefix(e, l, 255 - o);
            memcpy(out + o, e, l);
            o += l;
            t++;
        } else {
            out[o++] = *t;
        }
    }
    out[o] = '\0';
}

int llm_rules_follow_ups(const char *question, const char *answer, char out[3][256])
{
    char intent[32];
    char ents[5][128];
    size_t n = 0;
    llm_rules_analyze(question, intent, sizeof intent, ents, 5, &n);
    if (n < 2 && answer && answer[0]) {
        /* Borrow subjects from the answer (not its [source] labels). */
        char more[5][128];
        size_t m = 0;
        llm_rules_analyze(answer, NULL, 0, more, 5, &m);
        for (size_t i = 0; i < m && n < 2; i++) {
            char label[132];
            snprintf(label, sizeof label, "[%s]", more[i]);
            if (strstr(answer, label) || strcasecmp(more[i], "source") == 0 ||
                strcasecmp(more[i], "relevant") == 0)
                continue;
            add_entity(ents, &n, 5, more[i], strlen(more[i]));
        }
    }
    if (n == 0) {
        snprintf(out[0], 256, "Can you explain this in more detail?");
        snprintf(out[1], 256, "What are the main limitations here?");
        snprintf(out[2], 256, "Where can I learn more about this topic?");
        return 3;
    }
    const templates_t *tp = TEMPLATES;
    while (tp->intent && strcmp(tp->intent, intent) != 0) tp++;
    if (tp->intent && strcmp(tp->intent, "comparison") == 0 && n < 2)
        tp = &TEMPLATES[sizeof TEMPLATES / sizeof TEMPLATES[0] - 1];
    for (int i = 0; i < 3; i++) {
        const char *t = tp->t[i];
        if (strstr(t, "%2") && n < 2) t = tp->alone;
        expand(out[i], t, ents[0], n >= 2 ? ents[1] : ents[0]);
    }
    return 3;
}
