"""The organiser in Chromium: projects in the sidebar, drag and drop (and its keyboard
alternative) persisted, subtasks indented, outdented and collapsed, the completed toggle, the
board, and the phone's Menu button; axe finds nothing on any of it, light or dark, at 1280
and 375 px. Screenshots of each state go to test-artifacts/screenshots/organise-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.ui import settled, sign_up, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def create_project(page: Page, name: str, color: str = "blue") -> str:
    """Through the sidebar's "+ Add project"; returns the new project's id."""
    page.get_by_role("link", name="+ Add project").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Colour", exact=True).select_option(color)
    page.get_by_role("button", name="Add project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(rf"{name}$"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def quick_add(page: Page, title: str) -> None:
    page.locator("#quick-title").fill(title)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#task-list p.title", has_text=re.compile(rf"^{title}$"))).to_have_count(1)
    settled(page)


def rows(page: Page) -> Locator:
    return page.locator("#list-region li.task")


def expect_outline(page: Page, expected: list[str]) -> None:
    """Waits until the project's open tasks read, in order, "<depth>:<title>"."""
    settled(page)
    expect(rows(page).locator("p.title")).to_have_text([e.split(":", 1)[1] for e in expected])
    depths = [e.split(":", 1)[0] for e in expected]
    for index, depth in enumerate(depths):
        expect(rows(page).nth(index)).to_have_attribute("data-depth", depth)


def row(page: Page, title: str) -> Locator:
    return rows(page).filter(has=page.locator("p.title", has_text=re.compile(rf"^{title}$")))


def drag(page: Page, source: Locator, target: Locator, *, below: bool | None = True) -> None:
    """Drags `source` (a drag handle) onto `target` with the mouse, in steps, as SortableJS's
    pointer fallback needs; the drop lands just below (or above, or on) the target's middle."""
    # SortableJS arms the lists once the page has loaded (app.js marks them).
    expect(source.locator("xpath=ancestor::ul[1]")).to_have_attribute("data-armed", "1")
    start = source.bounding_box()
    end = target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    y = end["y"] + end["height"] * {True: 0.75, False: 0.25, None: 0.5}[below]
    page.mouse.move(start["x"] + 5, start["y"] + 10, steps=4)
    page.mouse.move(end["x"] + end["width"] / 2, y, steps=12)
    # SortableJS's pointer fallback checks where the pointer is every 50 ms: linger there.
    for dx in (2, -2, 0):
        page.wait_for_timeout(120)
        page.mouse.move(end["x"] + end["width"] / 2 + dx, y)
    page.mouse.up()


def move_by_keyboard(page: Page, title: str, button: str) -> None:
    """Opens the task's Move menu with the keyboard and presses one of its buttons."""
    summary = row(page, title).get_by_text("Move", exact=True)
    summary.focus()
    page.keyboard.press("Enter")
    target = row(page, title).get_by_role("button", name=button, exact=True)
    target.focus()
    page.keyboard.press("Enter")


