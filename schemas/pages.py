from typing import ClassVar, Literal

from schemas.base import Row, TableModel


class TreeNode(Row):
    """One node of a page's content tree, in reading order."""

    kind: str  # heading | text | list_item | table | code | image
    text: str = ""
    level: int = 0
    src: str | None = None  # absolute URL, or a data: URL (inline images, rasterised SVG)
    alt: str | None = None
    collapsed: bool = False  # inside a closed <details>, spoiler or show/hide block
    block: int = 0  # the enclosing article / section / list item (0: none)
    post: int = 0  # the thread post it belongs to (`Page.posts`; 0: none)


class Post(Row):
    """One post of a discussion thread on the page, as its markup describes it."""

    post: int
    role: Literal["question", "accepted", "answer"] | None = None  # schema.org's say; None: no markup
    votes: int | None = None
    accepted: bool = False  # shows a mark: accepted / best answer / solution


class Page(TableModel):
    """A rendered page: its content tree, or the status and reason it has none."""

    table: ClassVar[str] = "pages"
    key: ClassVar[str] = "url_id"

    url_id: str
    url: str
    # partial: the page had not settled (loading, or its content still changing) when its time ran out;
    # its tree holds what had arrived.
    status: Literal[
        "ok", "partial", "http_error", "timeout", "blocked", "robots", "not_html", "too_large", "too_many_redirects", "error"
    ]
    reason: str | None = None  # why it failed, or what a partial page was still waiting for
    http_status: int | None = None
    final_url: str | None = None
    title: str | None = None
    tree: list[TreeNode] = []
    posts: list[Post] = []
    structured_data: list[str] = []  # schema.org JSON-LD blocks that describe questions or threads
    text_chars: int = 0
    content_hash: str | None = None
    render_ms: int | None = None
    # static: scripts off, the tree read at load; browser: scripts run, the tree read once settled.
    # None: not rendered (refused, failed before the page was fetched).
    rendered_by: Literal["static", "browser"] | None = None
    render_reason: str | None = None  # why the page needed the browser (udfs/page_scripts.py, render.mode)
    attempts: int = 1  # renders so far: a transient failure is tried again by later runs (render.max_attempts)


# Failures in passing: a later run renders the page again. Partial pages too: the next try may settle.
TRANSIENT = "status IN ('partial', 'timeout', 'error') OR (status = 'http_error' AND (http_status >= 500 OR http_status = 429))"
