"""`gleason2019`: prostate TMA cores + one Gleason grade map per pathologist.

Layout: core images ``<source>/Train Imgs/<core>.jpg`` (or ``<source>/<core>.jpg``), grade maps
``<source>/Maps<k>_T/<core>_classimg_nonconvex.png`` (k = pathologist 1..6; also found under
``<source>/Maps/``). A map pixel is a Gleason grade 0-5 (some releases also use 6 for "other",
counted as not tumour). Each pathologist's map is first made binary (grade 3, 4, 5 -> tumour),
then the maps of one core are combined per pixel (option ``combine``):

- ``majority`` (default): tumour when at least half of the core's pathologists say so
  (a tie counts as tumour: with two readers who disagree, the region is kept);
- ``union``: any pathologist; ``intersection``: all of them;
- ``any_N``: at least N pathologists (all of them when the core has fewer than N maps);
- ``pathologist_K``: only pathologist K's map (a core without it is an error).

Clinical label: ``tumor`` / ``no tumor`` from the combined, prepared mask.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from medseglab.config import ConfigError
from medseglab.data.errors import DataError
from medseglab.data.records import Record, check_same_size, missing_pairs_error, read_label_map, read_rgb
from medseglab.data.registry import ImportContext, register_format

MAP_SUFFIX = "_classimg_nonconvex.png"
MAP_DIR = re.compile(r"^Maps(\d+)_T$")
TUMOUR_GRADES = (3, 4, 5)
MAX_VALUE = 6


def parse_combine(value, key: str) -> tuple[str, int | None]:
    text = str(value or "majority").strip().lower()
    if text in ("majority", "union", "intersection"):
        return text, None
    match = re.fullmatch(r"(any|pathologist)_(\d+)", text)
    if match and int(match.group(2)) >= 1:
        return match.group(1), int(match.group(2))
    raise ConfigError(
        f"{key} = {value!r}: not a combination; use majority, union, intersection, any_N "
        "(at least N pathologists, e.g. any_2) or pathologist_K (only map K, e.g. pathologist_1)"
    )


def combine_maps(tumour: np.ndarray, method: str, n: int | None) -> np.ndarray:
    """tumour: bool (readers, H, W) -> uint8 (H, W) {0,1}; `pathologist` is chosen by the caller."""
    votes = tumour.sum(axis=0)
    readers = tumour.shape[0]
    if method == "majority":
        need = (readers + 1) // 2  # ceil(readers / 2): ties -> tumour
    elif method == "union":
        need = 1
    elif method == "intersection":
        need = readers
    elif method == "any":
        need = min(n, readers)
    else:  # pathologist: a single map
        need = 1
    return (votes >= need).astype(np.uint8)


def find_map_dirs(source: Path) -> dict[int, Path]:
    dirs: dict[int, Path] = {}
    for base in (source, source / "Maps"):
        if not base.is_dir():
            continue
        for child in base.iterdir():
            match = MAP_DIR.match(child.name)
            if match and child.is_dir():
                dirs.setdefault(int(match.group(1)), child)
    return dict(sorted(dirs.items()))


def grade_map(path: Path) -> np.ndarray:
    grades = read_label_map(path)
    bad = np.unique(grades[(grades > MAX_VALUE)]) if grades.size else []
    if len(bad):
        raise DataError(
            f"{path}: values {', '.join(str(v) for v in bad[:6])} are not Gleason grades; a grade map has "
            "0-5 per pixel (0 background, 3-5 tumour): re-export the map from the Gleason2019 release"
        )
    return np.isin(grades, TUMOUR_GRADES)


def core_loader(image_path: Path, maps: list[Path], method: str, n: int | None):
    def load(size):
        image, on_disk = read_rgb(image_path, draft_size=size)
        tumour = []
        for path in maps:
            binary = grade_map(path)
            check_same_size(on_disk, binary.shape, image_path, path)
            tumour.append(binary)
        return image, combine_maps(np.stack(tumour), method, n)

    return load


@register_format(
    "gleason2019",
    options={"combine": "majority"},
    layout="<source>/Train Imgs/<core>.jpg + <source>/Maps1_T..Maps6_T/<core>_classimg_nonconvex.png",
)
def import_gleason2019(ctx: ImportContext):
    method, n = parse_combine(ctx.options["combine"], ctx.option_key("combine"))
    images_dir = ctx.source / "Train Imgs"
    if not images_dir.is_dir():
        images_dir = ctx.source
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    if not images:
        raise DataError(
            f"{images_dir}: no core images (.jpg) found; the gleason2019 format expects "
            "<source>/Train Imgs/<core>.jpg (or the .jpg files directly in the source folder)"
        )
    map_dirs = find_map_dirs(ctx.source)
    if not map_dirs:
        raise DataError(
            f"{ctx.source}: no Maps<k>_T folders found; the gleason2019 format expects the pathologists' "
            "grade maps in <source>/Maps1_T .. Maps6_T (as in the official release)"
        )
    maps_of: dict[str, dict[int, Path]] = {}
    for reader, folder in map_dirs.items():
        for path in sorted(folder.glob(f"*{MAP_SUFFIX}")):
            maps_of.setdefault(path.name[: -len(MAP_SUFFIX)], {})[reader] = path
    no_map = sorted(str(images[c]) for c in images if c not in maps_of)
    if no_map:
        raise missing_pairs_error(
            "image without mask", no_map, ", ".join(str(d) for d in map_dirs.values()),
            f"add at least one pathologist's <core>{MAP_SUFFIX} for it or remove the core image",
        )
    no_image = sorted(str(p) for c, m in maps_of.items() if c not in images for p in m.values())
    if no_image:
        raise missing_pairs_error("mask without image", no_image, str(images_dir),
                                  "add the core's .jpg image or remove its grade maps")
    ctx.details.update(
        combine=f"{method}_{n}" if n is not None else method,
        majority_ties="tumour" if method == "majority" else None,
        tumour_grades=list(TUMOUR_GRADES),
        pathologists=sorted(map_dirs),
        maps_per_core={str(k): int(v) for k, v in zip(*np.unique([len(m) for m in maps_of.values()], return_counts=True))},
    )
    for core in sorted(images):
        readers = maps_of[core]
        if method == "pathologist":
            if n not in readers:
                raise DataError(
                    f"{images[core]}: pathologist {n} did not annotate this core (no Maps{n}_T/{core}{MAP_SUFFIX}); "
                    f"set {ctx.option_key('combine')} to majority, or to a pathologist who annotated every core"
                )
            readers = {n: readers[n]}
        paths = [readers[k] for k in sorted(readers)]
        yield Record(
            image_id=core,
            group_id=core,
            clinical_label=None,
            label_from_mask=("tumor", "no tumor"),
            source_image=str(images[core]),
            source_mask=";".join(str(p) for p in paths),
            load=core_loader(images[core], paths, method, n),
        )
