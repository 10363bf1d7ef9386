"""dashboard stage: what the Dash app in ``dashboards/`` stands on, importable and tested on its own.

- ``data``: cached reads of a tracking store, through ``medseglab.tracking`` only;
- ``figures``: Plotly figures and pictures, pure functions of tables and arrays;
- ``images``: the image route's PNG thumbnails (artifact files and pictures made from array artifacts);
- ``safety``: loopback binding, the token, artifact paths that cannot leave a run's artifacts;
- ``registry``: the Registry page's reads and its promote action;
- ``serve``: build the app and run it (``medseglab dashboard``).
"""