def check_axe(page: Page, name: str, scheme: str) -> dict[str, list[str]]:
    found = {}
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        violations = run_axe(page)
        if violations:
            found[f"{name}@{size['width']}"] = [
                f"{v['impact']} {v['id']}: {v['nodes']}" for v in violations
            ]
        page.screenshot(
            path=SCREENSHOTS / f"organise-{scheme}-{size['width']}-{name}.png", full_page=True
        )
    page.set_viewport_size(DESKTOP)
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_organise_a_project_by_mouse_and_keyboard(contexts: Contexts, scheme: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = contexts.page(color_scheme=scheme)
    sign_up(page, unique_email("organise"), name="Ada")
    axe: dict[str, list[str]] = {}

    # A project from the sidebar, with a section, and tasks added on its page.
    project = create_project(page, "Garden")
    sidebar = page.get_by_role("navigation", name="Projects")
    expect(sidebar.get_by_role("link", name=re.compile("^Garden"))).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_text("Project settings").click()
    page.get_by_label("New section").fill("Later")
    page.get_by_role("button", name="Add section").click()
    expect(page.get_by_role("heading", name=re.compile("^Later"))).to_be_visible()
    for title in ["Dig beds", "Buy seeds", "Sow carrots", "Water"]:
        quick_add(page, title)
    expect_outline(page, ["1:Dig beds", "1:Buy seeds", "1:Sow carrots", "1:Water"])
    expect(sidebar.get_by_role("link", name=re.compile("^Garden"))).to_contain_text("4")

    # Drag "Water" above "Buy seeds": persisted (the page reloads from the server).
    drag(page, row(page, "Water").locator(".drag-handle"), row(page, "Buy seeds"), below=False)
    expect_outline(page, ["1:Dig beds", "1:Water", "1:Buy seeds", "1:Sow carrots"])
    page.reload()
    expect_outline(page, ["1:Dig beds", "1:Water", "1:Buy seeds", "1:Sow carrots"])

    # The keyboard alternative: Move up, announced; then indent twice and collapse.
    move_by_keyboard(page, "Sow carrots", "Move up")
    expect(page.locator("#announce")).to_have_text("Moved “Sow carrots” up.")
    expect_outline(page, ["1:Dig beds", "1:Water", "1:Sow carrots", "1:Buy seeds"])
    expect(row(page, "Sow carrots").get_by_text("Move", exact=True)).to_be_focused()
    move_by_keyboard(page, "Sow carrots", "Indent")
    expect_outline(page, ["1:Dig beds", "1:Water", "2:Sow carrots", "1:Buy seeds"])
    move_by_keyboard(page, "Buy seeds", "Indent")
    expect_outline(page, ["1:Dig beds", "1:Water", "2:Sow carrots", "2:Buy seeds"])
    expect(row(page, "Water").locator(".progress")).to_contain_text("0/2")
    axe |= check_axe(page, "project", scheme)

    collapse = row(page, "Water").get_by_role("button", name="Subtasks of: Water")
    collapse.focus()
    page.keyboard.press("Enter")
    expect(collapse).to_have_attribute("aria-expanded", "false")
    expect(row(page, "Sow carrots")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(row(page, "Sow carrots")).to_be_visible()
    move_by_keyboard(page, "Buy seeds", "Outdent")
    expect_outline(page, ["1:Dig beds", "1:Water", "2:Sow carrots", "1:Buy seeds"])

    # Completed tasks hide behind the toggle and reopen there.
    row(page, "Dig beds").get_by_role("button", name="Complete: Dig beds").click()
    expect_outline(page, ["1:Water", "2:Sow carrots", "1:Buy seeds"])
    page.get_by_role("link", name="Show completed").click()
    done = page.get_by_role("list", name="Completed tasks")
    expect(done.locator("p.title")).to_have_text(["Dig beds"])
    axe |= check_axe(page, "completed", scheme)
    done.get_by_role("button", name="Reopen: Dig beds").click()
    expect(done).to_have_count(0)
    expect_outline(page, ["1:Dig beds", "1:Water", "2:Sow carrots", "1:Buy seeds"])

    # The board: drag a card into the Later column; the keyboard's Move to… does the same.
    page.get_by_role("link", name="Board").click()
    later = page.locator('ul[aria-label="Later"]')
    drag(page, row(page, "Buy seeds").locator(".drag-handle"), later, below=None)
    expect(page.locator("#announce")).to_have_text("Moved “Buy seeds” to the top of the list.")
    expect(later.locator("p.title")).to_have_text(["Buy seeds"])
    page.reload()
    expect(later.locator("p.title")).to_have_text(["Buy seeds"])
    summary = row(page, "Dig beds").get_by_text("Move", exact=True)
    summary.focus()
    page.keyboard.press("Enter")
    row(page, "Dig beds").get_by_label("Move to").select_option(label="Garden / Later")
    row(page, "Dig beds").get_by_role("button", name="Go").click()
    expect(later.locator("p.title")).to_have_text(["Buy seeds", "Dig beds"])
    axe |= check_axe(page, "board", scheme)

    # A task dragged onto a project in the sidebar moves there.
    page.get_by_role("link", name="List").click()
    inbox = sidebar.get_by_role("link", name=re.compile("^Inbox"))
    drag(page, row(page, "Water").locator(".drag-handle"), inbox, below=None)
    expect(page.locator("#announce")).to_have_text("Moved “Water” to the project.")
    expect(row(page, "Water")).to_have_count(0)
    expect(inbox).to_contain_text("2")  # Water and its open subtask
    assert project in page.url

    # Projects reorder by dragging them in the sidebar (persisted); the Inbox stays first.
    create_project(page, "Kitchen")
    kitchen = sidebar.locator("li", has_text="Kitchen")
    garden = sidebar.locator("li", has_text="Garden")
    drag(page, kitchen.locator(".drag-handle"), garden, below=False)
    expect(page.locator("#announce")).to_have_text("Moved the project “Kitchen” up.")
    page.reload()
    expect(sidebar.locator("li .name")).to_have_text(["Inbox", "Kitchen", "Garden"])
    assert axe == {}


def test_the_phone_shows_quick_add_and_tasks_first_and_projects_behind_the_menu(
    contexts: Contexts,
) -> None:
    page = contexts.page(viewport=PHONE)
    sign_up(page, unique_email("phone"))
    for title in ["First task", "Second task"]:
        quick_add(page, title)
    page.goto("/today")
    page.goto("/tasks")
    fold = PHONE["height"]
    for element in [page.locator("#quick-title"), page.locator("#task-list li.task").first]:
        box = element.bounding_box()
        assert box is not None and box["y"] + box["height"] <= fold
    projects = page.get_by_role("navigation", name="Projects")
    expect(projects).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(projects).to_be_visible()
    expect(page.get_by_role("navigation", name="Task filters")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "organise-light-375-menu.png", full_page=True)
    projects.get_by_role("link", name=re.compile("^Inbox")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Inbox$"))
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
    assert [v["id"] for v in run_axe(page)] == []
