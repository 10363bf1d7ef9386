"""The medseglab dashboard (Dash): ``dashboards.app.create_app(uri)``; one module per page in ``pages/``.

Started by ``medseglab dashboard``; figures come from ``medseglab.dashboard.figures`` and every read
of MLflow goes through ``medseglab.dashboard.data`` (which uses ``medseglab.tracking`` only).
"""
