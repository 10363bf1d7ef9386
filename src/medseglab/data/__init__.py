"""data stage: importers of the real (or synthetic) datasets -> the prepared dataset format.

    from medseglab.data import prepare_dataset, load_prepared, ensure_prepared
    prepare_dataset(cfg, "data/prepared/skin")     # cfg = medseglab.config.resolve(params, "skin")
    ds = load_prepared("data/prepared/skin"); ds.load_images(ds.ids[:4])

Formats: see docs/DATA.md and `medseglab.data.registry.FORMATS`.
"""

from medseglab.data.errors import DataError
from medseglab.data.prepare import prepare_dataset
from medseglab.data.prepared import PreparedDataset, ensure_prepared, load_prepared, prepared_dir_for
from medseglab.data.registry import FORMATS, get_format, register_format

__all__ = [
    "DataError",
    "FORMATS",
    "PreparedDataset",
    "ensure_prepared",
    "get_format",
    "load_prepared",
    "prepare_dataset",
    "prepared_dir_for",
    "register_format",
]
