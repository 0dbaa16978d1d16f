"""The web app's organiser over HTTP: projects and sections from forms, the keyboard's Move
forms (the same ones drag and drop posts), subtasks, the completed toggle, the board, and the
confirmations before deleting. Each runs on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.test_web import make_project
from tests.webclient import WebClient


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


def outline(html: str) -> list[str]:
    """The open tasks of a project page in order, each as "<depth>:<title>"."""
    region = html.split('id="completed-heading"')[0]
    return [
        f"{depth}:{title}"
        for depth, title in re.findall(
            r'<li id="task-[0-9a-f-]{36}" class="task[^"]*depth-(\d)"[^>]*>.*?'
            r'<p class="title">([^<]*)</p>',
            region,
            flags=re.S,
        )
    ]


def sidebar(html: str) -> list[str]:
    """The sidebar's projects in order, as "<name> <open count>"."""
    nav = html.split('id="projects-nav"')[1].split("</nav>")[0]
    return [
        f"{name} {count}"
        for name, count in re.findall(
            r'<span class="name">([^<]*)</span>.*?<span class="count">(\d+)', nav, flags=re.S
        )
    ]


def task_ids(html: str) -> dict[str, str]:
    return {
        title: task_id
        for task_id, title in re.findall(
            r'<li id="task-([0-9a-f-]{36})".*?<p class="title">([^<]*)</p>', html, flags=re.S
        )
    }


async def add_to(web: WebClient, project_id: str, *titles: str) -> dict[str, str]:
    for title in titles:
        r = await web.post("/tasks/quick", {"title": title, "project_id": project_id}, htmx=True)
        assert r.status_code == 200, r.text
        assert r.headers["hx-trigger"] == "doable-changed"
    return task_ids((await web.get(f"/projects/{project_id}")).text)


async def move(web: WebClient, task_id: str, op: str, **form: str) -> str:
    """A Move form's htmx post; returns the announcement."""
    r = await web.post(f"/tasks/{task_id}/move", {"op": op, **form}, htmx=True)
    assert r.status_code == 200, r.text
    assert r.headers["hx-trigger"] == "doable-changed"
    found = re.search(r'<div id="announce"[^>]*>([^<]*)</div>', r.text)
    assert found, r.text
    return found.group(1)


async def test_projects_are_made_renamed_archived_and_deleted_from_forms(web: WebClient) -> None:
    await web.signup()
    inbox_page = await web.get("/tasks")
    assert sidebar(inbox_page.text) == ["Inbox 0"]
    for bad in ["", "   ", "x" * 121, "a\x00b", "two\nlines"]:
        r = await web.post("/projects", {"name": bad})
        assert r.status_code == 422, bad
        assert 'id="new-project-error"' in r.text
    assert sidebar((await web.get("/projects")).text) == ["Inbox 0"]

    work, _ = await make_project(web, "Work")
    home, _ = await make_project(web, "  Home  ")
    await add_to(web, work, "Write report today", "Call Sam")
    page = await web.get(f"/projects/{work}")
    assert sidebar(page.text) == ["Inbox 0", "Work 2", "Home 0"]
    assert outline(page.text) == ["1:Write report", "1:Call Sam"]

    r = await web.post(f"/projects/{work}", {"name": "Office", "color": "teal"})
    assert (r.status_code, r.headers["location"]) == (303, f"/projects/{work}")
    r = await web.post(f"/projects/{work}", {"favorite": "1"})
    page = await web.get(f"/projects/{work}")
    assert '<span class="dot color-teal"' in page.text and "(favourite)" in page.text
    assert (await web.post(f"/projects/{work}", {"name": ""})).status_code == 422

    # Archived: out of the sidebar and Today, still on its own page; unarchived: back.
    assert "Write report" in (await web.get("/today")).text
    assert (await web.post(f"/projects/{work}", {"archived": "1"})).status_code == 303
    assert sidebar((await web.get("/tasks")).text) == ["Inbox 0", "Home 0"]
    assert "Write report" not in (await web.get("/today")).text
    assert "(archived)" in (await web.get(f"/projects/{work}")).text
    assert "Office" in (await web.get("/projects")).text  # the archived list
    assert (await web.post(f"/projects/{work}", {"archived": "0"})).status_code == 303
    assert sidebar((await web.get("/tasks")).text) == ["Inbox 0", "Office 2", "Home 0"]

    # Reordered by the sidebar's keyboard alternative (and drag, which posts the same).
    r = await web.post(f"/projects/{home}/move", {"op": f"before:{work}"}, htmx=True)
    assert "Moved the project “Home” up." in r.text
    assert sidebar((await web.get("/tasks")).text) == ["Inbox 0", "Home 0", "Office 2"]

    # Deleting asks first, and takes the project's tasks with it.
    confirm = await web.get(f"/projects/{work}/delete")
    assert confirm.status_code == 200 and "2 open" in confirm.text
    r = await web.post(f"/projects/{work}/delete", {})
    assert (r.status_code, r.headers["location"]) == (303, f"/projects/{work}/delete")
    r = await web.post(f"/projects/{work}/delete", {"confirm": "yes"})
    assert r.status_code == 303
    assert sidebar((await web.get("/tasks")).text) == ["Inbox 0", "Home 0"]
    assert "Call Sam" not in (await web.get("/tasks")).text
    assert (await web.get(f"/projects/{work}")).status_code == 404

    # The Inbox stays: no delete, no archive.
    inbox = r.headers["location"].removeprefix("/projects/")
    assert "cannot be deleted" in (await web.get(f"/projects/{inbox}/delete")).text
    assert (await web.post(f"/projects/{inbox}/delete", {"confirm": "yes"})).status_code == 409
    assert (await web.post(f"/projects/{inbox}", {"archived": "1"})).status_code == 409


