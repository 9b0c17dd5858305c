#ifndef LEDGERSYNC_CLIBPQ_SHIM_H
#define LEDGERSYNC_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
