"""The leaderboard page in a real headless Chromium (`make test-browser`): the table sorts on a
click, the plots render, the page logs no errors. Needs Debian's chromium and chromium-driver and
the `selenium` package (the `browser` extra); skipped without them."""

import os
import shutil
import tempfile

import pytest

from tests.test_report_html import site  # noqa: F401  (the page built from known times)

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1200,1600"]


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are not installed (make test-browser installs them)")
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def order(driver):
    rows = driver.find_elements("css selector", "#leaderboard tbody tr")
    return [row.find_elements("tag name", "td")[0].text for row in rows]


def header(driver, name):
    (match,) = [h for h in driver.find_elements("css selector", "#leaderboard thead th")
                if h.text.split(" ")[0] == name]
    return match


def test_sorting_a_column_reorders_the_rows(site, browser):  # noqa: F811
    page, _, _ = site
    browser.get(page.as_uri())
    assert order(browser) == ["fast", "slow"]  # by score, as written
    header(browser, "score").click()  # ascending: the lower score first
    assert order(browser) == ["slow", "fast"]
    assert header(browser, "score").get_attribute("aria-sort") == "ascending"
    header(browser, "tiny2").click()  # fast 4.25 s before slow's miss (infinite)
    assert order(browser) == ["fast", "slow"]
    header(browser, "tiny2").click()
    assert order(browser) == ["slow", "fast"]
    assert header(browser, "tiny2").get_attribute("aria-sort") == "descending"
    header(browser, "submission").click()
    assert order(browser) == ["fast", "slow"]


def test_plots_render(site, browser):  # noqa: F811
    page, _, _ = site
    browser.get(page.as_uri())
    svg = browser.find_element("css selector", "#profile + .plot svg")
    assert svg.size["width"] > 200 and svg.size["height"] > 100
    images = browser.find_elements("css selector", ".plot img")
    assert len(images) == 2
    for image in images:
        width = browser.execute_script(
            "return arguments[0].complete ? arguments[0].naturalWidth : 0", image)
        assert width > 200 and image.size["height"] > 100
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    screenshot = os.environ.get("BENCH_SCREENSHOT")
    if screenshot:
        browser.save_screenshot(screenshot)
