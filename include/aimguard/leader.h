/* Leader election on a coordination.k8s.io/v1 Lease, with the usual semantics: a lease
 * whose holder has not renewed it within leaseDurationSeconds may be taken over (by an
 * update carrying the read resourceVersion, so two candidates cannot both win); the
 * leader renews every retry period and gives up leadership at once when it could not
 * renew within the renew deadline. Only the leader reconciles; every replica serves
 * admission.
 *
 * Threads: one thread per elector, owning its ag_kube; is_leader() from any thread. */
#ifndef AIMGUARD_LEADER_H
#define AIMGUARD_LEADER_H

#include "aimguard/kube.h"

typedef struct ag_leader ag_leader;

typedef struct ag_leader_config {
    const char *lease_path;     /* /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME */
    const char *identity;       /* this replica, e.g. the pod name */
    int lease_seconds;          /* default 15 */
    int renew_deadline_seconds; /* default 10 */
    int retry_seconds;          /* default 2 */
    void (*on_change)(void *ctx, int leading); /* called on the elector thread */
    void *ctx;
    /* optional, on the elector thread after each successful acquire or renew: leadership
     * is certain until `until` (CLOCK_MONOTONIC seconds: the attempt's start plus the
     * renew deadline, which is shorter than the lease). A leader that was paused
     * (SIGSTOP, a long GC-like stall) must not write past it, even before its elector
     * thread has run again and noticed that the lease may have changed hands. */
    void (*on_renew)(void *ctx, double until);
} ag_leader_config;

/* CLOCK_MONOTONIC in seconds (the clock of on_renew's deadline) */
double ag_leader_monotonic(void);

ag_leader *ag_leader_start(const ag_kube_config *kc, const ag_leader_config *cfg, ag_error *err);
/* Stops electing; a leader releases the lease (holder cleared) so another takes over now. */
void ag_leader_stop(ag_leader *l);
int ag_leader_is_leader(const ag_leader *l);

#endif
