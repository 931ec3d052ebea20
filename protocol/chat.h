/* /chat/ws (seed 001, SPEC S4.3): client {"message","timestamp",
 * "conversation_id"?} or {"type":"reaction","message_id","reaction"};
 * server chunk / complete / error. */
#ifndef RAGWS_PROTOCOL_CHAT_H
#define RAGWS_PROTOCOL_CHAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_MAX_CHARS 8192

enum chat_kind { CHAT_MESSAGE, CHAT_REACTION };

typedef struct chat_msg {
    enum chat_kind kind;
    const char *message;      /* CHAT_MESSAGE; points into root */
    char conversation_id[65]; /* optional, to continue a stored conversation */
    char message_id[32];      /* CHAT_REACTION: "bot_N" */
    const char *reaction;     /* CHAT_REACTION */
    json_t *root;
} chat_msg_t;

/* 0, or -1 with *code (INVALID_JSON, VALIDATION_ERROR, UNKNOWN_TYPE) and
 * a message saying what is wrong (valid UTF-8; quoted client text is cut on
 * a character boundary). chat_msg_free is due either way. */
int chat_msg_parse(const char *data, size_t len, chat_msg_t *m, const char **code, char *err,
                   size_t errlen);
void chat_msg_free(chat_msg_t *m);

/* Encoders: caller frees; NULL when the message cannot be encoded (out of
 * memory). chat_error falls back to a fixed INTERNAL_ERROR error, so it is
 * NULL only when even that copy fails. */
char *chat_chunk(const char *message_id, const char *text, size_t len);
char *chat_complete(const char *message_id, const char *conversation_id);
char *chat_error(const char *message, const char *message_id, const char *code);
char *chat_reaction_saved(const char *message_id, const char *reaction);

#endif
