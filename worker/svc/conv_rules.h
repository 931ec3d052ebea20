/* The conversation assistant's deterministic analysis (seed 003), used
 * with llm.backend = builtin and whenever a model's answer is invalid or
 * the backend is down: signals from the text (English and French), the
 * speaker, the sentiment and emotion, and the session's history; then
 * questions and a recommended direction chosen by the signals, in French
 * for French input. Pure and deterministic: the same turns always give
 * the same suggestion. Strings are borrowed for the call only. */
#ifndef RAGWS_WORKER_SVC_CONV_RULES_H
#define RAGWS_WORKER_SVC_CONV_RULES_H

#include <stddef.h>

#include "protocol/conversation.h"

/* Signal names (the seed's, lower case). */
#define SIG_PRICING     "pricing objection"
#define SIG_INTEREST    "interest expressed"
#define SIG_HESITATION  "hesitation"
#define SIG_STRONG      "strong objection"
#define SIG_URGENCY     "urgency"
#define SIG_COMPETITOR  "competitor mention"
#define SIG_BUYING      "buying signal"
#define SIG_FRUSTRATION "frustration"
#define SIG_REPEATED    "repeated pricing objection"

/* Analyse turn t[n-1] with t[0..n-1) as the session's earlier turns. */
void conv_rules_analyze(const conv_turn_t *t, size_t n, conv_suggestion_t *out);

/* Does this text read as French (accents, common French words)? */
int conv_rules_french(const char *text);

/* The suggestion answered when processing fails (seed: "suggestion par
 * défaut"), in French or English. */
void conv_rules_default(int french, conv_suggestion_t *out);

#endif
