/* SPDX-License-Identifier: MIT */
/*
 * flashd - network SPI NOR flash programmer daemon.
 *
 * main() stays thin: configuration, then the layers bottom-up (bus, engine, JSON-RPC, HTTP),
 * then the main loop that reads signals from a signalfd and feeds the systemd watchdog, then
 * teardown top-down. Startup without a chip still serves the UI and API (they say there is no
 * chip); bad configuration stops before anything touches the bus.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildcfg.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "httpd.h"
#include "log.h"
#include "notify.h"
#include "pins.h"
#include "rpc.h"
#include "rpc_methods.h"
#include "signals.h"
#include "simchip.h"
#include "spibus.h"
#include "spidev.h"
#include "transfer.h"
#include "util.h"

struct daemon {
	struct flashd_config cfg;
	struct simchip *sim;
	struct sim_profile *sfdp_profile;
	struct spibus *spidev;
	struct pins *pins;
	struct spibus *bus; /* one of the two above */
	struct engine *engine;
	struct rpc_registry *rpc;
	void *rpc_ctx;
	struct transfer *transfer;
	struct httpd *httpd;
	char backend[96];
	char token_path[4096];
	struct rpc_daemon_info info;
	atomic_bool stopping;	/* set by the main thread, read by the worker's on_status */
	char last_progress[160];
};

static void list_sim_chips(void)
{
	printf("%-14s %-8s %10s  %s\n", "profile", "JEDEC", "size", "description");
	for (size_t i = 0; i < sim_profile_count(); i++) {
		const struct sim_profile *p = sim_profile_at(i);

		printf("%-14s %06x %7u KiB  %s\n", sim_profile_name(p), sim_profile_jedec_id(p),
		       sim_profile_size(p) / 1024, sim_profile_description(p));
	}
	printf("%-14s %-8s %10s  %s\n", "sfdp", "any", "any",
	       "built from --sim-sfdp FILE --sim-jedec-id HEX");
}

