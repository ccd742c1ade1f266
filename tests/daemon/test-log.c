/* SPDX-License-Identifier: MIT */
/*
 * The log module's output, captured with log_set_stream(): "<N>" lines for the journal, time,
 * thread and level for a terminal, ": ENAME" from log_errno() and its return value, level
 * filtering and the level names. The log state is global: every test sets what it relies on
 * and the teardown puts back stderr and the INFO level.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct cap {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_start(struct cap *c, bool journal, enum log_level level)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	log_set_journal(journal);
	log_set_level(level);
	log_set_stream(c->f);
}

/* Stop capturing; the text logged (caller frees). */
static char *cap_end(struct cap *c)
{
	log_set_stream(NULL);
	assert_int_equal(fclose(c->f), 0);
	return c->buf;
}

static int teardown(void **state)
{
	(void)state;
	log_set_stream(NULL);
	log_set_level(LOG_LVL_INFO);
	return 0;
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Check "YYYY-MM-DD HH:MM:SS.mmm " (local time, milliseconds), return the time it names and
 * where the rest of the line starts.
 */
static const char *terminal_time(const char *line, double *ret_t)
{
	struct tm tm = {.tm_isdst = -1};
	const char *end = strptime(line, "%Y-%m-%d %H:%M:%S", &tm);

	assert_non_null(end);
	assert_int_equal(end - line, 19);
	assert_int_equal(end[0], '.');
	assert_int_equal(strspn(end + 1, "0123456789"), 3);
	assert_int_equal(end[4], ' ');
	*ret_t = (double)mktime(&tm) + strtod(end, NULL);
	return end + 5;
}

static void journal_prefix_is_the_syslog_level(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	cap_start(&c, true, LOG_LVL_DEBUG);
	log_err("e %d", 3);
	log_warn("w %s", "4");
	log_notice("n");
	log_info("i");
	log_debug("d %#x", 7u);
	out = cap_end(&c);
	assert_string_equal(out, "<3>e 3\n<4>w 4\n<5>n\n<6>i\n<7>d 0x7\n");
	free(out);
}

static void terminal_line_has_time_thread_and_level(void **state)
{
	struct cap c;
	const char *rest;
	double before, after, t;
	char *out;

	(void)state;
	cap_start(&c, false, LOG_LVL_INFO);
	before = now_real();
	log_info("erase 0x%06X: %s", 0x01F000u, "ok");
	after = now_real();
	out = cap_end(&c);
	rest = terminal_time(out, &t);
	assert_string_equal(rest, "main    info     erase 0x01F000: ok\n");
	/* the wall clock, to the millisecond (printed truncated) */
	assert_true(t >= before - 1e-3 && t <= after + 1e-6);
	free(out);
}

static void terminal_level_names_are_padded(void **state)
{
	struct cap c;
	const char *rest;
	double t;
	char *out, *second;

	(void)state;
	cap_start(&c, false, LOG_LVL_DEBUG);
	log_warn("w");
	log_debug("d");
	out = cap_end(&c);
	rest = terminal_time(out, &t);
	assert_memory_equal(rest, "main    warning  w\n", strlen("main    warning  w\n"));
	second = strchr(out, '\n') + 1;
	rest = terminal_time(second, &t);
	assert_string_equal(rest, "main    debug    d\n");
	free(out);
}

struct named {
	const char *name;
	char *out;
};

static void *log_in_thread(void *arg)
{
	struct named *n = arg;
	struct cap c;

	cap_start(&c, false, LOG_LVL_INFO);
	log_set_thread_name(n->name);
	log_notice("from %s", "a thread");
	n->out = cap_end(&c);
	return NULL;
}

static void terminal_line_names_the_thread(void **state)
{
	struct named n = {.name = "worker"};
	pthread_t th;
	const char *rest;
	double t;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, log_in_thread, &n), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	rest = terminal_time(n.out, &t);
	assert_string_equal(rest, "worker  notice   from a thread\n");
	free(n.out);
}

static void long_thread_name_is_cut_to_15_characters(void **state)
{
	struct named n = {.name = "http-connection-17"};
	pthread_t th;
	const char *rest;
	double t;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, log_in_thread, &n), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	rest = terminal_time(n.out, &t);
	assert_string_equal(rest, "http-connection notice   from a thread\n");
	free(n.out);
}

