"""splits stage: the five 80:20 train:test sets of a dataset and their depletion chains (SPEC 2).

Method (all draws from one seeded generator, over whole groups = patients/cases, so a group_id is
never on both sides of a split):

1. K-fold (K = ``n_splits``): groups are dealt into K folds balanced in size and clinical label.
2. Random subsampling: test set k keeps a random core of fold k (``test_fraction - overlap / K``
   of the images) and borrows ``overlap / K`` more, drawn at random from the other sets' cores;
   a group is borrowed at most once.
   Result: each test set holds ``test_fraction`` (20%) of the images; ``overlap`` (default 20%) of
   all images are in exactly two test sets, none in three or more (so none common to all five),
   and as many sit out of every test set. ``overlap = 0`` gives plain group K-fold.
3. Depletion: from each chosen 80:20 set, random groups move from train to test to reach 60%,
   then from that train set 40%, 20%, 10% (train sets nested, test sets growing).

Sizes hold within group granularity (a group is never cut). A dataset with fewer groups than
``n_splits`` cannot be split and raises `DataError`.

Output format: docs/ARCHITECTURE.md "Splits". API: `make_splits`, `write_splits`, `load_splits`,
`train_test_ids`; reports: `split_report`, `split_overlap`, `overlap_summary`.
"""

from medseglab.splits.build import DEFAULT_OVERLAP, check_split_params, make_splits
from medseglab.splits.report import overlap_summary, set_sizes, split_overlap, split_report
from medseglab.splits.store import load_splits, splits_hash, train_test_ids, write_splits

__all__ = [
    "DEFAULT_OVERLAP",
    "check_split_params",
    "load_splits",
    "make_splits",
    "overlap_summary",
    "set_sizes",
    "split_overlap",
    "split_report",
    "splits_hash",
    "train_test_ids",
    "write_splits",
]
