/* The reconciler's work queue (server/reconcile/queue.c): a failing key's backoff is not
 * cut short by a resync or a relist (issue 17, item 9), yet a real change of the object
 * is looked at at once. */
#include "agtest.h"
#include "../../server/reconcile/reconcile_int.h"

#include <stdlib.h>

/* the next key and how long rq_get waited for it */
static char *get_timed(rq *q, double *waited)
{
    double t0 = rq_now();
    char *k = rq_get(q);
    *waited = rq_now() - t0;
    return k;
}

static void test_resync_keeps_backoff(void)
{
    rq *q = rq_new(0.4, 10);
    CHECK(q != NULL);
    if (!q)
        return;
    double w;
    rq_add(q, "svc/a/b");
    char *k = get_timed(q, &w);
    CHECK_STR(k, "svc/a/b");
    CHECK(rq_done(q, k, 1) > 0.39); /* failed: back in 0.4 s */
    free(k);
    rq_add_resync(q, "svc/a/b");     /* a resync while it waits */
    k = get_timed(q, &w);
    CHECK(w > 0.3);                  /* waited out its backoff */
    CHECK(rq_done(q, k, 1) > 0.79);  /* failed again: 0.8 s */
    free(k);
    rq_add(q, "svc/a/b");            /* the object changed: now */
    k = get_timed(q, &w);
    CHECK(w < 0.2);
    /* a resync while it is being reconciled, then a failure: the backoff holds */
    rq_add_resync(q, "svc/a/b");
    CHECK(rq_done(q, k, 1) > 1.59);
    free(k);
    k = get_timed(q, &w);
    CHECK(w > 1.4);
    rq_done(q, k, 0);
    free(k);
    rq_free(q);
}

int main(void)
{
    RUN(test_resync_keeps_backoff);
    return agt_finish();
}
