/* What a RAG job asks a real model besides its answer: the query's
 * analysis and the follow-up questions (see rag_tasks.h). */
#include "worker/svc/rag_tasks.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/utf8.h"
#include "protocol/apiv1.h"
#include "worker/svc/llm.h"
#include "worker/svc/svc.h"

static void publish_follow_ups(const char (*qs)[256], int n)
{
    const char *q[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n && i < 3; i++) q[i] = qs[i];
    char *s = apiv1_follow_up_questions(q, (size_t)(n < 3 ? n : 3));
    if (!s) return; /* none, or out of memory */
    if (svc->publish(APIV1_CHANNEL, APIV1_CHANNEL_LEN, s, strlen(s)) < 0)
        log_warn("follow-up questions not broadcast: ring record too large");
    free(s);
}

typedef struct followup {
    char question[512];
    char *answer;
} followup_t;

static void followup_done(void *ud, const char *text, const char *error)
{
    followup_t *f = ud;
    char qs[3][256] = {{0}};
    int n = 0;
    if (text && !error) {
        /* One question per line; keep lines that end with '?'. */
        const char *p = text;
        while (*p && n < 3) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            while (len && isspace((unsigned char)p[len - 1])) len--;
            size_t off = 0;
            while (off < len && (isspace((unsigned char)p[off]) || p[off] == '-' || p[off] == '*' ||
                                 isdigit((unsigned char)p[off]) || p[off] == '.'))
                off++;
            if (len > off && p[len - 1] == '?' && len - off < sizeof qs[0]) {
                memcpy(qs[n], p + off, len - off);
                qs[n][len - off] = 0;
                n++;
            }
            if (!e) break;
            p = e + 1;
        }
    }
    if (n < 3) n = llm_rules_follow_ups(f->question, f->answer ? f->answer : "", qs);
    publish_follow_ups((const char(*)[256])qs, n);
    free(f->answer);
    free(f);
}

void rag_follow_ups(const char *question, const char *answer)
{
    const char *ans = answer ? answer : "";
    if (svc->cfg->llm_backend == LLM_BUILTIN) {
        char qs[3][256];
        int n = llm_rules_follow_ups(question, ans, qs);
        publish_follow_ups((const char(*)[256])qs, n);
        return;
    }
    followup_t *f = calloc(1, sizeof *f);
    if (!f) return;
    utf8_snprintf(f->question, sizeof f->question, "%s", question); /* cut on a character */
    f->answer = answer ? strdup(answer) : NULL;
    char prompt[2048];
    utf8_snprintf(prompt, sizeof prompt,
                  "Question: %s\nAnswer: %.*s\n\nWrite exactly three short follow-up "
                  "questions a user might ask next, one per line, each ending with '?'. "
                  "No numbering, no other text.",
                  question, (int)utf8_prefix(ans, strlen(ans), 1200), ans);
    llm_message_t m[1] = {{"user", prompt}};
    llm_request_t req = {.messages = m,
                         .n_messages = 1,
                         .question = question,
                         .temperature = 0.3,
                         .max_tokens = 120};
    if (!llm_complete(&req, followup_done, f)) followup_done(f, NULL, "could not start");
}

/* ---- query analysis ---- */

llm_stream_t *rag_analysis_start(const char *question,
                                 void (*done)(void *ud, const char *text, const char *error),
                                 void *ud)
{
    char prompt[1200];
    utf8_snprintf(prompt, sizeof prompt,
                  "Classify this question. Answer with JSON only: {\"intent\": one of "
                  "\"factual\", \"procedural\", \"causal\", \"comparison\", \"definition\", "
                  "\"other\"; \"entities\": up to 5 key terms}.\nQuestion: %.*s",
                  (int)utf8_prefix(question, strlen(question), 900), question);
    llm_message_t m[1] = {{"user", prompt}};
    llm_request_t req = {
        .messages = m, .n_messages = 1, .question = question, .temperature = 0, .max_tokens = 80};
    return llm_complete(&req, done, ud);
}

void rag_analysis_parse(const char *text, char *intent, size_t ilen, char (*entities)[128],
                        size_t max_entities, size_t *n_entities)
{
    const char *a = strchr(text, '{'), *b = strrchr(text, '}');
    if (!a || !b || b < a) return;
    json_t *v = json_loadb(a, (size_t)(b - a + 1), 0, NULL);
    const char *in = json_string_value(json_object_get(v, "intent"));
    json_t *ents = json_object_get(v, "entities");
    if (in && *in && json_is_array(ents)) {
        utf8_snprintf(intent, ilen, "%s", in);
        *n_entities = 0;
        size_t i;
        json_t *e;
        json_array_foreach(ents, i, e)
        {
            if (*n_entities == max_entities) break;
            if (json_is_string(e) && json_string_length(e))
                utf8_snprintf(entities[(*n_entities)++], 128, "%s", json_string_value(e));
        }
    }
    json_decref(v);
}
