/* Words for the builtin backend and the rules: see llm_words.h. */
#include "worker/svc/llm_words.h"

#include <string.h>

/* ---- words ---------------------------------------------------------- */

/* Bytes of a word: ASCII letters and digits, '_', and any UTF-8 byte (so
 * "Grüße" stays one word). */
int llm_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

int llm_is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
char llm_lower(char c) { return llm_is_upper((unsigned char)c) ? (char)(c - 'A' + 'a') : c; }

/* Next word of s[0..n) at or after *pos: a run of word bytes, joined across
 * single '.', '-', '\'' or '/' between word bytes ("ragws.conf",
 * "read-only", "don't"). Returns 0 at the end. */
int llm_next_word(const char *s, size_t n, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    while (i < n && !llm_word_byte((unsigned char)s[i])) i++;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    size_t b = i;
    for (;;) {
        while (i < n && llm_word_byte((unsigned char)s[i])) i++;
        if (i + 1 < n && (s[i] == '.' || s[i] == '-' || s[i] == '\'' || s[i] == '/') &&
            llm_word_byte((unsigned char)s[i + 1]))
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

int llm_word_eq(const char *w, size_t len, const char *lit)
{
    size_t i = 0;
    for (; i < len && lit[i]; i++)
        if (llm_lower(w[i]) != lit[i]) return 0;
    return i == len && lit[i] == '\0';
}

int llm_is_stopword(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof STOPWORDS / sizeof STOPWORDS[0]; i++)
        if (llm_word_eq(w, len, STOPWORDS[i])) return 1;
    return 0;
}

int llm_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
