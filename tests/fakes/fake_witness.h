/* tests/fakes/fake_witness.h - a c2sp.org/tlog-witness stand-in on 127.0.0.1: it serves
 * POST /add-checkpoint on its own thread, keeps the latest cosigned (size, root) of the one log
 * it first hears from, checks the old size (409 with text/x.tlog.size), the consistency proof
 * (422) and a same-size root (409), and answers with a cosignature/v1 line. It checks that the
 * checkpoint carries a signature line named after its origin but not the log's signature
 * itself: hale's key rotates every epoch, and the witness's job here is append-only checking. */
#pragma once
#include <stdint.h>

typedef struct fake_witness fake_witness;

/* Start a witness called name with the Ed25519 key derived from seed. Returns 0 or -errno. */
int fake_witness_start(const char *name, const uint8_t seed[32], fake_witness **ret);
uint16_t fake_witness_port(const fake_witness *w);
void fake_witness_pubkey(const fake_witness *w, uint8_t pk[32]);
/* The size it cosigned last (0: none), and its root into root (may be NULL). */
uint64_t fake_witness_size(fake_witness *w, uint8_t root[32]);
unsigned fake_witness_cosigned(fake_witness *w); /* 200 answers */
unsigned fake_witness_refused(fake_witness *w);  /* 4xx answers */
void fake_witness_stop(fake_witness *w);         /* NULL is a no-op */
