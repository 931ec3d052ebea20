/* The builtin backend's text (pure, deterministic, no loop): the extractive
 * answer composed from retrieved passages and its split into tokens. The
 * rules (llm_rules_*, declared in worker/llm.h) live here too. */
#ifndef RAGWS_WORKER_LLM_BUILTIN_H
#define RAGWS_WORKER_LLM_BUILTIN_H

#include <stddef.h>
#include <stdint.h>

#include "worker/svc/llm.h"

/* The answer to req: a sentence naming the best source, then the 2-4
 * sentences of the top passages that share most words with the question,
 * each followed by its [source] (never the same sentence twice, nor one
 * that another picked sentence contains: overlapping chunks repeat
 * sentences); or "I found nothing about "X" in the
 * collection." Words are separated by single spaces; at most max_tokens
 * (>= 1) words. Same request, same text. malloc'd; NULL when out of memory. */
char *llm_builtin_answer(const llm_request_t *req, uint32_t max_tokens);

/* The question the builtin backend answers: req->question, else the last
 * user message, else "". */
const char *llm_builtin_question(const llm_request_t *req);

/* Length of the token at text[pos]: the word plus the spaces after it
 * (0 at the end). Concatenating all tokens gives text back. */
size_t llm_builtin_token_len(const char *text, size_t len, size_t pos);

#endif
