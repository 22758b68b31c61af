"""GraphiQL in a real browser with the internet cut off: it renders from cardcash's own files,
runs a query and opens the docs panel, and the page never tries to reach another host."""

from __future__ import annotations

import httpx

from tests.browser.conftest import HERE
from tests.node import run_node


def test_graphiql_works_with_every_non_local_request_blocked(dev_server):
    outcome = run_node(HERE / "graphiql.mjs", dev_server.url)
    assert outcome["blocked"] == [], "GraphiQL tried to reach another host"
    assert outcome["violations"] == [], "the page broke its own Content-Security-Policy"
    assert outcome["errors"] == [], outcome
    assert outcome["ok"], outcome
    assert "docs panel opened" in outcome["steps"]


def test_the_page_allows_only_its_own_files(dev_server):
    page = httpx.get(f"{dev_server.url}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", (name, csp)
    assert "unpkg" not in page.text and "https://" not in page.text
    # Every vendored file is served with the hash the page pins.
    assert page.text.count('integrity="sha384-') == 4
    js = httpx.get(f"{dev_server.url}/static/graphiql/graphiql.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
