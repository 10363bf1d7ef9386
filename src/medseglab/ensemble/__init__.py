"""ensemble stage: Algorithm 1 (SPEC 7) with ground truth on a study's test sets, and without it
through `predict` and a human review queue (docs/ENSEMBLE.md).

Modules: `algorithm` (the rule, pure and vectorised), `summary` (counts, Dice gain, Wilcoxon),
`source` (a study's runs -> choice table), `report` (files and the study run's artifacts),
`predict` (new images -> four candidate masks), `queue` (the SQLite review queue), `estimator` (each
candidate's Dice estimated without ground truth), `estimation` (estimated vs oracle choice), `cli`.
"""

from medseglab.ensemble.names import BRANCHES, CANDIDATES  # noqa: F401
