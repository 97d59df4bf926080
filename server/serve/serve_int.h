/* serve/'s internals: shared by the process wiring (serve.c), its flag table (flags.c),
 * its periodic jobs (jobs.c) and the policy digest (policy_digest.c). Not public. */
#ifndef AIMGUARD_SERVE_INT_H
#define AIMGUARD_SERVE_INT_H

#include <stddef.h>

#include "aimguard/policy.h"
#include "aimguard/serve.h"

/* policy_digest.c: "sha256-<hex>" of the policy files at path (0, or -1), and how many
 * files a refused load's diagnostics blame (at least 1). */
int policy_digest(const char *path, char *out, size_t cap);
size_t policy_failing_files(const ag_diags *d);

#endif
