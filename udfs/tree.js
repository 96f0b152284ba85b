// Builds the page's content tree in reading order: headings, text, list items,
// tables as text, images with absolute URLs. Drops site chrome (navigation,
// header, footer, sidebars, cookie banners, adverts) and hidden elements, but keeps
// collapsed solutions (closed <details>, spoilers, show/hide blocks) marked as
// collapsed, and keeps formula source (TeX from MathJax 2/3 and KaTeX, MathML,
// formula image alt text). SVG images and inline SVG diagrams are marked with
// data-webmine-raster so that the renderer can screenshot them into PNG.
(options) => {
  const RASTER_MIN_SIDE = (options && options.rasterMinSide) || 0;  // 0: no rasterising
  const RASTER_MAX = (options && options.rasterMax) || 0;
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "IFRAME", "BUTTON", "SELECT",
                        "INPUT", "TEXTAREA", "OBJECT", "EMBED", "VIDEO", "AUDIO", "CANVAS", "SVG", "HEAD"]);
  const CHROME_TAGS = new Set(["NAV", "HEADER", "FOOTER", "ASIDE"]);
  const CHROME_ROLES = new Set(["navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"]);
  const CHROME_NAME = /(^|[-_ ])(cookie|cookies|consent|gdpr|onetrust|didomi|cookiebot|cmp|banner|advert|advertisement|ads?|ad-slot|adsbygoogle|taboola|outbrain|sponsor|sponsored|promo|newsletter|share|sharing|social|breadcrumbs?|sidebar|related|popup|modal|subscribe)([-_ ]|$)/i;
  // Blocks that are mostly links (menus, "more stories", tag clouds) are chrome wherever they sit.
  const LINK_LIST_TAGS = new Set(["UL", "OL", "DIV", "SECTION", "TABLE", "DL", "P", "SPAN", "TD"]);
  const MATHJAX_OUTPUT = /^(MathJax|MJX)/;
  const COLLAPSIBLE_NAME = /spoiler|solution|answer|hidden-?content|collaps|toggle|reveal|show-?hide|accordion/i;
  const CONTAINER_NAME = /(^|[-_ ])(post|answer|question|solution|problem|example|exercise|comment|reply)([-_ ]|$)/i;
  const BLOCK_TAGS = new Set(["P", "DIV", "SECTION", "ARTICLE", "MAIN", "H1", "H2", "H3", "H4", "H5", "H6", "LI",
                              "UL", "OL", "DL", "DT", "DD", "PRE", "BLOCKQUOTE", "FIGURE", "FIGCAPTION", "DETAILS",
                              "SUMMARY", "TR", "TD", "TH", "HR", "CENTER", "ADDRESS"]);
  const CONTAINER_TAGS = new Set(["ARTICLE", "SECTION", "DETAILS", "LI", "BLOCKQUOTE"]);
  // Boilerplate that sits inside articles too: share bars, author boxes, newsletter sign-ups, teasers.
  const ARTICLE_CHROME_NAME = /(^|[-_ ])(share|sharing|social|sharebar|share-?buttons|newsletter|subscribe|subscription|signup|author-?(box|bio|info|card)|about-?the-?author|byline|related|related-?(posts?|articles?|stories|content|links)|more-?(stories|articles|posts)|read-?(more|next)|recommended|recommendations|most-?(read|popular|viewed)|trending|tags|tag-?list|post-?tags|breadcrumbs?)([-_ ]|$)/i;
  const COMMENTS_NAME = /(^|[-_ ])(comments?|commentlist|comment-?list|comments-?(area|section|wrap|container)|responses|disqus(_thread)?)([-_ ]|$)/i;
  const COMMENTS_HEADING = /^\W*\d*\W*(comments?|responses?|replies|leave a (comment|reply)|kommentare?|comentarios?|commentaires?|commenti|коммент|评论|留言|コメント)/i;
  const RELATED_HEADING = /^\W*(related|more (from|on|in|stories|articles|news|like this)|read (more|next|also)|also read|see also|you (may|might) (also )?like|recommended|most (read|popular|viewed)|trending|top stories|latest (news|stories|articles)|popular (posts|articles)|similar (threads|topics|questions|posts)|related questions|linked|hot network questions)\b/i;
  // Posts of a discussion (answers, replies) are what a Q&A or forum page is about.
  const POST_NAME = /(^|[-_ ])(answers?|question|thread|topic|forum|discussion|messages?)([-_ ]|$)/i;

  const nodes = [];
  const containers = new Map();
  let rasters = 0;
  // MathJax 3 keeps each formula's source in its document, not in the page.
  const texOf = new Map();
  try {
    for (const item of (window.MathJax && MathJax.startup && MathJax.startup.document && MathJax.startup.document.math) || []) {
      if (item.typesetRoot && typeof item.math === "string") texOf.set(item.typesetRoot, item.math);
    }
  } catch (e) { /* another library called MathJax */ }
  let buffer = [];
  let bufferCtx = null;

  const nameOf = (el) => `${el.id || ""} ${typeof el.className === "string" ? el.className : ""}`;
  const clean = (text) => text.replace(/\s+/g, " ").trim();
  const absolute = (value) => { try { return new URL(value, document.baseURI).href; } catch (e) { return null; } };

  // A block that is mostly links and has little text of its own; a wrapper around an
  // article and a list of more stories has the article's text, and stays.
  function linkList(el) {
    if (!LINK_LIST_TAGS.has(el.tagName)) return false;
    const links = el.getElementsByTagName("a");
    if (links.length < 3) return false;
    const total = clean(el.textContent).length;
    let linked = 0;
    for (const a of links) linked += clean(a.textContent).length;
    return total > 0 && linked / total > 0.6 && total - linked < 300;
  }

  function threadPage() {
    const types = Array.from(document.querySelectorAll('script[type="application/ld+json"]'), (s) => s.textContent).join(" ") +
      " " + Array.from(document.querySelectorAll("[itemtype]"), (e) => e.getAttribute("itemtype")).join(" ");
    if (/QAPage|DiscussionForumPosting|schema\.org\/(Question|Answer)|"@type"\s*:\s*"(Question|Answer)"/.test(types)) return true;
    const canonical = document.querySelector('link[rel="canonical"]');
    const og = document.querySelector('meta[property="og:url"]');
    return [location.href, canonical && canonical.href, og && og.content].some((url) => {
      try {
        const u = new URL(url, location.href);
        return /\/(forums?|boards?|threads?|topics?|questions?|discussions?|community|t|d)\/|viewtopic|showthread/i.test(u.pathname + u.search);
      } catch (e) { return false; }
    });
  }

  function headingText(el) {
    const h = el.querySelector("h1, h2, h3, h4, h5, h6, [role=heading]");
    if (!h) return "";
    // Only a heading that opens the block names it.
    const before = clean((el.innerText || el.textContent || "")).indexOf(clean(h.innerText || h.textContent || ""));
    return before >= 0 && before < 40 ? clean(h.innerText || h.textContent || "") : "";
  }

  // The comment section under an article, not the posts of a thread: the page is no
  // thread, the section sits in no post or answer, and an article outside it stays.
  function articleComments(el) {
    if (isThread) return false;
    const named = COMMENTS_NAME.test(nameOf(el));
    if (!named && !(["SECTION", "DIV", "ASIDE", "OL", "UL"].includes(el.tagName) && COMMENTS_HEADING.test(headingText(el)))) return false;
    for (let up = el.parentElement; up && up !== root; up = up.parentElement) {
      if (POST_NAME.test(nameOf(up))) return false;
    }
    const own = (el.innerText || "").length;
    return rootTextLength - own > Math.max(500, 0.3 * own);
  }

  // "Related stories", "More from ...": a section headed so, mostly links.
  function relatedSection(el) {
    if (!["SECTION", "DIV", "ASIDE", "UL", "OL", "NAV"].includes(el.tagName)) return false;
    if (!RELATED_HEADING.test(headingText(el))) return false;
    const links = el.getElementsByTagName("a");
    let linked = 0;
    for (const a of links) linked += clean(a.textContent).length;
    const total = clean(el.innerText || "").length;
    return links.length >= 2 && total < 0.4 * rootTextLength && linked / Math.max(1, total) > 0.3;
  }

  function isChrome(el) {
    if (linkList(el)) return true;
    if (articleComments(el) || relatedSection(el)) return true;
    if (ARTICLE_CHROME_NAME.test(nameOf(el)) && (el.innerText || "").length < 0.2 * rootTextLength && !el.querySelector("h1")) return true;
    if (el.closest("article") && el.tagName !== "ASIDE") return false;
    if (CHROME_TAGS.has(el.tagName)) return true;
    if (CHROME_ROLES.has(el.getAttribute("role") || "")) return true;
    if ((el.getAttribute("aria-label") || "").match(/advert|cookie/i)) return true;
    // Class names mislead on wrappers ("advert-content-wrap" around a whole story):
    // a named block is chrome only while it holds a small part of the page's text.
    return CHROME_NAME.test(nameOf(el)) && el.innerText.length < 0.4 * rootTextLength;
  }

  function visible(el) {
    return el.checkVisibility ? el.checkVisibility({ checkVisibilityCSS: true }) : el.offsetParent !== null;
  }

  function collapsibleSolution(el) {
    return (el.tagName === "DETAILS") || COLLAPSIBLE_NAME.test(nameOf(el));
  }

  // Hidden running text (an inactive tab, a body shown by a script) is content the page holds;
  // hidden menus and dialogs are mostly links or short.
  function hiddenProse(el) {
    if (!BLOCK_TAGS.has(el.tagName)) return false;
    const paragraphs = el.querySelectorAll("p");
    if (paragraphs.length < 2) return false;
    let prose = 0;
    for (const p of paragraphs) prose += clean(p.textContent).length;
    let linked = 0;
    for (const a of el.getElementsByTagName("a")) linked += clean(a.textContent).length;
    return prose >= 400 && linked < 0.3 * prose;
  }

  function flush() {
    const text = clean(buffer.join(""));
    if (text && bufferCtx) {
      nodes.push({ kind: bufferCtx.kind, text, level: bufferCtx.level, src: null, alt: null,
                   collapsed: bufferCtx.collapsed, block: bufferCtx.block });
    }
    buffer = [];
  }

  function largest(srcset) {
    let best = null, bestWidth = -1;
    for (const part of (srcset || "").split(/,\s+/)) {
      const [candidate, descriptor] = part.trim().split(/\s+/);
      const width = parseFloat(descriptor || "1") || 1;
      if (candidate && width > bestWidth) { best = candidate; bestWidth = width; }
    }
    return best;
  }

  // Lazy loaders put a blank in `src` until the picture scrolls into view.
  function placeholder(value) {
    if (!value) return true;
    if (/^data:/i.test(value)) return !/^data:image\/(png|jpe?g|webp);base64,/i.test(value) || value.length < 400;
    const file = value.split(/[?#]/)[0].split("/").pop();
    return /(^|[_.-])(spacer|blank|placeholder|transparent|pixel|1x1)([_.-]|$)/i.test(file);
  }

  // The image a reader would get: lazy-loading attributes first (their `src` is a
  // placeholder), then <picture> sources and srcset (the largest), then src, then
  // the <img> of a <noscript> fallback beside it.
  function imageSource(img, fallback = true) {
    for (const attr of ["data-src", "data-lazy-src", "data-original", "data-lazy", "data-actualsrc", "data-hi-res-src", "data-url"]) {
      const value = img.getAttribute(attr);
      if (value && !placeholder(value)) return absolute(value);
    }
    const sources = img.parentElement && img.parentElement.tagName === "PICTURE"
      ? Array.from(img.parentElement.querySelectorAll("source")) : [];
    for (const candidate of [...sources, img]) {
      const best = largest(candidate.getAttribute("data-lazy-srcset") || candidate.getAttribute("data-srcset") || candidate.getAttribute("srcset"));
      if (best && !placeholder(best)) return absolute(best);
    }
    const src = img.getAttribute("src");
    if (src && !placeholder(src)) return absolute(src);
    const backup = fallback && noscriptImage(img);
    if (backup) return imageSource(backup, false);
    return src && /^data:image\/(png|jpe?g|webp);base64,/i.test(src) ? src : null;
  }

  // `<img class=lazy src=spacer.gif><noscript><img src=real></noscript>`: with scripts
  // on, the noscript's content is text; parsed, it names the real picture.
  function noscriptImage(img) {
    let anchor = img;
    while (anchor.parentElement && !anchor.nextElementSibling && ["PICTURE", "A", "SPAN"].includes(anchor.parentElement.tagName)) anchor = anchor.parentElement;
    for (const near of [anchor.nextElementSibling, anchor.previousElementSibling]) {
      if (near && near.tagName === "NOSCRIPT") {
        const parsed = new DOMParser().parseFromString(near.textContent || near.innerHTML, "text/html").querySelector("img");
        if (parsed) return parsed;
      }
    }
    return null;
  }

  // Side in CSS pixels from attributes, or from layout once the picture has loaded.
  function imageSize(img) {
    const w = parseFloat(img.getAttribute("width")), h = parseFloat(img.getAttribute("height"));
    if (w > 0 && h > 0) return { w, h };
    if (img.complete && img.naturalWidth > 0) {
      const box = img.getBoundingClientRect();
      return box.width > 0 ? { w: box.width, h: box.height } : { w: img.naturalWidth, h: img.naturalHeight };
    }
    return null;
  }

  // Formula images stand for TeX inline; a figure drawn by the same service (Asymptote,
  // TikZ) or anything taller than a couple of text lines is a picture.
  const DIAGRAM_SOURCE = /^\s*(\[asy\]|\\begin\{(tikzpicture|asy|picture|pspicture|circuitikz|xy)|\[tikz\])/i;
  const PLAIN_FORMULA = /^\s*(\$|\\\(|\\\[|\\begin\{(equation|align|gather|multline|eqnarray|array|cases|matrix|pmatrix|bmatrix)|\\[a-z]+)/i;
  function formulaImage(img, alt) {
    if (!alt || !/math|formula|latex|equation/i.test(nameOf(img))) return false;
    if (DIAGRAM_SOURCE.test(alt)) return false;
    // A sentence describing a figure, not a formula.
    if (alt.split(" ").length >= 8 && !/[\\^_=$]/.test(alt)) return false;
    if (PLAIN_FORMULA.test(alt)) return true;
    const size = imageSize(img);
    const line = parseFloat(getComputedStyle(img.parentElement || img).fontSize) || 16;
    return !size || size.h <= 2.5 * line;
  }

  // Tracking pixels, emoji, icons and small avatars.
  function tinyImage(img) {
    const size = imageSize(img);
    return size !== null && Math.max(size.w, size.h) < 32;
  }

  function isSvgUrl(src) {
    return /^data:image\/svg\+xml/i.test(src) || /\.svgz?($|[?#])/i.test(src.split("?")[0]) || src.startsWith("blob:");
  }

  // An image node for an element the renderer will screenshot, or null when it should not.
  function rasterNode(el, src, alt, collapsed, block, checkSize) {
    if (!RASTER_MIN_SIDE || rasters >= RASTER_MAX || collapsed) return null;
    if (checkSize) {
      const box = el.getBoundingClientRect();
      if (Math.min(box.width, box.height) < RASTER_MIN_SIDE) return null;
    }
    el.setAttribute("data-webmine-raster", String(rasters));
    return { kind: "image", text: "", level: 0, src, alt, collapsed, block, raster: rasters++ };
  }

  function svgLabel(svg) {
    const title = svg.querySelector("title");
    const label = svg.getAttribute("aria-label") || (title && title.textContent) ||
      Array.from(svg.querySelectorAll("text")).map((t) => t.textContent).join(" ");
    return clean(label || "").slice(0, 300);
  }

  function mathText(el) {
    const tex = el.querySelector('annotation[encoding="application/x-tex"]');
    if (tex) return ` $${clean(tex.textContent)}$ `;
    const alt = el.getAttribute("alttext");
    return alt ? ` $${alt}$ ` : ` ${clean(el.textContent)} `;
  }

  function tableText(table) {
    return Array.from(table.rows).map((row) =>
      "| " + Array.from(row.cells).map((cell) => clean(cell.innerText || cell.textContent)).join(" | ") + " |").join("\n");
  }

  function walk(el, ctx) {
    for (const child of el.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        if (!bufferCtx) bufferCtx = ctx;
        buffer.push(child.textContent);
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      const tag = child.tagName.toUpperCase();
      if (tag === "SVG") {
        if (child.getAttribute("aria-hidden") === "true" || !visible(child) || isChrome(child)) continue;
        const node = rasterNode(child, null, svgLabel(child), ctx.collapsed, ctx.block, true);
        if (node) { flush(); bufferCtx = null; nodes.push(node); }
        continue;
      }
      // Forms are skipped, unless one wraps the page's content (ASP.NET pages, moderation forms around a thread).
      if (tag === "FORM" && clean(child.innerText || "").length < 500) continue;
      if (SKIP.has(tag)) {
        // MathJax 2 keeps TeX in <script type="math/tex">.
        if (tag === "SCRIPT" && /math\/tex/.test(child.type || "")) buffer.push(` $${child.textContent}$ `);
        continue;
      }
      if (child.getAttribute("aria-hidden") === "true" && !child.closest(".katex")) continue;
      if (isChrome(child)) continue;
      let collapsed = ctx.collapsed;
      if (!visible(child) && !ctx.collapsed) {
        const insideClosedDetails = child.closest("details:not([open])");
        if (!(insideClosedDetails || collapsibleSolution(child) || hiddenProse(child))) continue;
        collapsed = true;
      }
      if (tag === "BR") { buffer.push("\n"); continue; }
      if (tag === "MATH") { buffer.push(mathText(child)); continue; }
      if (child.classList.contains("katex")) { buffer.push(mathText(child)); continue; }
      if (tag === "MJX-CONTAINER") { buffer.push(texOf.has(child) ? ` $${texOf.get(child)}$ ` : mathText(child)); continue; }
      const texAttr = child.getAttribute("data-tex") || child.getAttribute("data-latex");
      if (texAttr) { buffer.push(` $${texAttr}$ `); continue; }
      // MathJax 2 output: its TeX is in the <script type="math/tex"> beside it.
      if (Array.from(child.classList).some((c) => MATHJAX_OUTPUT.test(c))) continue;
      // `block` is the outermost post / section / list item a node sits in.
      let block = ctx.block;
      if (!block && (CONTAINER_TAGS.has(tag) || CONTAINER_NAME.test(nameOf(child)))) {
        if (!containers.has(child)) containers.set(child, containers.size + 1);
        block = containers.get(child);
      }
      if (tag === "IMG") {
        const src = imageSource(child);
        const alt = clean(child.getAttribute("alt") || "");
        if (formulaImage(child, alt)) { buffer.push(/^\s*(\$|\\\(|\\\[|\\begin)/.test(alt) ? ` ${alt} ` : ` $${alt}$ `); continue; }
        if (tinyImage(child)) continue;
        flush(); bufferCtx = null;
        const raster = src && isSvgUrl(src) ? rasterNode(child, src.startsWith("blob:") ? null : src, alt, collapsed, block, false) : null;
        if (raster) nodes.push(raster);
        else if (src && !src.startsWith("blob:")) nodes.push({ kind: "image", text: "", level: 0, src, alt, collapsed, block });
        continue;
      }
      // A table that holds headings or other tables lays out the page: read it as blocks.
      if (tag === "TABLE" && !child.querySelector("table, h1, h2, h3, h4, h5, h6")) {
        flush(); bufferCtx = null;
        nodes.push({ kind: "table", text: tableText(child), level: 0, src: null, alt: null, collapsed, block });
        continue;
      }
      const isBlock = BLOCK_TAGS.has(tag);
      const childCtx = { kind: ctx.kind, level: ctx.level, collapsed, block };
      if (/^H[1-6]$/.test(tag)) { childCtx.kind = "heading"; childCtx.level = Number(tag[1]); }
      else if (tag === "LI") { childCtx.kind = "list_item"; }
      else if (tag === "PRE") { childCtx.kind = "code"; }
      else if (isBlock) { childCtx.kind = "text"; childCtx.level = 0; }
      if (isBlock) { flush(); bufferCtx = childCtx; }
      if (tag === "LI" && child.parentElement && child.parentElement.tagName === "OL") {
        const items = Array.from(child.parentElement.children).filter((c) => c.tagName === "LI");
        const start = Number(child.parentElement.getAttribute("start") || 1);
        buffer.push(`${start + items.indexOf(child)}. `);
      }
      walk(child, childCtx);
      if (isBlock) { flush(); bufferCtx = ctx; }
    }
  }

  const root = document.querySelector("main, [role=main]") || document.body;
  const rootTextLength = root ? root.innerText.length : 0;
  const isThread = threadPage();
  if (root) walk(root, { kind: "text", level: 0, collapsed: false, block: 0 });
  flush();
  return { title: document.title || "", nodes };
}
