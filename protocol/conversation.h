/* The live conversation assistant's wire shapes (SPEC S4.5, S8; seed 003):
 * the input message (InputMessage) and its validation, the suggestion,
 * the WebSocket frames of /ws/conversation (session_init, token, ping,
 * pong, validation_error) and the bodies of its REST twins, including
 * FastAPI's 422 detail list ({"detail":[{"type","loc","msg","input"}]}).
 *
 * Ownership. Parsed inputs own their strings (conv_input_free). Turns and
 * histories are borrowed views (the caller keeps the strings alive during
 * the call). Every encoder returns a malloc'd NUL-terminated JSON text
 * (caller frees) or NULL when out of memory. Texts from outside are
 * encoded as valid UTF-8 (protocol/json_msg.h). Pure: no state, no I/O. */
#ifndef RAGWS_PROTOCOL_CONVERSATION_H
#define RAGWS_PROTOCOL_CONVERSATION_H

#include <stddef.h>

#define CONV_SESSION_MAX    64  /* session ids: 1..64 of [A-Za-z0-9_.:-] */
#define CONV_LABEL_MAX      64  /* sentiment and emotion labels, bytes */
#define CONV_Q_MAX          4   /* questions kept in a suggestion */
#define CONV_SIG_MAX        8   /* signals kept in a suggestion */
#define CONV_Q_LEN          256 /* bytes of one question (cut on a character) */
#define CONV_SIG_LEN        64
#define CONV_DIR_LEN        512
#define CONV_ERRS_MAX       8 /* validation errors reported at once */
#define CONV_CHANNEL_PREFIX "conversation:"

/* {"text","speaker":"client|agent","sentiment","emotion","stream"?}.
 * sentiment and emotion default to "neutral"; stream is -1 when absent. */
typedef struct conv_input {
    char *text;
    char speaker[8];
    char sentiment[CONV_LABEL_MAX + 1];
    char emotion[CONV_LABEL_MAX + 1];
    int stream;
} conv_input_t;

/* One validation error as pydantic v2 reports it. loc: "body" / "query"
 * then the field path (index < 0: none; used for list items). */
typedef struct conv_err {
    char where[8];  /* "body" | "query" */
    char list[16];  /* "messages" for a batch item, else "" */
    int index;      /* list item, -1: none */
    char field[24]; /* "" for the body itself */
    char type[32];  /* missing | string_type | literal_error | ... */
    char msg[128];
} conv_err_t;

typedef struct conv_errs {
    conv_err_t e[CONV_ERRS_MAX];
    int n;
    char json_error[128]; /* set (and n = 1) when the body is not JSON */
} conv_errs_t;

typedef struct conv_suggestion {
    char questions[CONV_Q_MAX][CONV_Q_LEN];
    int nq;
    char signals[CONV_SIG_MAX][CONV_SIG_LEN];
    int ns;
    char direction[CONV_DIR_LEN];
} conv_suggestion_t;

/* A stored or given turn of a conversation (borrowed strings). */
typedef struct conv_turn {
    const char *speaker; /* client | agent */
    const char *sentiment;
    const char *emotion;
    const char *text;
} conv_turn_t;

/* ---- input ---- */

/* Validates a JSON object into out. 0, or -1 with errs filled (out is
 * freed). prefix_list/index place the errors of a batch item. */
int conv_input_parse(const char *data, size_t len, conv_input_t *out, conv_errs_t *errs);
void conv_input_free(conv_input_t *in);

/* The WebSocket control messages: 1 {"type":"ping"}, 2 {"type":"pong"},
 * 0 anything else (an input). */
int conv_control_type(const char *data, size_t len);

/* Is s a valid session id (1..CONV_SESSION_MAX of [A-Za-z0-9_.:-])? */
int conv_session_valid(const char *s, size_t len);

/* {"messages":[InputMessage...],"conversation_id"?} with at most max
 * messages: 0 with *ins (n_ins items, free each and the array) and
 * conv_id (malloc'd or NULL), or -1 with errs. */
int conv_batch_parse(const char *data, size_t len, size_t max, conv_input_t **ins, size_t *n_ins,
                     char **conv_id, conv_errs_t *errs);

/* pydantic's str(ValidationError): "2 validation errors for InputMessage\n
 * speaker\n  Field required [type=missing]\n..." */
void conv_errs_text(const conv_errs_t *errs, char *out, size_t outlen);

/* A missing / invalid query parameter, as FastAPI reports it. */
void conv_errs_query(conv_errs_t *errs, const char *name, const char *type, const char *msg);

/* ---- suggestions ---- */

/* Add a question / signal (ignored when full or a duplicate; cut to fit). */
void conv_sugg_add_question(conv_suggestion_t *s, const char *q);
void conv_sugg_add_signal(conv_suggestion_t *s, const char *sig);
int conv_sugg_has_signal(const conv_suggestion_t *s, const char *sig);

/* {"questions":[..],"signals_detected":[..],"recommended_direction":".."} */
char *conv_suggestion_encode(const conv_suggestion_t *s);

/* A model's answer: the JSON object above, optionally inside a ``` fence
 * or with text around it. 0 when it has a non-empty recommended_direction
 * string, arrays of strings for the two lists (at least one question);
 * -1 otherwise (the rules answer instead). */
int conv_suggestion_from_llm(const char *text, conv_suggestion_t *out);

/* What is stored with a suggestion (messages.metadata):
 * {"type":"suggestion","source",..,"questions","signals_detected","reply_to"} */
char *conv_suggestion_metadata(const conv_suggestion_t *s, const char *source, long long reply_to);
/* messages.metadata of an input: {"speaker","sentiment","emotion"} */
char *conv_input_metadata(const conv_input_t *in);

/* ---- WebSocket frames ---- */
char *conv_session_init(const char *session_id);
char *conv_token(const char *content, const char *full_text);
char *conv_validation_error(const char *details);
/* {"error":"storage_unavailable"|"forbidden"|..,"details","code","recoverable"} */
char *conv_error(const char *error, const char *code, const char *details, int recoverable);
extern const char CONV_PING[], CONV_PONG[];

/* ---- REST bodies ---- */
char *conv_422(const conv_errs_t *errs);
/* {"context":"[CLIENT] (sentiment: .., emotion: ..): text\n...","summary":{..}} */
char *conv_context(const conv_turn_t *t, size_t n);
/* {"summary":{..},"last_speaker","last_emotion","last_sentiment"} (null when empty) */
char *conv_summary(const conv_turn_t *t, size_t n);
/* {"status":"active","conversation_messages",last_*,"session_id"} */
char *conv_status(const conv_turn_t *t, size_t n, const char *session_id);
/* {"status":"cleared","message":"Conversation memory has been cleared","session_id"} */
char *conv_cleared(const char *session_id);
/* {"session_id","suggestion":{..}} */
char *conv_webhook_answer(const char *session_id, const conv_suggestion_t *s);
/* {"conversation_id","suggestions":[{"message","suggestion"}],"summary",
 * "overall_sentiment","key_moments":[{"index","speaker","text","signals"}]} */
char *conv_batch_answer(const char *conv_id, const conv_input_t *ins, const conv_suggestion_t *s,
                        size_t n);
/* The data of a critical_objection webhook event:
 * {"session_id","message":{text,speaker,sentiment,emotion},"suggestion":{..}} */
char *conv_critical_data(const char *session_id, const conv_input_t *in,
                         const conv_suggestion_t *s);

/* "positive" | "negative" | "neutral" | "mixed" from the sentiments. */
const char *conv_overall_sentiment(const conv_turn_t *t, size_t n);

#endif
