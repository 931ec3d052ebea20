/* libFuzzer target: every client-message decoder of protocol/ (the
 * /ws/query envelope, /chat/ws, /ws/conversation and its batch,
 * publishing, Socket.IO packets and
 * Engine.IO long-polling bodies). Invariants: no crash, no
 * leak, and a successful parse yields values inside their documented
 * ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/chat.h"
#include "protocol/conversation.h"
#include "protocol/publish.h"
#include "protocol/query.h"
#include "protocol/socketio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *code;
    char err[256];

    query_msg_t q;
    if (query_msg_parse((const char *)data, size, &q, &code, err, sizeof err) == 0) {
        if (strlen(q.request_id) == 0 || strlen(q.request_id) > QUERY_RID_MAX) abort();
        if (q.kind == QMSG_QUERY &&
            (!q.query || q.max_results < 1 || q.max_results > 50 || !q.mode[0]))
            abort();
    } else if (!code || !err[0]) {
        abort();
    }
    query_msg_free(&q);

    if (query_parse_data((const char *)data, size, &q, &code, err, sizeof err) == 0 && !q.query)
        abort();
    query_msg_free(&q);

    chat_msg_t c;
    if (chat_msg_parse((const char *)data, size, &c, &code, err, sizeof err) == 0) {
        if (c.kind == CHAT_MESSAGE && (!c.message || !c.message[0])) abort();
        if (c.kind == CHAT_REACTION && (!c.reaction || !c.message_id[0])) abort();
    }
    chat_msg_free(&c);

    conv_input_t ci;
    conv_errs_t ce;
    if (conv_input_parse((const char *)data, size, &ci, &ce) == 0) {
        if (!ci.text || !ci.text[0] ||
            (strcmp(ci.speaker, "client") && strcmp(ci.speaker, "agent")))
            abort();
        conv_input_free(&ci);
    } else {
        char txt[1024];
        char *j = conv_422(&ce);
        conv_errs_text(&ce, txt, sizeof txt);
        if (ce.n < 1 || !j) abort();
        free(j);
    }
    conv_input_t *ins;
    size_t nins;
    char *cid;
    if (conv_batch_parse((const char *)data, size, 100, &ins, &nins, &cid, &ce) == 0) {
        for (size_t i = 0; i < nins; i++) conv_input_free(&ins[i]);
        free(ins);
        free(cid);
    }
    conv_suggestion_t sg;
    char *txt0 = strndup((const char *)data, size);
    if (txt0 && conv_suggestion_from_llm(txt0, &sg) == 0 && (!sg.nq || !sg.direction[0])) abort();
    free(txt0);

    publish_req_t p;
    if (publish_parse((const char *)data, size, &p, &code, err, sizeof err) == 0) {
        if (!p.channel_len || p.channel_len > 64 || !p.payload || p.payload[0] != '{') abort();
        free(p.payload);
    }

    /* Engine.IO payload: every packet, Socket.IO-decoded when a message. */
    size_t pos = 0, start = 0;
    long n;
    while ((n = eio_next_packet((const char *)data, size, &pos)) >= 0) {
        if ((size_t)n > size || start + (size_t)n > size) abort();
        if (n > 0 && data[start] == '4') {
            sio_packet_t sp;
            if (sio_decode((const char *)data + start + 1, (size_t)n - 1, &sp, &code, err,
                           sizeof err) == 0) {
                if (sp.type < 0 || sp.type > 6 || sp.nsp[0] != '/') abort();
                if (sp.type == SIO_EVENT && (!sp.event || !json_is_array(sp.data))) abort();
            }
            sio_packet_free(&sp);
        }
        start = pos;
    }
    return 0;
}
