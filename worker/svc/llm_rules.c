/* The deterministic rules (llm_rules_*, declared in worker/svc/llm.h):
 * query intent and entities, and follow-up questions, used with the
 * builtin backend and as a fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"
#include "worker/svc/llm.h"
#include "worker/svc/llm_words.h"

/* ---- rules: intent and entities -------------------------------------- */

typedef struct {
    size_t b, l;
} span_t;

#define MAX_WORDS 256

static int in_list(const char *w, size_t l, const char *const *list)
{
    for (; *list; list++)
        if (llm_word_eq(w, l, *list)) return 1;
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
    if (llm_word_eq(w0, l0, "define") || llm_word_eq(w0, l0, "definition") ||
        (n >= 3 && llm_word_eq(w0, l0, "meaning") && llm_word_eq(q + w[1].b, w[1].l, "of")))
        return "definition";
    /* "what is X" / "what are (the) X": a definition when X is short. */
    if ((llm_word_eq(w0, l0, "what") && n >= 3 &&
         (llm_word_eq(q + w[1].b, w[1].l, "is") || llm_word_eq(q + w[1].b, w[1].l, "are"))) ||
        (llm_word_eq(w0, l0, "what's") && n >= 2)) {
        int first = llm_word_eq(w0, l0, "what's") ? 1 : 2;
        if (first < n && in_list(q + w[first].b, w[first].l, articles)) first++;
        if (n - first >= 1 && n - first <= 3) return "definition";
    }
    if (llm_word_eq(w0, l0, "why")) return "causal";
    for (int i = 0; i < n; i++)
        if (llm_word_eq(q + w[i].b, w[i].l, "cause") || llm_word_eq(q + w[i].b, w[i].l, "causes") ||
            llm_word_eq(q + w[i].b, w[i].l, "reason"))
            return "causal";
    if (llm_word_eq(w0, l0, "how"))
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
        if (llm_is_upper((unsigned char)s[i])) return 1;
    if (!llm_is_upper((unsigned char)s[0])) return 0;
    size_t i = w.b;
    while (i > 0 && llm_is_space(q[i - 1])) i--;
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
        if (i > 0 && llm_word_byte((unsigned char)hay[i - 1])) continue;
        if (i + n < h && llm_word_byte((unsigned char)hay[i + n])) continue;
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
    while (count < max && llm_next_word(q, n, &pos, &b, &l)) w[count++] = (span_t){b, l};
    return count;
}

static void entities_of(const char *q, const span_t *w, int n, char entities[][128], size_t max,
                        size_t *count)
{
    /* Capitalised phrases: runs of capitalised words joined by one space. */
    for (int i = 0; i < n && *count < max;) {
        if (!capitalised(q, w[i]) || llm_is_stopword(q + w[i].b, w[i].l)) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < n && j - i < 4 && w[j].b == w[j - 1].b + w[j - 1].l + 1 &&
               q[w[j].b - 1] == ' ' && capitalised(q, w[j]) && !llm_is_stopword(q + w[j].b, w[j].l))
            j++;
        add_entity(entities, count, max, q + w[i].b, w[j - 1].b + w[j - 1].l - w[i].b);
        i = j;
    }
    /* Then significant terms, in question order. */
    for (int i = 0; i < n && *count < max; i++)
        if (!llm_is_stopword(q + w[i].b, w[i].l) && significant(q + w[i].b, w[i].l))
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
