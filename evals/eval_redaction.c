/* evals/eval_redaction.c - quality of the redactor on the labelled corpus in evals/redaction/.
 * For every record the redactor runs in a fresh session; a labelled span counts as found when
 * findings cover all of its bytes and its value no longer appears in the output. Prints recall
 * per entity type, precision (findings that touch a labelled span), and the share of negative
 * records that came out byte for byte. Exit status 1 when a target in docs/redaction.md is
 * missed. Usage: eval_redaction [--rules FILE] [--corpus FILE] [-v] */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/redact.h"

#define MAX_TYPES 32

struct tally {
    char type[32]; /* label type */
    size_t labels; /* labelled spans */
    size_t found;  /* spans fully covered and not leaked */
    size_t leaked; /* value still present in the output */
};

struct eval {
    struct tally t[MAX_TYPES]; /* per label type */
    size_t n_types;            /* entries in t */
    size_t findings;           /* all findings */
    size_t true_findings;      /* findings overlapping a labelled span */
    size_t negatives;          /* records without labels */
    size_t negatives_intact;   /* of them, output identical to input */
    size_t records;            /* records read */
    bool verbose;              /* print every miss and false positive */
};

static struct tally *tally_for(struct eval *e, const char *type)
{
    for (size_t i = 0; i < e->n_types; i++)
        if (strcmp(e->t[i].type, type) == 0)
            return &e->t[i];
    if (e->n_types == MAX_TYPES)
        return NULL;
    snprintf(e->t[e->n_types].type, sizeof(e->t[0].type), "%s", type);
    return &e->t[e->n_types++];
}

static bool covered(const hale_redact_result *res, size_t start, size_t end)
{
    size_t at = start;

    for (size_t i = 0; i < res->n_findings && at < end; i++) {
        const hale_redact_finding *f = &res->findings[i];

        if (f->offset <= at && f->offset + f->length > at)
            at = f->offset + f->length;
    }
    return at >= end;
}

