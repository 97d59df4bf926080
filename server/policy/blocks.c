/* The block table: every key of spec.mutate and spec.validate, in the order the
 * document compiler compiles them and the decider runs them (mutators before
 * validators; within a phase, this order). A new block is one block_*.c file that
 * defines its pol_block row, plus its name here (docs/architecture.md). */
#include "policy_int.h"

/* each defined by its block_*.c */
extern const pol_block pol_block_harden, pol_block_gpu, pol_block_mutations, pol_block_pss, pol_block_images,
    pol_block_secrets, pol_block_rbac, pol_block_aim, pol_block_rules;

const pol_block *const pol_blocks[] = {
    &pol_block_harden,  /* spec.mutate.securityContext */
    &pol_block_gpu,     /* spec.mutate.gpu */
    &pol_block_mutations, /* spec.mutate.rules (block_mutations.c) */
    &pol_block_pss,     /* spec.validate.podSecurity */
    &pol_block_images,  /* spec.validate.images */
    &pol_block_secrets, /* spec.validate.secrets */
    &pol_block_rbac,    /* spec.validate.rbac (with clusterReferences, block_cluster_refs.c) */
    &pol_block_aim,     /* spec.validate.aim */
    &pol_block_rules,   /* spec.validate.rules */
    NULL,
};
