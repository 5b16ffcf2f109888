/* agent/llm/llm_prompt.c - prompt templates: load NAME@VERSION with its schema, and render
 * it with untrusted variables in delimited data sections, everything through the redactor. */
#include "internal.h"

#include "hale/llm.h"
#include "llm_int.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/sha256.h"

#define MAX_TEMPLATE_BYTES (256u * 1024u)
#define MAX_SCHEMA_BYTES   (64u * 1024u)

typedef struct part {
    bool is_var; /* a {{name}} reference, else literal text */
    char *text;  /* the literal, or the variable name */
    size_t len;  /* bytes of text */
} part;

struct hale_prompt {
    char *id;    /* "NAME@VERSION" */
    part *parts; /* template, split at {{ }} */
    size_t n_parts;
    hale_llm_schema *schema; /* the answer's schema */
};

static bool valid_id(const char *id)
{
    const char *at = strchr(id, '@');
    size_t n = strlen(id);

    if (!at || at == id || !at[1] || n > 128 || strchr(at + 1, '@'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(id[i] == '@' || id[i] == '.' || id[i] == '_' || id[i] == '-' ||
              (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
              (id[i] >= 'A' && id[i] <= 'Z')))
            return false;
    return id[0] != '.';
}

static bool valid_var(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

static int add_part(hale_prompt *p, bool is_var, const char *s, size_t n)
{
    part *np = realloc(p->parts, (p->n_parts + 1) * sizeof(*np));

    if (!np)
        return -ENOMEM;
    p->parts = np;
    if (!(np[p->n_parts].text = malloc(n + 1)))
        return -ENOMEM;
    memcpy(np[p->n_parts].text, s, n);
    np[p->n_parts].text[n] = '\0';
    np[p->n_parts].len = n;
    np[p->n_parts].is_var = is_var;
    p->n_parts++;
    return 0;
}

/* Split text at {{name}}; "file:line: ..." on a malformed reference. */
int hale__prompt_parse_template(hale_prompt *p, const char *text, size_t len, const char *file,
                                hale_diag *reterr)
{
    size_t i = 0, lit = 0, n_vars = 0;
    int r;

    while (i + 1 < len) {
        const char *close;
        size_t line = 1;

        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        close = NULL;
        for (size_t j = i + 2; j + 1 < len && text[j] != '\n'; j++)
            if (text[j] == '}' && text[j + 1] == '}') {
                close = text + j;
                break;
            }
        for (size_t k = 0; k < i; k++)
            line += text[k] == '\n';
        if (!close || !valid_var(text + i + 2, (size_t)(close - text) - i - 2)) {
            hale_diag_set(reterr, "%s:%zu: expected {{name}} with a name of [A-Za-z0-9_]", file,
                          line);
            return HALE_ECONFIG;
        }
        if (++n_vars > HALE_LLM_MAX_VARS) {
            hale_diag_set(reterr, "%s:%zu: more than %u variable references", file, line,
                          HALE_LLM_MAX_VARS);
            return HALE_ECONFIG;
        }
        if (i > lit && (r = add_part(p, false, text + lit, i - lit)) < 0)
            return r;
        if ((r = add_part(p, true, text + i + 2, (size_t)(close - text) - i - 2)) < 0)
            return r;
        i = lit = (size_t)(close - text) + 2;
    }
    if (len > lit && (r = add_part(p, false, text + lit, len - lit)) < 0)
        return r;
    return 0;
}

int hale_prompt_load(const char *dir, const char *id, hale_prompt **ret, hale_diag *reterr)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    hale_prompt *p;
    int r;

    if (!valid_id(id)) {
        hale_diag_set(reterr, "prompt '%.128s': expected NAME@VERSION of [A-Za-z0-9._-]", id);
        return HALE_ECONFIG;
    }
    if (!(p = calloc(1, sizeof(*p))) || !(p->id = strdup(id))) {
        free(p);
        return -ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/%s.txt", dir, id);
    r = hale_file_read(path, MAX_TEMPLATE_BYTES, &text, &len, reterr);
    if (r == 0)
        r = hale__prompt_parse_template(p, text, len, path, reterr);
    free(text);
    text = NULL;
    if (r == 0) {
        snprintf(path, sizeof(path), "%s/%s.schema.json", dir, id);
        r = hale_file_read(path, MAX_SCHEMA_BYTES, &text, &len, reterr);
    }
    if (r == 0) {
        r = hale_llm_schema_parse(text, len, path, &p->schema, reterr);
        if (r == HALE_ESCHEMA)
            r = HALE_ECONFIG;
    }
    free(text);
    if (r < 0) {
        hale_prompt_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void hale_prompt_free(hale_prompt *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_parts; i++)
        free(p->parts[i].text);
    free(p->parts);
    hale_llm_schema_free(p->schema);
    free(p->id);
    free(p);
}

const char *hale_prompt_id(const hale_prompt *p)
{
    return p->id;
}

const hale_llm_schema *hale_prompt_schema(const hale_prompt *p)
{
    return p->schema;
}

/* Code point at s[i..n) into *cp; returns its length, or 0 for an invalid sequence. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t want;
    uint32_t c = s[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        want = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        want = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        want = 4, c &= 0x07;
    else
        return 0;
    if (want > n)
        return 0;
    for (size_t k = 1; k < want; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[k] & 0x3f);
    }
    if ((want == 3 && c < 0x800) || (want == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return want;
}

static bool invisible(uint32_t c)
{
    return (c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7f && c <= 0x9f) || c == 0xad ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
           (c >= 0x2060 && c <= 0x2069) || c == 0xfeff || (c >= 0xe0000 && c <= 0xe007f);
}

int hale__prompt_sanitize(const char *s, size_t n, hale_buf *out)
{
    size_t i = 0;
    int r = 0;

    while (r == 0 && i < n) {
        uint32_t cp = 0;
        size_t k = utf8_next((const unsigned char *)s + i, n - i, &cp);

        if (k == 0) {
            r = hale_buf_puts(out, "\xef\xbf\xbd"); /* U+FFFD for a byte that is not UTF-8 */
            i++;
        } else {
            if (!invisible(cp))
                r = hale_buf_append(out, s + i, k);
            i += k;
        }
    }
    return r;
}

int hale__redact_into(hale_redact_session *rs, const char *s, size_t n, hale_buf *out)
{
    hale_redact_result res = {0};
    int r = hale_redact_apply(rs, s, n, &res);

    if (r < 0)
        return r;
    r = hale_buf_append(out, res.text, res.len);
    hale_redact_result_release(&res);
    return r;
}

int hale__prompt_data_section(hale_redact_session *rs, const char *name, const char *value,
                              size_t len, hale_buf *out)
{
    hale_buf clean, red;
    uint8_t h[32];
    char nonce[17], end[40];
    int r;

    hale_buf_init(&clean, HALE_REDACT_MAX_INPUT_BYTES);
    hale_buf_init(&red, 2 * (size_t)HALE_REDACT_MAX_INPUT_BYTES);
    r = hale__prompt_sanitize(value, len, &clean);
    if (r == 0)
        r = hale__redact_into(rs, clean.data ? clean.data : "", clean.len, &red);
    if (r == 0) {
        hale_sha256(&(hale_sha256_part){red.data, red.len}, 1, h);
        for (size_t i = 0; i < 8; i++)
            snprintf(nonce + 2 * i, 3, "%02x", h[i]);
        snprintf(end, sizeof(end), "<<<END %s>>>", nonce);
        /* The nonce is a digest of the section, so the text cannot know its own end marker;
         * the check below turns that argument into a guarantee. */
        if (red.len && strstr(red.data, end))
            r = HALE_ELIMIT;
    }
    if (r == 0)
        r = hale_buf_printf(out, "<<<DATA %s %s>>>\n", name, nonce);
    if (r == 0 && red.len)
        r = hale_buf_append(out, red.data, red.len);
    if (r == 0)
        r = hale_buf_printf(out, "\n%s", end);
    hale_buf_release(&clean);
    hale_buf_release(&red);
    return r;
}

int hale_prompt_render(const hale_prompt *p, const hale_prompt_var *vars, size_t n_vars,
                       hale_redact_session *rs, char **ret, size_t *ret_len, uint8_t ret_sha256[32],
                       hale_diag *reterr)
{
    hale_buf out;
    int r = 0;

    hale_buf_init(&out, HALE_LLM_MAX_PROMPT_BYTES);
    for (size_t i = 0; r == 0 && i < p->n_parts; i++) {
        const part *pt = &p->parts[i];
        size_t k;

        if (!pt->is_var) {
            r = hale__redact_into(rs, pt->text, pt->len, &out);
            continue;
        }
        for (k = 0; k < n_vars; k++)
            if (strcmp(vars[k].name, pt->text) == 0)
                break;
        if (k == n_vars) {
            hale_diag_set(reterr, "prompt %s: variable '%s' has no value", p->id, pt->text);
            r = HALE_ECONFIG;
        } else {
            r = hale__prompt_data_section(rs, pt->text, vars[k].value ? vars[k].value : "",
                                          vars[k].value ? vars[k].len : 0, &out);
        }
    }
    if (r == 0)
        r = hale_buf_reserve(&out, 1); /* data exists even for an empty rendering */
    if (r < 0) {
        if (r != HALE_ECONFIG)
            hale_diag_set(reterr, "prompt %s: cannot render: %s (nothing is sent)", p->id,
                          r == HALE_ELIMIT ? "a redaction or size limit was hit"
                                           : hale_strerror(r));
        hale_buf_release(&out);
        return r;
    }
    if (ret_sha256)
        hale_sha256(&(hale_sha256_part){out.data, out.len}, 1, ret_sha256);
    *ret_len = out.len;
    *ret = hale_buf_detach(&out, NULL);
    return 0;
}
