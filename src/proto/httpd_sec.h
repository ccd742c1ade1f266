/* SPDX-License-Identifier: MIT */
/*
 * httpd_sec.h - private to httpd.c: the token file, sessions, the accepted Host names.
 */
#ifndef FLASHD_HTTPD_SEC_H
#define FLASHD_HTTPD_SEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "httpd.h"

/*
 * Read the token from path, or create it (32 bytes of getrandom(), hex, mode 0600, O_EXCL) when
 * it does not exist. Refuses (-EACCES, logged) a file that is group/world accessible, not a
 * regular file, or a symlink; -EBADMSG when the content is not 64 hex digits.
 */
int httpd_sec_token_load(const char *path, char ret_hex[HTTPD_TOKEN_HEX_LEN + 1]);

/* Constant-time: does given[0..len) equal the 64-char token? Time depends on len only. */
bool httpd_sec_token_equal(const char *token, const char *given, size_t len);

/* Fill buf with n random bytes as 2n hex chars + NUL (getrandom). 0 or -errno. */
int httpd_sec_random_hex(char *buf, size_t n_bytes);

#define HTTPD_SEC_MAX_SESSIONS 32
#define HTTPD_SEC_SESSION_TTL_S (12 * 3600)

struct httpd_sessions {
	pthread_mutex_t lock;
	struct {
		char id[HTTPD_TOKEN_HEX_LEN + 1];
		uint64_t expires_ns; /* CLOCK_MONOTONIC; 0 = free slot */
	} s[HTTPD_SEC_MAX_SESSIONS];
};

void httpd_sessions_init(struct httpd_sessions *ss);
void httpd_sessions_done(struct httpd_sessions *ss);
/* New session id (evicts the oldest when full). 0 or -errno. */
int httpd_sessions_add(struct httpd_sessions *ss, char ret_id[HTTPD_TOKEN_HEX_LEN + 1]);
/* Constant-time check of a cookie value against every live session. */
bool httpd_sessions_valid(struct httpd_sessions *ss, const char *id);

/* Host names accepted in the Host header (lower case, IPv6 without brackets). */
struct httpd_hosts {
	char **names;
	size_t n, cap;
};

/* localhost + loopback + hostname(s) + every interface address + the given extras. */
int httpd_hosts_build(struct httpd_hosts *hs, const char *const *extra, size_t n_extra);
int httpd_hosts_add(struct httpd_hosts *hs, const char *name);
/*
 * Add names separated by spaces and/or commas ("flash.lan, 10.0.0.7 [fd00::7]"). Each must be
 * a host name or an IP address, without port; brackets around IPv6 are dropped. -EINVAL
 * (logged, naming the bad entry) or -ENOMEM.
 */
int httpd_hosts_add_list(struct httpd_hosts *hs, const char *list);
void httpd_hosts_done(struct httpd_hosts *hs);
/* Host header value ("name", "name:port", "[v6]:port") allowed? NULL/empty is not. */
bool httpd_hosts_allowed(const struct httpd_hosts *hs, const char *host_header);

bool httpd_sec_is_loopback(const struct sockaddr *sa);

#endif
