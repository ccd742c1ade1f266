/* SPDX-License-Identifier: MIT */
/*
 * errmap.c - the errno ↔ JSON-RPC code ↔ HTTP status ↔ text table.
 *
 * Codes are stable wire API: clients (flashctl, the web UI, scripts) switch on them, so an
 * entry's code never changes once released; new errnos get new codes at the end of the range.
 * HTTP statuses follow RFC 9110 where one fits (409 busy, 413 too large, 416 range, 423 locked
 * for write protection, 507 storage) and 5xx for chip-side failures, which are the server's
 * (device's) fault rather than the client's. ERANGE is 416 because REST reads and writes take
 * byte ranges; a route that rejects a range in a JSON body may still answer 400.
 *
 * EACCES means "no or bad credentials" (401, the client can fix it by authenticating) and
 * EPERM "authenticated but not allowed" (403), the same split as HTTP's.
 *
 * Every errno the engine, chip, hw and simulator layers name in their sources has a row here
 * (test-errmap scans those sources to keep it so), and so do the file-system errnos the backup
 * store passes up from system calls. Any other non-zero errno still lands in the application
 * range, as -32099 "system error" with its symbolic name in the error data; only "no errno at
 * all" (0) is the standard -32603 internal error.
 */
#include "errmap.h"

#include <errno.h>

#include "util.h"

