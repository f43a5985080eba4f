#!/usr/bin/env python3
"""The web UI in a real browser: Debian's chromium, driven headless by Playwright.

  ui_check.py --url URL --shots DIR --users FILE

FILE is JSON: {"admin": [name, password], "viewer": [...], "operator": [...],
"bmc": {"host", "port", "user", "password"}, "machine": NAME, "other": NAME}. The test that
runs this (tests/it/ui.rs) has made the users, granted viewer and operator on MACHINE only,
and added OTHER; the admin adds MACHINE here, through the page. Each step says what it
proves; the first that fails ends the run with its reason (exit 1). On success, prints one
JSON line: what was measured (the page weight of a first load, in bytes).
"""
import argparse
import json
import sys

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def login(page, url, user, password):
    page.goto(url + "/ui/")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Machines")).to_be_visible()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    cfg = json.load(open(a.users))
    machine, other = cfg["machine"], cfg["other"]
    measured = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=CHROMIUM_ARGS)

        # 1. The page weight of a first load, from a fresh context (no cache).
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        sizes = []
        page.on("response", lambda r: sizes.append(len(r.body()) if r.ok else 0))
        page.goto(a.url + "/ui/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        measured["first_load_bytes"] = sum(sizes)
        measured["first_load_requests"] = len(sizes)
        page.screenshot(path=f"{a.shots}/login.png")

        # 2. The admin logs in and adds a machine through the generic form of machine-add,
        #    built from its parameter schema; the BMC password is a password field.
        login(page, a.url, *cfg["admin"])
        page.get_by_role("link", name="machine-add").click()
        form = page.get_by_role("form")
        bmc = cfg["bmc"]
        page.get_by_label("name *").fill(machine)
        page.get_by_label("bmc host *").fill(bmc["host"])
        page.get_by_label("bmc port").fill(str(bmc["port"]))
        page.get_by_label("bmc user").fill(bmc["user"])
        secret = page.get_by_label("bmc password *")
        if secret.get_attribute("type") != "password":
            sys.exit("the BMC password field is not a password field")
        secret.fill(bmc["password"])
        page.screenshot(path=f"{a.shots}/machine-add.png")
        form.get_by_role("button").click()
        expect(page.get_by_text(f"added machine '{machine}'")).to_be_visible()
        if secret.input_value() != "":
            sys.exit("the BMC password stayed in its field after the call")
        if bmc["password"] in page.content():
            sys.exit("the BMC password is in the page")
        page.get_by_role("link", name="Machines").click()
        expect(page.get_by_role("cell", name=machine, exact=True)).to_be_visible()
        expect(page.get_by_role("cell", name=other, exact=True)).to_be_visible()
        page.screenshot(path=f"{a.shots}/machines-admin.png")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()

        # 3. A viewer sees only its machine, with its live power state, and gets no power
        #    buttons on the machine's page.
        login(page, a.url, *cfg["viewer"])
        expect(page.get_by_role("cell", name=machine, exact=True)).to_be_visible()
        expect(page.get_by_role("cell", name="off", exact=True)).to_be_visible()
        if page.get_by_role("cell", name=other, exact=True).count():
            sys.exit(f"the viewer sees {other}, which it holds no permission on")
        page.get_by_role("link", name="open").click()
        expect(page.get_by_role("heading", name=machine)).to_be_visible()
        expect(page.locator("#power-state")).to_have_text("off")
        if page.get_by_role("button", name="Power on").count():
            sys.exit("the viewer is offered Power on")
        if page.get_by_role("link", name="machine-add").count():
            sys.exit("a user is offered machine-add, an admin command")
        # The SEL as a readable table: the simulator's events by sensor name.
        expect(page.get_by_role("cell", name="CPU Temp").first).to_be_visible()
        page.screenshot(path=f"{a.shots}/machine-viewer.png", full_page=True)
        page.get_by_role("button", name="Log out").click()

        # 4. An operator powers the machine on, after confirming.
        login(page, a.url, *cfg["operator"])
        page.get_by_role("link", name="open").click()
        expect(page.locator("#power-state")).to_have_text("off")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Power on").click()
        expect(page.locator("#power-state")).to_have_text("on", timeout=20000)
        page.screenshot(path=f"{a.shots}/machine-operator.png", full_page=True)

        # 5. On a phone's width the page still works: the navigation above the content.
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        pp = phone.new_page()
        login(pp, a.url, *cfg["operator"])
        pp.screenshot(path=f"{a.shots}/machines-phone.png")
        # Keyboard only: tab to the first machine's link and open it.
        for _ in range(60):
            pp.keyboard.press("Tab")
            if pp.evaluate("document.activeElement && document.activeElement.textContent") == "open":
                break
        else:
            sys.exit("no keyboard path to a machine's page")
        pp.keyboard.press("Enter")
        expect(pp.get_by_role("heading", name=machine)).to_be_visible()
        browser.close()
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
