/* One line per event on stderr, text or JSON (log.format): a message
 * holding newlines or invalid UTF-8 still makes one line (escaped in JSON,
 * replaced by spaces in text). log_setup may be called again (reload). */
#ifndef RAGWS_UTIL_LOG_H
#define RAGWS_UTIL_LOG_H

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* role: "master", "worker 3", "cli" ... shown on every line. */
void log_setup(int format_json, int min_level, const char *role);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
