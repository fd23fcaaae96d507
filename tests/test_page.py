"""The page at GET /, in a real browser: Debian's headless Chromium, driven by Selenium, through the local API.

Where Chromium is not installed (`apt-get install chromium chromium-driver`) these tests are skipped, except
under CI (REQUIRE_BROWSER=1), where that is a failure.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from scripts import gateway
from tests.conftest import IMAGES, LABELS, ROOT, label_of
from tests.test_gateway import INVOCATIONS, running

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "build" / "page.png"  # docs/page.png is a copy of one


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("Chromium is not installed: apt-get install chromium chromium-driver")
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No sandbox as root; no calls home, which a closed network refuses.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=900,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    browser.get(url + "/")
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.ID, "file")))


def first_bar(browser) -> str:
    """The first scored class's label, once the answer is shown."""
    items = WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_all_elements_located((By.CSS_SELECTOR, "#scores li")))
    return items[0].find_element(By.CSS_SELECTOR, "span").text


@pytest.mark.parametrize("name", ["pants-1.jpg", "shoes-2.jpg"])
def test_a_chosen_photo_shows_its_class_as_the_first_bar(served, browser, name):
    open_page(browser, served.api_url)
    browser.find_element(By.ID, "file").send_keys(str(IMAGES / name))
    assert first_bar(browser) == label_of(IMAGES / name)
    bars = browser.find_elements(By.CSS_SELECTOR, "#scores li")
    assert len(bars) == 10
    percents = [float(bar.find_element(By.CLASS_NAME, "value").text.rstrip("%")) for bar in bars]
    assert percents == sorted(percents, reverse=True)
    assert "Answered in" in browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "preview").is_displayed()
    assert browser.find_element(By.ID, "error").text == ""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))


def test_a_refused_url_shows_the_functions_words(served, browser):
    url = "http://169.254.169.254/latest/meta-data/"
    refusal = requests.post(served.function_url + INVOCATIONS, json={"url": url}, timeout=60).json()["error"]
    open_page(browser, served.api_url)
    browser.find_element(By.ID, "url").send_keys(url)
    browser.find_element(By.CSS_SELECTOR, "#ask button").click()
    error = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "error").text)
    assert error.startswith(f"{refusal['message']} (HTTP 403, ")
    assert browser.find_elements(By.CSS_SELECTOR, "#scores li") == []


def test_a_file_that_is_not_a_picture_is_named_as_such(served, browser, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    open_page(browser, served.api_url)
    browser.find_element(By.ID, "file").send_keys(str(text))
    error = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "error").text)
    assert "HTTP 422" in error


def test_at_phone_width_nothing_overflows_and_every_control_has_a_label(served, browser):
    browser.set_window_size(375, 800)
    try:
        open_page(browser, served.api_url)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 375
        for control in browser.find_elements(By.CSS_SELECTOR, "input"):
            labels = browser.execute_script("return arguments[0].labels.length", control)
            assert labels == 1, control.get_attribute("id")
    finally:
        browser.set_window_size(900, 1100)


def test_when_the_api_needs_a_key_the_page_asks_once_and_keeps_it_for_the_tab(served, browser):
    api, keyed = gateway.load_api()
    service = gateway.Gateway(api, keyed, served.function_url, 0, api_key="local-secret")
    with running(service.create()) as url:
        open_page(browser, url)
        browser.find_element(By.ID, "file").send_keys(str(IMAGES / "hat-1.jpg"))
        key = WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.ID, "key")))
        assert "needs a key" in browser.find_element(By.ID, "error").text
        key.send_keys("local-secret")
        browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
        assert first_bar(browser) == "hat"  # the request is sent again, with the key
        open_page(browser, url)  # the same tab: the key is kept
        browser.find_element(By.ID, "file").send_keys(str(IMAGES / "pants-1.jpg"))
        assert first_bar(browser) == "pants"
        assert not browser.find_element(By.ID, "key").is_displayed()


def test_a_photo_too_large_for_lambdas_request_limit_is_sent_smaller(served, browser, tmp_path):
    photo = tmp_path / "large.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo, quality=95)
    assert photo.stat().st_size > 6 * 2**20  # over what a Lambda request may carry, even before base64
    open_page(browser, served.api_url)
    browser.find_element(By.ID, "file").send_keys(str(photo))
    assert first_bar(browser) in LABELS
    assert browser.find_element(By.ID, "error").text == ""
