/* SPDX-License-Identifier: MIT */
/*
 * fake-engine.h - a deterministic stand-in for the engine behind rpc_methods.c (fuzzing).
 * It implements the engine.h functions rpc_methods.c calls; see fake-engine.c.
 */
#ifndef FLASHD_FAKE_ENGINE_H
#define FLASHD_FAKE_ENGINE_H

struct engine;

/* A fake engine with a present W25Q128JV; lives for the process. 0 or -errno. */
int fake_engine_new(struct engine **ret);
/* End every queued job (DONE), which answers calls held for them. */
void fake_engine_finish_all(struct engine *e);

#endif
