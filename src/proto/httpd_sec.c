/* SPDX-License-Identifier: MIT */
/*
 * httpd_sec.c - secrets and names for the HTTP server's security checks.
 *
 * The token is the only credential: 256 bits from getrandom(), so guessing is hopeless and
 * there is nothing to rate-limit. It lives in a 0600 file in the state dir; a file others can
 * read is refused rather than fixed, because the secret may already have leaked. Comparisons
 * run in time independent of the content (only of the length, which is public: 64).
 *
 * Sessions are a small table of random ids handed out by /api/v1/login for the web UI; they
 * die with the process, which is the point (restart = everyone logs in again).
 *
 * Threading: the token and host list are written before the server starts and read-only
 * afterwards; sessions are guarded by their mutex.
 */
#include "httpd_sec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int httpd_sec_random_hex(char *buf, size_t n_bytes)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[64];
	size_t got = 0;

	if (n_bytes > sizeof(raw))
		return -EINVAL;
	while (got < n_bytes) {
		ssize_t k = getrandom(raw + got, n_bytes - got, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)k;
	}
	for (size_t i = 0; i < n_bytes; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[2 * n_bytes] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

static int token_create(const char *path, char ret_hex[HTTPD_TOKEN_HEX_LEN + 1])
{
	char hex[HTTPD_TOKEN_HEX_LEN + 2];
	int fd, r;

	r = httpd_sec_random_hex(hex, HTTPD_TOKEN_HEX_LEN / 2);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "token: getrandom");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_errno(LOG_LVL_ERR, -errno, "token: create \"%s\"", path);
	hex[HTTPD_TOKEN_HEX_LEN] = '\n';
	if (write(fd, hex, HTTPD_TOKEN_HEX_LEN + 1) != HTTPD_TOKEN_HEX_LEN + 1 || fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		close(fd);
		unlink(path);
		return log_errno(LOG_LVL_ERR, r, "token: write \"%s\"", path);
	}
	close(fd);
	memcpy(ret_hex, hex, HTTPD_TOKEN_HEX_LEN);
	ret_hex[HTTPD_TOKEN_HEX_LEN] = '\0';
	explicit_bzero(hex, sizeof(hex));
	log_info("token: created \"%s\" (mode 0600)", path);
	return 0;
}

int httpd_sec_token_load(const char *path, char ret_hex[HTTPD_TOKEN_HEX_LEN + 1])
{
	char buf[HTTPD_TOKEN_HEX_LEN + 8];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return token_create(path, ret_hex);
	if (fd < 0) {
		if (errno == ELOOP)
			return log_errno(LOG_LVL_ERR, -EACCES,
					 "token: \"%s\" is a symlink, refusing it", path);
		return log_errno(LOG_LVL_ERR, -errno, "token: open \"%s\"", path);
	}
	if (fstat(fd, &st) < 0) {
		r = log_errno(LOG_LVL_ERR, -errno, "token: stat \"%s\"", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		r = log_errno(LOG_LVL_ERR, -EACCES,
			      "token: \"%s\" has mode %04o; it must be a regular file readable "
			      "by its owner only (chmod 600, and replace the token if others "
			      "could read it)",
			      path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		r = log_errno(LOG_LVL_ERR, -errno, "token: read \"%s\"", path);
		goto out;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	if (n != HTTPD_TOKEN_HEX_LEN) {
		r = log_errno(LOG_LVL_ERR, -EBADMSG, "token: \"%s\" does not hold 64 hex digits",
			      path);
		goto out;
	}
	for (ssize_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)buf[i])) {
			r = log_errno(LOG_LVL_ERR, -EBADMSG,
				      "token: \"%s\" does not hold 64 hex digits", path);
			goto out;
		}
	for (ssize_t i = 0; i < n; i++)
		ret_hex[i] = (char)tolower((unsigned char)buf[i]);
	ret_hex[HTTPD_TOKEN_HEX_LEN] = '\0';
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}

bool httpd_sec_token_equal(const char *token, const char *given, size_t len)
{
	unsigned diff = len != HTTPD_TOKEN_HEX_LEN;

	/* Always walk 64 bytes; a wrong-length value compares against itself modulo length. */
	for (size_t i = 0; i < HTTPD_TOKEN_HEX_LEN; i++) {
		unsigned char g = len ? (unsigned char)given[i % len] : 0;

		diff |= (unsigned)(g ^ (unsigned char)token[i]);
	}
	return diff == 0;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void httpd_sessions_init(struct httpd_sessions *ss)
{
	memset(ss, 0, sizeof(*ss));
	pthread_mutex_init(&ss->lock, NULL);
}

void httpd_sessions_done(struct httpd_sessions *ss)
{
	explicit_bzero(ss->s, sizeof(ss->s));
	pthread_mutex_destroy(&ss->lock);
}

int httpd_sessions_add(struct httpd_sessions *ss, char ret_id[HTTPD_TOKEN_HEX_LEN + 1])
{
	char id[HTTPD_TOKEN_HEX_LEN + 1];
	size_t victim = 0;
	uint64_t now = now_ns();
	int r;

	r = httpd_sec_random_hex(id, HTTPD_TOKEN_HEX_LEN / 2);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ss->lock);
	for (size_t i = 0; i < HTTPD_SEC_MAX_SESSIONS; i++) {
		if (ss->s[i].expires_ns <= now) {
			victim = i;
			break;
		}
		if (ss->s[i].expires_ns < ss->s[victim].expires_ns)
			victim = i;
	}
	memcpy(ss->s[victim].id, id, sizeof(id));
	ss->s[victim].expires_ns = now + HTTPD_SEC_SESSION_TTL_S * 1000000000ull;
	pthread_mutex_unlock(&ss->lock);
	memcpy(ret_id, id, sizeof(id));
	return 0;
}

bool httpd_sessions_valid(struct httpd_sessions *ss, const char *id)
{
	uint64_t now = now_ns();
	bool ok = false;
	size_t len;

	if (!id)
		return false;
	len = strlen(id);
	pthread_mutex_lock(&ss->lock);
	for (size_t i = 0; i < HTTPD_SEC_MAX_SESSIONS; i++) {
		bool eq = httpd_sec_token_equal(ss->s[i].id, id, len);

		ok |= eq && ss->s[i].expires_ns > now;
	}
	pthread_mutex_unlock(&ss->lock);
	return ok;
}

/* ---- host names ---------------------------------------------------------------------------- */

int httpd_hosts_add(struct httpd_hosts *hs, const char *name)
{
	char *copy;
	size_t len;

	if (!name || !*name)
		return 0;
	len = strlen(name);
	if (len > 255)
		return -EINVAL;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	for (char *p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (len > 1 && copy[len - 1] == '.')
		copy[len - 1] = '\0';
	for (size_t i = 0; i < hs->n; i++)
		if (strcmp(hs->names[i], copy) == 0) {
			free(copy);
			return 0;
		}
	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? hs->cap * 2 : 16;
		char **nn = realloc(hs->names, cap * sizeof(*nn));

		if (!nn) {
			free(copy);
			return -ENOMEM;
		}
		hs->names = nn;
		hs->cap = cap;
	}
	hs->names[hs->n++] = copy;
	return 0;
}

int httpd_hosts_build(struct httpd_hosts *hs, const char *const *extra, size_t n_extra)
{
	static const char *const fixed[] = { "localhost", "127.0.0.1", "::1" };
	struct ifaddrs *ifa = NULL;
	char name[256];
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fixed) && r >= 0; i++)
		r = httpd_hosts_add(hs, fixed[i]);
	for (size_t i = 0; i < n_extra && r >= 0; i++)
		r = httpd_hosts_add(hs, extra[i]);
	if (r >= 0 && gethostname(name, sizeof(name) - 7) == 0) {
		name[sizeof(name) - 7] = '\0';
		r = httpd_hosts_add(hs, name);
		/* The name mDNS (avahi) announces, which is how people reach a Pi. */
		if (r >= 0 && !strchr(name, '.')) {
			strcat(name, ".local");
			r = httpd_hosts_add(hs, name);
		}
	}
	if (r >= 0 && getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *a = ifa; a && r >= 0; a = a->ifa_next) {
			const struct sockaddr *sa = a->ifa_addr;
			char buf[NI_MAXHOST];
			socklen_t len;

			if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
				continue;
			len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
						       : sizeof(struct sockaddr_in6);
			if (getnameinfo(sa, len, buf, sizeof(buf), NULL, 0, NI_NUMERICHOST) != 0)
				continue;
			buf[strcspn(buf, "%")] = '\0'; /* browsers never send a zone id in Host */
			r = httpd_hosts_add(hs, buf);
		}
		freeifaddrs(ifa);
	}
	return r < 0 ? r : 0;
}

