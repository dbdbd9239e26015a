// Walks Portcullis's hosted pages (/u/login, /u/consent) over plain HTTP, the way a browser
// would: redirects are followed by hand (fetch with redirect: 'manual'), cookies are kept in
// a small jar, and each page's form is read from its HTML. No browser, no dependencies.

/** A cookie jar for one origin: enough for Portcullis's host-only, Path=/ cookies. */
export class CookieJar {
  #cookies = new Map();

  /** Stores the Set-Cookie headers of a response (a Max-Age ≤ 0 or a past Expires deletes). */
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = false;
      for (const attribute of attributes) {
        const [key, val = ''] = attribute.split('=').map((s) => s.trim());
        if (key.toLowerCase() === 'max-age' && Number(val) <= 0) expired = true;
        if (key.toLowerCase() === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** The Cookie header to send, or undefined with no cookies. */
  header() {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  has(name) {
    return this.#cookies.has(name);
  }

  names() {
    return [...this.#cookies.keys()];
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the HTML character references that a template engine's escaping produces. */
export function decodeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function attributes(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    out[m[1].toLowerCase()] = decodeHtml(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/**
 * The first <form> of a page: its method, action, hidden inputs and named submit buttons.
 * @returns {{method: string, action: string, hidden: Record<string,string>, inputs: string[], buttons: Array<{name?: string, value?: string, text: string}>}}
 */
export function parseForm(html) {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no <form> in page:\n${html.slice(0, 2000)}`);
  const formAttrs = attributes(form[1]);
  const hidden = {};
  const inputs = [];
  for (const m of form[2].matchAll(/<input\b([^>]*)>/gi)) {
    const a = attributes(m[1]);
    if (!a.name) continue;
    inputs.push(a.name);
    if ((a.type ?? 'text').toLowerCase() === 'hidden') hidden[a.name] = a.value ?? '';
  }
  const buttons = [...form[2].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].map((m) => {
    const a = attributes(m[1]);
    return { name: a.name, value: a.value, text: decodeHtml(m[2].replace(/<[^>]*>/g, '')).trim() };
  });
  return { method: (formAttrs.method ?? 'get').toLowerCase(), action: formAttrs.action ?? '', hidden, inputs, buttons };
}

/**
 * One HTTP client with its own cookie jar, following redirects by hand while they stay on the
 * authorization server's origin and stopping at the first redirect that leaves it (the
 * callback to the client).
 */
export class Browser {
  constructor(origin, { fetchImpl = fetch } = {}) {
    this.origin = new URL(origin).origin;
    this.jar = new CookieJar();
    this.fetch = fetchImpl;
    /** Every request made, as "METHOD path status". */
    this.history = [];
    /** Every request made, with its time to response headers in milliseconds. */
    this.timings = [];
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html,application/xhtml+xml' };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      // What a browser sends with a same-origin form POST.
      headers.origin = this.origin;
    }
    const started = performance.now();
    const response = await this.fetch(url, { method, headers, body, redirect: 'manual' });
    const ms = performance.now() - started;
    this.jar.store(response);
    const u = new URL(url);
    this.history.push(`${method} ${u.pathname} ${response.status}`);
    this.timings.push({ method, path: u.pathname, status: response.status, ms });
    return response;
  }

  /**
   * Requests `url` and follows same-origin redirects. Returns either
   * `{ callback: URL }` (a redirect off the server's origin) or
   * `{ page: URL, response, html }` (a page that is not a redirect).
   */
  async navigate(url, init) {
    let current = new URL(url);
    let response = await this.request(current, init);
    for (let hops = 0; hops < 10; hops++) {
      if (response.status < 300 || response.status >= 400) {
        return { page: current, response, html: await response.text() };
      }
      const location = response.headers.get('location');
      if (!location) throw new Error(`${response.status} without Location from ${current}`);
      await response.body?.cancel();
      const next = new URL(location, current);
      if (next.origin !== this.origin) return { callback: next, response };
      current = next;
      response = await this.request(current);
    }
    throw new Error(`too many redirects, last at ${current}`);
  }

  /** Submits a page's form with its hidden fields plus `fields`, then follows redirects. */
  async submit(page, html, fields) {
    const form = parseForm(html);
    const action = new URL(form.action || page.href, page);
    return this.navigate(action, { method: form.method.toUpperCase(), form: { ...form.hidden, ...fields } });
  }
}

/**
 * Goes from an authorization URL to the client's callback: logs in on /u/login with
 * `username`/`password` if asked, and answers /u/consent with `consent` ('accept' or
 * 'decline'). Returns the callback URL and the list of hosted pages shown.
 */
export async function authorizeOverHttp(browser, authorizationUrl, { username, password, consent = 'accept' } = {}) {
  const pages = [];
  let step = await browser.navigate(authorizationUrl);
  for (let i = 0; i < 5 && !step.callback; i++) {
    const { page, response, html } = step;
    if (response.status !== 200) {
      throw new Error(`unexpected ${response.status} at ${page.pathname}:\n${html.slice(0, 2000)}`);
    }
    pages.push(page.pathname);
    if (page.pathname === '/u/login') {
      if (username === undefined) throw new Error('the login page was shown but no credentials were given');
      step = await browser.submit(page, html, { username, password });
    } else if (page.pathname === '/u/consent') {
      step = await browser.submit(page, html, { action: consent });
    } else {
      throw new Error(`unexpected page ${page.pathname}:\n${html.slice(0, 2000)}`);
    }
  }
  if (!step.callback) throw new Error(`no callback after pages ${pages.join(', ')}`);
  return { callbackUrl: step.callback, status: step.response.status, pages };
}
