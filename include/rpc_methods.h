/* SPDX-License-Identifier: MIT */
/*
 * rpc_methods.h - the JSON-RPC methods: parameters in, engine calls, results out. Knows the
 * engine and JSON, never the bus.
 *
 * Methods that start work return at once with the job record ({"job": {...}}), unless the
 * caller passes "wait" (milliseconds, at most RPC_WAIT_MAX_MS): then the answer is held until
 * the job ends or the wait runs out, whichever is first. Holding costs no thread: the call is
 * deferred (rpc_handle_async()) and answered from the methods' own waiter thread, so waiting
 * calls never delay other requests, and the calls of a batch wait side by side (a request is
 * held at most rpc_limits.max_wait_ms in all). Under the synchronous rpc_handle() and for
 * notifications "wait" is not honoured (the answer is immediate). flash.read waits by default,
 * since the data is its answer; job.get of a finished read (still in the history) carries the
 * data too. Inline flash data counts against the request's rpc_limits.max_inline_bytes.
 *
 * Threading: register before serving; rpc_methods_free() after the server and the engine have
 * stopped (held calls still pending are answered then with their jobs as they are).
 */
#ifndef FLASHD_RPC_METHODS_H
#define FLASHD_RPC_METHODS_H

#include <jansson.h>
#include <stdint.h>

struct engine;
struct job;
struct rpc_registry;

#define RPC_WAIT_MAX_MS 10000u
#define RPC_READ_MAX (1024u * 1024u) /* flash.read / flash.write / flash.verify inline bytes */

struct rpc_daemon_info {
	const char *version;
	const char *backend;	  /* "sim:W25Q128JV", "spidev:/dev/spidev0.0" */
	const char *const *listen; /* NULL-terminated */
	const char *state_dir;
	uint64_t started_ns;	  /* CLOCK_MONOTONIC at start */
};

/*
 * Registers every method on reg (and the shared schemas "Job" and "Range"), and starts the
 * waiter thread. engine and info are borrowed and must outlive reg. *ret_ctx is what the HTTP
 * server must pass to the handlers (httpd_config.rpc_ctx); freed by rpc_methods_free().
 */
int rpc_methods_register(struct rpc_registry *reg, struct engine *engine,
			 const struct rpc_daemon_info *info, void **ret_ctx);
void rpc_methods_free(void *ctx);

/* The job record as the API shows it (also used by the HTTP transfer and event routes). */
json_t *rpc_job_json(struct job *job);

#endif
