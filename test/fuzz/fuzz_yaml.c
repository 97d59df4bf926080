/* libFuzzer target: YAML/JSON text -> ag_yaml_parse -> ag_ynode_to_json for every
 * document (alias expansion, depth and size limits must hold). */
#include <stdlib.h>

#include "aimguard/yaml.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    ag_ydocs *docs = NULL;
    ag_error err = {0};
    if (ag_yaml_parse((const char *)data, size, "fuzz.yaml", &docs, &err) == 0) {
        for (size_t i = 0; i < docs->count; i++) {
            json_t *j = NULL;
            if (ag_ynode_to_json(docs->docs[i], "fuzz.yaml", &j, &err) == 0)
                json_decref(j);
        }
        ag_ydocs_free(docs);
    }
    return 0;
}
