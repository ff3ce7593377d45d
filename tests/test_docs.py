"""The documentation site builds with warnings as errors, tutorials and API reference included.

The build runs the tutorials in their small-size mode (``TINYGRAD_NCA_SMALL=1``), sharing the runs
with tests/test_tutorials.py, so a broken docstring, a dead link or a failing tutorial fails this
test, as it would fail ``mkdocs build --strict``.
"""

import html as html_module
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def load_hook():
    spec = importlib.util.spec_from_file_location(
        "tutorials_hook", ROOT / "docs_hooks/tutorials.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percent_format_cells_are_split_into_prose_and_code():
    hook = load_hook()
    text = "# %% [markdown]\n# # Title\n#\n# Some *prose*.\n\n# %%\nx = 1\nprint(x)\n# %%\n\n"
    cells = hook.split_cells(text)
    assert [c["kind"] for c in cells] == ["markdown", "code"]  # the empty last cell is dropped
    assert hook.prose(cells[0]["source"]) == "# Title\n\nSome *prose*."
    assert cells[1]["source"] == "x = 1\nprint(x)"
    assert cells[1]["first_line"] == 6  # so that tracebacks name the script's own line


def test_a_tutorial_is_run_cell_by_cell_and_rendered_in_order(tmp_path):
    hook = load_hook()
    script = tmp_path / "99_example.py"
    script.write_text(
        "# %% [markdown]\n# # A title\n#\n# Intro.\n"
        "# %%\nimport os, pathlib\nx = 6 * 7\nprint('x =', x)\n"
        "# %% [markdown]\n# Then a figure.\n"
        "# %%\npathlib.Path(os.environ['TINYGRAD_NCA_OUTPUT'], 'f.png').write_bytes(b'png')\n"
        "assert x == 42   # names defined in one cell live on in the next\n"
    )
    folder = hook.execute(script, tmp_path / "cache", small=True)
    page = hook.to_markdown(script, folder)
    order = [
        "# A title",
        "Run it yourself",
        "Intro.",
        "x = 6 * 7",
        "```text\nx = 42",
        "Then a figure.",
        "![f.png](99_example/f.png)",
    ]
    positions = [page.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), page
    assert hook.execute(script, tmp_path / "cache", small=True) == folder  # cached: not run again


def test_a_failing_tutorial_fails_the_build_with_its_traceback(tmp_path):
    hook = load_hook()
    script = tmp_path / "98_broken.py"
    script.write_text("# %%\nx = 1\n# %%\nassert x == 2, 'the claim is false'\n")
    with pytest.raises(RuntimeError, match="(?s)98_broken.py.*line 4.*the claim is false"):
        hook.execute(script, tmp_path / "cache", small=True)


@pytest.mark.parametrize("page", ["index.md", "getting-started.md"])
def test_code_on_the_static_pages_runs(page):
    """The Python blocks of a page run in order, in one namespace, as a reader would paste them."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"no Python blocks found on {page}"
    namespace = {}
    for block in blocks:
        exec(compile(block, f"docs/{page}", "exec"), namespace)


def test_every_tutorial_is_in_the_navigation_and_the_index():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    index = (ROOT / "docs/tutorials/index.md").read_text(encoding="utf-8")
    for script in TUTORIALS:
        assert f"tutorials/{script.stem}.md" in nav, (
            f"{script.name} is missing from mkdocs.yml's nav"
        )
        assert f"({script.stem}.md)" in index, (
            f"{script.name} is missing from docs/tutorials/index.md"
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail(
            "MkDocs is not installed: the docs packages come with the test extra, "
            'pip install -e ".[test]"'
        )
    tmp = tmp_path_factory.mktemp("docs")
    # the small-mode tutorial runs are shared with test_tutorials.py (whichever comes first runs them)
    cache = tmp_path_factory.getbasetemp() / "tutorial-runs"
    env = dict(
        os.environ,
        TINYGRAD_NCA_SMALL="1",
        TINYGRAD_NCA_DOCS_CACHE=str(cache),
        NO_MKDOCS_2_WARNING="1",
        MPLBACKEND="Agg",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return tmp / "site"


def test_site_builds_strictly(site):
    assert (site / "index.html").exists()
    assert (site / "getting-started" / "index.html").exists()


def test_tutorial_pages_show_code_output_and_figures(site):
    for script in TUTORIALS:
        page = site / "tutorials" / script.stem / "index.html"
        assert page.exists(), f"no page for {script.name}"
        html = page.read_text(encoding="utf-8")
        assert "language-python" in html or "highlight" in html
        for image in re.findall(r'<img[^>]+src="([^"]+)"', html):
            if not image.startswith(("http:", "https:", "data:")):
                assert (page.parent / image).exists(), f"{script.name}: broken image {image}"
        source = script.read_text(encoding="utf-8")
        promised = re.findall(r'(?:save|draw_graph)\(\w+, OUT, "([^"]+)"\)', source)
        for name in promised:
            assert f'src="{name}"' in html, f"{script.name}: figure {name} is not on its page"


def test_api_reference_is_generated_from_docstrings(site):
    html = (site / "api" / "gradcheck" / "index.html").read_text(encoding="utf-8")
    # words from check_grads' docstring, not from the Markdown page that includes it
    assert "check_grads" in html and "central finite differences" in html
    html = (site / "api" / "transforms" / "index.html").read_text(encoding="utf-8")
    assert "value_and_grad" in html and "Hessian-vector product" in html


# ------------------------------------------------------------------ what a reader gets
class _Text(HTMLParser):
    """The text of a page outside code blocks, scripts and styles (what a reader reads as prose)."""

    SKIP = {"pre", "code", "script", "style"}

    def __init__(self):
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIP

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIP

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def prose_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


# TeX that reached the reader untypeset: \[ \( $$ or a command such as \frac, \sum, \bar.
RAW_TEX = re.compile(r"\\[\[\]()]|\$\$|\\[a-zA-Z]{2,}")


def pages(site):
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def test_maths_is_typeset_into_mathml_at_build_time(site):
    typeset = 0
    for page in pages(site):
        html = page.read_text(encoding="utf-8")
        assert 'class="arithmatex"' not in html, f"{page}: maths left for a browser script"
        raw = RAW_TEX.findall(prose_text(html))
        assert not raw, f"{page.relative_to(site)}: raw TeX in the text: {raw[:5]}"
        typeset += html.count("<math")
    tex = sum(s.read_text(encoding="utf-8").count("$$") // 2 for s in TUTORIALS)
    assert typeset >= tex > 0, (
        f"{tex} displayed equations in the tutorials, {typeset} <math> elements"
    )


def test_the_site_needs_no_network(site):
    """No page loads a script, a style sheet or a font from another host (a CDN, a font server)."""
    external = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"[^>]*>')
    for page in pages(site):
        html = page.read_text(encoding="utf-8")
        loads = [
            tag
            for tag in external.findall(html)
            if "<link" not in tag
            or re.search(r'rel="(?:stylesheet|preconnect|preload|modulepreload)"', tag)
        ]
        assert not loads, f"{page.relative_to(site)} loads from the network: {loads}"


def test_the_hooks_are_not_published(site):
    assert not (site / "hooks").exists()
    published = {p.relative_to(site).as_posix() for p in site.rglob("*.py")}
    offered = {f"tutorials/{s.name}" for s in TUTORIALS} | {"tutorials/_tutorial.py"}
    assert published == offered, (
        f"Python files published besides the tutorials: {published - offered}"
    )


def test_each_tutorial_page_offers_its_script_and_a_notebook(site):
    nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the test extra")
    hook = load_hook()
    for script in TUTORIALS:
        html = (site / "tutorials" / script.stem / "index.html").read_text(encoding="utf-8")
        for name in (script.name, f"{script.stem}.ipynb", "_tutorial.py"):
            assert re.search(rf'<a download href="\.\./{re.escape(name)}"', html), (
                f"{script.name}: no download link for {name}"
            )
        assert (site / "tutorials" / script.name).read_bytes() == script.read_bytes()
        notebook = nbformat.read(site / "tutorials" / f"{script.stem}.ipynb", as_version=4)
        nbformat.validate(notebook)  # raises if Jupyter could not open it
        cells = hook.split_cells(script.read_text(encoding="utf-8"))
        code = [c["source"].strip("\n") for c in cells if c["kind"] == "code"]
        assert [c.source for c in notebook.cells if c.cell_type == "code"] == code
        assert len(notebook.cells) == len(cells)
    assert (site / "tutorials/_tutorial.py").read_bytes() == (
        ROOT / "tutorials/_tutorial.py"
    ).read_bytes()


def tensor_runtime_names():
    """The public names Tensor has at run time (its own and its package bases'), by introspection."""
    import tinygrad_nca

    names = set()
    for klass in tinygrad_nca.Tensor.__mro__:
        if klass.__module__.startswith("tinygrad_nca"):
            names |= {n for n in vars(klass) if not n.startswith("_")}
    return names


def test_the_tensor_page_documents_every_runtime_member(site):
    html = (site / "api" / "tensor" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="tinygrad_nca\.tensor\.Tensor\.(\w+)"', html))
    expected = tensor_runtime_names()
    assert {"shape", "dtype", "ndim", "size", "is_leaf", "T", "reshape", "sum", "exp"} <= expected
    assert expected <= anchors, f"missing from the Tensor page: {sorted(expected - anchors)}"
    assert "property(lambda" not in html  # properties shown as their source line
    assert "The shape of" in html and "The transpose (all axes reversed)" in html
    text = prose_text(html)
    for operator in ("__add__", "__radd__", "__matmul__", "__getitem__", "__neg__", "__lt__"):
        assert operator in html, f"operator {operator} is not listed"
    assert "x @ y" in html and "tinygrad_nca.ops.matmul" in html
    assert "x + y, elementwise" in text


def test_signatures_are_formatted(site):
    """Long signatures are broken over lines (ruff) rather than left as one line."""
    html = (site / "api" / "nca" / "index.html").read_text(encoding="utf-8")
    signatures = re.findall(r'<div class="doc-signature highlight"><pre>(.*?)</pre>', html, re.S)
    assert signatures
    text = [html_module.unescape(re.sub(r"<[^>]+>", "", s)) for s in signatures]
    longest = max(len(line) for s in text for line in s.splitlines())
    assert longest <= 90, f"a signature line of {longest} characters"


def test_no_returns_section_renders_prose_as_types():
    """A Returns entry whose continuation lines lost their indent becomes one empty type row per
    line; the API pages must not show that (numpydoc parsing, as mkdocstrings does it)."""
    griffe = pytest.importorskip("griffe", reason="griffe comes with mkdocstrings[python]")
    package = griffe.load("tinygrad_nca", search_paths=[str(ROOT)], docstring_parser="numpy")
    bad = []

    def walk(obj):
        for member in obj.members.values():
            if not member.is_alias:
                yield member
                yield from walk(member)

    for obj in walk(package):
        for section in obj.docstring.parsed if obj.docstring else []:
            if section.kind.value not in ("returns", "yields", "receives"):
                continue
            for item in section.value:
                annotation = str(item.annotation or "")
                if "``" in annotation or (len(section.value) > 1 and not item.name):
                    bad.append(f"{obj.path}: {annotation!r}")
    assert not bad, "Returns entries that are prose read as types:\n" + "\n".join(bad)


# ------------------------------------------------------------------ the pages in a browser
BROWSER = next(
    (
        shutil.which(name)
        for name in ("chromium", "chromium-browser", "google-chrome")
        if shutil.which(name)
    ),
    None,
)

# Run in each page once it has loaded: what a reader sees, as JSON.
INSPECT = """(async () => {
  const RAW = /\\\\[\\[\\]()]|\\$\\$|\\\\[a-zA-Z]{2,}/;
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(resolve => { img.onload = img.onerror = resolve; })));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
    const parent = node.parentElement;
    if (!parent || parent.closest("pre, code, script, style")) return NodeFilter.FILTER_REJECT;
    return parent.getClientRects().length ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT;
  }});
  let text = "";
  while (walker.nextNode()) text += walker.currentNode.data;
  const raw = text.match(RAW);
  const maths = [...document.querySelectorAll("math")];
  return JSON.stringify({
    raw: raw ? text.slice(Math.max(0, raw.index - 40), raw.index + 40) : null,
    broken: [...document.images].filter(img => img.naturalWidth === 0).map(img => img.getAttribute("src")),
    ids: [...document.querySelectorAll("[id]")].map(el => el.id),
    maths: maths.length,
    flat: maths.filter(m => m.getBoundingClientRect().height === 0
                            || !getComputedStyle(m).display.includes("math")).length,
  });
})()"""


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands on the browser's fd 3, replies and events on its fd 4).
    Offline: every host name but 127.0.0.1 fails to resolve."""

    def __init__(self, executable: str, width: int = 1280, height: int = 1000):
        import fcntl

        def above_4(fd):  # so that moving them to 3 and 4 cannot overwrite one another
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return high

        commands, self._to_browser = map(above_4, os.pipe())
        self._from_browser, replies = map(above_4, os.pipe())
        arguments = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # a Python trampoline puts the two pipe ends where Chromium looks for them, fds 3 and 4
        trampoline = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(commands), str(replies), executable, *arguments],
            pass_fds=(commands, replies),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands)
        os.close(replies)
        self._buffer, self._events, self._id = b"", [], 0
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            self.send("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _read(self, deadline: float) -> dict:
        import json
        import select
        import time

        while b"\0" not in self._buffer:
            if not select.select([self._from_browser], [], [], max(0.0, deadline - time.time()))[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        import json
        import time

        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate and wait for the page's load event."""
        import time

        self._events.clear()
        self.send("Page.navigate", session=True, url=url)
        deadline = time.time() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._read(deadline))

    def evaluate(self, expression: str):
        result = self.send(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"]["value"]

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page."""
        import base64

        data = self.send("Page.captureScreenshot", session=True, captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
            except (RuntimeError, TimeoutError, OSError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def served(site):
    """The built site on a local HTTP server (loopback only), for the browser."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium here: the built pages were not opened in a "
    "browser (apt-get install chromium to run this)",
)
def test_the_pages_as_a_browser_shows_them_offline(site, served):
    """In headless Chromium with no network: no page shows raw TeX, every maths element is laid
    out as MathML, every image loads, and the Tensor page has its run-time members."""
    import json

    browser = Browser(BROWSER)
    results = {}
    try:
        for page in pages(site):
            url = "/" + page.relative_to(site).as_posix().removesuffix("index.html")
            browser.open(served + url)
            results[url] = json.loads(browser.evaluate(INSPECT))
            # TINYGRAD_NCA_SCREENSHOTS=DIR keeps a picture of every page, to look at
            if os.environ.get("TINYGRAD_NCA_SCREENSHOTS"):
                folder = Path(os.environ["TINYGRAD_NCA_SCREENSHOTS"])
                folder.mkdir(parents=True, exist_ok=True)
                browser.screenshot(
                    folder / ((url.strip("/").replace("/", "_") or "index") + ".png")
                )
    finally:
        browser.close()
    for url, result in results.items():
        assert result["raw"] is None, f"{url}: raw TeX on the page: ...{result['raw']}..."
        assert not result["broken"], f"{url}: images that did not load: {result['broken']}"
        assert result["flat"] == 0, f"{url}: {result['flat']} maths elements not laid out as MathML"
    assert results["/tutorials/01_reverse_mode_from_scratch/"]["maths"] >= 5
    tensor = {
        i.removeprefix("tinygrad_nca.tensor.Tensor.")
        for i in results["/api/tensor/"]["ids"]
        if i.startswith("tinygrad_nca.tensor.Tensor.")
    }
    missing = tensor_runtime_names() - tensor
    assert not missing, f"the Tensor page in the browser lacks {sorted(missing)}"
