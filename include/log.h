/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one logging module (STYLE E26-E29).
 *
 * Under systemd (JOURNAL_STREAM set and matching stderr) every line carries a "<N>" priority
 * prefix the journal understands; in a terminal each line starts with the local time (to the
 * millisecond) and the thread name. Thread-safe: one mutex serialises whole lines.
 *
 * The hw, sim, chip and engine algorithm code is non-logging except at debug level; the
 * worker, rpc and main log failures, each exactly once, with operation, address and errno name.
 */
#ifndef FLASHD_LOG_H
#define FLASHD_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "util.h"

/* syslog priorities, so "<N>" prefixes are the level number itself. */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Default is INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* "err", "warning", "notice", "info", "debug" (and "error"/"warn"). 0 or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *ret_level);
const char *log_level_to_string(enum log_level level);

/* Force the journal prefix style on or off (tests); by default it is detected once. */
void log_set_journal(bool on);

/* Name shown for the calling thread in terminal mode (also sets the pthread name). */
void log_set_thread_name(const char *name);

/* Redirect output (tests capture logs); NULL restores stderr. Not owned. */
void log_set_stream(FILE *stream);

void log_msg(enum log_level level, const char *fmt, ...) PRINTF_FMT(2, 3);

/*
 * Log fmt followed by ": ENAME" for the (negative or positive) errno r, and return r as a
 * negative errno so callers can write `return log_errno(LOG_LVL_ERR, r, "...")`.
 */
int log_errno(enum log_level level, int r, const char *fmt, ...) PRINTF_FMT(3, 4);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

/* Symbolic errno name ("ETIMEDOUT") for a positive or negative errno; "E?" if unknown. */
const char *errno_name(int err);

#endif