static int read_small_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(65537);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, 65537, f);
	fclose(f);
	if (n > 65536) {
		free(buf);
		return -EFBIG;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* The simulator does not log; a swapped chip (--sim-fault swap=...) is reported here. */
static void on_sim_swap(void *userdata, const struct sim_profile *from,
			const struct sim_profile *to, uint64_t transaction)
{
	(void)userdata;
	log_warn("simulator: chip swapped after transaction %llu: %s (%06x) is now %s (%06x)",
		 (unsigned long long)transaction, sim_profile_name(from), sim_profile_jedec_id(from),
		 sim_profile_name(to), sim_profile_jedec_id(to));
}

static int open_sim(struct daemon *d)
{
	const struct flashd_config *c = &d->cfg;
	const struct sim_profile *p;
	struct simchip_opts o;
	char err[256];
	int r;

	if (!strcasecmp(c->sim_chip, "sfdp")) {
		uint8_t *buf = NULL;
		size_t len = 0;

		r = read_small_file(c->sim_sfdp, &buf, &len);
		if (r < 0)
			return log_errno(LOG_LVL_ERR, r, "reading the SFDP dump \"%s\"", c->sim_sfdp);
		r = sim_profile_from_sfdp(buf, len, c->sim_jedec_id, &d->sfdp_profile, err,
					  sizeof(err));
		free(buf);
		if (r < 0) {
			log_err("%s: %s", c->sim_sfdp, err);
			return r;
		}
		p = d->sfdp_profile;
	} else {
		p = sim_profile_find(c->sim_chip);
		if (!p) {
			log_err("--sim: no simulated chip \"%s\" (flashd --list-sim-chips lists them)",
				c->sim_chip);
			return -EINVAL;
		}
	}
	simchip_opts_init(&o);
	o.time_scale = c->sim_time_scale;
	o.speed_hz = c->spi_speed_hz;
	o.max_transfer = c->sim_max_transfer;
	o.busy = c->sim_busy;
	o.seed = c->sim_seed;
	o.on_swap = on_sim_swap;
	r = simchip_open(p, c->sim_image, &o, &d->sim, err, sizeof(err));
	if (r < 0) {
		log_err("simulator: %s", err);
		return r;
	}
	for (size_t i = 0; i < c->n_sim_faults; i++) {
		r = simchip_fault_parse(d->sim, c->sim_faults[i], err, sizeof(err));
		if (r < 0) {
			log_err("--sim-fault: %s", err);
			return r;
		}
		log_warn("simulator: fault \"%s\" injected", c->sim_faults[i]);
	}
	d->bus = simchip_bus(d->sim);
	snprintf(d->backend, sizeof(d->backend), "sim:%s", sim_profile_name(p));
	log_info("simulated %s (%s, JEDEC %06x) on \"%s\", SPI %.1f MHz, time scale %g, busy %s%s",
		 sim_profile_name(p), sim_profile_description(p), sim_profile_jedec_id(p),
		 c->sim_image, c->spi_speed_hz / 1e6, c->sim_time_scale,
		 simchip_busy_name(c->sim_busy), c->sim_busy == SIMCHIP_BUSY_RANDOM ? " (seeded)" : "");
	return 0;
}

static int open_spidev(struct daemon *d)
{
	const struct flashd_config *c = &d->cfg;
	struct spidev_opts o = {
		.speed_hz = c->spi_speed_hz,
		.mode = c->spi_mode,
		.bits_per_word = 8,
	};
	struct pins_config pc;
	char err[256];
	int r;

	pins_config_init(&pc);
	pc.chip = c->gpio_chip;
	pc.consumer = "flashd";
	pc.cs = (struct pins_line){.offset = c->cs.offset, .active_low = c->cs.active_low};
	pc.hold = (struct pins_line){.offset = c->hold.offset, .active_low = c->hold.active_low};
	pc.wp = (struct pins_line){.offset = c->wp.offset, .active_low = c->wp.active_low};
	pc.power = (struct pins_line){.offset = c->power.offset, .active_low = c->power.active_low};
	pc.reset = (struct pins_line){.offset = c->reset.offset, .active_low = c->reset.active_low};
	r = pins_open(&pc, NULL, &d->pins, err, sizeof(err));
	if (r < 0) {
		log_err("gpio: %s", err);
		return r;
	}
	r = spidev_open(c->spi_device, &o, &d->spidev, err, sizeof(err));
	if (r < 0) {
		log_err("spidev: %s", err);
		return r;
	}
	d->bus = d->spidev;
	snprintf(d->backend, sizeof(d->backend), "spidev:%s", c->spi_device);
	log_info("%s: mode %u, %.1f MHz, %zu bytes per transfer", c->spi_device, c->spi_mode,
		 spibus_speed(d->bus) / 1e6, spibus_max_transfer(d->bus));
	return 0;
}

/* Worker-side status changes (idle, a job starting); once stopping, every line says so. */
static void on_status(void *ctx, const char *status)
{
	struct daemon *d = ctx;

	if (atomic_load(&d->stopping))
		notify_status("stopping: %s", status);
	else
		notify_status("%s", status);
}

static int find_running(struct job *job, void *ctx)
{
	struct job **ret = ctx;

	if (job_get_state(job) != JOB_RUNNING)
		return 0;
	*ret = job_ref(job);
	return 1;
}

/*
 * While a job runs, STATUS= follows its progress ("write job 3: programming 7.2 of 16.0 MiB
 * (45%)"); read from the job's atomics, so it costs the worker nothing. Sent only on change.
 */
static void publish_progress(struct daemon *d)
{
	struct job *job = NULL;
	uint64_t done, total;
	char line[160];

	engine_list_jobs(d->engine, find_running, &job);
	if (!job)
		return;
	job_get_progress(job, &done, &total);
	if (total)
		snprintf(line, sizeof(line), "%s job %llu: %s %.1f of %.1f MiB (%u%%)",
			 job_type_name(job_get_type(job)), (unsigned long long)job_get_id(job),
			 job_phase_name(job_get_phase(job)), (double)done / MIB(1),
			 (double)total / MIB(1), (unsigned)(done * 100 / total));
	else
		snprintf(line, sizeof(line), "%s job %llu: %s", job_type_name(job_get_type(job)),
			 (unsigned long long)job_get_id(job), job_phase_name(job_get_phase(job)));
	job_unref(job);
	if (strcmp(line, d->last_progress)) {
		snprintf(d->last_progress, sizeof(d->last_progress), "%s", line);
		notify_status("%s", line);
	}
}

/* Listen lists differ (order matters: it decides which port is reported first). */
static bool listen_changed(const struct flashd_config *a, const struct flashd_config *b)
{
	if (a->n_listen != b->n_listen)
		return true;
	for (size_t i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen[i], b->listen[i]))
			return true;
	return false;
}

static bool str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