static bool contains(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; k && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

static void score_labels(struct eval *e, const json_t *spans, const char *text,
                         const hale_redact_result *res)
{
    size_t i;
    json_t *sp;

    json_array_foreach(spans, i, sp)
    {
        size_t start = (size_t)json_integer_value(json_object_get(sp, "start"));
        size_t end = (size_t)json_integer_value(json_object_get(sp, "end"));
        struct tally *t = tally_for(e, json_string_value(json_object_get(sp, "type")));
        bool leak = contains(res->text, res->len, text + start, end - start);
        bool ok = covered(res, start, end) && !leak;

        if (!t)
            continue;
        t->labels++;
        t->found += ok;
        t->leaked += leak;
        if (!ok && e->verbose)
            printf("MISS %s: %.*s\n  in: %s\n", t->type, (int)(end - start), text + start, text);
    }
    for (size_t f = 0; f < res->n_findings; f++) {
        const hale_redact_finding *fd = &res->findings[f];
        bool hit = false;

        json_array_foreach(spans, i, sp)
        {
            size_t start = (size_t)json_integer_value(json_object_get(sp, "start"));
            size_t end = (size_t)json_integer_value(json_object_get(sp, "end"));

            hit |= fd->offset < end && fd->offset + fd->length > start;
        }
        e->findings++;
        e->true_findings += hit;
        if (!hit && e->verbose)
            printf("FP %s (%s): %.*s\n  in: %s\n", fd->type, fd->rule_id, (int)fd->length,
                   text + fd->offset, text);
    }
}

static int eval_record(struct eval *e, const hale_redact *rules, const char *line)
{
    hale_redact_result res = {0};
    hale_redact_session *s = NULL;
    json_error_t jerr;
    json_t *rec = json_loads(line, 0, &jerr);
    const char *text;
    json_t *spans;
    size_t len;
    int r;

    if (!rec)
        return fprintf(stderr, "corpus line %zu: %s\n", e->records + 1, jerr.text), -1;
    text = json_string_value(json_object_get(rec, "text"));
    spans = json_object_get(rec, "spans");
    if (!text || !json_is_array(spans)) {
        json_decref(rec);
        return fprintf(stderr, "corpus line %zu: needs text and spans\n", e->records + 1), -1;
    }
    len = strlen(text);
    r = hale_redact_session_new(rules, &s);
    if (r >= 0)
        r = hale_redact_apply(s, text, len, &res);
    if (r < 0) {
        fprintf(stderr, "corpus line %zu: redaction failed: %s\n", e->records + 1,
                hale_strerror(r));
    } else {
        e->records++;
        score_labels(e, spans, text, &res);
        if (json_array_size(spans) == 0) {
            e->negatives++;
            e->negatives_intact += res.len == len && memcmp(res.text, text, len) == 0;
        }
    }
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    json_decref(rec);
    return r < 0 ? -1 : 0;
}

static double pct(size_t a, size_t b)
{
    return b ? 100.0 * (double)a / (double)b : 100.0;
}

/* Print the table; returns true when every target is met. */
static bool report(const struct eval *e)
{
    size_t labels = 0, found = 0;
    bool ok = true;

    printf("%-12s %7s %7s %7s %8s\n", "type", "labels", "found", "leaked", "recall");
    for (size_t i = 0; i < e->n_types; i++) {
        const struct tally *t = &e->t[i];
        bool strict = strcmp(t->type, "PRIVATE_KEY") == 0 || strcmp(t->type, "CLOUD_KEY") == 0 ||
                      strcmp(t->type, "TOKEN") == 0;

        printf("%-12s %7zu %7zu %7zu %7.2f%%%s\n", t->type, t->labels, t->found, t->leaked,
               pct(t->found, t->labels), strict ? "  (target 100%)" : "");
        ok &= !strict || t->found == t->labels;
        labels += t->labels;
        found += t->found;
    }
    printf("%-12s %7zu %7zu %7s %7.2f%%  (target 99%%)\n", "overall", labels, found, "",
           pct(found, labels));
    printf("precision    %zu of %zu findings touch a labelled span: %.2f%%\n", e->true_findings,
           e->findings, pct(e->true_findings, e->findings));
    printf("negatives    %zu of %zu records untouched: %.2f%%  (target 99%%)\n",
           e->negatives_intact, e->negatives, pct(e->negatives_intact, e->negatives));
    printf("records      %zu\n", e->records);
    ok &= pct(found, labels) >= 99.0 && pct(e->negatives_intact, e->negatives) >= 99.0;
    printf("targets      %s\n", ok ? "met" : "MISSED");
    return ok;
}

int main(int argc, char **argv)
{
    const char *rules_path = HALE_SOURCE_DIR "/policies/redact/rules.json";
    const char *corpus = HALE_SOURCE_DIR "/evals/redaction/corpus.jsonl";
    struct eval e = {0};
    hale_redact *rules = NULL;
    hale_diag diag = {{0}};
    char *line = NULL;
    size_t cap = 0;
    FILE *f;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            rules_path = argv[++i];
        else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
            corpus = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            e.verbose = true;
        else
            return fprintf(stderr, "usage: eval_redaction [--rules FILE] [--corpus FILE] [-v]\n"),
                   2;
    }
    if (hale_redact_load(rules_path, &rules, &diag) < 0)
        return fprintf(stderr, "eval_redaction: %s\n", diag.msg), 2;
    f = fopen(corpus, "r");
    if (!f) {
        hale_redact_free(rules);
        return fprintf(stderr, "eval_redaction: cannot open '%s'\n", corpus), 2;
    }
    while (getline(&line, &cap, f) > 0)
        failed |= eval_record(&e, rules, line) < 0;
    free(line);
    fclose(f);
    hale_redact_free(rules);
    printf("rules %s\ncorpus %s\n\n", rules_path, corpus);
    return report(&e) && !failed ? 0 : 1;
}
