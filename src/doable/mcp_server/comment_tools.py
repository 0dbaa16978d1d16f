"""The MCP tools for comments: reading a task's thread and adding to it (viewers may).

Registered with `tools.tool` like the others; `server.py` imports this module so they are."""

from __future__ import annotations

from doable.comments import notify
from doable.comments import service as comments_service
from doable.comments.router import comment_out
from doable.comments.schemas import CommentOut, CommentPage
from doable.mcp_server.schemas import AddCommentArgs, ListCommentsArgs
from doable.mcp_server.tools import ToolContext, tool


@tool(title="List comments", scope="tasks:read", read_only=True, idempotent=True)
async def list_comments(ctx: ToolContext, args: ListCommentsArgs) -> CommentPage:
    """List a task's comments, oldest first, one page at a time (`limit` 1 to 200, default
    50; pass `next_cursor` back as `cursor` for the next page). Each has its author's display
    name and when it was written and last edited."""
    task = await comments_service.visible_task(ctx.session, ctx.user, args.task_id)
    rows, next_cursor = await comments_service.list_comments(
        ctx.session, task, limit=args.limit, cursor=args.cursor, cursor_key=ctx.cursor_key
    )
    return CommentPage(items=[comment_out(r) for r in rows], next_cursor=next_cursor)


@tool(title="Add a comment", scope="tasks:write")
async def add_comment(ctx: ToolContext, args: AddCommentArgs) -> CommentOut:
    """Comment on a task the user can see (a viewer of a shared project may too). The task's
    assignee and creator are notified, and so is each person the text mentions with `@Name`
    or `@"Full Name"`; the user is not."""
    task = await comments_service.visible_task(ctx.session, ctx.user, args.task_id)
    comment = await comments_service.add_comment(ctx.session, ctx.user, task, args.body)
    return comment_out(comments_service.Authored(comment, notify.display_name(ctx.user)))