static int start(struct daemon *d)
{
	const struct flashd_config *c = &d->cfg;
	struct engine_config ec;
	struct httpd_config hc = {0};
	struct rpc_limits lim = {.max_body_bytes = c->max_body, .max_batch = 100, .max_depth = 32};
	int r;

	r = c->backend == CONFIG_BACKEND_SIM ? open_sim(d) : open_spidev(d);
	if (r < 0)
		return r;

	engine_config_init(&ec);
	ec.bus = d->bus;
	ec.state_dir = c->state_dir;
	ec.max_pending = c->queue_length;
	ec.history = c->history;
	ec.block_size = c->block_size;
	ec.n_blocks = c->blocks;
	ec.backup_max_count = c->backup_count;
	ec.backup_max_bytes = c->backup_bytes;
	ec.probe.size = c->chip_size;
	ec.probe.page_size = c->chip_page_size;
	ec.probe.erase_size = c->chip_erase_size;
	ec.probe.erase_opcode = c->chip_erase_opcode;
	ec.on_status = on_status;
	ec.on_status_ctx = d;
	r = engine_new(&ec, &d->engine);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "starting the engine (state directory \"%s\")",
				 c->state_dir);

	r = rpc_registry_new(&lim, "flashd", FLASHD_VERSION, &d->rpc);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "creating the JSON-RPC registry");
	d->info = (struct rpc_daemon_info){
		.version = FLASHD_VERSION,
		.backend = d->backend,
		.listen = (const char *const *)c->listen,
		.state_dir = c->state_dir,
		.started_ns = fclock_mono_ns(),
	};
	r = rpc_methods_register(d->rpc, d->engine, &d->info, &d->rpc_ctx);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "registering the JSON-RPC methods");

	for (size_t i = 0; i < c->n_listen && i < HTTPD_MAX_LISTEN; i++)
		hc.listen[hc.n_listen++] = c->listen[i];
	if (c->token_file)
		snprintf(d->token_path, sizeof(d->token_path), "%s", c->token_file);
	else
		snprintf(d->token_path, sizeof(d->token_path), "%s/token", c->state_dir);
	hc.www_dir = c->www_dir;
	hc.token_file = d->token_path;
	hc.require_token = c->require_token;
	hc.tls_cert_file = c->tls_cert;
	hc.tls_key_file = c->tls_key;
	hc.max_connections = c->max_connections;
	hc.allowed_hosts = c->allowed_hosts;
	hc.stream.download_min_rate = c->download_min_rate ? c->download_min_rate
							   : HTTPD_NO_MIN_RATE;
	hc.stream.download_window_s = c->download_window_s;
	hc.timeout_s = c->timeout_s;
	hc.rpc = d->rpc;
	hc.rpc_ctx = d->rpc_ctx;
	r = httpd_new(&hc, &d->httpd);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "configuring the HTTP server");
	r = transfer_new(d->engine, c->block_size, c->blocks, &d->transfer);
	if (r >= 0)
		r = transfer_add_routes(d->transfer, d->httpd);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "adding the transfer routes");

	r = engine_start(d->engine);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "starting the worker thread");
	r = httpd_start(d->httpd);
	if (r < 0)
		return log_errno(LOG_LVL_ERR, r, "listening on %s", c->listen[0]);
	for (size_t i = 0; i < hc.n_listen; i++)
		log_info("listening on %s (port %u)%s", c->listen[i], httpd_port(d->httpd, i),
			 c->tls_cert ? " with TLS" : "");
	if (httpd_token_required(d->httpd))
		log_info("API token required (Authorization: Bearer); it is in \"%s\"",
			 d->token_path);
	return 0;
}

static void stop(struct daemon *d)
{
	/* stop accepting, then stop the worker at a safe boundary, then let go of the chip */
	httpd_free(d->httpd);
	d->httpd = NULL;
	engine_stop(d->engine);
	transfer_free(d->transfer);
	rpc_registry_free(d->rpc);
	rpc_methods_free(d->rpc_ctx);
	engine_free(d->engine);
	pins_close(d->pins); /* HOLD# and WP# released */
	spibus_free(d->spidev);
	if (d->sim) {
		struct simchip_stats st;
		char line[256];

		simchip_get_stats(d->sim, &st);
		if (simchip_stats_format(&st, line, sizeof(line)) >= 0)
			log_info("simulator: %s", line);
	}
	simchip_close(d->sim);
	sim_profile_free(d->sfdp_profile);
}

