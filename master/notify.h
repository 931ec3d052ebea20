/* systemd notifications (libsystemd's sd_notify); no-ops without
 * NOTIFY_SOCKET. Only the master process notifies. */
#ifndef RAGWS_MASTER_NOTIFY_H
#define RAGWS_MASTER_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_watchdog(void);
/* Watchdog ping period in ms (half of WATCHDOG_USEC), 0 when disabled. */
uint64_t notify_watchdog_period_ms(void);

#endif