static const struct errmap_entry table[] = {
	{ .err = ENODEV, .name = "ENODEV", .rpc_code = -32001, .http_status = 503,
	  .text = "no chip" },
	{ .err = ETIMEDOUT, .name = "ETIMEDOUT", .rpc_code = -32002, .http_status = 504,
	  .text = "chip timeout" },
	{ .err = EROFS, .name = "EROFS", .rpc_code = -32003, .http_status = 423,
	  .text = "write protected" },
	{ .err = EIO, .name = "EIO", .rpc_code = -32004, .http_status = 502,
	  .text = "transfer failed" },
	{ .err = EBADMSG, .name = "EBADMSG", .rpc_code = -32005, .http_status = 500,
	  .text = "verify mismatch" },
	{ .err = ECANCELED, .name = "ECANCELED", .rpc_code = -32006, .http_status = 409,
	  .text = "cancelled" },
	{ .err = EBUSY, .name = "EBUSY", .rpc_code = -32007, .http_status = 409, .text = "busy" },
	{ .err = EFBIG, .name = "EFBIG", .rpc_code = -32008, .http_status = 413,
	  .text = "image larger than chip" },
	{ .err = EINVAL, .name = "EINVAL", .rpc_code = RPC_CODE_INVALID_PARAMS, .http_status = 400,
	  .text = "invalid params" },
	{ .err = ENOSPC, .name = "ENOSPC", .rpc_code = -32009, .http_status = 507,
	  .text = "state dir full" },
	{ .err = ENOENT, .name = "ENOENT", .rpc_code = -32010, .http_status = 404,
	  .text = "not found" },
	{ .err = ERANGE, .name = "ERANGE", .rpc_code = -32011, .http_status = 416,
	  .text = "out of range" },
	{ .err = EMSGSIZE, .name = "EMSGSIZE", .rpc_code = -32012, .http_status = 413,
	  .text = "message too large" },
	{ .err = ESHUTDOWN, .name = "ESHUTDOWN", .rpc_code = -32013, .http_status = 503,
	  .text = "shutting down" },
	{ .err = EACCES, .name = "EACCES", .rpc_code = -32014, .http_status = 401,
	  .text = "authentication required" },
	{ .err = EPERM, .name = "EPERM", .rpc_code = -32015, .http_status = 403,
	  .text = "forbidden" },
	{ .err = ENOTSUP, .name = "ENOTSUP", .rpc_code = -32016, .http_status = 501,
	  .text = "not supported" },
	{ .err = ENOMEM, .name = "ENOMEM", .rpc_code = -32017, .http_status = 503,
	  .text = "out of memory" },
	/* A stream ended before its announced length: a truncated upload, a client gone. */
	{ .err = EPIPE, .name = "EPIPE", .rpc_code = -32018, .http_status = 400,
	  .text = "transfer interrupted" },
	{ .err = ECONNRESET, .name = "ECONNRESET", .rpc_code = -32019, .http_status = 400,
	  .text = "connection reset" },
	/* A download cut off because its client would have kept the chip waiting. */
	{ .err = ECONNABORTED, .name = "ECONNABORTED", .rpc_code = -32020, .http_status = 408,
	  .text = "transfer aborted" },
	{ .err = EAGAIN, .name = "EAGAIN", .rpc_code = -32021, .http_status = 503,
	  .text = "try again" },
	{ .err = EALREADY, .name = "EALREADY", .rpc_code = -32022, .http_status = 409,
	  .text = "already done" },
	{ .err = ENODATA, .name = "ENODATA", .rpc_code = -32023, .http_status = 404,
	  .text = "no data" },
	/* A backup made of more pieces than its manifest holds. */
	{ .err = E2BIG, .name = "E2BIG", .rpc_code = -32024, .http_status = 413,
	  .text = "too many ranges" },
	/* An erase plan with more steps than the planner keeps. */
	{ .err = ENOBUFS, .name = "ENOBUFS", .rpc_code = -32025, .http_status = 500,
	  .text = "no buffer space" },
	{ .err = ENAMETOOLONG, .name = "ENAMETOOLONG", .rpc_code = -32026, .http_status = 400,
	  .text = "name too long" },
	/* spidev/gpiochip node present but no device behind it. */
	{ .err = ENXIO, .name = "ENXIO", .rpc_code = -32027, .http_status = 503,
	  .text = "no such device" },
	/* From the state directory's file system (backups, spool). */
	{ .err = EDQUOT, .name = "EDQUOT", .rpc_code = -32028, .http_status = 507,
	  .text = "disk quota exceeded" },
	{ .err = EMFILE, .name = "EMFILE", .rpc_code = -32029, .http_status = 503,
	  .text = "too many open files" },
	{ .err = ENFILE, .name = "ENFILE", .rpc_code = -32030, .http_status = 503,
	  .text = "too many open files in system" },
	{ .err = EEXIST, .name = "EEXIST", .rpc_code = -32031, .http_status = 409,
	  .text = "already exists" },
	{ .err = ENOTDIR, .name = "ENOTDIR", .rpc_code = -32032, .http_status = 500,
	  .text = "not a directory" },
	{ .err = EISDIR, .name = "EISDIR", .rpc_code = -32033, .http_status = 500,
	  .text = "is a directory" },
};

static const struct errmap_entry system_error = {
	.err = 0, .name = "E?", .rpc_code = ERRMAP_CODE_SYSTEM_ERROR, .http_status = 500,
	.text = "system error",
};

static const struct errmap_entry internal_error = {
	.err = 0, .name = "E?", .rpc_code = RPC_CODE_INTERNAL_ERROR, .http_status = 500,
	.text = "internal error",
};

const struct errmap_entry *errmap_lookup(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].err == err)
			return &table[i];
	return err ? &system_error : &internal_error;
}

int errmap_rpc_code(int err)
{
	return errmap_lookup(err)->rpc_code;
}

unsigned errmap_http_status(int err)
{
	return errmap_lookup(err)->http_status;
}

const char *errmap_text(int err)
{
	return errmap_lookup(err)->text;
}

const char *errmap_name(int err)
{
	return errmap_lookup(err)->name;
}

int errmap_from_rpc_code(int rpc_code)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].rpc_code == rpc_code)
			return -table[i].err;
	return -EPROTO;
}

size_t errmap_count(void)
{
	return ARRAY_SIZE(table);
}

const struct errmap_entry *errmap_at(size_t i)
{
	return i < ARRAY_SIZE(table) ? &table[i] : NULL;
}
