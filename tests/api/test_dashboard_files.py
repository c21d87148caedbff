"""The dashboard's page and files: public, local, and locked to the API's own origin."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_the_page_and_its_files_are_served_without_credentials(client: TestClient) -> None:
    page = client.get("/", auth=None)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert sorted(assets) == ["/dashboard/app.js", "/dashboard/style.css"]
    for path in assets:
        answer = client.get(path, auth=None)
        assert answer.status_code == 200, path
    script = client.get("/dashboard/app.js", auth=None)
    assert "javascript" in script.headers["content-type"]
    # Nothing is loaded from another site.
    assert "http://" not in script.text and "https://" not in script.text
    assert client.get("/dashboard/../manager/settings.py", auth=None).status_code == 404
