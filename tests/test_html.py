"""Checks on the built HTML book (`_build/html`): it must read offline, with its math typeset.

For every page listed in ``_toc.yml``:

* statically: no ``<script src>``, stylesheet/preload/font ``<link>``, image, frame or CSS ``url(``
  (inline, in ``style=`` or in the local stylesheets the page loads) points to another host, every
  local asset it loads exists, MathJax comes from ``_static/mathjax``, and every ``<img>`` is a
  readable, non-empty PNG/SVG/JPEG/GIF;
* in headless Chromium, from ``file://`` with every network request sent to a dead proxy: after the
  scripts have run, pages with math hold MathJax output (``mjx-container``, no ``merror``) and no raw
  ``$$``, ``\\(`` or ``\\[`` is left in the visible text; the browser's network log shows no request
  made by the page to an ``http(s)`` host.

* at a 1280 × 900 window, page by page and check by check (``test_page_layout[<page>-<check>]``): no
  code cell and no table wider than its container (``scrollWidth ≤ clientWidth``), no visible code
  line over 88 characters, no visible ``glue(`` call, no progress bar or object repr in an output,
  MathJax typeset in every statement of the claims ledger, and the word "notes" never used for an
  internal document.

``make test`` runs this after building the book, with ``REQUIRE_BOOK=1``: a missing build, page or
browser then fails instead of skipping.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from companion.provenance import toc_documents

# BOOK_ROOT: check another built book (a folder holding _toc.yml and _build/html)
ROOT = Path(os.environ.get("BOOK_ROOT") or Path(__file__).resolve().parents[1]).resolve()
BUILD = ROOT / "_build" / "html"
REQUIRE = os.environ.get("REQUIRE_BOOK", "") not in ("", "0")

if not BUILD.is_dir():
    if REQUIRE:
        pytest.fail(f"REQUIRE_BOOK is set but {BUILD} does not exist: build the book first (make book)",
                    pytrace=False)
    pytest.skip(f"{BUILD} not built (set REQUIRE_BOOK=1 to make this a failure)", allow_module_level=True)

bs4 = pytest.importorskip("bs4")

EXTERNAL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//")  # http://, https://, //host, ftp://...
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.S)
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""")
SCRIPT_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+?\.(?:m?js|css|woff2?|ttf|otf|eot)(?:\?[^"'`\s]*)?)["'`]""")
LOADING_LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "icon",
                     "shortcut", "apple-touch-icon", "manifest", "font"}


DOCS = toc_documents(ROOT)


def page_path(doc: str) -> Path:
    path = BUILD / f"{doc}.html"
    if not path.exists():
        if REQUIRE:
            pytest.fail(f"{doc} is listed in _toc.yml but {path} was not built", pytrace=False)
        pytest.skip(f"{path} not built (stale build?)")
    return path


def soup_of(path: Path):
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def local_file(page: Path, ref: str) -> Path | None:
    """The file a relative reference of ``page`` points to (``None`` for ``data:`` and fragments)."""
    parts = urlsplit(ref)
    if parts.scheme in ("data", "blob", "about", "javascript") or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


def external_css_refs(css: str) -> list[str]:
    refs = [m.group(2) for m in CSS_URL.finditer(css)] + [m.group(2) for m in CSS_IMPORT.finditer(css)]
    return [r for r in refs if EXTERNAL.match(r)]


def loaded_assets(soup) -> list[tuple[str, str]]:
    """(what, reference) for everything the page makes the browser fetch."""
    out = []
    for tag in soup.find_all("script", src=True):
        out.append(("<script src>", tag["src"]))
    for tag in soup.find_all("link", href=True):
        rels = {r.lower() for r in (tag.get("rel") or [])}
        if rels & LOADING_LINK_RELS or tag.get("as") in ("font", "style", "script"):
            out.append((f"<link rel={' '.join(sorted(rels))}>", tag["href"]))
    for name, attr in (("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"), ("audio", "src"),
                       ("embed", "src"), ("object", "data"), ("input", "src")):
        for tag in soup.find_all(name, attrs={attr: True}):
            out.append((f"<{name} {attr}>", tag[attr]))
    for tag in soup.find_all("img", srcset=True):
        for item in tag["srcset"].split(","):
            if item.strip():
                out.append(("<img srcset>", item.split()[0]))
    return out


@pytest.mark.parametrize("doc", DOCS)
def test_page_loads_nothing_from_another_host(doc: str):
    page = page_path(doc)
    soup = soup_of(page)
    problems = [f"{what} {ref}" for what, ref in loaded_assets(soup) if EXTERNAL.match(ref)]
    for style in soup.find_all("style"):
        problems += [f"<style> url({r})" for r in external_css_refs(style.get_text())]
    for tag in soup.find_all(style=True):
        problems += [f"<{tag.name} style> url({r})" for r in external_css_refs(tag["style"])]
    for script in soup.find_all("script", src=False):
        if (script.get("type") or "text/javascript") in ("text/javascript", "module", "application/javascript"):
            problems += [f"inline <script> loads {m.group(1)}" for m in SCRIPT_URL.finditer(script.get_text())]
    # the stylesheets the page loads, and the ones they @import
    seen, todo = set(), [local_file(page, ref) for what, ref in loaded_assets(soup) if "stylesheet" in what]
    while todo:
        css = todo.pop()
        if css is None or css in seen or not css.exists():
            continue
        seen.add(css)
        text = css.read_text(encoding="utf-8", errors="replace")
        problems += [f"{css.relative_to(BUILD)}: url({r})" for r in external_css_refs(text)]
        todo += [(css.parent / unquote(urlsplit(m.group(2)).path)).resolve()
                 for m in CSS_IMPORT.finditer(text) if not EXTERNAL.match(m.group(2))]
    assert not problems, f"{page.relative_to(BUILD)} references other hosts:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS)
def test_page_assets_exist_and_mathjax_is_local(doc: str):
    page = page_path(doc)
    soup = soup_of(page)
    missing = []
    for what, ref in loaded_assets(soup):
        if EXTERNAL.match(ref) or what.startswith("<img"):
            continue
        f = local_file(page, ref)
        if f is not None and not f.exists():
            missing.append(f"{what} {ref}")
    assert not missing, f"{page.relative_to(BUILD)} loads files that are not in the build:\n" + "\n".join(missing)
    if soup.select(".math"):
        mathjax = [s["src"] for s in soup.find_all("script", src=True) if "mathjax" in s["src"].lower()]
        assert mathjax, f"{page.relative_to(BUILD)} has math but loads no MathJax"
        for src in mathjax:
            f = local_file(page, src)
            assert f is not None and f.is_relative_to(BUILD / "_static" / "mathjax") and f.exists(), \
                f"{page.relative_to(BUILD)} loads MathJax from {src}, not from _static/mathjax"


def image_size(data: bytes, name: str) -> tuple[float, float]:
    """(width, height) of a PNG, JPEG, GIF or SVG; raises ValueError if the bytes are not a valid image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if data[12:16] != b"IHDR":
            raise ValueError("PNG without IHDR")
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                raise ValueError("corrupt JPEG")
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
        raise ValueError("JPEG without frame header")
    text = data.decode("utf-8", errors="replace").lstrip()
    if name.endswith(".svg") or text.startswith("<?xml") or "<svg" in text[:1000]:
        root = ET.fromstring(data)
        if not root.tag.endswith("svg"):
            raise ValueError(f"XML root is <{root.tag}>, not <svg>")

        def length(v):
            m = re.match(r"\s*([0-9.]+)", v or "")
            return float(m.group(1)) if m else 0.0

        w, h = length(root.get("width")), length(root.get("height"))
        if (not w or not h) and root.get("viewBox"):
            _, _, w, h = (float(x) for x in re.split(r"[\s,]+", root.get("viewBox").strip()))
        return w, h
    raise ValueError("not a PNG, JPEG, GIF or SVG")


@pytest.mark.parametrize("doc", DOCS)
def test_images_are_valid(doc: str):
    page = page_path(doc)
    problems = []
    for img in soup_of(page).find_all("img"):
        src = img.get("src", "")
        try:
            if src.startswith("data:"):
                header, _, payload = src.partition(",")
                data = base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode()
                name = ".svg" if "svg" in header else ""
            else:
                f = local_file(page, src)
                if f is None or not f.exists():
                    problems.append(f"{src}: file missing")
                    continue
                data, name = f.read_bytes(), f.name
            w, h = image_size(data, name)
            if not (w > 0 and h > 0):
                problems.append(f"{src[:80]}: size {w}x{h}")
        except (ValueError, ET.ParseError, struct.error) as exc:
            problems.append(f"{src[:80]}: {exc}")
    assert not problems, f"{page.relative_to(BUILD)} has broken images:\n" + "\n".join(problems)


# --- in the browser -------------------------------------------------------------------------------

def chromium() -> str | None:
    for c in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def render(page: Path, workdir: Path) -> tuple[str, list[str]]:
    """The DOM of ``page`` after its scripts ran, and the http(s) URLs the page tried to fetch."""
    profile, netlog = workdir / "profile", workdir / "netlog.json"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
           # every request that could leave the machine goes to a dead proxy; the page comes from file://
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           f"--log-net-log={netlog}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "<html" in proc.stdout.lower(), \
        f"chromium failed on {page} (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
    requested = []
    try:
        log = json.loads(netlog.read_text())
        start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        for event in log["events"]:
            params = event.get("params") or {}
            url = params.get("url", "")
            # the browser's own background requests carry initiator 'not an origin'; the page's do not
            if event["type"] == start and url.startswith(("http:", "https:", "ws:", "wss:")) \
                    and params.get("initiator") != "not an origin":
                requested.append(url)
    except (OSError, ValueError, KeyError):  # an unfinished log (the browser was killed): the DOM checks still hold
        pass
    return proc.stdout, requested


def every_page(tmp_path_factory, name: str, visit) -> dict:
    """``visit(page, workdir)`` for every built page of the toc, four browsers at a time."""
    if chromium() is None:
        if REQUIRE:
            pytest.fail("REQUIRE_BOOK is set but no chromium was found (apt-get install chromium)", pytrace=False)
        pytest.skip("no chromium to render the pages")
    pages = {d: BUILD / f"{d}.html" for d in DOCS if (BUILD / f"{d}.html").exists()}
    base = tmp_path_factory.mktemp(name)

    def one(item):
        doc, page = item
        return doc, visit(page, Path(tempfile.mkdtemp(dir=base)))

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1) or 1) as pool:
        return dict(pool.map(one, pages.items()))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every built page of the toc, rendered once."""
    return every_page(tmp_path_factory, "chromium", render)


VISIBLE_SKIP = ("script", "style", "pre", "code", "textarea", "noscript", "mjx-container", "template")
RAW_MATH = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")


@pytest.mark.parametrize("doc", DOCS)
def test_page_renders_offline(doc: str, rendered):
    page = page_path(doc)
    dom, requested = rendered[doc]
    assert not requested, f"{doc}: the page tried to fetch from the network:\n" + "\n".join(requested)
    static_math = len(soup_of(page).select(".math"))
    soup = bs4.BeautifulSoup(dom, "html.parser")
    main = soup.select_one("main") or soup.body or soup
    if static_math:
        typeset = main.find_all("mjx-container")
        assert len(typeset) >= static_math, \
            f"{doc}: {static_math} math elements in the HTML, {len(typeset)} typeset by MathJax"
        errors = [e.get_text(" ", strip=True)[:120] for e in main.find_all(["mjx-merror", "merror"])]
        # an undefined macro is typeset as red text holding the macro's name (MathJax's noundefined)
        errors += [e.get_text(strip=True) for e in main.find_all("mtext", attrs={"mathcolor": "red"})
                   if e.get_text(strip=True).startswith("\\")]
        assert not errors, f"{doc}: MathJax errors: {errors}"
    for tag in main.find_all(VISIBLE_SKIP):
        tag.decompose()
    text = main.get_text(" ")
    raw = sorted({text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ") for m in RAW_MATH.finditer(text)})[:5]
    assert not raw, f"{doc}: raw TeX left in the visible text after MathJax ran:\n" + "\n".join(raw)


# --- layout at a 1280 × 900 window ----------------------------------------------------------------
# A copy of each page, with <base href> pointing at the built page's folder (so every asset and link
# resolves as in the book) and a script that, once MathJax has typeset the page, measures it and
# writes a JSON report into the DOM that --dump-dom returns.

WINDOW = (1280, 900)
MAX_CODE_LINE = 88
MEASURE_JS = r"""
<script>
(function () {
  function shown(el) {  // laid out, not hidden, not inside a closed <details> (hide-input toggles)
    var closed = el.closest("details:not([open])");
    if (closed && !(closed.querySelector("summary") || {}).contains(el)) return false;
    return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  }
  function label(el) { return (el.innerText || "").trim().split("\n")[0].slice(0, 70); }
  function measure() {
    var main = document.querySelector("main") || document.body, r = {
      window: [innerWidth, innerHeight], code_overflow: [], table_overflow: [], long_lines: [], glue: [],
      outputs: [], ledger: {statements: 0, typeset: 0, raw: []}, notes: []};
    main.querySelectorAll("div.cell pre, div.cell").forEach(function (el) {
      if (shown(el) && el.scrollWidth > el.clientWidth + 1)
        r.code_overflow.push([el.tagName.toLowerCase(), el.scrollWidth, el.clientWidth, label(el)]);
    });
    main.querySelectorAll("div.cell_input pre").forEach(function (pre) {
      if (!shown(pre)) return;
      pre.innerText.split("\n").forEach(function (line) {
        if (line.length > %(max_line)d) r.long_lines.push([line.length, line.slice(0, 100)]);
        if (/\bglue\(/.test(line)) r.glue.push(line.trim().slice(0, 100));
      });
    });
    main.querySelectorAll("table").forEach(function (t) {
      var c = t.parentElement;
      if (shown(t) && (t.offsetWidth > c.clientWidth + 1 || c.scrollWidth > c.clientWidth + 1))
        r.table_overflow.push([t.offsetWidth, c.scrollWidth, c.clientWidth, label(t)]);
    });
    var bad = [[/\d+%%\|/, "progress bar"], [/\d+\/\d+ \[\d\d:\d\d/, "progress bar"],
               [/\b(Claim|LieResult|LawsResult|PolynomialLaws|Case|FieldFamily|Flow)\(\w+=/, "object repr"],
               [/<[\w.]+ object at 0x[0-9a-f]+>/, "object repr"], [/<Figure size \d+x\d+ with/, "object repr"],
               [/<IPython\.core\.display\.\w+ object>/, "object repr"]];
    main.querySelectorAll("div.cell_output").forEach(function (out) {
      if (!shown(out)) return;
      var text = out.innerText;
      bad.some(function (b) {  // one report per output
        var m = text.match(b[0]);
        if (m) r.outputs.push([b[1], text.slice(Math.max(0, m.index - 30), m.index + 60)]);
        return !!m;
      });
    });
    main.querySelectorAll("table.ledger tbody tr").forEach(function (tr) {
      var cell = tr.children[1];
      if (!cell) return;
      r.ledger.statements += 1;
      if (cell.querySelector("mjx-container")) r.ledger.typeset += 1;
      var raw = cell.innerText.match(/\\\(|\\\)|\$[^$]+\$/);
      if (raw) r.ledger.raw.push(cell.innerText.slice(0, 100));
    });
    var notes = /\b(?:the|our|project['\u2019]s|internal|these|see|in)\s+notes\b|\bnotes['\u2019](?!\w)|notes\.md|\bshared\//gi;
    var text = main.innerText, m;
    while ((m = notes.exec(text)) !== null) r.notes.push(text.slice(Math.max(0, m.index - 40), m.index + 50));
    var out = document.createElement("script");
    out.type = "application/json"; out.id = "layout-report"; out.textContent = JSON.stringify(r);
    document.body.appendChild(out);
  }
  window.addEventListener("load", function () {
    var mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    (mj ? mj.then(function () { setTimeout(measure, 50); }) : Promise.resolve().then(measure));
  });
})();
</script>
""" % {"max_line": MAX_CODE_LINE}


def measure(page: Path, workdir: Path) -> dict:
    """Open a measuring copy of ``page`` at the book's window size; return the script's report."""
    html = page.read_text(encoding="utf-8")
    base = f'<base href="{page.parent.as_uri()}/">'
    html = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + base, html, count=1)
    html = html.replace("</body>", MEASURE_JS + "</body>", 1) if "</body>" in html else html + MEASURE_JS
    copy = workdir / page.name
    copy.write_text(html, encoding="utf-8")
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-background-networking", "--disable-component-update", "--disable-extensions",
           f"--user-data-dir={workdir / 'profile'}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=15000", "--allow-file-access-from-files",
           "--dump-dom", copy.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r'<script type="application/json" id="layout-report">(.*?)</script>', proc.stdout, re.S)
    assert m, f"the measuring script did not report on {page} (rc {proc.returncode}):\n{proc.stderr[-1500:]}"
    import html as _html

    return json.loads(_html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every built page of the toc, measured once at 1280 × 900."""
    return every_page(tmp_path_factory, "layout", measure)


def _listing(items, limit: int = 5) -> str:
    lines = [json.dumps(i, ensure_ascii=False) for i in items[:limit]]
    more = len(items) - limit
    return "\n  ".join(lines + ([f"... and {more} more"] if more > 0 else []))


LAYOUT_CHECKS = {
    "code-width": ("code_overflow", "code cells wider than their container (tag, scrollWidth, clientWidth, start)"),
    "table-width": ("table_overflow", "tables wider than their container (width, container scrollWidth, "
                                      "clientWidth, start)"),
    "code-line-length": ("long_lines", f"visible code lines over {MAX_CODE_LINE} characters (length, line)"),
    "no-glue-call": ("glue", "visible glue( calls (bookkeeping belongs in a remove-input cell)"),
    "no-progress-or-repr": ("outputs", "progress bars or object reprs in outputs (kind, text)"),
    "no-internal-notes": ("notes", 'the word "notes" for an internal document'),
}


def ledger_documents() -> list[str]:
    """The pages whose notebook builds the claims ledger (calls ``ledger(``): the only ones checked for it."""
    out = []
    for doc in DOCS:
        source = ROOT / f"{doc}.ipynb"
        if source.exists() and "ledger(" in source.read_text(encoding="utf-8"):
            out.append(doc)
    return out


LEDGER_DOCS = ledger_documents()


def test_some_page_has_a_ledger():
    assert LEDGER_DOCS, "no page of _toc.yml builds the claims ledger (a notebook calling ledger()); the report does"


@pytest.mark.parametrize("doc", LEDGER_DOCS)
def test_ledger_mathjax(doc: str, measured):
    page_path(doc)
    ledger = measured[doc]["ledger"]
    assert ledger["statements"], f"{doc} builds the claims ledger but the page shows no ledger statement"
    assert not ledger["raw"] and ledger["typeset"] > 0, \
        (f"{doc}: {ledger['typeset']} of {ledger['statements']} ledger statements hold MathJax output; raw "
         f"TeX left in:\n  " + _listing(ledger["raw"]))


@pytest.mark.parametrize("check", LAYOUT_CHECKS)
@pytest.mark.parametrize("doc", DOCS)
def test_page_layout(doc: str, check: str, measured):
    page_path(doc)
    report = measured[doc]
    assert report["window"][0] == WINDOW[0], f"{doc}: measured at {report['window']}, not {WINDOW}"
    key, what = LAYOUT_CHECKS[check]
    found = report[key]
    assert not found, f"{doc}: {len(found)} {what}:\n  " + _listing(found)
