"""The searchset Bundle every FHIR search answers with (pure)."""

from __future__ import annotations

from typing import Any


def searchset(self_url: str, base: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``searchset`` Bundle of ``resources`` (each with ``resourceType`` and ``id``), every entry a match, its
    ``fullUrl`` under ``base`` (the /fhir root); ``self_url``: the search as asked."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"{base}/{res['resourceType']}/{res['id']}",
                "resource": res,
                "search": {"mode": "match"},
            }
            for res in resources
        ],
    }
