"""The first layout a tab asks for already holds the page it opened (dashboards.app._page_container), so
Dash's router does not run before the page's own callbacks; without a usable Referer the router does."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def client(fake_store, tmp_path):
    from dashboards.app import create_app

    app = create_app(fake_store["uri"], queue_path=tmp_path / "review.db", warm=False)
    return app.server.test_client()


def _find(node, component_id: str):
    """The component ``component_id`` in a layout as Dash serves it (JSON), or None."""
    if isinstance(node, list):
        return next((found for item in node if (found := _find(item, component_id)) is not None), None)
    if not isinstance(node, dict):
        return None
    props = node.get("props", {})
    if props.get("id") == component_id:
        return node
    return _find(props.get("children"), component_id)


def _layout(get, client, referrer: str | None) -> dict:
    response = get(client, "/_dash-layout", {"Referer": referrer} if referrer else None)
    assert response.status_code == 200
    return json.loads(response.data)


def test_the_page_of_the_tabs_url_is_in_its_first_layout_else_the_router_fills_it(client, in_app_get):
    layout = _layout(in_app_get, client, "http://localhost/image?image=img03#metrics")
    location = _find(layout, "_pages_location")["props"]
    assert (location["pathname"], location["search"], location["hash"]) == ("/image", "?image=img03", "#metrics")
    # the image page's layout, called with the query as Dash's router calls it
    assert _find(layout, "image-select")["props"]["value"] == "img03"
    assert _find(layout, "_pages_store")["props"]["data"] == {"title": "medseglab: image"}
    assert _find(_layout(in_app_get, client, "http://localhost/ensemble"), "ensemble-choices") is not None
    assert _find(_layout(in_app_get, client, "http://localhost/"), "studies-table") is not None
    # without a Referer, for a path no page has, or from another origin: Dash's router fills the container
    for referrer in (None, "http://localhost/no-such-page", "http://elsewhere.example/ensemble"):
        layout = _layout(in_app_get, client, referrer)
        assert _find(layout, "_pages_location")["props"].get("pathname") is None, referrer  # set as it mounts
        assert not _find(layout, "_pages_content")["props"].get("children"), referrer
        assert _find(layout, "study-select") is not None
