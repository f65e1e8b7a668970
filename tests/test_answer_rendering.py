"""Candidate answers are untrusted: Markdown is rendered with raw HTML off and sanitised,
so no script, event handler or javascript: URL survives onto a reviewer's page."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.rendering import render_markdown
from screen.settings import Settings
from tests.support.factories import make_submitted, make_user
from tests.support.staff import post_form, sign_in

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](  javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[vb](vbscript:msgbox(1))",
    "![img](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    "<a href='javascript:alert(1)'>x</a>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<base href=javascript:alert(1)//>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<link rel=stylesheet href=javascript:alert(1)>",
    "[x](<javascript:alert(1)>)",
    "<scr<script>ipt>alert(1)</script>",
    "`<script>alert(1)</script>` and ```\n<img src=x onerror=alert(1)>\n```",
    "<!--><script>alert(1)</script>-->",
]
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "background"}
FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "style",
    "base",
    "meta",
    "link",
    "form",
    "body",
    "details",
}


class DangerFinder(HTMLParser):
    def __init__(self, allowed_scripts: tuple[str, ...] = ()) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed_scripts = allowed_scripts
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src", "") in self.allowed_scripts:
            return
        if tag in FORBIDDEN_TAGS and not (self.allowed_scripts and tag in {"meta", "link", "body"}):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name == "style":
                self.problems.append(f"{tag} style=")
            if name in URL_ATTRIBUTES and value:
                scheme = value.strip().lower().replace("\x00", "")
                if scheme.startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"{tag} {name}={value}")


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_each_payload_renders_inert(payload: str) -> None:
    finder = DangerFinder()
    finder.feed(str(render_markdown(payload)))

    assert finder.problems == []


def test_ordinary_markdown_still_renders() -> None:
    html = str(
        render_markdown(
            "## Plan\n\n- **cost**: $18k\n\n[docs](https://example.com)\n\n"
            "| a | b |\n|---|---|\n| 1 | 2 |"
        )
    )

    assert "<h2>Plan</h2>" in html
    assert "<strong>cost</strong>" in html
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<table>" in html


async def test_the_reviewer_page_shows_the_whole_corpus_inert(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now(), answer="\n\n".join(XSS_CORPUS))

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        response = await post_form(client, "/review/next")

    assert response.status_code == 200
    assert "alert(1)" in response.text  # the text is there, as text
    answer = response.text.split('<div class="prose candidate-answer" id="the-answer">', 1)[1]
    # What follows the answer is the page's own (the folded context below it).
    answer = answer.split('<section class="desk-folds"', 1)[0]
    finder = DangerFinder()
    finder.feed(answer)
    assert finder.problems == []
    whole_page = DangerFinder(allowed_scripts=("/static/localtime.js", "/static/review.js"))
    whole_page.feed(response.text)
    assert [p for p in whole_page.problems if p not in ("<form>", "<details>")] == []
