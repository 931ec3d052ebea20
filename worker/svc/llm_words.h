/* Private to worker/svc/llm_builtin.c and llm_rules.c: how the builtin
 * backend and the rules see words. Pure functions over byte ranges; no
 * state, no allocation. */
#ifndef RAGWS_WORKER_SVC_LLM_WORDS_H
#define RAGWS_WORKER_SVC_LLM_WORDS_H

#include <stddef.h>

/* Bytes of a word: ASCII letters and digits, '_', and any UTF-8 byte. */
int llm_word_byte(unsigned char c);
int llm_is_upper(unsigned char c);
/* ASCII lowercase of c (other bytes unchanged). */
char llm_lower(char c);
/* ' ', '\t', '\n', '\r', '\f', '\v'. */
int llm_is_space(char c);
/* Next word of s[0..n) at or after *pos: a run of word bytes, joined across
 * single '.', '-', '\'' or '/' between word bytes ("ragws.conf",
 * "read-only", "don't"). Returns 0 at the end. */
int llm_next_word(const char *s, size_t n, size_t *pos, size_t *start, size_t *len);
/* w[0..len) equals the lowercase literal lit, ASCII case-insensitively. */
int llm_word_eq(const char *w, size_t len, const char *lit);
/* Common English words plus question and instruction words: never
 * keywords, entities or follow-up subjects. */
int llm_is_stopword(const char *w, size_t len);

#endif
