/* The version `ragws --version` prints and /metrics reports (ragws_build_info). */
#ifndef RAGWS_MASTER_VERSION_H
#define RAGWS_MASTER_VERSION_H

#define RAGWS_VERSION "0.1.0"

#endif
