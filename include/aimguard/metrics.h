/* Prometheus metrics in text exposition format 0.0.4.
 *
 * Counters are lock-free atomics. Labelled request counters live in a fixed table:
 * lookups never lock; a new label combination is appended under a mutex (rare: the
 * set of routes x kinds x operations x decisions is small); when the table is full,
 * further combinations are counted under kind="_other" so a hostile stream of kinds
 * cannot grow memory. Thread-safety: every function is safe from any thread.
 * Ownership: one ag_metrics per server, created and freed by its owner. */
#ifndef AIMGUARD_METRICS_H
#define AIMGUARD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ag_metrics ag_metrics;

ag_metrics *ag_metrics_new(void);
void ag_metrics_free(ag_metrics *m);

/* One admission request: route ("mutate"/"validate"), kind, operation, decision
 * ("allowed"/"patched"/"denied"/"warned"/"error"), and its duration. */
void ag_metrics_request(ag_metrics *m, const char *route, const char *kind,
                        const char *operation, const char *decision, double seconds);
/* One HTTP response of the webhook or metrics listener, whatever it answered (404, 405,
 * 413, 415 and 400s included): route is "mutate", "validate", "healthz", "readyz",
 * "metrics" or anything else for "other" (never the path: it is the client's text). */
void ag_metrics_response(ag_metrics *m, const char *route, unsigned code);
void ag_metrics_inflight(ag_metrics *m, int delta);
void ag_metrics_policy_reload(ag_metrics *m, int ok, uint64_t generation, int64_t when);
/* The outcome of the latest policy load (ok or not), how many files it refused, and on
 * success the digest of the set now serving (e.g. "sha256-..."; copied). */
void ag_metrics_policy_state(ag_metrics *m, int ok, size_t failing_files, const char *digest);
/* Warnings of the serving policies (ag_policy_warnings: policies that cannot fire as written). */
void ag_metrics_policy_warnings(ag_metrics *m, size_t count);
void ag_metrics_audit(ag_metrics *m, const char *policy);
/* One per-rule result of a validation (ag_decision.results): policy, rule and result
 * ("pass", "fail", "warn", "skip"). At most 1,024 distinct series; past them a new
 * combination counts under policy and rule "_other". */
void ag_metrics_policy_result(ag_metrics *m, const char *policy, const char *rule, const char *severity,
                              const char *result);
/* A certificate pair loaded (ok, its notAfter) or refused: a counter and a state gauge. */
void ag_metrics_tls(ag_metrics *m, int ok, int64_t not_after);
/* -1: no leader election (no cluster); 0 follower; 1 leader */
void ag_metrics_leader(ag_metrics *m, int leading);
/* The reconciler: one pass (ok or not, its duration), and its state now. */
void ag_metrics_reconcile(ag_metrics *m, int ok, double seconds);
void ag_metrics_reconcile_state(ag_metrics *m, size_t depth, uint64_t writes, uint64_t watch_restarts);
/* Renders everything; caller frees the returned string. NULL on OOM. */
char *ag_metrics_render(ag_metrics *m);

#endif
