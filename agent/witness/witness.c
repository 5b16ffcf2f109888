/* agent/witness/witness.c - the c2sp.org/tlog-witness add-checkpoint client and
 * c2sp.org/tlog-cosignature v1 lines (include/hale/witness.h). */
#include "internal.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <sodium.h>

#include "hale/witness.h"
#include "util/buf.h"
#include "util/strparse.h"

#define DASH       "\xe2\x80\x94" /* U+2014, which starts a signature line */
#define B64_HASH   (sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL))
#define COSIG_BLOB (4u + 8u + 64u) /* key ID, timestamp, Ed25519 signature */

int hale_witness_body(uint64_t old_size, const hale_hash *proof, size_t n_proof, const char *note,
                      char **ret, size_t *ret_len)
{
    char b64[B64_HASH];
    hale_buf out;
    int r;

    if (n_proof > 63 || (old_size == 0 && n_proof > 0))
        return -EINVAL;
    hale_buf_init(&out, (1u << 20) + 4096u);
    r = hale_buf_printf(&out, "old %" PRIu64 "\n", old_size);
    for (size_t i = 0; r == 0 && i < n_proof; i++) {
        sodium_bin2base64(b64, sizeof(b64), proof[i].b, sizeof(proof[i].b),
                          sodium_base64_VARIANT_ORIGINAL);
        r = hale_buf_printf(&out, "%s\n", b64);
    }
    if (r == 0)
        r = hale_buf_printf(&out, "\n%s", note);
    if (r < 0) {
        hale_buf_release(&out);
        return -ENOMEM;
    }
    *ret = hale_buf_detach(&out, ret_len);
    return *ret ? 0 : -ENOMEM;
}

struct reply {
    hale_buf body; /* the answer, capped */
    bool too_big;  /* the cap was hit */
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct reply *rp = ud;

    if (hale_buf_append(&rp->body, p, size * n) < 0) {
        rp->too_big = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

static int parse_size(const char *s, uint64_t *ret)
{
    char digits[24];
    size_t n = strcspn(s, "\n");

    if (n == 0 || n >= sizeof(digits) || (s[n] == '\n' && s[n + 1] != '\0'))
        return -EINVAL;
    memcpy(digits, s, n);
    digits[n] = '\0';
    if (n > 1 && digits[0] == '0')
        return -EINVAL;
    return hale_parse_u64(digits, ret);
}

int hale_witness_add_checkpoint(const char *url, const char *body, size_t len, unsigned timeout_ms,
                                char **ret_cosigs, uint64_t *ret_size, hale_diag *reterr)
{
    struct reply rp = {.too_big = false};
    struct curl_slist *hdrs = NULL;
    char endpoint[2048];
    const char *ctype = NULL;
    long status = 0;
    CURLcode cc;
    CURL *c;
    int r;

    if (snprintf(endpoint, sizeof(endpoint), "%s%sadd-checkpoint", url,
                 *url && url[strlen(url) - 1] == '/' ? "" : "/") >= (int)sizeof(endpoint)) {
        hale_diag_set(reterr, "witness URL too long");
        return -EINVAL;
    }
    c = curl_easy_init();
    hdrs = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    if (!c || !hdrs) {
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
        return -ENOMEM;
    }
    hale_buf_init(&rp.body, HALE_WITNESS_MAX_REPLY);
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rp);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    }
    if (rp.too_big) {
        hale_diag_set(reterr, "witness %s: answer larger than %u bytes", url,
                      HALE_WITNESS_MAX_REPLY);
        r = HALE_ELIMIT;
    } else if (cc != CURLE_OK) {
        hale_diag_set(reterr, "witness %s: %s", url, curl_easy_strerror(cc));
        r = HALE_EUPSTREAM;
    } else if (status == 200) {
        *ret_cosigs = hale_buf_detach(&rp.body, NULL);
        r = *ret_cosigs ? 0 : -ENOMEM;
    } else if (status == 409 && ctype && strncmp(ctype, "text/x.tlog.size", 16) == 0 &&
               parse_size(rp.body.data ? rp.body.data : "", ret_size) == 0) {
        r = HALE_ESTATE;
    } else {
        hale_diag_set(reterr, "witness %s answered %ld%s", url, status,
                      status == 404   ? " (it does not know this log's origin)"
                      : status == 403 ? " (it does not trust this log's signing key)"
                      : status == 422 ? " (it rejected the consistency proof)"
                      : status == 409 ? " (it holds a different head at this size: a fork?)"
                                      : "");
        r = HALE_EUPSTREAM;
    }
    hale_buf_release(&rp.body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return r;
}

uint32_t hale_cosig_key_id(const char *name, const uint8_t pk[32])
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    const unsigned char sep[2] = {'\n', HALE_COSIG_ALG_ED25519};

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof(sep));
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int hale_cosig_message(const char *text, size_t len, uint64_t timestamp, char **ret,
                       size_t *ret_len)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "cosignature/v1\ntime %" PRIu64 "\n", timestamp);
    char *m = malloc((size_t)n + len + 1);

    if (!m)
        return -ENOMEM;
    memcpy(m, head, (size_t)n);
    memcpy(m + n, text, len);
    m[(size_t)n + len] = '\0';
    *ret = m;
    *ret_len = (size_t)n + len;
    return 0;
}

