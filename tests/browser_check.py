#!/usr/bin/env python3
"""Loads the exporter's landing page in a real browser (Debian's Chromium, driven by Playwright;
no browser is downloaded) at a wide and a narrow width, and checks what a person would: every
account and every fleet count is shown, nothing overflows the window, the console logs no
error, and the page is valid HTML. Keeps a screenshot of each width.

Usage: browser_check.py URL --out DIR --accounts ID[,ID...] --counts JSON
  --counts: {"compliant": 2, "non-compliant": 3, ...}, the words of the page's fleet counts.
Prints one line per check, and exits 1 on the first one that fails.
"""

import argparse
import json
import os
import sys
import urllib.request

import html5lib
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("AWS_ROOT_MFA_EXPORTER_TEST_CHROMIUM", "/usr/bin/chromium")
# As this machine runs Chromium headless: no sandbox (root in a container), and none of the
# background connections that a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = (1400, 400)


def fail(message):
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("url")
    p.add_argument("--out", required=True)
    p.add_argument("--accounts", required=True)
    p.add_argument("--counts", required=True)
    args = p.parse_args()
    accounts = args.accounts.split(",")
    counts = json.loads(args.counts)
    os.makedirs(args.out, exist_ok=True)

    source = urllib.request.urlopen(args.url).read()
    try:
        html5lib.HTMLParser(strict=True).parse(source)
    except html5lib.html5parser.ParseError as e:
        fail(f"the page is not valid HTML: {e}")
    print("ok   valid HTML (html5lib, strict)")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                errors = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(args.url, wait_until="load")
                text = page.inner_text("body")
                missing = [a for a in accounts if a not in text]
                if missing:
                    fail(f"{width} px: accounts not shown: {missing}")
                shown = {}
                for item in page.query_selector_all("ul.counts li"):
                    number = item.query_selector("strong").inner_text()
                    words = item.inner_text()[len(number):].strip(" \u2713\u2717\u2013!")
                    shown[words] = int(number)
                for words, n in counts.items():
                    if shown.get(words) != n:
                        fail(f"{width} px: count {words!r} is {shown.get(words)}, want {n} (shown: {shown})")
                scroll, inner = page.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]")
                if scroll > inner:
                    fail(f"{width} px: the page is {scroll} px wide: it overflows the window")
                path = os.path.join(args.out, f"landing-{width}.png")
                page.screenshot(path=path, full_page=True)
                if errors:
                    fail(f"{width} px: the console logged errors: {errors}")
                print(f"ok   {width} px: {len(accounts)} accounts, counts {shown}, "
                      f"{scroll} px wide in {inner}, no console error; screenshot {path}", flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
