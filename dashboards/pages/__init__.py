"""One module per dashboard page (``dash.register_page``)."""
