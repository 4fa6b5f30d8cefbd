"""report.html in a real headless browser (Debian's chromium driven by Playwright): it loads offline, every plot
and rollout video is there and decodes, and the console stays clean."""

import shutil

import pytest

from vla_flywheel.flywheel.layout import RunLayout

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup_browser.sh installs it)")
def test_report_opens_in_a_headless_browser_with_every_plot_and_video(filtered_bc_run):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    run = RunLayout(filtered_bc_run)
    previews = len(list((run.round_data(1) / "preview").glob("*.gif")))
    eval_videos = len(list(run.root.glob("eval/round-*/videos/*.gif")))
    assert previews > 0 and eval_videos > 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto(run.report.as_uri())
        assert page.locator("svg.success-plot").count() == 1
        assert page.locator("svg.budget-plot").count() == 1
        assert page.locator("table.rounds tr").count() == 3  # header + base + round 1
        assert page.locator("table.judge-confusion tr").count() == 2
        widths = page.evaluate("Array.from(document.querySelectorAll('img.rollout-video')).map(i => i.naturalWidth)")
        assert len(widths) == previews + eval_videos and all(w > 0 for w in widths)
        band = page.evaluate("document.querySelector('svg.success-plot polygon').getBBox().height")
        assert band > 0  # the confidence band is drawn, not an empty shape
        browser.close()
    assert errors == []