static void log_errno_appends_the_name_and_returns_negative(void **state)
{
	struct cap c;
	char *out;
	int r;

	(void)state;
	cap_start(&c, true, LOG_LVL_INFO);
	r = log_errno(LOG_LVL_ERR, -EROFS, "write 0x%06X: \"%s\" is protected", 0xFC0010u, "top");
	out = cap_end(&c);
	assert_int_equal(r, -EROFS);
	assert_string_equal(out, "<3>write 0xFC0010: \"top\" is protected: EROFS\n");
	free(out);
}

static void log_errno_takes_a_positive_errno(void **state)
{
	struct cap c;
	char *out;
	int r;

	(void)state;
	cap_start(&c, true, LOG_LVL_INFO);
	r = log_errno(LOG_LVL_WARN, ENODEV, "probe, ignoring");
	out = cap_end(&c);
	assert_int_equal(r, -ENODEV);
	assert_string_equal(out, "<4>probe, ignoring: ENODEV\n");
	free(out);
}

static void log_errno_of_zero_logs_no_errno_and_returns_zero(void **state)
{
	struct cap c;
	char *out;
	int r;

	(void)state;
	cap_start(&c, true, LOG_LVL_INFO);
	r = log_errno(LOG_LVL_WARN, 0, "nothing failed");
	out = cap_end(&c);
	assert_int_equal(r, 0);
	assert_string_equal(out, "<4>nothing failed\n");
	free(out);
}

static void log_errno_in_terminal_mode(void **state)
{
	struct cap c;
	const char *rest;
	double t;
	char *out;

	(void)state;
	cap_start(&c, false, LOG_LVL_INFO);
	assert_int_equal(log_errno(LOG_LVL_ERR, -ETIMEDOUT, "erase 0x01F000 (4 KiB)"),
			 -ETIMEDOUT);
	out = cap_end(&c);
	rest = terminal_time(out, &t);
	assert_string_equal(rest, "main    err      erase 0x01F000 (4 KiB): ETIMEDOUT\n");
	free(out);
}

static void log_errno_filtered_out_still_returns_the_error(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	cap_start(&c, true, LOG_LVL_WARN);
	assert_int_equal(log_errno(LOG_LVL_DEBUG, EIO, "hidden"), -EIO);
	assert_int_equal(log_errno(LOG_LVL_INFO, -EBUSY, "hidden"), -EBUSY);
	out = cap_end(&c);
	assert_string_equal(out, "");
	free(out);
}

static void log_errno_unknown_errno_is_e_question_mark(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	cap_start(&c, true, LOG_LVL_INFO);
	assert_int_equal(log_errno(LOG_LVL_ERR, -99999, "odd"), -99999);
	out = cap_end(&c);
	assert_string_equal(out, "<3>odd: E?\n");
	free(out);
}

static void level_filters_less_severe_messages(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	cap_start(&c, true, LOG_LVL_WARN);
	log_err("e");
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_debug("d");
	out = cap_end(&c);
	assert_string_equal(out, "<3>e\n<4>w\n");
	free(out);
}

static void level_err_shows_only_errors(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	cap_start(&c, true, LOG_LVL_ERR);
	log_warn("w");
	log_err("e");
	out = cap_end(&c);
	assert_string_equal(out, "<3>e\n");
	free(out);
}

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

static void debug_arguments_not_evaluated_when_filtered(void **state)
{
	struct cap c;
	char *out;

	(void)state;
	evaluated = 0;
	cap_start(&c, true, LOG_LVL_INFO);
	log_debug("costly %d", side_effect());
	log_set_level(LOG_LVL_DEBUG);
	log_debug("costly %d", side_effect());
	out = cap_end(&c);
	assert_int_equal(evaluated, 1);
	assert_string_equal(out, "<7>costly 1\n");
	free(out);
}

static void set_level_get_level_and_enabled(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_NOTICE);
	assert_int_equal(log_get_level(), LOG_LVL_NOTICE);
	assert_true(log_enabled(LOG_LVL_ERR));
	assert_true(log_enabled(LOG_LVL_NOTICE));
	assert_false(log_enabled(LOG_LVL_INFO));
	assert_false(log_enabled(LOG_LVL_DEBUG));
}