async def test_keyboard_moves_reorder_indent_outdent_and_move_between_lists(
    web: WebClient,
) -> None:
    await web.signup()
    work, later = await make_project(web, "Work", section="Later")
    other, _ = await make_project(web, "Other")
    ids = await add_to(web, work, "A", "B", "C", "D")

    async def page() -> httpx.Response:
        return await web.get(f"/projects/{work}")

    assert await move(web, ids["C"], f"before:{ids['B']}") == "Moved “C” up."
    assert outline((await page()).text) == ["1:A", "1:C", "1:B", "1:D"]
    assert await move(web, ids["A"], f"after:{ids['C']}") == "Moved “A” down."
    assert outline((await page()).text) == ["1:C", "1:A", "1:B", "1:D"]

    await move(web, ids["B"], f"indent:{ids['A']}")
    await move(web, ids["D"], f"indent:{ids['A']}")
    html = (await page()).text
    assert outline(html) == ["1:C", "1:A", "2:B", "2:D"]
    assert ">0/2<" in html  # A's progress
    assert await move(web, ids["D"], f"indent:{ids['B']}") == "Moved “D” under the task above it."
    assert outline((await page()).text) == ["1:C", "1:A", "2:B", "3:D"]
    # A cycle is refused (422) and nothing changes.
    r = await web.post(f"/tasks/{ids['A']}/move", {"op": f"indent:{ids['D']}"}, htmx=True)
    assert r.status_code == 422
    assert outline((await page()).text) == ["1:C", "1:A", "2:B", "3:D"]
    outdented = await move(web, ids["D"], f"outdent:{ids['B']}")
    assert outdented == "Moved “D” out from under its parent."
    assert outline((await page()).text) == ["1:C", "1:A", "2:B", "2:D"]

    # Completing a subtask counts in its parent's progress.
    assert (await web.post(f"/tasks/{ids['B']}/toggle")).status_code == 303
    html = (await page()).text
    assert outline(html) == ["1:C", "1:A", "2:D"] and ">1/2<" in html

    # To a section (with its subtree), to another project, by the Move to… list.
    await move(web, ids["A"], "dest", dest=f"section:{later}")
    html = (await page()).text
    later_part = html.split(f'id="section-{later}"')[1]
    assert outline(later_part) == ["1:A", "2:D"] and outline(html) == ["1:C", "1:A", "2:D"]
    assert await move(web, ids["C"], "dest", dest=f"project:{other}") == "Moved “C” to the project."
    assert outline((await web.get(f"/projects/{other}")).text) == ["1:C"]
    # Into an empty list by drag and drop ("first" of the tasks outside any section).
    await move(web, ids["A"], "first:none", project=work)
    assert outline((await page()).text) == ["1:A", "2:D"]

    # Bad moves are a clear 4xx, never a 500.
    for op in ["", "sideways:1", "before:not-a-uuid", f"before:{ids['D']}"]:
        r = await web.post(f"/tasks/{ids['D']}/move", {"op": op}, htmx=True)
        assert r.status_code == 422, op