int httpd_hosts_add_list(struct httpd_hosts *hs, const char *list)
{
	static const char sep[] = " ,\t";

	for (const char *p = list + strspn(list, sep); *p; p += strspn(p, sep)) {
		size_t n = strcspn(p, sep);
		char name[256];
		bool v6 = false;
		int r;

		if (n >= sizeof(name))
			goto bad;
		memcpy(name, p, n);
		name[n] = '\0';
		if (name[0] == '[') {
			if (n < 3 || name[n - 1] != ']')
				goto bad;
			memmove(name, name + 1, n - 2);
			name[n - 2] = '\0';
			v6 = true;
		}
		for (const char *c = name; *c; c++) {
			bool ok = isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' ||
				  (v6 && *c == ':');

			/* a colon outside brackets is a port (or a bare IPv6 address) */
			if (!ok && *c == ':' && !v6 && strchr(name, ':') != strrchr(name, ':'))
				ok = true;
			if (!ok)
				goto bad;
		}
		r = httpd_hosts_add(hs, name);
		if (r < 0)
			return r;
		p += n;
		continue;
bad:
		log_err("http: allowed hosts: \"%.*s\" is not a host name or address (no port, no "
			"scheme; IPv6 in brackets or bare)",
			(int)MIN(n, 64), p);
		return -EINVAL;
	}
	return 0;
}

void httpd_hosts_done(struct httpd_hosts *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		free(hs->names[i]);
	free(hs->names);
	memset(hs, 0, sizeof(*hs));
}

bool httpd_hosts_allowed(const struct httpd_hosts *hs, const char *host_header)
{
	char host[256];
	const char *start, *end;
	size_t len;

	if (!host_header || !*host_header)
		return false;
	if (host_header[0] == '[') {
		start = host_header + 1;
		end = strchr(start, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return false;
	} else {
		start = host_header;
		end = strchr(start, ':');
		if (!end)
			end = start + strlen(start);
		else if (strchr(end + 1, ':'))
			return false;
	}
	if (*end == ':' || (*end == ']' && end[1] == ':')) {
		const char *port = *end == ':' ? end + 1 : end + 2;

		if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
			return false;
	}
	len = (size_t)(end - start);
	if (len == 0 || len >= sizeof(host))
		return false;
	for (size_t i = 0; i < len; i++)
		host[i] = (char)tolower((unsigned char)start[i]);
	host[len] = '\0';
	if (len > 1 && host[len - 1] == '.')
		host[len - 1] = '\0';
	for (size_t i = 0; i < hs->n; i++)
		if (strcmp(hs->names[i], host) == 0)
			return true;
	return false;
}

bool httpd_sec_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}