static void level_names_round_trip(void **state)
{
	static const struct {
		const char *name;
		enum log_level level;
	} cases[] = {
		{"err", LOG_LVL_ERR},	{"warning", LOG_LVL_WARN}, {"notice", LOG_LVL_NOTICE},
		{"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum log_level l = (enum log_level)0;

		assert_int_equal(log_level_from_string(cases[i].name, &l), 0);
		assert_int_equal(l, cases[i].level);
		assert_string_equal(log_level_to_string(l), cases[i].name);
	}
}

static void level_aliases_map_to_the_canonical_names(void **state)
{
	enum log_level l;

	(void)state;
	assert_int_equal(log_level_from_string("error", &l), 0);
	assert_int_equal(l, LOG_LVL_ERR);
	assert_string_equal(log_level_to_string(l), "err");
	assert_int_equal(log_level_from_string("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_string_equal(log_level_to_string(l), "warning");
}

static void level_from_string_refuses_unknown_and_leaves_the_output(void **state)
{
	static const char *const bad[] = {"", "INFO", "information", "6", "debug ", "crit"};
	enum log_level l = LOG_LVL_NOTICE;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(log_level_from_string(bad[i], &l), -EINVAL);
		assert_int_equal(l, LOG_LVL_NOTICE);
	}
	assert_int_equal(log_level_from_string(NULL, &l), -EINVAL);
	assert_int_equal(l, LOG_LVL_NOTICE);
}

static void level_to_string_of_an_unknown_level(void **state)
{
	(void)state;
	assert_string_equal(log_level_to_string((enum log_level)0), "?");
	assert_string_equal(log_level_to_string((enum log_level)2), "?");
	assert_string_equal(log_level_to_string((enum log_level)8), "?");
	assert_string_equal(log_level_to_string((enum log_level)-1), "?");
}

static void capture_into_a_tmpfile(void **state)
{
	FILE *f = tmpfile();
	char buf[128] = "";
	size_t n;

	(void)state;
	assert_non_null(f);
	log_set_journal(true);
	log_set_level(LOG_LVL_INFO);
	log_set_stream(f);
	log_info("one");
	log_err("two");
	log_set_stream(NULL);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "<6>one\n<3>two\n");
}

static void null_stream_restores_stderr(void **state)
{
	FILE *f = tmpfile();
	char buf[128] = "";
	int saved;
	size_t n;

	(void)state;
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	log_set_journal(true);
	log_set_level(LOG_LVL_INFO);
	log_set_stream(NULL);
	log_notice("to stderr");
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "<5>to stderr\n");
}

#define LINES_PER_THREAD 300
#define THREADS 4

static void *log_many(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread %u line %u %s", id, i,
			 "padding padding padding padding padding padding padding padding");
	return NULL;
}

static void lines_from_threads_stay_whole(void **state)
{
	unsigned next[THREADS] = {0};
	pthread_t th[THREADS];
	struct cap c;
	char *out, *line, *save = NULL;
	unsigned n = 0;

	(void)state;
	cap_start(&c, true, LOG_LVL_INFO);
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, log_many, (void *)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	out = cap_end(&c);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned id, i;
		char want[160];

		assert_int_equal(sscanf(line, "<6>thread %u line %u", &id, &i), 2);
		assert_true(id < THREADS);
		/* each thread's lines whole and in its own order */
		assert_int_equal(i, next[id]);
		next[id]++;
		snprintf(want, sizeof(want), "<6>thread %u line %u %s", id, i,
			 "padding padding padding padding padding padding padding padding");
		assert_string_equal(line, want);
		n++;
	}
	assert_int_equal(n, THREADS * LINES_PER_THREAD);
	free(out);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(journal_prefix_is_the_syslog_level),
		T(terminal_line_has_time_thread_and_level),
		T(terminal_level_names_are_padded),
		T(terminal_line_names_the_thread),
		T(long_thread_name_is_cut_to_15_characters),
		T(log_errno_appends_the_name_and_returns_negative),
		T(log_errno_takes_a_positive_errno),
		T(log_errno_of_zero_logs_no_errno_and_returns_zero),
		T(log_errno_in_terminal_mode),
		T(log_errno_filtered_out_still_returns_the_error),
		T(log_errno_unknown_errno_is_e_question_mark),
		T(level_filters_less_severe_messages),
		T(level_err_shows_only_errors),
		T(debug_arguments_not_evaluated_when_filtered),
		T(set_level_get_level_and_enabled),
		T(level_names_round_trip),
		T(level_aliases_map_to_the_canonical_names),
		T(level_from_string_refuses_unknown_and_leaves_the_output),
		T(level_to_string_of_an_unknown_level),
		T(capture_into_a_tmpfile),
		T(null_stream_restores_stderr),
		T(lines_from_threads_stay_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
