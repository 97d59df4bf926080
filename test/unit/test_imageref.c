/* Image references: a table of tricky references with the verdict and the normalised
 * parts, and a table of allowlist-prefix matches that must not be fooled. */
#include "agtest.h"
#include "aimguard/imageref.h"

#define D64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct row {
    const char *ref;
    const char *normalized; /* NULL: must be rejected */
    const char *registry, *repository, *tag, *digest;
} row;

static const row rows[] = {
    {"nginx", "docker.io/library/nginx", "docker.io", "library/nginx", NULL, NULL},
    {"nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", NULL},
    {"library/nginx", "docker.io/library/nginx", "docker.io", "library/nginx", NULL, NULL},
    {"docker.io/nginx", "docker.io/library/nginx", "docker.io", "library/nginx", NULL, NULL},
    {"index.docker.io/library/nginx:latest", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", NULL},
    {"registry-1.docker.io/library/nginx:1", "docker.io/library/nginx:1", "docker.io", "library/nginx", "1", NULL},
    {"Registry-1.Docker.IO/evil/miner", "docker.io/evil/miner", "docker.io", "evil/miner", NULL, NULL},
    {"amdenterpriseai/aim-llama:0.8.5", "docker.io/amdenterpriseai/aim-llama:0.8.5", "docker.io", "amdenterpriseai/aim-llama", "0.8.5", NULL},
    {"docker.io/amdenterpriseai/aim-llama-3.1-8b@sha256:" D64, "docker.io/amdenterpriseai/aim-llama-3.1-8b@sha256:" D64,
     "docker.io", "amdenterpriseai/aim-llama-3.1-8b", NULL, "sha256:" D64},
    {"ghcr.io/silogen/aim-llama:0.1", "ghcr.io/silogen/aim-llama:0.1", "ghcr.io", "silogen/aim-llama", "0.1", NULL},
    {"localhost/x", "localhost/x", "localhost", "x", NULL, NULL},
    {"localhost:5000/x", "localhost:5000/x", "localhost:5000", "x", NULL, NULL},
    {"[::1]:5000/x/y:tag", "[::1]:5000/x/y:tag", "[::1]:5000", "x/y", "tag", NULL},
    {"[fe80::1]/x", "[fe80::1]/x", "[fe80::1]", "x", NULL, NULL},
    {"[fe80::1%eth0]/x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com:443/aim/x@sha256:" D64, "registry.example.com:443/aim/x@sha256:" D64,
     "registry.example.com:443", "aim/x", NULL, "sha256:" D64},
    {"x:tag@sha256:" D64, "docker.io/library/x:tag@sha256:" D64, "docker.io", "library/x", "tag", "sha256:" D64},
    {"Registry.Example.COM/aim/x", "registry.example.com/aim/x", "registry.example.com", "aim/x", NULL, NULL},
    {"registry.example.com/Aim/x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com/aim/../x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com/aim/./x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com/aim//x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com/aim/x/", NULL, NULL, NULL, NULL, NULL},
    {"/x", NULL, NULL, NULL, NULL, NULL},
    {"-a", NULL, NULL, NULL, NULL, NULL},
    {"a-", NULL, NULL, NULL, NULL, NULL},
    {"a--b", "docker.io/library/a--b", "docker.io", "library/a--b", NULL, NULL},
    {"a__b", "docker.io/library/a__b", "docker.io", "library/a__b", NULL, NULL},
    {"a___b", NULL, NULL, NULL, NULL, NULL},
    {"a..b", NULL, NULL, NULL, NULL, NULL},
    {":latest", NULL, NULL, NULL, NULL, NULL},
    {"", NULL, NULL, NULL, NULL, NULL},
    {"nginx:", NULL, NULL, NULL, NULL, NULL},
    {"nginx:.hidden", NULL, NULL, NULL, NULL, NULL},
    {"nginx:-x", NULL, NULL, NULL, NULL, NULL},
    {"nginx:" "a12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678", NULL, NULL, NULL, NULL, NULL}, /* 129 */
    {"nginx:_ok", "docker.io/library/nginx:_ok", "docker.io", "library/nginx", "_ok", NULL},
    {"nginx@sha256:short", NULL, NULL, NULL, NULL, NULL},
    {"nginx@sha256:" "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", NULL, NULL, NULL, NULL, NULL},
    {"nginx@sha512:" D64, NULL, NULL, NULL, NULL, NULL},
    {"nginx@md5", NULL, NULL, NULL, NULL, NULL},
    {"nginx @sha256:" D64, NULL, NULL, NULL, NULL, NULL},
    {"nginx\t", NULL, NULL, NULL, NULL, NULL},
    {"regіstry.example.com/aim/x", NULL, NULL, NULL, NULL, NULL},          /* Cyrillic i */
    {"registry.example.com\xef\xbc\x8f" "aim/x", NULL, NULL, NULL, NULL, NULL}, /* fullwidth solidus */
    {"registry.example.com.evil.io/aim/x", "registry.example.com.evil.io/aim/x", "registry.example.com.evil.io", "aim/x", NULL, NULL},
    {"registry-.example.com/x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com:99999/x", NULL, NULL, NULL, NULL, NULL},
    {"registry.example.com:/x", NULL, NULL, NULL, NULL, NULL},
    {"10.0.0.1:5000/team/app:v2", "10.0.0.1:5000/team/app:v2", "10.0.0.1:5000", "team/app", "v2", NULL},
    {"UPPER/app", NULL, NULL, NULL, NULL, NULL},     /* a registry only by its capitals: ambiguous */
    {"amdenterGpriseai/aim-x:1", NULL, NULL, NULL, NULL, NULL}, /* found by fuzz_imageref */
    {"a/b/c/d/e:1", "docker.io/a/b/c/d/e:1", "docker.io", "a/b/c/d/e", "1", NULL},
    {"quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter:v1.7.0", "quay.io", "prometheus/node-exporter", "v1.7.0", NULL},
};

static void test_reference_table(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *w = &rows[i];
        ag_imageref r;
        ag_error err = {0};
        int rc = ag_imageref_parse(w->ref, &r, &err);
        if (!w->normalized) {
            if (rc == 0)
                fprintf(stderr, "accepted but should not be: %s -> %s\n", w->ref, r.normalized);
            CHECK(rc != 0);
            CHECK(err.msg[0] != '\0');
        } else {
            if (rc != 0)
                fprintf(stderr, "rejected: %s: %s\n", w->ref, err.msg);
            CHECK_INT(rc, 0);
            if (rc == 0) {
                CHECK_STR(r.normalized, w->normalized);
                CHECK_STR(r.registry, w->registry);
                CHECK_STR(r.repository, w->repository);
                CHECK((r.tag == NULL) == (w->tag == NULL));
                if (w->tag) CHECK_STR(r.tag, w->tag);
                CHECK((r.digest == NULL) == (w->digest == NULL));
                if (w->digest) CHECK_STR(r.digest, w->digest);
            }
        }
        ag_imageref_clear(&r);
    }
    CHECK(sizeof rows / sizeof rows[0] >= 40);
}

