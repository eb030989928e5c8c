"""Take the README's screenshot of the stepper page: the OR network's backward pass at step 4
of 7, with the second layer's weight clicked. Needs Playwright's Python package and
Debian's chromium (`apt-get install chromium`; no browser download).

    python examples/stepper_screenshot.py                    # or_gate_stepper.png, here
    python examples/stepper_screenshot.py --output docs/or_gate_stepper.png   # the README's
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import autograd_mini as ag
from nn.gates import INPUTS, TARGETS, network

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("or_gate_stepper.png"),
        help="the PNG to write (default: or_gate_stepper.png in the current folder)",
    )
    parser.add_argument("--step", type=int, default=4, help="the step shown (default 4)")
    args = parser.parse_args()

    model = network("OR")
    loss = ag.quadratic_cost(model(INPUTS), TARGETS["OR"])
    page = ag.stepper(loss)
    clicked = next(  # the box whose value and gradient the shot shows
        key for key, unit in page.data["units"].items() if unit["title"] == "layers.1.weight"
    )
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        path = page.save(Path(folder) / "or_gate.html")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        view = browser.new_page(viewport={"width": 1280, "height": 900})
        view.goto(path.as_uri())
        for _ in range(args.step):
            view.keyboard.press("ArrowRight")
        view.click(f"#drawing g.node:has(title:text-is('{clicked}'))")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(args.output), full_page=True)
        browser.close()
    print("wrote", args.output)


if __name__ == "__main__":
    main()