async def test_completed_tasks_hide_behind_a_toggle_and_reopen_there(web: WebClient) -> None:
    await web.signup()
    work, _ = await make_project(web, "Work")
    ids = await add_to(web, work, "Open one", "Done one")
    assert (await web.post(f"/tasks/{ids['Done one']}/toggle")).status_code == 303
    html = (await web.get(f"/projects/{work}")).text
    assert outline(html) == ["1:Open one"] and "Done one" not in html
    assert "Show completed" in html
    html = (await web.get(f"/projects/{work}?completed=1")).text
    assert 'aria-label="Reopen: Done one"' in html and "Hide completed" in html
    r = await web.post(f"/tasks/{ids['Done one']}/toggle", {"back": f"/projects/{work}"})
    assert r.headers["location"] == f"/projects/{work}"
    assert outline((await web.get(f"/projects/{work}")).text) == ["1:Open one", "1:Done one"]


async def test_the_board_shows_sections_as_columns(web: WebClient) -> None:
    await web.signup()
    work, doing = await make_project(web, "Work", section="Doing")
    ids = await add_to(web, work, "Plan", "Build")
    await move(web, ids["Build"], f"last:{doing}", project=work)
    html = (await web.get(f"/projects/{work}?view=board")).text
    columns = re.findall(r'<section class="column"[^>]*>\s*<h2[^>]*>([^<]*)<', html)
    assert [c.strip() for c in columns] == ["No section", "Doing"]
    doing_part = html.split(f'data-section="{doing}"')[1]
    assert "Build" in doing_part and "Plan" not in doing_part


async def test_sections_are_renamed_and_deleted_with_or_without_their_tasks(
    web: WebClient,
) -> None:
    await web.signup()
    work, first = await make_project(web, "Work", section="First")
    ids = await add_to(web, work, "Kept", "Gone")
    await move(web, ids["Kept"], f"section:{first}")
    assert (await web.post(f"/sections/{first}", {"name": "Renamed"})).status_code == 303
    assert (await web.post(f"/sections/{first}", {"name": " "})).status_code == 422
    assert ">Renamed <" in (await web.get(f"/projects/{work}")).text
    assert "Its tasks stay" in (await web.get(f"/sections/{first}/delete")).text
    r = await web.post(f"/sections/{first}/delete", {"confirm": "yes"})
    assert (r.status_code, r.headers["location"]) == (303, f"/projects/{work}")
    html = (await web.get(f"/projects/{work}")).text
    assert "Renamed" not in html and outline(html) == ["1:Gone", "1:Kept"]


async def test_deleting_a_task_with_subtasks_asks_first(web: WebClient) -> None:
    await web.signup()
    work, _ = await make_project(web, "Work")
    ids = await add_to(web, work, "Parent", "Child")
    await move(web, ids["Child"], f"indent:{ids['Parent']}")
    r = await web.post(f"/tasks/{ids['Parent']}/delete", {}, htmx=True)
    assert r.status_code == 204
    assert r.headers["hx-redirect"].startswith(f"/tasks/{ids['Parent']}/delete?back=")
    confirm = await web.get(f"/tasks/{ids['Parent']}/delete?back=/projects/{work}")
    assert "Its subtasks go too (1 directly under it" in confirm.text
    assert outline((await web.get(f"/projects/{work}")).text) == ["1:Parent", "2:Child"]
    r = await web.post(
        f"/tasks/{ids['Parent']}/delete", {"confirm": "yes", "back": f"/projects/{work}"}
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/projects/{work}")
    assert outline((await web.get(f"/projects/{work}")).text) == []
    # A task without subtasks goes at once, with its undo.
    ids = await add_to(web, work, "Alone")
    r = await web.post(f"/tasks/{ids['Alone']}/delete", {}, htmx=True)
    assert r.status_code == 200 and 'name="undo"' in r.text


async def test_the_quick_add_preview_names_the_project_the_task_lands_in(web: WebClient) -> None:
    await web.signup()
    work, _ = await make_project(web, "Work")
    r = await web.post("/tasks/preview", {"title": "Call Sam tomorrow"}, htmx=True)
    assert '<dd class="preview-project">Inbox</dd>' in r.text
    form = {"title": "Call Sam tomorrow", "project_id": work}
    r = await web.post("/tasks/preview", form, htmx=True)
    assert '<dd class="preview-project">Work</dd>' in r.text
    # An unknown project (or no id at all) is not shown: the Inbox.
    for other in ["00000000-0000-0000-0000-000000000000", "not-an-id"]:
        r = await web.post("/tasks/preview", {"title": "x", "project_id": other}, htmx=True)
        assert '<dd class="preview-project">Inbox</dd>' in r.text
