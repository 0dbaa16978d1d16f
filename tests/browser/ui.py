"""What a person does in the web app, as functions over a Playwright page (shared by the tests
and by scripts/screenshots.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

PASSWORD = "correct horse battery"
ZONE = ZoneInfo("Europe/Paris")  # the browser contexts' time zone, which signup adopts


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def sign_up(page: Page, email: str, *, name: str = "", password: str = PASSWORD) -> None:
    page.goto("/signup")
    if name:
        page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))


def log_in(page: Page, email: str, *, password: str = PASSWORD) -> None:
    """Fill the login form on the current page (which must be the login page) and submit it."""
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def settled(page: Page) -> None:
    """Waits until htmx has no request in flight and has wired up every element it swapped in.

    New content gets its hx- behaviour only when htmx processes it (when the swap settles); a
    key pressed before that reaches plain HTML, as it would for a superhumanly fast person.
    """
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[hx-get], [hx-post]")].every(
            (el) => el["htmx-internal-data"] && el["htmx-internal-data"].initHash)"""
    )


def task_list(page: Page) -> Locator:
    return page.locator("#task-list > li")


def task_item(page: Page, title: str) -> Locator:
    """The list item whose title is exactly `title`."""
    exact = re.compile(rf"^{re.escape(title)}$")
    return task_list(page).filter(has=page.locator("p.title", has_text=exact))


def titles(page: Page) -> Locator:
    return page.locator("#task-list > li p.title")


def add_task(
    page: Page,
    title: str,
    *,
    priority: str | None = None,
    due_date: str | None = None,
    due_time: str | None = None,
    tags: Iterable[str] = (),
    wait: bool = True,
) -> Locator:
    """Quick add, with the "Priority, due date, tags" details when any of those is given."""
    page.locator("#quick-title").fill(title)
    tags = list(tags)
    if priority or due_date or due_time or tags:
        details = page.locator("#quick-add details")
        if details.get_attribute("open") is None:
            page.get_by_text("Priority, due date, tags").click()
        if priority:
            page.locator("#quick-priority").select_option(priority)
        if due_date:
            page.locator("#quick-due").fill(due_date)
        if due_time:
            page.locator("#quick-time").fill(due_time)
        if tags:
            page.locator("#quick-tags").fill(", ".join(tags))
    page.get_by_role("button", name="Add", exact=True).click()
    item = task_item(page, title)
    if wait:
        expect(item).to_have_count(1)
        settled(page)  # before anyone presses its buttons
    return item


def task_id(item: Locator) -> str:
    element_id = item.get_attribute("id") or ""
    assert element_id.startswith("task-"), element_id
    return element_id.removeprefix("task-")


def check_button(page: Page, item_id: str) -> Locator:
    return page.locator(f"#task-{item_id} button.check")


def edit_link(page: Page, item_id: str) -> Locator:
    return page.locator(f"#task-{item_id} .task-actions a")


def filter_link(page: Page, name: str) -> Locator:
    """A sidebar filter link, once htmx has wired up the sidebar (it is swapped by filters)."""
    settled(page)
    nav = page.get_by_role("navigation", name="Task filters")
    return nav.get_by_role("link", name=name, exact=True)


def counts(page: Page) -> dict[str, int]:
    """The sidebar counts, e.g. {"Open": 2, "Today": 1, "Overdue": 0, "Done": 1}."""
    box = page.locator("#counts")
    labels = box.locator("dt").all_inner_texts()
    values = box.locator("dd").all_inner_texts()
    return {label.strip(): int(value) for label, value in zip(labels, values, strict=True)}


def expect_counts(page: Page, **expected: int) -> None:
    """Waits until the sidebar shows these counts (keys: open, today, overdue, done)."""
    box = page.locator("#counts")
    for label, value in expected.items():
        cell = box.locator("div").filter(has=page.locator("dt", has_text=label.capitalize()))
        expect(cell.locator("dd")).to_have_text(str(value))


def seed_demo_tasks(page: Page) -> str:
    """A list like a real one: done, overdue, due today at a time, tags, a description.
    Returns the id of the task with the description."""
    today = datetime.now(ZONE).date()
    add_task(page, "Renew passport", due_date=(today - timedelta(days=2)).isoformat())
    add_task(page, "Water the plants", tags=["home"])
    done = add_task(page, "Book the dentist", priority="low")
    done.get_by_role("button", name="Complete: Book the dentist").click()
    expect(done).to_have_class("task done")
    add_task(
        page,
        "Send the quarterly report",
        priority="urgent",
        due_date=today.isoformat(),
        due_time="17:00",
        tags=["work", "finance"],
    )
    item_id = task_id(add_task(page, "Plan the team offsite", priority="medium", tags=["work"]))
    settled(page)
    edit_link(page, item_id).click()
    settled(page)
    page.locator(f"#edit-description-{item_id}").fill("Venue, agenda, travel; ask Sam first.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".task.editing")).to_have_count(0)
    settled(page)
    return item_id


def seed_demo_project(page: Page) -> str:
    """A project like a real one, through the web app: two sections, tasks in each, subtasks
    under a parent (one done). Returns the project page's path."""
    page.goto("/projects")
    page.get_by_label("Name", exact=True).fill("Home renovation")
    page.get_by_label("Colour", exact=True).select_option("teal")
    page.get_by_role("button", name="Add project").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Home renovation")
    path = "/" + page.url.split("/", 3)[3]
    for section in ["Doing", "Later"]:
        page.get_by_text("Project settings").click()
        page.get_by_label("New section").fill(section)
        page.get_by_role("button", name="Add section").click()
    for title in [
        "Choose the kitchen tiles !high",
        "Measure the walls",
        "Get three quotes",
        "Order samples tomorrow",
        "Paint the hallway #weekend",
        "Sand the floors",
        "Replace the bathroom tap",
    ]:
        page.locator("#quick-title").fill(title)
        page.get_by_role("button", name="Add", exact=True).click()
        settled(page)

    def menu(title: str, button: str, dest: str = "") -> None:
        row = page.locator("#list-region li.task").filter(
            has=page.locator("p.title", has_text=re.compile(rf"^{re.escape(title)}$"))
        )
        row.get_by_text("Move", exact=True).click()
        if dest:
            row.get_by_label("Move to").select_option(label=dest)
        row.get_by_role("button", name=button, exact=True).click()
        expect(page.locator("#announce")).to_contain_text(title)
        settled(page)

    for title in ["Measure the walls", "Get three quotes", "Order samples"]:
        menu(title, "Indent")
    menu("Paint the hallway", "Go", "Home renovation / Doing")
    menu("Sand the floors", "Go", "Home renovation / Later")
    menu("Replace the bathroom tap", "Go", "Home renovation / Doing")
    done = page.locator("#list-region li.task").filter(has_text="Measure the walls")
    done.get_by_role("button", name="Complete: Measure the walls").click()
    settled(page)
    return path