int hale_cosig_sign(const char *text, size_t len, const char *name, const uint8_t sk[64],
                    uint64_t timestamp, char **ret)
{
    uint8_t blob[COSIG_BLOB];
    char b64[sodium_base64_ENCODED_LEN(COSIG_BLOB, sodium_base64_VARIANT_ORIGINAL)];
    uint32_t id = hale_cosig_key_id(name, sk + 32);
    char *msg, *line;
    size_t mlen, n;

    if (timestamp > INT64_MAX)
        return -EINVAL;
    if (hale_cosig_message(text, len, timestamp, &msg, &mlen) < 0)
        return -ENOMEM;
    for (int i = 0; i < 4; i++)
        blob[i] = (uint8_t)(id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        blob[4 + i] = (uint8_t)(timestamp >> (56 - 8 * i));
    crypto_sign_detached(blob + 12, NULL, (const unsigned char *)msg, mlen, sk);
    free(msg);
    sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
    n = strlen(DASH) + 1 + strlen(name) + 1 + strlen(b64) + 2;
    line = malloc(n);
    if (!line)
        return -ENOMEM;
    snprintf(line, n, DASH " %s %s\n", name, b64);
    *ret = line;
    return 0;
}

int hale_cosig_verify(const char *text, size_t len, const char *line, size_t line_len,
                      const char *name, const uint8_t pk[32], uint64_t *ret_timestamp)
{
    size_t dash = strlen(DASH), name_len = strlen(name), b64_len, blob_len = 0;
    uint8_t blob[COSIG_BLOB + 1];
    uint64_t ts = 0;
    uint32_t id = 0;
    char *msg;
    size_t mlen;
    int r;

    if (line_len > 0 && line[line_len - 1] == '\n')
        line_len--;
    if (line_len < dash + 2 || memcmp(line, DASH " ", dash + 1) != 0)
        return HALE_EPARSE;
    line += dash + 1;
    line_len -= dash + 1;
    if (line_len <= name_len || memcmp(line, name, name_len) != 0 || line[name_len] != ' ')
        return HALE_ENOTFOUND;
    line += name_len + 1;
    b64_len = line_len - name_len - 1;
    if (sodium_base642bin(blob, sizeof(blob), line, b64_len, NULL, &blob_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blob_len < 4)
        return HALE_EPARSE;
    for (int i = 0; i < 4; i++)
        id = id << 8 | blob[i];
    if (id != hale_cosig_key_id(name, pk))
        return HALE_ENOTFOUND;
    if (blob_len != COSIG_BLOB)
        return HALE_EPARSE;
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | blob[4 + i];
    if (ts > INT64_MAX)
        return HALE_EPARSE;
    if (hale_cosig_message(text, len, ts, &msg, &mlen) < 0)
        return -ENOMEM;
    r = crypto_sign_verify_detached(blob + 12, (const unsigned char *)msg, mlen, pk) == 0
            ? 0
            : HALE_EPROOF;
    free(msg);
    if (r == 0 && ret_timestamp)
        *ret_timestamp = ts;
    return r;
}
