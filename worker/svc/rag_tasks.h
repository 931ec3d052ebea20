/* Private to worker/svc/rag*.c: what a RAG job asks a real model besides
 * its answer, with the rules (llm_rules_*) as the fallback.
 *
 *   analysis    the query's intent and entities, asked in parallel with
 *               retrieval; the job keeps the rules' analysis unless the
 *               model's parses before the job completes.
 *   follow-ups  three questions broadcast after an answer that found
 *               something (S4.1), detached from the job (question and
 *               answer are copied), encoded by protocol/apiv1.c and
 *               published on APIV1_CHANNEL through svc->publish. */
#ifndef RAGWS_WORKER_SVC_RAG_TASKS_H
#define RAGWS_WORKER_SVC_RAG_TASKS_H

#include <stddef.h>

#include "worker/svc/llm.h"

#define RAG_ANALYSIS_MAX_ENTITIES 5

/* Asks the model (llm_complete); done gets its text. NULL: not started. */
llm_stream_t *rag_analysis_start(const char *question,
                                 void (*done)(void *ud, const char *text, const char *error),
                                 void *ud);
/* The model's {"intent": "...", "entities": ["..."]} (anywhere in text)
 * into intent and entities[0..*n_entities) (each cut on a character at 128
 * bytes, at most max_entities); left unchanged when text holds no usable
 * analysis (an intent and an entities array). */
void rag_analysis_parse(const char *text, char *intent, size_t ilen, char (*entities)[128],
                        size_t max_entities, size_t *n_entities);

/* answer NULL: empty. */
void rag_follow_ups(const char *question, const char *answer);

#endif
