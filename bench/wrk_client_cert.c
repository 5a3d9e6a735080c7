/* Preloaded into wrk (LD_PRELOAD), which has no client-certificate option: every SSL_CTX wrk
 * creates gets the certificate chain $WRK_CLIENT_CERT and the key $WRK_CLIENT_KEY (PEM), so a
 * benchmark can drive mTLS endpoints such as POST /1.0/renew. Built by bench/benchlib.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/ssl.h>

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
    static SSL_CTX *(*real)(const SSL_METHOD *) = NULL;
    if (!real) {
        real = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
    }
    SSL_CTX *ctx = real(method);
    const char *cert = getenv("WRK_CLIENT_CERT");
    const char *key = getenv("WRK_CLIENT_KEY");
    if (ctx && cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "wrk_client_cert: cannot load %s / %s\n", cert, key);
            exit(1);
        }
    }
    return ctx;
}
