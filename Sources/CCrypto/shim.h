#ifndef LEDGERSYNC_CCRYPTO_SHIM_H
#define LEDGERSYNC_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/err.h>
/* JWT signatures (LedgerCrypto/JWT*): PEM keys and certificates, RSA-PSS, ECDSA. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#endif
