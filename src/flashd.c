/* SPDX-License-Identifier: MIT */
/* flashd - network SPI NOR flash programmer daemon. Placeholder main until the daemon shell lands. */
#include "config.h"

#include <stdio.h>

#include "log.h"

int main(void)
{
	log_info("flashd %s", FLASHD_VERSION);
	return 0;
}
