#!/usr/bin/env python3
"""Drives `brigade serve`'s web pages in headless Chromium (Debian's chromium + chromedriver, Selenium from PyPI).

    scripts/checks/web_ui.py BASE_URL BRIGADE_BINARY SCREENSHOT_DIR [API_KEY]

Checks: the chat page loads with no console error; a message gets a streamed reply that appears while it streams,
with TTFT and tokens/s under it; Stop mid-stream ends the request on every rank (/metrics: no running request, no
used KV block); a reload finds the conversation in local storage; with an API key the page asks for it; /pipeline,
during a `brigade bench serve` run, shows non-zero busy fractions and draws its timeline; screenshots of both pages.
Prints "all checks passed" and exits 0, or names the first failure.
"""
import subprocess, sys, time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from checklib import Checks, metric as read_metric

base, binary, shots = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
api_key = sys.argv[4] if len(sys.argv) > 4 else None
check = Checks()


def metric(name):
    return read_metric(base, name)


options = Options()
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 60)


def console_errors():
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


try:
    driver.get(base + "/")
    if api_key:
        # The page asks for the key on the first 401 (the model list) and keeps it.
        wait.until(lambda d: d.switch_to.alert)
        alert = driver.switch_to.alert
        check("API key" in alert.text, f"the page asks for the API key: {alert.text!r}")
        alert.send_keys(api_key)
        alert.accept()
    wait.until(lambda d: d.find_element(By.ID, "model").text not in ("…", "", "not reachable"))
    # The 401 of the first call is logged by the browser when a key is needed; nothing else may be.
    errors = [e for e in console_errors() if not (api_key and "401" in e["message"])]
    check(errors == [], f"no console errors on load: {errors}")
    driver.find_element(By.ID, "max-tokens").clear()
    driver.find_element(By.ID, "max-tokens").send_keys("40")
    driver.find_element(By.ID, "temperature").clear()
    driver.find_element(By.ID, "temperature").send_keys("0")
    driver.find_element(By.ID, "input").send_keys("What is the capital of France? Use **bold** for it.")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant .stats"))
    reply = driver.find_elements(By.CSS_SELECTOR, ".message.assistant")[-1]
    check(reply.find_element(By.CLASS_NAME, "body").text.strip(), "a reply appears")
    stats = reply.find_element(By.CLASS_NAME, "stats").text
    check("TTFT" in stats and "tok/s" in stats, f"TTFT and tokens/s under the reply: {stats!r}")
    check(console_errors() == [] or api_key, f"no console errors after a reply: {console_errors()}")
    if api_key:  # the rest needs no key; bench serve sends none
        driver.quit()
        print(f"all checks passed ({check.count} checks)")
        sys.exit(0)

    # Markdown is rendered, and the model's text cannot inject HTML.
    driver.execute_script("""
        const c = JSON.parse(localStorage.getItem('brigade.conversations'));
        c[0].messages.push({role: 'assistant', content: '<img src=x onerror="window.injected=1"> **safe** `code`'});
        localStorage.setItem('brigade.conversations', JSON.stringify(c));""")
    driver.refresh()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".message.assistant")) >= 2)
    check(driver.execute_script("return window.injected === undefined && document.querySelectorAll('.message img').length === 0"),
          "model output cannot inject HTML")
    check(driver.find_elements(By.CSS_SELECTOR, ".message.assistant strong") and driver.find_elements(By.CSS_SELECTOR, ".message.assistant code"),
          "Markdown bold and code are rendered")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#conversations li")) == 1 and
          "capital of France" in driver.find_element(By.ID, "messages").text, "a reload finds the conversation")

    # Stop mid-stream: the request ends on every rank.
    driver.find_element(By.ID, "new-chat").click()
    driver.find_element(By.ID, "max-tokens").clear()
    driver.find_element(By.ID, "max-tokens").send_keys("2000")
    driver.find_element(By.ID, "input").send_keys("Write a very long story about a lighthouse keeper.")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".message.assistant")) and
               len(d.find_elements(By.CSS_SELECTOR, ".message.assistant")[-1].find_element(By.CLASS_NAME, "body").text) > 40)
    check(metric("brigade_requests_running") >= 1, "the long reply is running")
    driver.find_element(By.ID, "stop").click()
    deadline = time.time() + 10
    while time.time() < deadline and (metric("brigade_requests_running") > 0 or metric("brigade_kv_blocks_used") > 0):
        time.sleep(0.2)
    check(metric("brigade_requests_running") == 0 and metric("brigade_kv_blocks_used") == 0,
          "Stop ends the request on every rank (no running request, no used KV block)")
    wait.until(lambda d: "stopped" in d.find_elements(By.CSS_SELECTOR, ".message.assistant")[-1].text)
    driver.save_screenshot(f"{shots}/web-chat.png")

    # The pipeline view during a benchmark: busy stages and a drawn timeline.
    bench = subprocess.Popen([binary, "bench", "serve", "--url", base, "--num-prompts", "48", "--random-input-len", "64",
                              "--random-output-len", "64", "--max-concurrency", "8", "--disable-tqdm"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        driver.get(base + "/pipeline")
        wait.until(lambda d: int(d.find_element(By.TAG_NAME, "body").get_attribute("data-updates") or 0) > 4)
        wait.until(lambda d: any(float(row.get_attribute("data-busy")) > 0 for row in d.find_elements(By.CSS_SELECTOR, "tr.stage")))
        busy = [float(row.get_attribute("data-busy")) for row in driver.find_elements(By.CSS_SELECTOR, "tr.stage")]
        check(busy and max(busy) > 0, f"non-zero busy fractions: {busy}")
        time.sleep(1.5)
        painted = driver.execute_script("""
            const c = document.getElementById('gantt'), g = c.getContext('2d');
            const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4 * 7) if (d[i + 3] > 0) n++;
            return n;""")
        check(painted > 50, f"the timeline is drawn ({painted} painted samples)")
        check(console_errors() == [], f"no console errors on /pipeline: {console_errors()}")
        driver.save_screenshot(f"{shots}/web-pipeline.png")
    finally:
        bench.terminate()
        bench.wait(timeout=30)
    # A phone-sized screen: nothing wider than the screen, the conversation list behind its button.
    driver.set_window_size(390, 844)
    for page in ("/", "/pipeline"):
        driver.get(base + page)
        time.sleep(0.5)
        check(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
              f"{page} fits a phone-sized screen")
    driver.get(base + "/")
    check(driver.find_element(By.ID, "toggle-sidebar").is_displayed(), "the conversation list has a button on a phone")
finally:
    driver.quit()
print(f"all checks passed ({check.count} checks)")
