"""The staff admin in a real browser (headless Chromium through chromedriver): log in, add a
user, add an issue assigned to them, change its status, see both events in its history,
bulk-close two issues, delete one through its confirmation page, log out. A screenshot of each
page goes to the folder given by --shots. Run by scripts/browser-test, which starts the server."""

import argparse
import pathlib
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--shots", required=True)
parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
args = parser.parse_args()
shots = pathlib.Path(args.shots)
shots.mkdir(parents=True, exist_ok=True)

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
             "--disable-gpu", "--no-first-run"):
    options.add_argument(flag)
browser = webdriver.Chrome(service=Service(args.chromedriver), options=options)
browser.implicitly_wait(5)
step = 0


def shot(name):
    global step
    step += 1
    browser.save_screenshot(str(shots / f"{step:02d}-{name}.png"))


def go(path):
    browser.get(args.base + path)


def fill(label_for, text):
    field = browser.find_element(By.ID, label_for)
    # Every input has its label: find it the way a screen reader would.
    browser.find_element(By.CSS_SELECTOR, f'label[for="{label_for}"]')
    field.clear()
    field.send_keys(text)


def replaced(old_page):
    """A wait condition: the page `old_page` belonged to is gone. Chromium 156 sometimes answers
    an element of a page being replaced with an inspector error ("Node with given id does not
    belong to the document") rather than a stale reference: that too means it is gone."""
    def check(_):
        try:
            old_page.is_enabled()
            return False
        except WebDriverException:
            return True
    return check


def press(text):
    """Clicks a button and waits for the page it leads to (every button here submits a form)."""
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, f'//button[normalize-space()="{text}"]').click()
    WebDriverWait(browser, 10).until(replaced(old_page))


def follow(text):
    """Follows a link and waits for the page it leads to."""
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.LINK_TEXT, text).click()
    WebDriverWait(browser, 10).until(replaced(old_page))


def body():
    return browser.find_element(By.TAG_NAME, "body").text


def expect(condition, message):
    if not condition:
        shot("failure")
        print(f"FAILED: {message}\n--- page {browser.current_url} ---\n{body()}", file=sys.stderr)
        browser.quit()
        sys.exit(1)


try:
    go("/admin/")
    expect("/admin/login/" in browser.current_url, "an anonymous visitor is sent to the login page")
    shot("login")
    fill("username", args.user)
    fill("password", "wrong password")
    press("Log in")
    expect("Please enter the correct username and password" in body(), "a wrong password is refused")
    fill("username", args.user)
    fill("password", args.password)
    press("Log in")
    expect(browser.current_url.rstrip("/").endswith("/admin"), "logged in to the dashboard")
    expect("Dashboard" in body(), "the dashboard shows")
    shot("dashboard")

    # Add a user.
    go("/admin/users/")
    shot("users")
    follow("Add")
    fill("username", "dora")
    fill("email", "dora@example.com")
    fill("new_password1", "dora's password")
    fill("new_password2", "dora's password")
    shot("user-add")
    press("Save")
    expect("Change user dora" in body() and "Added." in body(), "the user is added")
    shot("user-change")

    # Add three issues assigned to her.
    for title in ("Printer on fire", "Coffee machine empty", "Door squeaks"):
        go("/admin/issues/add/")
        fill("title", title)
        fill("description", f"{title}, please help")
        fill("assigned_to", "dora")
        if title == "Printer on fire":
            shot("issue-add")
        press("Save")
        expect(f"Change issue" in body() and "Added." in body(), f"issue {title!r} is added")
    issue_url = browser.current_url.split("?")[0]

    # Change the status of the last one, and see both events in its history.
    Select(browser.find_element(By.ID, "status")).select_by_value("closed")
    press("Save")
    expect("The change was saved." in body(), "the change is saved")
    browser.get(issue_url)
    history = browser.find_element(By.ID, "history").find_element(By.XPATH, "following-sibling::table").text
    expect("issue.created" in history and "issue.updated" in history, "both events are in the history")
    expect("status: open → closed" in history, "the history says what changed")
    shot("issue-history")

    # Bulk-close the two open ones, through the confirmation step.
    go("/admin/issues/?status=open")
    expect("2 found" in body(), "two open issues are listed")
    shot("issues-open")
    for box in browser.find_elements(By.NAME, "selected"):
        box.click()
    Select(browser.find_element(By.ID, "action")).select_by_value("close")
    press("Go")
    expect("Close these issues?" in body(), "bulk close asks first")
    shot("bulk-confirm")
    press("Yes, close them")
    expect("The selected issues were closed." in body() and "0 found" in body(),
           "both are closed and the filter is kept")
    shot("issues-closed")

    # Delete one through its confirmation page.
    go("/admin/issues/?q=Door")
    follow("Door squeaks")
    follow("Delete this issue")
    expect("Delete issue" in body(), "deleting asks first")
    shot("delete-confirm")
    press("Yes, delete it")
    expect("Deleted." in body(), "the issue is deleted")
    go("/admin/issues/?q=Door")
    expect("0 found" in body(), "it is gone")

    # A label from the Labels section, then the issues that carry it (none yet).
    follow("Labels")
    follow("Add")
    fill("name", "printer")
    fill("color", "#D73A4A")
    press("Add")
    expect("Added." in body() and "printer" in body() and "#d73a4a" in body(), "the label is added")
    shot("labels")
    follow("Its issues")
    expect("0 found" in body(), "no issue carries it yet")

    # A webhook: its secret is shown once, then its (empty) delivery log.
    follow("Webhooks")
    follow("Add")
    fill("url", "https://hooks.example.com/issues")
    fill("events", "issue.created, issue.updated")
    press("Add")
    expect("shown this once: whsec_" in body(), "the webhook's secret is shown once")
    shot("webhook-added")
    press("Send a ping")
    expect("A ping was queued" in body() and "webhook.ping" in body(), "a ping is in the delivery log")

    # The audit log has it all; then log out.
    go("/admin/events/?type=issue.deleted")
    expect("1 found" in body(), "the deletion is in the audit log")
    shot("audit-log")
    press("Log out")
    expect("/admin/login/" in browser.current_url, "logged out")
    go("/admin/")
    expect("/admin/login/" in browser.current_url, "the session is over")
    shot("logged-out")
    print(f"browser test: ok ({step} screenshots in {shots})")
finally:
    browser.quit()
