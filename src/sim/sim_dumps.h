/* SPDX-License-Identifier: MIT */
/* sim_dumps.h - real SFDP dumps compiled into the simulator. */
#ifndef FLASHD_SIM_DUMPS_H
#define FLASHD_SIM_DUMPS_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t sim_sfdp_w25q128jv[192];
extern const size_t sim_sfdp_w25q128jv_len;
extern const uint8_t sim_sfdp_mx25l25645g[288];
extern const size_t sim_sfdp_mx25l25645g_len;
extern const uint8_t sim_sfdp_sst26vf064b[608];
extern const size_t sim_sfdp_sst26vf064b_len;
extern const uint8_t sim_sfdp_is25wp256[140];
extern const size_t sim_sfdp_is25wp256_len;

#endif
