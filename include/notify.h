/* SPDX-License-Identifier: MIT */
/*
 * notify.h - tell systemd what the daemon is doing (sd_notify). Every call is a no-op outside
 * systemd (NOTIFY_SOCKET unset) or when built without libsystemd.
 */
#ifndef FLASHD_NOTIFY_H
#define FLASHD_NOTIFY_H

#include <stdint.h>

#include "util.h"

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) PRINTF_FMT(1, 2);
/* The watchdog interval systemd expects, in µs; 0 when there is none. */
uint64_t notify_watchdog_usec(void);

#endif
