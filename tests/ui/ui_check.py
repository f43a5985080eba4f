#!/usr/bin/env python3
"""The web UI in a real browser: Debian's chromium, driven headless by Playwright.

  ui_check.py --url URL --shots DIR --users FILE

FILE is JSON: {"admin": [name, password], "viewer": [...], "operator": [...],
"bmc": {"host", "port", "user", "password"}, "machine": NAME, "other": NAME,
"console": NAME, "axe": PATH}. The test that runs this (tests/it/ui.rs) has made the users,
granted viewer and operator on MACHINE and CONSOLE (whose serial port prompts for a login),
and added OTHER; the admin adds MACHINE here, through the page. PATH is axe-core's
axe.min.js (Deque's accessibility checker, from npm), run on every main page. Each step says what it
proves; the first that fails ends the run with its reason (exit 1). On success, prints one
JSON line: what was measured (the page weight of a first load, in bytes).
"""
import argparse
import json
import re
import sys

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


class A11y:
    """Runs axe-core (WCAG 2 A and AA rules) on a page and keeps what it finds. It is loaded
    through the DevTools protocol, so the page's CSP stays as strict as users get it."""

    def __init__(self, path):
        self.src = open(path).read()
        self.found = []
        self.pages = 0

    def self_test(self, browser):
        """The checker finds what it should: an image without a text alternative and an
        unlabelled field on a page of its own."""
        page = browser.new_page()
        page.set_content('<html lang="en"><title>t</title><main><img src="x.png">'
                         '<input type="text"></main></html>')
        before = len(self.found)
        self.check(page, "self-test")
        got = " ".join(self.found[before:])
        del self.found[before:]
        self.pages -= 1
        page.close()
        if "image-alt" not in got or "label" not in got:
            sys.exit(f"axe-core did not find the planted faults: {got!r}")

    def check(self, page, where):
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.src)
        r = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
        self.pages += 1
        for v in r["violations"]:
            nodes = "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                              for n in v["nodes"][:3])
            self.found.append(f"{where}: {v['id']} ({v['impact']}): {v['help']} at {nodes}")


# Every page's console messages and uncaught errors, printed if the run fails.
LOG = []