typedef struct under_row {
    const char *ref, *prefix;
    int want;
} under_row;

static const under_row under_rows[] = {
    {"registry.example.com/aim/x", "registry.example.com/aim/", 1},
    {"registry.example.com/aim/x", "registry.example.com/aim", 1},
    {"registry.example.com/aim", "registry.example.com/aim/", 0},   /* "aim/": only below aim */
    {"registry.example.com/aim", "registry.example.com/aim", 1},
    {"ghcr.io/silogen:1", "ghcr.io/silogen/", 0},
    {"ghcr.io/silogen:1", "ghcr.io/silogen", 1},
    {"ghcr.io/silogen/aim:1", "ghcr.io/silogen/", 1},
    {"registry-1.docker.io/amdenterpriseai/x", "docker.io/amdenterpriseai/", 1},
    {"docker.io/amdenterpriseai/x", "registry-1.docker.io/amdenterpriseai/", 1},
    {"registry-1.docker.io/evil/x", "docker.io/amdenterpriseai/", 0},
    {"registry.example.com/aim/team/x:1", "registry.example.com/aim", 1},
    {"registry.example.com.evil.io/aim/x", "registry.example.com/aim/", 0},
    {"registry.example.com/aimx/y", "registry.example.com/aim/", 0},
    {"registry.example.com/ai/m", "registry.example.com/aim/", 0},
    {"registry.example.com:5000/aim/x", "registry.example.com/aim/", 0},
    {"registry.example.com/aim/x", "registry.example.com:5000/aim/", 0},
    {"REGISTRY.example.com/aim/x", "registry.example.com/aim/", 1},
    {"registry.example.com/aim/x", "Registry.Example.com/aim/", 1},
    {"docker.io/amdenterpriseai/aim-llama:1", "docker.io/amdenterpriseai/", 1},
    {"amdenterpriseai/aim-llama:1", "docker.io/amdenterpriseai/", 1},
    {"index.docker.io/amdenterpriseai/x", "docker.io/amdenterpriseai", 1},
    {"docker.io/amdenterpriseai/x", "index.docker.io/amdenterpriseai/", 1},
    {"docker.io/amdenterpriseaix/x", "docker.io/amdenterpriseai/", 0},
    {"nginx", "docker.io/library", 1},
    {"nginx", "docker.io/amdenterpriseai/", 0},
    {"ghcr.io/silogen/x", "ghcr.io", 1},
    {"ghcr.io/silogen/x", "ghcr.io/", 1},
    {"ghcr.io.evil/silogen/x", "ghcr.io", 0},
    {"ghcr.io/silogen/x", "ghcr.io/silogen/x/y", 0},
    {"ghcr.io/silogen/x", "ghcr.io/Silogen", -1},
    {"ghcr.io/silogen/x", "ghcr.io/../x", -1},
    {"ghcr.io/silogen/x", "", -1},
    {"ghcr.io/silogen/x", "ghcr io/x", -1},
    {"[::1]:5000/a/b", "[::1]:5000/a", 1},
    {"[::1]:5000/a/b", "[::1]/a", 0},
};

static void test_prefix_table(void)
{
    for (size_t i = 0; i < sizeof under_rows / sizeof under_rows[0]; i++) {
        ag_imageref r;
        ag_error err = {0};
        CHECK_INT(ag_imageref_parse(under_rows[i].ref, &r, &err), 0);
        int got = ag_imageref_under(&r, under_rows[i].prefix);
        if (got != under_rows[i].want)
            fprintf(stderr, "under(%s, %s) = %d, want %d\n", under_rows[i].ref, under_rows[i].prefix, got,
                    under_rows[i].want);
        CHECK_INT(got, under_rows[i].want);
        ag_imageref_clear(&r);
    }
    CHECK(sizeof under_rows / sizeof under_rows[0] >= 20);
}

int main(void)
{
    RUN(test_reference_table);
    RUN(test_prefix_table);
    return agt_finish();
}
