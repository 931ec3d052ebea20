/* Engine.IO v4 and Socket.IO v5 packets (SPEC S4.4, S12). Pure functions,
 * fuzzed by tests/fuzz/fuzz_protocol_msgs.c.
 *
 * Engine.IO: one character type, then data: 0 open, 1 close, 2 ping,
 * 3 pong, 4 message, 5 upgrade, 6 noop. Long-polling bodies join packets
 * with the record separator 0x1e.
 * Socket.IO (inside an Engine.IO message):
 *   <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]
 * types 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR,
 * 5 BINARY_EVENT, 6 BINARY_ACK. */
#ifndef RAGWS_PROTOCOL_SOCKETIO_H
#define RAGWS_PROTOCOL_SOCKETIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EIO_SEPARATOR '\x1e'

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

typedef struct sio_packet {
    int type;
    char nsp[128];     /* "/" when absent */
    int64_t ack_id;    /* -1 when absent */
    json_t *data;      /* parsed JSON, or NULL when absent */
    const char *event; /* EVENT: name (first array element), points into data */
} sio_packet_t;

/* Decode a Socket.IO packet (the text after the Engine.IO '4'). Returns 0,
 * or -1 with *code (INVALID_JSON / VALIDATION_ERROR) and err (valid
 * UTF-8). A binary packet decodes (type 5/6) without its data so the caller
 * can refuse it politely. sio_packet_free is due either way. */
int sio_decode(const char *s, size_t len, sio_packet_t *p, const char **code, char *err,
               size_t errlen);
void sio_packet_free(sio_packet_t *p);

/* Encoders return Engine.IO message packets ("4..."), caller frees; NULL
 * when the packet cannot be encoded (out of memory). */
char *sio_event(const char *event, json_t *data); /* 42["event",data] (data borrowed) */
char *sio_ack(int64_t id, json_t *data);          /* 43<id>[data] */
char *sio_connect_ok(const char *sid);            /* 40{"sid":..} */
/* 44{"message":..}, or 44/nsp,{"message":..} for another namespace */
char *sio_connect_error(const char *nsp, const char *message);
/* The data of an "error" event (and of its ack): {"message","code",
 * "chat_id"?} (chat_id borrowed). The message is made valid UTF-8; NULL
 * only when out of memory. */
json_t *sio_error_data(const char *code, const char *message, json_t *chat_id);

/* The data of the seed-002 events (caller owns the result; json_t
 * arguments are borrowed unless said otherwise; texts from outside are made
 * valid UTF-8). NULL only when out of memory. */
json_t *sio_status_data(const char *sid);     /* connection_status {"status":"connected","sid"} */
json_t *sio_project_data(json_t *project_id); /* project_joined/left {"project_id"} */
json_t *sio_timestamp_data(uint64_t ms);      /* pong {"timestamp"} */
json_t *sio_resync_data(const char *channel, uint64_t missed); /* resync {"channel","missed"} */
/* metadata {"connected_at","project_id","chat_id"}: NULL ids are null */
json_t *sio_metadata_data(uint64_t connected_at_ms, json_t *project_id, json_t *chat_id);
json_t *sio_chat_data(json_t *chat_id);     /* message_received {"chat_id"} */
json_t *sio_accepted_data(json_t *chat_id); /* send_message's ack {"status":"accepted","chat_id"} */
/* One of message_sources' sources: {"id":"chunk_<n>","content","metadata":
 * {"document_id","filename","page"(null when 0)},"score"}. */
json_t *sio_source(int64_t chunk_id, int64_t document_id, const char *filename, int page,
                   const char *content, double score);
/* message_sources {"chat_id","sources"} (sources stolen) */
json_t *sio_sources_data(json_t *chat_id, json_t *sources);
/* message_token {"chat_id","token"} */
json_t *sio_token_data(json_t *chat_id, const char *text, size_t len);
/* message_complete {"chat_id","metadata":{"model","sources_count","message_id"}} */
json_t *sio_complete_data(json_t *chat_id, const char *model, int sources_count,
                          int64_t message_id);

/* Engine.IO: the open packet 0{"sid","upgrades","pingInterval",
 * "pingTimeout","maxPayload"} and the body of a refused request
 * {"code":<n>,"message":..}. Caller frees; NULL when out of memory. */
char *eio_open(const char *sid, int allow_upgrade, uint32_t ping_interval_ms,
               uint32_t ping_timeout_ms, uint32_t max_payload);
char *eio_error_body(int code, const char *message);

/* Iterate the packets of a long-polling body: returns the length of the
 * next packet starting at *pos (advancing *pos past its separator), or -1
 * at the end. */
long eio_next_packet(const char *body, size_t len, size_t *pos);

#endif
