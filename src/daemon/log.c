/* SPDX-License-Identifier: MIT */
/*
 * log.c - one output for every message in the daemon.
 *
 * Journal mode is chosen when stderr is the stream systemd connected (JOURNAL_STREAM names
 * its device:inode), so `flashd` started by hand under a systemd session still gets readable
 * terminal lines. A mutex keeps lines whole when the worker and HTTP threads log at once.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_LVL_INFO;
static int journal_mode = -1; /* -1: not yet detected */
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char thread_name[16];

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "err",   [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

bool log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&current_level);
}

int log_level_from_string(const char *s, enum log_level *ret_level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{"err", LOG_LVL_ERR},	    {"error", LOG_LVL_ERR},	{"warning", LOG_LVL_WARN},
		{"warn", LOG_LVL_WARN},	    {"notice", LOG_LVL_NOTICE}, {"info", LOG_LVL_INFO},
		{"debug", LOG_LVL_DEBUG},
	};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
	if ((size_t)level < ARRAY_SIZE(level_names) && level_names[level])
		return level_names[level];
	return "?";
}

void log_set_journal(bool on)
{
	pthread_mutex_lock(&log_lock);
	journal_mode = on;
	pthread_mutex_unlock(&log_lock);
}

void log_set_stream(FILE *stream)
{
	pthread_mutex_lock(&log_lock);
	log_stream = stream;
	pthread_mutex_unlock(&log_lock);
}

void log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name ? name : "");
	if (name)
		(void)pthread_setname_np(pthread_self(), thread_name);
}

/* Called with log_lock held. */
static bool detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(fileno(stderr), &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_vmsg(enum log_level level, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void log_vmsg(enum log_level level, int err, const char *fmt, va_list ap)
{
	FILE *out;

	pthread_mutex_lock(&log_lock);
	if (journal_mode < 0)
		journal_mode = detect_journal();
	out = log_stream ? log_stream : stderr;

	if (journal_mode) {
		fprintf(out, "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		/* local wall time to the millisecond: what a person compares with their watch */
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		/* threads we did not start (libmicrohttpd's) go by the name their library gave */
		if (!thread_name[0] &&
		    (gettid() == getpid() ||
		     pthread_getname_np(pthread_self(), thread_name, sizeof(thread_name)) != 0))
			snprintf(thread_name, sizeof(thread_name), "main");
		fprintf(out, "%s.%03ld %-7s %-8s ", stamp, ts.tv_nsec / 1000000, thread_name,
			log_level_to_string(level));
	}
	vfprintf(out, fmt, ap);
	if (err)
		fprintf(out, ": %s", errno_name(err));
	fputc('\n', out);
	fflush(out);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
}

int log_errno(enum log_level level, int r, const char *fmt, ...)
{
	va_list ap;

	if (r > 0)
		r = -r;
	if (!log_enabled(level))
		return r;
	/* r == 0 is a caller's slip: log the message without an errno rather than a false EIO */
	va_start(ap, fmt);
	log_vmsg(level, r, fmt, ap);
	va_end(ap);
	return r;
}

const char *errno_name(int err)
{
	const char *name;

	if (err < 0)
		err = -err;
	/* glibc >= 2.32 has the table; keeping our own copy would only drift. */
	name = strerrorname_np(err);
	return name ? name : "E?";
}
