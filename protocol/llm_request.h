/* The request bodies ragws sends to an LLM backend (SPEC S6): the chat
 * completion of OpenAI's API (POST /v1/chat/completions) and Ollama's
 * (POST /api/chat), both streamed. The answers are parsed by
 * protocol/llm_stream.h.
 *
 *   openai  {"model":..,"messages":[{"role":..,"content":..}..],"stream":true,
 *            "temperature":..,"max_tokens":..}
 *   ollama  {"model":..,"messages":[..],"stream":true,
 *            "options":{"temperature":..,"num_predict":..}}
 *
 * Text that is not valid UTF-8 is sent with every non-ASCII byte as '?'
 * (the backends refuse invalid JSON strings). Pure: no state, no I/O. */
#ifndef RAGWS_PROTOCOL_LLM_REQUEST_H
#define RAGWS_PROTOCOL_LLM_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* role: "system" | "user" | "assistant" (NULL: "user") */
typedef struct llm_message {
    const char *role;
    const char *content;
} llm_message_t;

typedef enum { LLM_DIALECT_OPENAI, LLM_DIALECT_OLLAMA } llm_dialect_t;

/* The body for messages[0..n); with n == 0, one user message holding
 * question. temperature is sent with 10 significant digits (0.3, not
 * 0.29999...). malloc'd, compact; NULL when out of memory. */
char *llm_request_encode(llm_dialect_t dialect, const char *model, const llm_message_t *messages,
                         size_t n, const char *question, double temperature, uint32_t max_tokens);
/* The same; json_mode asks for a JSON object answer: "response_format":
 * {"type":"json_object"} (openai) or "format":"json" (ollama). */
char *llm_request_encode_mode(llm_dialect_t dialect, const char *model,
                              const llm_message_t *messages, size_t n, const char *question,
                              double temperature, uint32_t max_tokens, int json_mode);

#endif
