/* validate.images compile errors, each at its file:line:column. What the block decides
 * (pod carriers, AIM image fields, normalisation, look-alike registries, tag rules,
 * per-namespace lists, exceptions) is tested as data: test/cases/images/. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

static void test_compile_errors(void)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    const char *text = "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: img}\nspec:\n"
                       "  match: {kinds: ['*']}\n  validate:\n    images:\n      allow: ['docker.io/Bad Path']\n"
                       "      allowPatterns: ['registry\\.example\\.com/']\n";
    CHECK(ag_policy_load_buffer(text, strlen(text), "i.yaml", &o, &set, &d, &err) != 0);
    CHECK_INT(d.count, 2);
    if (d.count == 2) {
        CHECK_CONTAINS(d.items[0], "i.yaml:8:15: images.allow: 'docker.io/Bad Path' is not a registry");
        CHECK_CONTAINS(d.items[1], "i.yaml:9:23: images.allowPatterns: 'registry\\.example\\.com/' must be anchored");
    }
    ag_diags_clear(&d);
}

int main(void)
{
    RUN(test_compile_errors);
    return agt_finish();
}
