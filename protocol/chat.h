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
    const char *message;        /* CHAT_MESSAGE; points into root */
    char conversation_id[65];   /* optional, to continue a stored conversation */
    char message_id[32];        /* CHAT_REACTION: "bot_N" */
    const char *reaction;       /* CHAT_REACTION */
    json_t *root;
} chat_msg_t;

/* 0, or -1 with a message saying what is wrong. */
int chat_msg_parse(const char *data, size_t len, chat_msg_t *m, char *err, size_t errlen);
void chat_msg_free(chat_msg_t *m);

char *chat_chunk(const char *message_id, const char *text, size_t len);
char *chat_complete(const char *message_id, const char *conversation_id);
char *chat_error(const char *message, const char *message_id, const char *code);
char *chat_reaction_saved(const char *message_id, const char *reaction);

#endif
