"""Names of Algorithm 1's candidates and branches (no heavy imports: the CLI uses them)."""

from medseglab.names import CANDIDATES  # noqa: F401  (defined once, with the inits, in medseglab.names)

BRANCHES = ("all_above", "all_below", "mixed", "empty_gt")
