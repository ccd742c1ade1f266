/* SPDX-License-Identifier: MIT */
/*
 * test-httpd-sec.c - the token file, constant-time comparison, sessions and Host parsing
 * behind the HTTP server's checks (private helpers in src/proto/httpd_sec.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/proto/httpd_sec.h"
#include "harness.h"
#include "log.h"

static FILE *devnull;

static int setup(void **state)
{
	*state = th_mkdtemp();
	devnull = fopen("/dev/null", "w");
	log_set_stream(devnull); /* the refusals log on purpose */
	return 0;
}

static int teardown(void **state)
{
	log_set_stream(NULL);
	fclose(devnull);
	th_rmtree(*state);
	free(*state);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void token_created_0600_with_64_hex(void **state)
{
	char *path = th_path(*state, "token");
	char tok[HTTPD_TOKEN_HEX_LEN + 1], again[HTTPD_TOKEN_HEX_LEN + 1];
	struct stat st;

	assert_int_equal(httpd_sec_token_load(path, tok), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, HTTPD_TOKEN_HEX_LEN + 1);
	assert_int_equal(strspn(tok, "0123456789abcdef"), HTTPD_TOKEN_HEX_LEN);
	assert_int_equal(httpd_sec_token_load(path, again), 0);
	assert_string_equal(tok, again);
	free(path);
}

static void token_file_readable_by_group_is_refused(void **state)
{
	char *path = th_path(*state, "token");
	char tok[HTTPD_TOKEN_HEX_LEN + 1] = "unchanged";

	write_file(path, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		   0640);
	assert_int_equal(httpd_sec_token_load(path, tok), -EACCES);
	assert_string_equal(tok, "unchanged");
	free(path);
}

static void token_symlink_is_refused(void **state)
{
	char *path = th_path(*state, "token");
	char *real = th_path(*state, "real");
	char tok[HTTPD_TOKEN_HEX_LEN + 1];

	write_file(real, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		   0600);
	assert_int_equal(symlink(real, path), 0);
	assert_int_equal(httpd_sec_token_load(path, tok), -EACCES);
	free(path);
	free(real);
}

static void token_with_bad_content_is_refused(void **state)
{
	static const char *const bad[] = {
		"", "abc\n", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\n"
	};
	char *path = th_path(*state, "token");
	char tok[HTTPD_TOKEN_HEX_LEN + 1];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		unlink(path);
		write_file(path, bad[i], 0600);
		assert_int_equal(httpd_sec_token_load(path, tok), -EBADMSG);
	}
	free(path);
}

static void token_upper_case_is_normalised(void **state)
{
	char *path = th_path(*state, "token");
	char tok[HTTPD_TOKEN_HEX_LEN + 1];

	write_file(path, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0600);
	assert_int_equal(httpd_sec_token_load(path, tok), 0);
	assert_string_equal(tok, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	free(path);
}

static void token_equal_needs_exact_length_and_bytes(void **state)
{
	const char *t = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[80];

	(void)state;
	assert_true(httpd_sec_token_equal(t, t, 64));
	assert_false(httpd_sec_token_equal(t, t, 63));
	assert_false(httpd_sec_token_equal(t, "", 0));
	snprintf(buf, sizeof(buf), "%s0", t);
	assert_false(httpd_sec_token_equal(t, buf, 65));
	/* A short value repeated to 64 chars must not match just because it tiles. */
	assert_false(httpd_sec_token_equal("abababababababababababababababababababababababababababababababab",
					   "ab", 2));
	memcpy(buf, t, 65);
	buf[63] = 'e';
	assert_false(httpd_sec_token_equal(t, buf, 64));
}

static void sessions_valid_only_when_issued(void **state)
{
	struct httpd_sessions ss;
	char id[HTTPD_TOKEN_HEX_LEN + 1], other[HTTPD_TOKEN_HEX_LEN + 1];

	(void)state;
	httpd_sessions_init(&ss);
	assert_false(httpd_sessions_valid(&ss, ""));
	assert_false(httpd_sessions_valid(&ss, NULL));
	assert_int_equal(httpd_sessions_add(&ss, id), 0);
	assert_true(httpd_sessions_valid(&ss, id));
	memcpy(other, id, sizeof(id));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	assert_false(httpd_sessions_valid(&ss, other));
	/* Filling the table evicts the oldest session. */
	for (size_t i = 0; i < HTTPD_SEC_MAX_SESSIONS; i++)
		assert_int_equal(httpd_sessions_add(&ss, other), 0);
	assert_false(httpd_sessions_valid(&ss, id));
	assert_true(httpd_sessions_valid(&ss, other));
	httpd_sessions_done(&ss);
}

static void host_header_parsing(void **state)
{
	static const struct {
		const char *host;
		bool ok;
	} cases[] = {
		{ "localhost", true },      { "LocalHost:8080", true }, { "localhost.", true },
		{ "127.0.0.1:1", true },    { "[::1]", true },          { "[::1]:80", true },
		{ "flash.example", true },  { "::1", false },           { "[::1", false },
		{ "[::1]x", false },        { "localhost:", false },    { "localhost:x", false },
		{ "localhost:123456", false }, { "a:1:2", false },      { "", false },
		{ "evil.localhost", false }, { "localhost.evil", false }, { NULL, false },
	};
	const char *const extra[] = { "Flash.Example" };
	struct httpd_hosts hs = { 0 };

	(void)state;
	assert_int_equal(httpd_hosts_build(&hs, extra, 1), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (httpd_hosts_allowed(&hs, cases[i].host) != cases[i].ok)
			fail_msg("Host \"%s\": expected %s", cases[i].host ? cases[i].host : "(null)",
				 cases[i].ok ? "allowed" : "refused");
	}
	httpd_hosts_done(&hs);
}

static void loopback_detection(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	(void)state;
	inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
	assert_true(httpd_sec_is_loopback((struct sockaddr *)&in));
	inet_pton(AF_INET, "0.0.0.0", &in.sin_addr);
	assert_false(httpd_sec_is_loopback((struct sockaddr *)&in));
	inet_pton(AF_INET, "192.168.1.2", &in.sin_addr);
	assert_false(httpd_sec_is_loopback((struct sockaddr *)&in));
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_true(httpd_sec_is_loopback((struct sockaddr *)&in6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	assert_true(httpd_sec_is_loopback((struct sockaddr *)&in6));
	inet_pton(AF_INET6, "::", &in6.sin6_addr);
	assert_false(httpd_sec_is_loopback((struct sockaddr *)&in6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(token_created_0600_with_64_hex),
		T(token_file_readable_by_group_is_refused),
		T(token_symlink_is_refused),
		T(token_with_bad_content_is_refused),
		T(token_upper_case_is_normalised),
		T(token_equal_needs_exact_length_and_bytes),
		T(sessions_valid_only_when_issued),
		T(host_header_parsing),
		T(loopback_detection),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
