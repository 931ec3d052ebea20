/* /api/v1/ws (seed 000): broadcasts on channel "global"; client messages
 * {"type":...,"content":{...}}; errors
 * {"type":"error","content":{"message":...,"code":...}}. */
#ifndef RAGWS_PROTOCOL_APIV1_H
#define RAGWS_PROTOCOL_APIV1_H

#include <jansson.h>

/* The channel every /api/v1/ws client is subscribed to (follow-up
 * questions, indexing progress): name it by this constant, never by the
 * literal. */
#define APIV1_CHANNEL     "global"
#define APIV1_CHANNEL_LEN (sizeof APIV1_CHANNEL - 1)

/* Encoded error message (caller frees); a fixed INTERNAL_ERROR error when
 * it cannot be encoded, NULL only when even that copy fails. */
char *apiv1_error(const char *code, const char *message);

/* {"type":"response","content":{"answer":..,"sources":[..]}} (sources borrowed);
 * NULL when it cannot be encoded. */
char *apiv1_response(const char *answer, json_t *sources);

/* {"type":"follow_up_questions","questions":[..]} with the non-empty ones
 * of questions[0..n) (NULL entries are skipped; a question that is not
 * valid UTF-8 is left out). NULL when none is left or out of memory: then
 * nothing is to be broadcast. Caller frees. */
char *apiv1_follow_up_questions(const char *const *questions, size_t n);

#endif
