/* libFuzzer target: policy YAML text -> loader and compiler. Every input either
 * compiles or reports at least one file:line:column diagnostic; nothing crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/policy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load_buffer((const char *)data, size, "fuzz.yaml", &o, &set, &d, &err);
    if (rc && d.count == 0)
        abort(); /* a refusal must say why */
    for (size_t i = 0; i < d.count; i++)
        if (strncmp(d.items[i], "fuzz.yaml", 9) != 0)
            abort(); /* every diagnostic names the file */
    if (!rc) {
        char *text = ag_policy_explain(set);
        free(text);
    }
    ag_diags_clear(&d);
    ag_policy_set_unref(set);
    return 0;
}
