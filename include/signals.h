/* SPDX-License-Identifier: MIT */
/*
 * signals.h - signals are read from a signalfd in the main loop, never handled asynchronously.
 * signals_block() must run before any thread is created so every thread inherits the mask.
 */
#ifndef FLASHD_SIGNALS_H
#define FLASHD_SIGNALS_H

/* Block TERM, INT, HUP (delivered through the fd) and ignore PIPE. 0 or -errno. */
int signals_block(void);
/* A non-blocking, close-on-exec signalfd for TERM, INT and HUP; -errno on failure. */
int signals_open(void);
/* The next pending signal number, 0 when none, -errno on failure. */
int signals_read(int fd);

#endif
