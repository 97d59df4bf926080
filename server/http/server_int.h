/* State shared by the listener and the control loop (not public). */
#ifndef AIMGUARD_SERVER_INT_H
#define AIMGUARD_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "aimguard/authz.h"
#include "aimguard/informers.h"
#include "aimguard/leader.h"
#include "aimguard/metrics.h"
#include "aimguard/policy.h"
#include "aimguard/reconcile.h"
#include "aimguard/server.h"
#include "aimguard/tls.h"

typedef struct srv {
    const ag_server_config *cfg;
    ag_policy_holder *policies;
    ag_metrics *metrics;
    ag_tls *tls;
    atomic_int ready, stopping, inflight;
    atomic_ullong generation;
    struct MHD_Daemon *web, *mon;
    ag_informers *informers;     /* the watch caches (cluster view, reconciler), when a cluster is configured */
    ag_leader *leader;           /* leader election, when a cluster is configured */
    ag_reconciler *reconciler;   /* when a cluster is configured and --reconcile on */
    ag_authz *authz;             /* SubjectAccessReviews (view.access), with a cluster */
    ag_view view;
    /* libmicrohttpd's last message, kept so a listener that cannot start says why */
    pthread_mutex_t mhd_log_mu;
    char mhd_last[256];
} srv;

struct MHD_Daemon *start_daemon(srv *s, const char *listen, int tls, int metrics, ag_error *err);
/* policy_digest.c: "sha256-<hex>" of the policy files at path (0, or -1), and how many
 * files a refused load's diagnostics blame (at least 1). */
int policy_digest(const char *path, char *out, size_t cap);
size_t policy_failing_files(const ag_diags *d);
int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, int *v6,
                 ag_error *err);

#endif
