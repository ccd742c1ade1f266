/* SPDX-License-Identifier: MIT */
/*
 * rpc_methods.h - the JSON-RPC methods: parameters in, engine calls, results out. Knows the
 * engine and JSON, never the bus.
 *
 * Methods that start work return at once with the job record ({"job": {...}}), unless the
 * caller passes "wait" (milliseconds, at most RPC_WAIT_MAX_MS): then the handler waits that
 * long for the job to end. flash.read waits by default, since the data is its answer.
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
 * Registers every method on reg. engine and info are borrowed and must outlive reg. *ret_ctx is
 * what the HTTP server must pass to the handlers (httpd_config.rpc_ctx); freed by
 * rpc_methods_free().
 */
int rpc_methods_register(struct rpc_registry *reg, struct engine *engine,
			 const struct rpc_daemon_info *info, void **ret_ctx);
void rpc_methods_free(void *ctx);

/* The job record as the API shows it (also used by the HTTP transfer and event routes). */
json_t *rpc_job_json(struct job *job);

#endif
