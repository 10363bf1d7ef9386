"""Names of Algorithm 1's candidates and branches (no heavy imports: the CLI uses them)."""

# Tie-breaking order too: the single models before their combinations.
CANDIDATES = ("lmi", "tii", "union", "intersection")
BRANCHES = ("all_above", "all_below", "mixed", "empty_gt")
