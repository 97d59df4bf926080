/* Kubernetes quantities ("500m", "2Gi", "1.5", "100M", "1e3") compared by value, exactly:
 * kept as an integer count of 10^-9 units, Kubernetes' own finest scale (a finer value
 * rounds up, as the API server rounds it). Comparing "1Gi" with "1073741824" or "0.1"
 * with "100m" must not depend on floating point. */
#include "policy_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* |value| stays below 10^36 nano units (10^27 base units: beyond any real resource) */
#define QLIMIT ((__int128)1000000000000000000 * (__int128)1000000000000000000)

static int mul_checked(__int128 *v, __int128 by)
{
    if (*v != 0 && (by > QLIMIT / (*v < 0 ? -*v : *v)))
        return -1;
    *v *= by;
    return *v > QLIMIT || *v < -QLIMIT ? -1 : 0;
}

int pol_quantity_parse(const char *s, quantity *out)
{
    if (!s)
        return -1;
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    __int128 mant = 0;
    int digits = 0, frac = 0, seen_dot = 0, sig = 0;
    for (;; p++) {
        if (isdigit((unsigned char)*p)) {
            if (mant == 0 && *p == '0' && !seen_dot) {
                digits++;
                continue; /* leading zeros */
            }
            if (++sig > 36)
                return -1; /* more digits than any real quantity */
            mant = mant * 10 + (*p - '0');
            digits++;
            if (seen_dot)
                frac++;
        } else if (*p == '.' && !seen_dot) {
            seen_dot = 1;
        } else {
            break;
        }
    }
    if (digits == 0)
        return -1;
    int exp10 = 0, exp2 = 0;
    /* the suffix: binary SI, decimal SI, or a decimal exponent */
    static const struct { const char *s; int e10, e2; } sfx[] = {
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
        {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"k", 3, 0}, {"M", 6, 0}, {"G", 9, 0},
        {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0}, {"", 0, 0},
    };
    int ok = 0;
    if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) ||
                                     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        int sign = 1, e = 0;
        p++;
        if (*p == '+' || *p == '-')
            sign = *p++ == '-' ? -1 : 1;
        while (isdigit((unsigned char)*p)) {
            e = e * 10 + (*p++ - '0');
            if (e > 60)
                return -1;
        }
        exp10 = sign * e;
        ok = *p == '\0';
    } else {
        for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
            if (!strcmp(p, sfx[i].s)) {
                exp10 = sfx[i].e10, exp2 = sfx[i].e2, ok = 1;
                break;
            }
    }
    if (!ok)
        return -1;
    /* value = mant * 10^(exp10 - frac) * 2^exp2, in nano units: * 10^9 */
    int scale = exp10 - frac + 9;
    __int128 v = mant;
    for (int i = 0; i < exp2; i++)
        if (mul_checked(&v, 2))
            return -1;
    for (; scale > 0; scale--)
        if (mul_checked(&v, 10))
            return -1;
    for (; scale < 0; scale++) {
        __int128 q = v / 10;
        v = q + (v % 10 != 0); /* below 1n rounds up, like the API server */
    }
    out->nano = neg ? -v : v;
    return 0;
}

int pol_quantity_of_json(json_t *v, quantity *out)
{
    char buf[64];
    if (json_is_string(v))
        return pol_quantity_parse(json_string_value(v), out);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return pol_quantity_parse(buf, out);
    }
    if (json_is_real(v)) {
        /* the shortest text that reads back as the same double */
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        for (int prec = 1; prec < 17; prec++) {
            char t[64];
            snprintf(t, sizeof t, "%.*g", prec, json_real_value(v));
            double back;
            if (sscanf(t, "%lf", &back) == 1 && back == json_real_value(v)) {
                memcpy(buf, t, sizeof t);
                break;
            }
        }
        return pol_quantity_parse(buf, out);
    }
    return -1;
}

int pol_quantity_cmp(const quantity *a, const quantity *b)
{
    return a->nano < b->nano ? -1 : a->nano > b->nano;
}
