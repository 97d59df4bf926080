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

/* A pass that succeeds and asks to be looked at again later (rc_result.requeue_after:
 * an AIM object too new to tell whose it is) comes back after that time, not at once
 * (queued from inside the pass, it used to come straight back: a busy loop), and a
 * change meanwhile is still looked at at once. */
static void test_requeue_after(void)
{
    rq *q = rq_new(0.4, 10);
    CHECK(q != NULL);
    if (!q)
        return;
    double w;
    rq_add(q, "svc/a/b");
    char *k = get_timed(q, &w);
    CHECK(rq_done_after(q, k, 0, 0.5) == 0);
    free(k);
    CHECK_INT(rq_depth(q), 1);
    k = get_timed(q, &w);
    CHECK(w > 0.4);                  /* waited for its requeue-after */
    CHECK(w < 2.0);
    rq_done_after(q, k, 0, 5);
    free(k);
    rq_add(q, "svc/a/b");            /* the object changed: now, not in 5 s */
    k = get_timed(q, &w);
    CHECK(w < 0.2);
    rq_add(q, "svc/a/b");            /* changed again while in hand: at once after it */
    rq_done_after(q, k, 0, 5);
    free(k);
    k = get_timed(q, &w);
    CHECK(w < 0.2);
    CHECK_STR(k, "svc/a/b");
    rq_done_after(q, k, 1, 5);       /* a failure: the backoff, not the requeue-after */
    free(k);
    k = get_timed(q, &w);
    CHECK(w > 0.3 && w < 2.0);
    rq_done(q, k, 0);
    free(k);
    CHECK_INT(rq_depth(q), 0);
    rq_free(q);
}

int main(void)
{
    RUN(test_resync_keeps_backoff);
    RUN(test_requeue_after);
    return agt_finish();
}