/* SIGHUP: what can change safely changes; the rest is named. */
static void reload(struct daemon *d)
{
	struct flashd_config n;
	char err[512];
	int r;

	notify_reloading();
	if (!d->cfg.file) {
		log_info("reload: no configuration file to read");
		notify_ready();
		return;
	}
	config_init(&n);
	r = config_load_file(&n, d->cfg.file, err, sizeof(err));
	if (r >= 0)
		r = config_validate(&n, err, sizeof(err));
	if (r < 0) {
		log_err("reload: %s; keeping the running configuration", err);
	} else {
		if (n.log_level != d->cfg.log_level) {
			log_set_level(n.log_level);
			d->cfg.log_level = n.log_level;
			log_info("reload: log level %s", log_level_to_string(n.log_level));
		}
		if (n.spi_speed_hz != d->cfg.spi_speed_hz &&
		    engine_set_speed(d->engine, n.spi_speed_hz) >= 0) {
			d->cfg.spi_speed_hz = n.spi_speed_hz;
			log_info("reload: SPI clock %u Hz from the next job on", n.spi_speed_hz);
		}
		if (n.backend != d->cfg.backend || strcmp(n.state_dir, d->cfg.state_dir) ||
		    strcmp(n.spi_device, d->cfg.spi_device) || strcmp(n.sim_chip, d->cfg.sim_chip) ||
		    str_changed(n.sim_image, d->cfg.sim_image) || listen_changed(&n, &d->cfg) ||
		    str_changed(n.tls_cert, d->cfg.tls_cert) || str_changed(n.tls_key, d->cfg.tls_key))
			log_notice("reload: backend, device, image, listen, TLS and storage changes "
				   "need a restart (systemctl restart flashd)");
		else
			log_info("reload: done");
	}
	config_free(&n);
	notify_ready();
}

static int main_loop(struct daemon *d, int sfd)
{
	uint64_t wd_usec = notify_watchdog_usec();
	/* wake at least every second for STATUS= progress, and twice per watchdog interval */
	int timeout_ms = wd_usec ? (int)MIN(MAX(wd_usec / 2000, 100u), 1000u) : 1000;

	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		int r = poll(&pfd, 1, timeout_ms);

		if (r < 0 && errno != EINTR)
			return log_errno(LOG_LVL_ERR, errno, "poll");
		if (wd_usec) {
			/* only while the worker shows signs of life; a chip wait is bounded by its
			 * datasheet deadline, so a busy worker counts as alive */
			uint64_t age = fclock_mono_ns() - engine_heartbeat_ns(d->engine);

			if (age < wd_usec * 1000u || engine_busy(d->engine))
				notify_watchdog();
		}
		if (engine_busy(d->engine))
			publish_progress(d);
		else
			d->last_progress[0] = 0;
		if (r <= 0)
			continue;
		for (;;) {
			int sig = signals_read(sfd);

			if (sig <= 0)
				break;
			if (sig == SIGHUP) {
				reload(d);
				continue;
			}
			log_info("%s: stopping (the running job stops at its next safe boundary)",
				 strsignal(sig));
			atomic_store(&d->stopping, true);
			notify_stopping();
			notify_status("stopping: %s", engine_busy(d->engine)
							  ? "the running job stops at its next safe boundary"
							  : "idle");
			return 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct daemon d = {0};
	enum config_action action = CONFIG_RUN;
	char err[512] = "";
	int r, sfd = -1, ret = 1;

	log_set_thread_name("main");
	config_init(&d.cfg);
	r = config_parse_args(&d.cfg, argc, argv, &action, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "flashd: %s\n", err);
		config_free(&d.cfg);
		return action == CONFIG_CHECK ? 1 : 2;
	}
	switch (action) {
	case CONFIG_HELP:
		config_print_help(stdout, "flashd");
		config_free(&d.cfg);
		return 0;
	case CONFIG_VERSION:
		printf("flashd %s\n", FLASHD_VERSION);
		config_free(&d.cfg);
		return 0;
	case CONFIG_LIST_SIM:
		list_sim_chips();
		config_free(&d.cfg);
		return 0;
	case CONFIG_CHECK:
		printf("%s: OK\n", d.cfg.file ? d.cfg.file : "defaults and command line");
		config_free(&d.cfg);
		return 0;
	default:
		break;
	}
	log_set_level(d.cfg.log_level);
	log_info("flashd %s starting", FLASHD_VERSION);

	r = signals_block();
	if (r >= 0)
		sfd = signals_open();
	if (r < 0 || sfd < 0) {
		log_errno(LOG_LVL_ERR, r < 0 ? r : sfd, "setting up signals");
		goto out;
	}
	r = start(&d);
	if (r < 0)
		goto out;
	notify_ready();
	r = main_loop(&d, sfd);
	ret = r < 0 ? 1 : 0;
out:
	if (!atomic_load(&d.stopping))
		notify_stopping();
	atomic_store(&d.stopping, true);
	stop(&d);
	if (sfd >= 0)
		close(sfd);
	config_free(&d.cfg);
	log_info("flashd stopped");
	return ret;
}
