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


  // ---- thread structure ---------------------------------------------------------------
  // The posts of a discussion: schema.org microdata items where the page has them, else
  // the largest group of repeated sibling containers of one shape (same tag, mostly the
  // same class names). Each post reports its role, votes and accepted mark, read from
  // itemprops, attributes, aria-labels and titles as well as from short badge texts.
  const POST_TYPE = /(^|\/)(Question|Answer|Comment|DiscussionForumPosting|SocialMediaPosting)$/;
  const POST_PROPS = new Set(["", "mainEntity", "acceptedAnswer", "suggestedAnswer", "comment", "answer"]);
  const POST_TAGS = new Set(["DIV", "ARTICLE", "SECTION", "LI", "TABLE", "TBODY", "TR"]);
  const VOTES_LABEL = /(-?\d[\d,.]*)\s*(k\b)?\s*(votes?|points?|upvotes?|likes?|reactions?|人?赞同|赞|票|votos?|voix|stimmen|punkte|голос|いいね)/i;
  const VOTES_NAME = /(^|[-_ ])(votes?|vote-?count|score|upvotes?|likes?|points)([-_ ]|$)/i;
  const ACCEPTED_NAME = /(^|[-_ ])(accepted|best-?answer|is-?answer|solution|solved|is-?solution)([-_ ]|$)/i;
  const ACCEPTED_WORDS = /accepted|best answer|best reply|solution|solved|最佳|采纳|採納|已解决|ベストアンサー|解決済|mejor respuesta|soluci[oó]n|aceptada|meilleure r[ée]ponse|r[ée]ponse accept[ée]e|beste antwort|l[öo]sung|akzeptiert|лучший ответ|решени|melhor resposta|aceita/i;
  const MONTH = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\\.?";
  const DATE_TEXT = new RegExp([
    "\\b(19|20)\\d\\d[-/.]\\d{1,2}[-/.]\\d{1,2}\\b", `\\b\\d{1,2}[-/. ]+(\\d{1,2}|${MONTH})[-/., ]+(19|20)\\d\\d\\b`,
    `\\b${MONTH} \\d{1,2}(st|nd|rd|th)?,? (19|20)\\d\\d\\b`, "\\b\\d+\\s*(minutes?|hours?|days?|weeks?|months?|years?)\\s+ago\\b",
    "\\d+\\s*(分钟|小时|天|周|个月|年)前", "(19|20)\\d\\d年\\d{1,2}月"].join("|"), "i");

  const classTokens = (el) => (typeof el.className === "string" ? el.className : "").split(/\s+/).filter((c) => c && !/\d/.test(c));
  function sameShape(a, b) {
    if (a.tagName !== b.tagName) return false;
    const ta = new Set(classTokens(a)), tb = classTokens(b);
    if (!ta.size && !tb.length) return true;
    const shared = tb.filter((c) => ta.has(c)).length;
    return shared / (ta.size + tb.length - shared) >= 0.5;
  }
  // Marks a post commonly carries: a time, a numbered id, an author link or avatar.
  function postMarks(el) {
    let marks = 0;
    if (el.querySelector("time, [datetime], [data-time], [data-timestamp]")) marks++;
    if (/\d/.test(el.id || "") || Array.from(el.attributes).some((a) => /^data-.*id$/.test(a.name) && /\d/.test(a.value))) marks++;
    if (el.querySelector("a[href*='user'], a[href*='member'], a[href*='profile'], a[href*='/u/'], [itemprop=author], img[class*='avatar'], [class*='avatar']")) marks++;
    if (DATE_TEXT.test((el.innerText || "").slice(0, 300))) marks++;  // "Posted 24 Sep 2010" in its header
    return marks;
  }
  // The tags and class names inside an element: posts of one thread share most of theirs,
  // the columns of a page layout few.
  function innerShape(el) {
    const shape = new Set();
    for (const inner of Array.from(el.getElementsByTagName("*")).slice(0, 400)) {
      shape.add(inner.tagName);
      for (const c of classTokens(inner)) shape.add(c);
    }
    return shape;
  }
  function similarity(a, b) {
    let shared = 0;
    for (const x of a) if (b.has(x)) shared++;
    return shared / Math.max(1, a.size + b.size - shared);
  }
  function repeatedPosts(root, rootLength) {
    let best = null, bestScore = 0;
    for (const parent of [root, ...root.querySelectorAll("*")]) {
      if (SKIP.has(parent.tagName) || parent.children.length < 2) continue;
      const groups = [];
      for (const child of parent.children) {
        if (!POST_TAGS.has(child.tagName)) continue;
        const group = groups.find((g) => sameShape(g[0], child));
        if (group) group.push(child); else groups.push([child]);
      }
      for (const group of groups) {
        const members = group.filter((el) => clean(el.innerText || "").length >= 30 &&
          el.querySelector("p, div, pre, blockquote, br, ul, table"));
        if (members.length < 2) continue;
        const text = members.reduce((sum, el) => sum + clean(el.innerText).length, 0);
        const coverage = text / Math.max(1, rootLength);
        const marked = members.filter((el) => postMarks(el) >= 1).length / members.length;
        const shapes = members.map(innerShape);
        const alike = shapes.slice(1).reduce((sum, shape) => sum + similarity(shapes[0], shape), 0) / (shapes.length - 1);
        const score = coverage * (0.5 + marked) * alike;
        // A member holding nearly the whole page is a layout column, not a post.
        const largest = Math.max(...members.map((el) => clean(el.innerText).length)) / Math.max(1, rootLength);
        if (coverage >= 0.15 && marked >= 0.5 && largest < 0.85 && score > bestScore) { best = members; bestScore = score; }
      }
    }
    return best || [];
  }
  function microdataPosts() {
    // The whole document: a page's Question item often wraps its main region.
    const items = Array.from(document.querySelectorAll("[itemscope][itemtype]")).filter((el) =>
      POST_TYPE.test((el.getAttribute("itemtype") || "").trim()) && POST_PROPS.has(el.getAttribute("itemprop") || ""));
    const types = items.map((el) => el.getAttribute("itemtype").trim().split("/").pop());
    const opens = types.some((t) => t === "Question" || t === "DiscussionForumPosting");
    const replies = types.some((t) => t === "Answer" || t === "Comment");
    return opens && (replies || types.length === 1) ? items : [];  // an unanswered question too
  }
  function ownElements(post, selector) {
    return Array.from(post.querySelectorAll(selector)).filter((el) => postOf(el.parentElement) === post);
  }
  function votesOf(post) {
    const number = (value) => {
      const match = /^\s*(-?\d[\d,.]*)\s*(k)?\s*$/i.exec(value || "");
      return match ? Math.round(parseFloat(match[1].replace(/,/g, "")) * (match[2] ? 1000 : 1)) : null;
    };
    for (const el of [post, ...ownElements(post, "[itemprop=upvoteCount], [data-score], [data-value], [data-votes]")]) {
      for (const value of [el.getAttribute("data-score"), el.getAttribute("data-votes"),
                           el.getAttribute("itemprop") === "upvoteCount" ? (el.getAttribute("content") || el.getAttribute("data-value") || el.textContent) : null]) {
        const votes = number(value);
        if (votes !== null) return votes;
      }
    }
    for (const el of ownElements(post, "[aria-label], [title]")) {
      const match = VOTES_LABEL.exec(el.getAttribute("aria-label") || el.getAttribute("title") || "");
      if (match) return number(match[1] + (match[2] || ""));
    }
    for (const el of ownElements(post, "[class]")) {
      if (VOTES_NAME.test(nameOf(el))) {
        const votes = number(el.textContent);
        if (votes !== null) return votes;
      }
    }
    return null;
  }
  // A visible mark: engines print the accepted tick in every answer and hide it in all but one.
  // Hidden by a utility class too: a saved page is often read without its style sheets.
  const HIDDEN_CLASS = /^(d-none|hidden|hide|is-hidden|invisible|display-none|visually-hidden|sr-only)$/i;
  function shown(el, within) {
    for (let node = el; node && node !== within; node = node.parentElement) {
      if (node.hidden || classTokens(node).some((c) => HIDDEN_CLASS.test(c))) return false;
    }
    return visible(el);
  }
  function acceptedMark(post) {
    if (ACCEPTED_NAME.test(nameOf(post))) return true;
    for (const el of ownElements(post, "*")) {
      if (!shown(el, post)) continue;
      if (ACCEPTED_NAME.test(nameOf(el)) && clean(el.textContent).length < 60) return true;
      const label = el.getAttribute("aria-label") || el.getAttribute("title") || "";
      if (label && label.length < 80 && ACCEPTED_WORDS.test(label)) return true;
      if (!el.children.length && /^[\s\u2713\u2714\u2611]*\S/.test(el.textContent)) {
        const text = clean(el.textContent);
        if (text.length <= 30 && ACCEPTED_WORDS.test(text) && /^[\u2713\u2714\u2611]?\s*\S+(\s+\S+){0,3}$/.test(text)) return true;
      }
    }
    return false;
  }
  const postIds = new Map();
  const scope = new Map();  // element -> the post id its content belongs to (0: none)
  function postOf(el) {
    for (let node = el; node; node = node.parentElement) if (postIds.has(node)) return node;
    return null;
  }
  const posts = [];
  function findPosts(root, rootLength) {
    const microdata = microdataPosts();
    const found = microdata.length ? microdata : repeatedPosts(root, rootLength);
    found.forEach((el) => postIds.set(el, postIds.size + 1));
    for (const el of found) {
      // Only a post's own body, where its markup names one, is the post: not its author
      // card, its vote buttons or the comments under it.
      const body = ownElements(el, "[itemprop=text], [itemprop=articleBody]")[0];
      scope.set(el, body ? 0 : postIds.get(el));
      if (body) scope.set(body, postIds.get(el));
      const type = (el.getAttribute("itemtype") || "").trim().split("/").pop();
      const role = type === "Question" || type === "DiscussionForumPosting" ? "question"
        : el.getAttribute("itemprop") === "acceptedAnswer" ? "accepted" : (microdata.length ? "answer" : null);
      posts.push({ post: postIds.get(el), role, votes: votesOf(el), accepted: acceptedMark(el) });
    }
  }

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

  // ---- main content -------------------------------------------------------------------
  // On a page that is no thread, the article is the block where running text gathers
  // (paragraphs score their parent and grandparent, links count against them), with the
  // siblings that score alike; text far from it (teasers, footers, notices) is chrome.
  const POSITIVE_NAME = /(^|[-_ ])(article|body|content|entry|main|post|text|story|prose|problem|solution|exercise)s?([-_ ]|$)/i;
  const NEGATIVE_NAME = /(^|[-_ ])(comments?|meta|footer|masthead|sidebar|sponsor|widget|byline|share|social|related|promo|teasers?|tags?|nav|menu|popular|trending)([-_ ]|$)/i;
  function linkDensity(el) {
    const total = clean(el.innerText || "").length;
    let linked = 0;
    for (const a of el.getElementsByTagName("a")) linked += clean(a.innerText || "").length;
    return total ? Math.min(1, linked / total) : 0;
  }
  function mainRegion() {
    if (isThread || !root || microdataPosts().length) return null;
    const scores = new Map();
    const initial = (el) => {
      let score = 0;
      if (el.tagName === "DIV" || el.tagName === "ARTICLE") score += 5;
      else if (["PRE", "TD", "BLOCKQUOTE", "SECTION"].includes(el.tagName)) score += 3;
      else if (["OL", "UL", "DL", "LI", "FORM", "ADDRESS"].includes(el.tagName)) score -= 3;
      if (POSITIVE_NAME.test(nameOf(el))) score += 25;
      if (NEGATIVE_NAME.test(nameOf(el))) score -= 25;
      return score;
    };
    let prose = 0;
    const scored = [];
    const proseOf = new Map();  // element -> length of the running text inside it
    for (const el of root.querySelectorAll("p, pre, td, blockquote, div, li, dd")) {
      if (el.tagName === "DIV" && el.querySelector("p, div, pre, table, ul, ol, blockquote, h1, h2, h3, h4, h5, h6")) continue;
      if (el.tagName === "LI" && el.querySelector("p, div, li")) continue;
      const text = clean(el.innerText || "");
      if (text.length < 25 || linkDensity(el) > 0.5) continue;
      const score = 1 + (text.match(/[,，、،]/g) || []).length + Math.min(Math.floor(text.length / 100), 3);
      prose += text.length;
      scored.push([el, text.length]);
      for (let up = el; up && up !== root; up = up.parentElement) proseOf.set(up, (proseOf.get(up) || 0) + text.length);
      let up = el.parentElement;
      for (let level = 0; up && level < 3; level++, up = up.parentElement) {
        if (!scores.has(up)) scores.set(up, initial(up));
        scores.set(up, scores.get(up) + score / (level === 0 ? 1 : level === 1 ? 2 : 6));
        if (up === root) break;
      }
    }
    let top = null, topScore = 0;
    for (const [el, score] of scores) {
      const final = score * (1 - linkDensity(el));
      scores.set(el, final);
      if (final > topScore) { top = el; topScore = final; }
    }
    if (!top || top === root || top.contains(root)) return null;
    const region = [top];
    const parent = top.parentElement;
    if (parent && parent !== document.body.parentElement) {
      for (const sibling of parent.children) {
        if (sibling === top) continue;
        const bonus = sibling.className && sibling.className === top.className ? 0.2 * topScore : 0;
        const text = clean(sibling.innerText || "");
        const density = linkDensity(sibling);
        const prose = proseOf.get(sibling) || 0;
        const before = sibling.compareDocumentPosition(top) & Node.DOCUMENT_POSITION_FOLLOWING;
        // A sibling section of the same text (the next part of a chapter, its introduction) joins too,
        // and so does the heading above the text.
        if ((scores.get(sibling) || 0) + bonus >= Math.max(10, 0.2 * topScore) ||
            (prose >= Math.max(140, 0.1 * (proseOf.get(top) || 0)) && density < 0.3) ||
            (before && prose >= 0.7 * text.length && density < 0.25 && (text.length > 80 || /[.!?。！？]\s*$/.test(text))) ||
            (before && /^H[1-6]$/.test(sibling.tagName)) ||
            // A headed part after the text (a problem's "Solution", an answer key) is the page's own.
            (!before && density < 0.3 && text.length >= 20 && sibling.querySelector("h1, h2, h3, h4, h5, h6")) ||
            (sibling.tagName === "P" && ((text.length > 80 && density < 0.25) || (density === 0 && /[.!?。！？]\s*$/.test(text))))) region.push(sibling);
      }
      // A heading after the text opens a part of the page's own ("Solutions" and its list): the heading
      // and what follows it stay, up to a block that is mostly links.
      let headed = false;
      for (let sibling = top.nextElementSibling; sibling; sibling = sibling.nextElementSibling) {
        const linked = linkDensity(sibling) >= 0.3;
        if (/^H[1-6]$/.test(sibling.tagName)) headed = !linked;
        else if (linked) headed = false;
        if (headed && !region.includes(sibling)) region.push(sibling);
      }
    }
    // The page's title stays: the last heading of the first level above the text (else the first below it)
    // that sits in no chrome.
    const inChrome = (el) => { for (let up = el; up && up !== root; up = up.parentElement) if (isChrome(up)) return true; return false; };
    const titles = Array.from(root.querySelectorAll("h1")).filter((h) => visible(h) && !region.some((r) => r.contains(h)) && !inChrome(h));
    const above = titles.filter((h) => h.compareDocumentPosition(top) & Node.DOCUMENT_POSITION_FOLLOWING);
    const title = above.length ? above[above.length - 1] : titles[0];
    if (title) region.push(title);
    // Running text spread over several regions (a problem page's parts, a long wiki page): no cut.
    const inside = scored.reduce((sum, [el, length]) => sum + (region.some((r) => r.contains(el)) ? length : 0), 0);
    if (inside < 0.6 * prose) return null;
    // Repeated items inside the main text are the posts of a thread: no cut. Apart from it, they are
    // teasers, cards and comments around an article; one around it that holds most of the page while
    // the others hold little running text is a column of the page's layout.
    const around = [];
    for (const post of postIds.keys()) {
      if (region.some((r) => r.contains(post))) return null;
      if (region.some((r) => post.contains(r))) around.push(post);
    }
    if (around.length) {
      let others = 0;
      const shapes = around.map(innerShape);
      for (const post of postIds.keys()) {
        if (around.includes(post)) continue;
        others += proseOf.get(post) || 0;
        // A reply built like the post around the main text: a thread whatever their lengths.
        const shape = innerShape(post);
        if (shapes.some((s) => similarity(s, shape) >= 0.4)) return null;
      }
      if (others >= 0.25 * inside || around.some((post) => (post.innerText || "").length < 0.5 * rootTextLength)) return null;
    }
    return region;
  }

  function flush() {
    const text = clean(buffer.join(""));
    if (text && bufferCtx) {
      nodes.push({ kind: bufferCtx.kind, text, level: bufferCtx.level, src: null, alt: null,
                   collapsed: bufferCtx.collapsed, block: bufferCtx.block, post: bufferCtx.post });
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
  // Its size as written, or as loaded when what loaded is the picture itself (not a lazy placeholder).
  function imageSize(img, src) {
    const w = parseFloat(img.getAttribute("width")), h = parseFloat(img.getAttribute("height"));
    if (w > 0 && h > 0) return { w, h };
    if (img.complete && img.naturalWidth > 0 && (!src || absolute(img.currentSrc || img.src) === src)) {
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
  function tinyImage(img, src) {
    const size = imageSize(img, src);
    return size !== null && Math.max(size.w, size.h) < 32;
  }

  function isSvgUrl(src) {
    return /^data:image\/svg\+xml/i.test(src) || /\.svgz?($|[?#])/i.test(src.split("?")[0]) || src.startsWith("blob:");
  }

  // An image node for an element the renderer will screenshot, or null when it should not.
  function rasterNode(el, src, alt, collapsed, block, post, checkSize) {
    if (!RASTER_MIN_SIDE || rasters >= RASTER_MAX || collapsed) return null;
    if (checkSize) {
      const box = el.getBoundingClientRect();
      if (Math.min(box.width, box.height) < RASTER_MIN_SIDE) return null;
    }
    el.setAttribute("data-webmine-raster", String(rasters));
    return { kind: "image", text: "", level: 0, src, alt, collapsed, block, post, raster: rasters++ };
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
        if (region && !ctx.main && !/^\s*$/.test(child.textContent)) continue;
        if (!bufferCtx) bufferCtx = ctx;
        buffer.push(child.textContent);
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      const tag = child.tagName.toUpperCase();
      if (tag === "SVG") {
        if (child.getAttribute("aria-hidden") === "true" || !visible(child) || isChrome(child)) continue;
        const node = rasterNode(child, null, svgLabel(child), ctx.collapsed, ctx.block, ctx.post, true);
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
      let main = ctx.main;
      if (!main && region) {
        if (region.includes(child)) main = true;
        else if (!regionAround.has(child)) continue;
      }
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
      if (!block && CONTAINER_TAGS.has(tag)) {
        if (!containers.has(child)) containers.set(child, containers.size + 1);
        block = containers.get(child);
      }
      const post = scope.has(child) ? scope.get(child) : ctx.post;
      if (tag === "IMG") {
        const src = imageSource(child);
        const alt = clean(child.getAttribute("alt") || "");
        if (formulaImage(child, alt)) { buffer.push(/^\s*(\$|\\\(|\\\[|\\begin)/.test(alt) ? ` ${alt} ` : ` $${alt}$ `); continue; }
        if (tinyImage(child, src)) continue;
        flush(); bufferCtx = null;
        const raster = src && isSvgUrl(src) ? rasterNode(child, src.startsWith("blob:") ? null : src, alt, collapsed, block, post, false) : null;
        if (raster) nodes.push(raster);
        else if (src && !src.startsWith("blob:")) nodes.push({ kind: "image", text: "", level: 0, src, alt, collapsed, block, post });
        continue;
      }
      // A table that holds headings or other tables lays out the page: read it as blocks.
      if (tag === "TABLE" && !child.querySelector("table, h1, h2, h3, h4, h5, h6")) {
        flush(); bufferCtx = null;
        nodes.push({ kind: "table", text: tableText(child), level: 0, src: null, alt: null, collapsed, block, post });
        continue;
      }
      const isBlock = BLOCK_TAGS.has(tag);
      const childCtx = { kind: ctx.kind, level: ctx.level, collapsed, block, post, main };
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
  let region = null;
  const regionAround = new Set();
  if (root) {
    // A thread's title often sits above the main region (the question's header).
    const title = root.querySelector("h1") ? null : document.querySelector("h1");
    if (title && visible(title)) nodes.push({ kind: "heading", text: clean(title.innerText), level: 1, src: null, alt: null,
                                              collapsed: false, block: 0, post: 0 });
    findPosts(root, rootTextLength);
    region = mainRegion();
    if (region) for (const el of region) for (let up = el.parentElement; up; up = up.parentElement) regionAround.add(up);
    const around = postOf(root);
    walk(root, { kind: "text", level: 0, collapsed: false, block: 0, post: around ? scope.get(around) : 0, main: !region });
  }
  flush();
  // schema.org JSON-LD blocks, read by the extraction engine (QAPage, DiscussionForumPosting, Quiz).
  const structured = Array.from(document.querySelectorAll('script[type="application/ld+json"]'))
    .map((el) => el.textContent).filter((text) => /QAPage|Question|DiscussionForumPosting|Quiz/.test(text))
    .map((text) => text.slice(0, 200000));
  return { title: document.title || "", nodes, posts, structured };
}