def csp_watch(page, seen):
    """Collects the page's Content-Security-Policy violations (Chromium logs each), and
    keeps its console messages for a failure's report."""
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("console", lambda m: LOG.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: LOG.append(f"uncaught: {e}"))


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
    machine, other, console = cfg["machine"], cfg["other"], cfg["console"]
    measured = {}
    a11y = A11y(cfg["axe"])
    csp = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=CHROMIUM_ARGS)
        a11y.self_test(browser)

        # 1. The page weight of a first load, from a fresh context (no cache).
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        csp_watch(page, csp)
        sizes = []
        weigh = lambda r: sizes.append(len(r.body()) if r.ok else 0)  # noqa: E731
        page.on("response", weigh)
        page.goto(a.url + "/ui/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.remove_listener("response", weigh)
        measured["first_load_bytes"] = sum(sizes)
        measured["first_load_requests"] = len(sizes)
        page.screenshot(path=f"{a.shots}/login.png")
        a11y.check(page, "login")

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
        a11y.check(page, "machine-add form")
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
        a11y.check(page, "machines (admin)")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()

        # 3. A viewer sees only its machine, with its live power state, and gets no power
        #    buttons on the machine's page.
        login(page, a.url, *cfg["viewer"])
        row = page.get_by_role("row", name=machine)
        expect(row.get_by_role("cell", name=machine, exact=True)).to_be_visible()
        expect(row.get_by_role("cell", name="off", exact=True)).to_be_visible()
        if page.get_by_role("cell", name=other, exact=True).count():
            sys.exit(f"the viewer sees {other}, which it holds no permission on")
        row.get_by_role("link", name="open").click()
        expect(page.get_by_role("heading", name=machine)).to_be_visible()
        expect(page.locator("#power-state")).to_have_text("off")
        if page.get_by_role("button", name="Power on").count():
            sys.exit("the viewer is offered Power on")
        if page.get_by_role("link", name="machine-add").count():
            sys.exit("a user is offered machine-add, an admin command")
        # The SEL as a readable table: the simulator's events by sensor name.
        expect(page.get_by_role("cell", name="CPU Temp").first).to_be_visible()
        if page.get_by_role("button", name="Delete").count():
            sys.exit("the viewer is offered to delete SEL records")
        page.screenshot(path=f"{a.shots}/machine-viewer.png", full_page=True)
        a11y.check(page, "machine (viewer)")

        # 3b. The viewer watches the console: read-only, no keyboard offered.
        page.goto(f"{a.url}/ui/#machine/{console}")
        page.get_by_role("link", name="Watch the serial console").click()
        expect(page.get_by_role("status")).to_contain_text("read-only", timeout=20000)
        if page.get_by_role("button", name="Take the keyboard").is_visible():
            sys.exit("the viewer is offered the console's keyboard")
        if page.get_by_role("button", name="Send break").is_visible():
            sys.exit("the viewer is offered a serial break")
        page.get_by_role("button", name="Detach").click()
        expect(page.get_by_role("status")).to_have_text("Detached.")
        page.goto(a.url + "/ui/")
        page.get_by_role("button", name="Log out").click()

        # 4. An operator powers the machine on, after confirming.
        login(page, a.url, *cfg["operator"])
        page.get_by_role("row", name=machine).get_by_role("link", name="open").click()
        expect(page.locator("#power-state")).to_have_text("off")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Power on").click()
        expect(page.locator("#power-state")).to_have_text("on", timeout=20000)
        page.screenshot(path=f"{a.shots}/machine-operator.png", full_page=True)
        a11y.check(page, "machine (operator)")

        # 4b. The operator deletes one SEL record from its row, after confirming: the table
        #     comes back without it.
        ids = page.locator("table").first.locator("tbody tr td:first-child").all_inner_texts()
        first = page.get_by_role("button", name="Delete SEL record").first
        victim = first.get_attribute("aria-label").rsplit(" ", 1)[-1]
        page.once("dialog", lambda d: d.accept())
        first.click()
        expect(page.get_by_role("button", name=f"Delete SEL record {victim}", exact=True)).to_have_count(0, timeout=20000)
        measured["sel_records_before_delete"] = len(ids)

        # 6. The operator's console: the host's login prompt in xterm.js, keystrokes typed
        #    into the terminal reach the host and its echo comes back; no CSP violation.
        page.goto(f"{a.url}/ui/#machine/{console}")
        page.get_by_role("link", name="Open the serial console").click()
        expect(page.get_by_role("heading", name=f"Console: {console}")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("Connected", timeout=20000)
        rows = page.locator(".xterm-rows")
        page.locator(".xterm-helper-textarea").focus()
        page.keyboard.press("Enter")
        expect(rows).to_contain_text(f"{console} login:", timeout=20000)
        page.keyboard.type("root")
        page.keyboard.press("Enter")
        expect(rows).to_contain_text(f"{console} login: root", timeout=20000)
        expect(page.get_by_role("status")).to_contain_text("keyboard")
        page.screenshot(path=f"{a.shots}/console.png")
        a11y.check(page, "console")
        page.get_by_role("button", name="Detach").click()
        expect(page.get_by_role("status")).to_have_text("Detached.")

        # 7. The audit log, filtered by machine through audit-find's generated form: the
        #    operator's power-on of MACHINE is there, under its versioned name.
        page.goto(a.url + "/ui/")
        page.get_by_role("link", name="Audit log").click()
        page.get_by_label("machine", exact=True).fill(machine)
        page.get_by_role("button", name=re.compile(r"^Run audit-find\/")).click()
        expect(page.get_by_role("cell", name=re.compile(r"^power-on\/\d+$")).first).to_be_visible()
        page.screenshot(path=f"{a.shots}/audit.png", full_page=True)
        a11y.check(page, "audit log")

        # 8. A versioned name, as igor takes it: power-status/1 runs version 1 (a single
        #    machine's answer, not a stream), and its page links the other versions.
        page.goto(f"{a.url}/ui/#cmd/power-status/1")
        expect(page.get_by_role("heading", name="power-status/1")).to_be_visible()
        expect(page.get_by_role("link", name="power-status/2")).to_be_visible()
        page.get_by_label("machine *").fill(machine)
        page.get_by_role("button", name="Run power-status/1").click()
        expect(page.get_by_text(f"machine '{machine}' is powered on")).to_be_visible()
        if csp:
            sys.exit("Content-Security-Policy violations: " + " | ".join(csp[:5]))

        # 5. On a phone's width the page still works: the navigation above the content.
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        pp = phone.new_page()
        login(pp, a.url, *cfg["operator"])
        pp.screenshot(path=f"{a.shots}/machines-phone.png")
        a11y.check(pp, "machines (phone)")
        # Keyboard only: tab to the machine's link and open it.
        for _ in range(60):
            pp.keyboard.press("Tab")
            if pp.evaluate("document.activeElement && document.activeElement.getAttribute('href')") == f"#machine/{machine}":
                break
        else:
            sys.exit("no keyboard path to a machine's page")
        pp.keyboard.press("Enter")
        expect(pp.get_by_role("heading", name=machine)).to_be_visible()
        browser.close()
    if a11y.found:
        sys.exit("accessibility (axe-core):\n" + "\n".join(a11y.found))
    measured["axe_pages"] = a11y.pages
    print(json.dumps(measured))


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        if LOG:
            print("the pages' console:\n" + "\n".join(LOG[-40:]), file=sys.stderr)
        raise
