/* `aimguard version`: what this binary is and what it runs with. A security component's
 * bug report needs the library versions actually loaded (a distribution upgrade of
 * GnuTLS or OpenSSL changes them under an unchanged binary), so each library is asked
 * at run time where it can tell, next to the version the binary was built against. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <pcre2.h>
#include <stdio.h>
#include <yaml.h>

#include "ag_build_info.h"
#include "aimguard/cli.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int ag_cli_version(void)
{
    char pcre[64] = "?";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("aimguard %s\n", AG_VERSION);
    printf("commit: %s\n", AG_GIT_COMMIT);
    printf("built: %s\n", AG_BUILD_DATE);
    printf("libraries (running, built against):\n");
    printf("  libmicrohttpd %s (%x.%x.%x)\n", MHD_get_version(), (MHD_VERSION >> 24) & 0xff,
           (MHD_VERSION >> 16) & 0xff, (MHD_VERSION >> 8) & 0xff);
    printf("  GnuTLS %s (%s)\n", gnutls_check_version(NULL), GNUTLS_VERSION);
    printf("  OpenSSL %s (%s)\n", OpenSSL_version(OPENSSL_VERSION_STRING), OPENSSL_VERSION_STR);
    printf("  jansson %s (%s)\n", jansson_version_str(), JANSSON_VERSION);
    printf("  libyaml %s (%s)\n", yaml_get_version_string(), AG_YAML_BUILT);
    printf("  PCRE2 %s (%s.%s)\n", pcre, STR(PCRE2_MAJOR), STR(PCRE2_MINOR));
    printf("  libcurl %s (%s), TLS: %s\n", cv && cv->version ? cv->version : "?", LIBCURL_VERSION,
           cv && cv->ssl_version ? cv->ssl_version : "none");
    return 0;
}
