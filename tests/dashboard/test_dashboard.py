"""The built-in dashboard in a real headless Chromium, against a real API and worker: log in,
upload a blueprint, deploy, install, watch the progress reach 100% and read the events.

Screenshots of each step are saved under tests/artifacts/dashboard/ (git-ignored). The test
is skipped only where no Chromium is installed, and never in CI (`.ci/run` installs
Debian's chromium; there a missing browser is a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.uploads import cfy_archive
from tests.conftest import BACKENDS
from tests.engine.blueprints import TRACING_FILES
from tests.engine.conftest import own_stack
from tests.engine.stack import PASSWORD, Stack

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
# Long enough for a cold worker to build its first script environment on a busy machine.
WAIT_MS = 120_000


def chromium() -> str:
    """The Chromium to drive: QD_TEST_CHROMIUM, else Debian's."""
    for candidate in (os.environ.get("QD_TEST_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and shutil.which(candidate):
            return candidate
    if os.environ.get("CI"):
        pytest.fail("no Chromium in CI: .ci/run installs Debian's chromium package")
    pytest.skip("no Chromium here (apt-get install chromium, or set QD_TEST_CHROMIUM)")


@pytest.fixture(params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("dashboard")
    with own_stack(request.param, root, redis_url, workers=1) as stack:
        yield stack


def test_the_whole_dashboard_flow(
    served: Stack, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    executable = chromium()
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / request.node.callspec.id
    shots.mkdir(parents=True, exist_ok=True)
    name = f"ui-{uuid.uuid4().hex[:6]}"
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(cfy_archive(TRACING_FILES))
    inputs = {"trace_file": str(tmp_path / "trace.txt"), "db_count": 2}

    other_tenant = f"ui-tenant-{uuid.uuid4().hex[:6]}"
    created = served.client.post(f"/tenants/{other_tenant}")
    assert created.status_code in (200, 201), created.text

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        expect.set_options(timeout=WAIT_MS)
        try:
            page.goto(served.url + "/")
            expect(page.locator("#who")).to_be_hidden()
            page.screenshot(path=shots / "1-login.png")

            # A wrong password is refused, the right one lets us in.
            page.fill("#login input[name=password]", "not-the-password")
            page.click("#login button[type=submit]")
            expect(page.locator("#login-error")).to_contain_text("wrong username or password")
            problems.clear()  # the browser logs the 401 it got
            page.fill("#login input[name=password]", PASSWORD)
            page.click("#login button[type=submit]")
            expect(page.locator("#deployments")).to_be_visible()
            expect(page.locator("#tenant")).to_have_value("default_tenant")

            # Upload the blueprint.
            page.click("text=Blueprints")
            page.fill("#upload input[name=id]", name)
            page.set_input_files("#upload input[name=file]", str(archive))
            page.click("#upload button[type=submit]")
            row = page.locator(f"#blueprints tr[data-id='{name}']")
            expect(row.locator(".status")).to_have_attribute("data-status", "uploaded")
            page.screenshot(path=shots / "2-blueprint.png", full_page=True)

            # Deploy it with inputs.
            page.click("text=Deployments")
            page.fill("#create-deployment input[name=id]", name)
            page.select_option("#create-deployment select[name=blueprint]", name)
            page.fill("#create-deployment textarea[name=inputs]", json.dumps(inputs))
            page.click("#create-deployment button[type=submit]")
            deployment = page.locator(f"#deployments tr[data-id='{name}']")
            expect(deployment).to_be_visible()
            page.screenshot(path=shots / "3-deployment.png", full_page=True)

            # Install, and follow it on the execution's page.
            deployment.locator("button.install").click()
            expect(page.locator("#progress")).to_be_visible()
            expect(page.locator("#events li").first).to_be_visible()
            page.screenshot(path=shots / "4-running.png", full_page=True)
            expect(page.locator("#progress")).to_have_attribute("data-percent", "100")
            expect(page.locator("#view")).to_have_attribute("data-ended", "true")
            expect(page.locator("#execution-head .status")).to_have_attribute(
                "data-status", "terminated"
            )
            expect(page.locator("#events li[data-event-type=workflow_succeeded]")).to_have_count(1)
            expect(page.locator("#graph .op[data-state=succeeded]").first).to_be_visible()
            expect(page.locator("#graph .op:not([data-state=succeeded])")).to_have_count(0)
            page.screenshot(path=shots / "5-installed.png", full_page=True)

            # The page shows what the API stored: every event, in order.
            execution_id = page.url.rsplit("/", 1)[-1]
            stored = served.events(execution_id)
            expect(page.locator("#events li")).to_have_count(len(stored))
            shown = page.locator("#events li").all_inner_texts()
            assert [text.rsplit(" ", 1)[-1] for text in shown] == [
                e["message"].rsplit(" ", 1)[-1] for e in stored
            ]
            execution = served.client.get(f"/executions/{execution_id}").json()
            assert execution["status"] == "terminated"
            expect(page.locator("#cancel")).to_be_disabled()

            # The deployments list shows the latest execution.
            page.click("text=Deployments")
            expect(deployment.locator("a .status")).to_have_attribute("data-status", "completed")
            expect(deployment.locator(".dep-status .status")).to_have_attribute(
                "data-status", "active"
            )
            page.screenshot(path=shots / "6-deployments.png", full_page=True)

            # Another tenant shows its own (no) deployments; switching back shows ours.
            page.select_option("#tenant", other_tenant)
            expect(page.locator("#deployments")).to_be_visible()
            expect(deployment).to_have_count(0)
            page.select_option("#tenant", "default_tenant")
            expect(deployment).to_be_visible()

            # Uninstall with a parameter, from the same row.
            deployment.locator("textarea[name=parameters]").fill('{"ignore_failure": true}')
            deployment.locator("button.uninstall").click()
            expect(page.locator("#execution-head")).to_contain_text("uninstall")
            expect(page.locator("#view")).to_have_attribute("data-ended", "true")
            expect(page.locator("#execution-head .status")).to_have_attribute(
                "data-status", "terminated"
            )
            expect(page.locator("#progress")).to_have_attribute("data-percent", "100")
            expect(page.locator("#resume")).to_be_disabled()
            page.screenshot(path=shots / "7-uninstalled.png", full_page=True)
            uninstall = served.client.get(f"/executions/{page.url.rsplit('/', 1)[-1]}").json()
            assert uninstall["workflow_id"] == "uninstall"
            assert uninstall["parameters"]["ignore_failure"] is True
            assert problems == []
        finally:
            browser.close()
