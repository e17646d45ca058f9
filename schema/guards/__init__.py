"""The request guards: what refuses a GraphQL document before any resolver runs, in the order
they run.

1. `limits.FieldLimit`, right after parsing: the document is expanded once (`walk.expand`:
   each fragment's selections made once, however often it is spread) and refused when too many
   fields, too deep, or too many overlapping fields (`overlaps`) once expanded.
2. Validation, with the depth, alias and introspection rules and a per-schema work budget for
   the overlap rule (`limits.LimitRules`).
3. `node_estimate`, once the operation and its variables are known: the nodes it may return,
   with a mutation's page arguments checked on the way (`mutation_pages`).
4. `preflight`, for a mutation document of several fields: every field's command is checked
   before the first write.

Every guard after the first walks the one expansion the first made (kept on the request's
`Context`); none looks up a fragment or guards against fragment cycles itself.
"""
