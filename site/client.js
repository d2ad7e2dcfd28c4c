// The pages' script: `/` focuses the search box, the sidebar follows the section in view
// (scroll-spy), and a declared name in a model block opens a pop-up of the blocks that use it.
// Without it every page still works: the declared name links to its row of the identifier index.

const REFS_URL = new URL("refs.json", document.currentScript.src);
let refs = null;

// A long chapter is on several pages (tools/site/pages.ts); its first page lists the anchors that
// moved on, so an old link (`vtd-driver.html#domain-mapping`) is forwarded to the page holding it.
function followMovedAnchor() {
  const id = decodeURIComponent(location.hash.slice(1));
  const moved = document.getElementById("moved-anchors");
  if (!id || !moved || document.getElementById(id)) return;
  for (const [page, ids] of Object.entries(JSON.parse(moved.textContent))) {
    if (ids.includes(id)) location.replace(new URL(page + location.hash, location.href));
  }
}
followMovedAnchor();
addEventListener("hashchange", followMovedAnchor);

// `/` focuses search, as on ecmarkup's and GitHub's pages.
addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (
    t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))
  ) {
    return;
  }
  const input = document.querySelector(".pagefind-ui__search-input");
  if (!input) return;
  e.preventDefault();
  input.focus();
});

// Scroll-spy: the section whose heading was passed last is "in view".
function scrollSpy() {
  const links = new Map();
  for (const a of document.querySelectorAll(".toc .sections a[href^='#']")) {
    links.set(decodeURIComponent(a.getAttribute("href").slice(1)), a);
  }
  const headings = [...document.querySelectorAll("article h2[id], article h3[id]")]
    .filter((h) => links.has(h.id));
  if (headings.length === 0) return;
  const sidebar = document.querySelector(".toc nav");
  let current = null;
  const update = () => {
    const line = innerHeight * 0.25;
    // At the foot of the page the last heading on screen counts, however low it sits.
    const atEnd = scrollY + innerHeight >= document.documentElement.scrollHeight - 2;
    const limit = atEnd ? innerHeight : line;
    let found = headings[0];
    for (const h of headings) {
      if (h.getBoundingClientRect().top <= limit) found = h;
      else break;
    }
    const a = links.get(found.id);
    if (a === current) return;
    current?.classList.remove("active");
    current?.removeAttribute("aria-current");
    a.classList.add("active");
    a.setAttribute("aria-current", "location");
    current = a;
    // Keep the marked entry visible inside the sidebar without scrolling the page.
    const box = sidebar.getBoundingClientRect();
    const r = a.getBoundingClientRect();
    if (r.top < box.top || r.bottom > box.bottom) {
      sidebar.scrollTop += r.top - box.top - box.height / 3;
    }
  };
  let queued = false;
  addEventListener("scroll", () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      update();
    });
  }, { passive: true });
  addEventListener("resize", update);
  update();
}

// The references pop-up.
let popup = null;
function closePopup() {
  popup?.remove();
  popup = null;
}

async function showReferences(anchor) {
  const name = anchor.dataset.def;
  refs ??= fetch(REFS_URL).then((r) => r.json());
  const data = await refs;
  closePopup();
  const uses = data.uses[name] ?? [];
  popup = document.createElement("div");
  popup.className = "refs-popup";
  popup.setAttribute("role", "dialog");
  popup.setAttribute("aria-label", `References to ${name}`);
  const title = document.createElement("p");
  title.className = "refs-title";
  title.innerHTML = `<code></code> is used in ${uses.length} block${uses.length === 1 ? "" : "s"}`;
  title.firstChild.textContent = name;
  popup.append(title);
  const list = document.createElement("ul");
  for (const [href, label, chapter] of uses) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = new URL(href, REFS_URL).href;
    a.textContent = label;
    const where = document.createElement("span");
    where.className = "refs-chapter";
    where.textContent = ` — ${data.chapters[chapter] ?? ""}`;
    li.append(a, where);
    list.append(li);
  }
  popup.append(list);
  const all = document.createElement("a");
  all.href = anchor.href;
  all.textContent = "in the identifier index";
  popup.append(all);
  document.body.append(popup);
  const r = anchor.getBoundingClientRect();
  const left = Math.max(8, Math.min(r.left, innerWidth - popup.offsetWidth - 8));
  popup.style.left = `${left + scrollX}px`;
  popup.style.top = `${r.bottom + scrollY + 4}px`;
  popup.querySelector("a")?.focus({ preventScroll: true });
}

document.addEventListener("click", (e) => {
  // On a phone, following a contents link closes the contents.
  const entry = e.target instanceof Element ? e.target.closest(".toc a") : null;
  const toc = entry?.closest("details.toc");
  if (toc && matchMedia("(max-width: 60rem)").matches) toc.open = false;
  const def = e.target instanceof Element ? e.target.closest("a.def") : null;
  if (def) {
    e.preventDefault();
    showReferences(def);
  } else if (popup && !popup.contains(e.target)) closePopup();
});
addEventListener("keydown", (e) => {
  if (e.key === "Escape") closePopup();
});

scrollSpy();
