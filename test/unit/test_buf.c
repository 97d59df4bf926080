/* ag_buf, the text builder behind denial messages, metrics and reports: text longer
 * than any internal buffer arrives whole, and a failed append poisons the buffer
 * instead of handing out a truncated message. */
#include "agtest.h"
#include "aimguard/buf.h"

#include <stdint.h>
#include <stdlib.h>

static void test_appends_and_printf(void)
{
    ag_buf b = {0};
    char *empty = ag_buf_take(&b);
    CHECK_STR(empty, ""); /* an empty buffer is an empty text, not NULL */
    free(empty);

    ag_buf_add(&b, "[policy ");
    ag_buf_addn(&b, "p1xyz", 2);
    ag_buf_printf(&b, "] %s=%d", "n", 42);
    CHECK_STR(b.p, "[policy p1] n=42");
    CHECK_INT(b.len, strlen(b.p));

    char big[5000]; /* longer than the printf fast path and the first growth steps */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ag_buf_printf(&b, "<%s>", big);
    CHECK_INT(b.len, 16 + 2 + 4999);
    CHECK(b.p[16] == '<' && b.p[b.len - 1] == '>' && b.p[b.len] == '\0');
    char *text = ag_buf_take(&b);
    CHECK(text && strlen(text) == 16 + 2 + 4999);
    CHECK(b.p == NULL && b.len == 0);
    free(text);
}

static void test_a_failed_append_poisons_the_buffer(void)
{
    ag_buf b = {0};
    ag_buf_add(&b, "aimguard denied Pod a/b: ");
    ag_buf_addn(&b, "y", SIZE_MAX / 2); /* cannot be allocated: refused without reading */
    CHECK(b.oom);
    ag_buf_add(&b, "the rest");
    CHECK_STR(b.p, "aimguard denied Pod a/b: "); /* later appends are no-ops */
    CHECK(ag_buf_take(&b) == NULL);                /* never a truncated message */
    CHECK(!b.oom && b.p == NULL);                  /* and the buffer is reusable */
    ag_buf_add(&b, "ok");
    CHECK_STR(b.p, "ok");
    ag_buf_clear(&b);
}

int main(void)
{
    RUN(test_appends_and_printf);
    RUN(test_a_failed_append_poisons_the_buffer);
    return agt_finish();
}
