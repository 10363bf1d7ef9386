"""The Registry page's reads and its one write, through ``medseglab.tracking.registry``.

Promoting from the dashboard points an alias (``champion`` / ``challenger``) at an existing version of a
registered model; the registry records what it replaced and appends the move to the model's history
(the same bookkeeping as ``medseglab promote``)."""

from __future__ import annotations

import pandas as pd

from medseglab.errors import UserError

ALIASES = ("champion", "challenger")


def models(uri: str) -> pd.DataFrame:
    from medseglab.tracking import registry

    return registry.list_registered_models(uri=uri)


def versions(uri: str, name: str) -> pd.DataFrame:
    from medseglab.tracking import registry

    return registry.list_versions(name, uri=uri)


def promote(uri: str, name: str, version: int | str, alias: str) -> str:
    """Point ``alias`` of ``name`` at ``version``; returns what changed, in one line."""
    from medseglab.tracking import registry
    from medseglab.tracking.store import open_client

    if alias not in ALIASES:
        raise UserError(f"alias {alias!r}: choose one of {', '.join(ALIASES)}")
    client = open_client(uri=uri)
    target = registry.get_version(name, int(version), uri=uri)
    if target is None:
        raise UserError(f"{name} has no version {version}")
    actions: list[str] = []
    registry._set_alias(client, name, alias, target, {"study_run_id": target.tags.get("medseglab.study_run_id"),
                                                      "run_id": target.run_id, "by": "dashboard"}, False, actions)
    return "; ".join(actions)
